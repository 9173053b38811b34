#pragma once
// Shared libraries loaded on first use. Every `podnet` invocation pays the dynamic loader for
// what it links (≈0.8 ms here for libnftables and its five dependencies), yet most commands
// never touch nftables; the few that do load it when they first call into it.
//
// LAZY_FORWARD defines a C function with the library's exact prototype (checked against its
// header, which the including file must include first) that resolves the real one on first call.

#include <dlfcn.h>

namespace podnet {

// dlopen(soname) once; nullptr when it cannot be loaded.
void* lazy_library(const char* soname);
// The symbol from the library, or nullptr.
void* lazy_symbol(const char* soname, const char* symbol);

}  // namespace podnet

// The header's declaration fixes the type; decltype(&name) keeps the two in step.
#define PODNET_LAZY_FORWARD(soname, ret, name, params, args, on_missing)                          \
    extern "C" ret name params {                                                                  \
        static auto real = reinterpret_cast<decltype(&name)>(podnet::lazy_symbol(soname, #name)); \
        if (real == nullptr) on_missing;                                                          \
        return real args;                                                                         \
    }
