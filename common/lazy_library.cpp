#include "common/lazy_library.hpp"

#include <mutex>
#include <string>
#include <unordered_map>

namespace podnet {

void* lazy_library(const char* soname) {
    // Never destroyed: a forwarding stub may first be called from another static's destructor.
    static auto* mutex = new std::mutex;
    static auto* loaded = new std::unordered_map<std::string, void*>;
    std::lock_guard lock(*mutex);
    auto [it, inserted] = loaded->try_emplace(soname, nullptr);
    if (inserted) it->second = ::dlopen(soname, RTLD_NOW | RTLD_LOCAL);
    return it->second;
}

void* lazy_symbol(const char* soname, const char* symbol) {
    void* library = lazy_library(soname);
    return library != nullptr ? ::dlsym(library, symbol) : nullptr;
}

}  // namespace podnet
