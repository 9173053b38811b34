// libcurl, loaded on first use (see common/lazy_library.hpp): only the etcd store needs it, and
// linking it would make every `podnet` command map some thirty libraries (≈7 ms a run here).
// A missing library makes curl_global_init/curl_easy_init fail, which the store reports.

#define CURL_DISABLE_TYPECHECK 1  // the real functions, not the type-checking macros
#include <curl/curl.h>

#include <cstdarg>
#include <cstdlib>

#include "common/lazy_library.hpp"

namespace {
constexpr const char* soname = "libcurl.so.4";
}

PODNET_LAZY_FORWARD(soname, CURLcode, curl_global_init, (long flags), (flags),
                    return CURLE_FAILED_INIT)
PODNET_LAZY_FORWARD(soname, CURL*, curl_easy_init, (void), (), return nullptr)
PODNET_LAZY_FORWARD(soname, void, curl_easy_cleanup, (CURL * handle), (handle), return )
PODNET_LAZY_FORWARD(soname, CURLcode, curl_easy_perform, (CURL * handle), (handle), std::abort())
PODNET_LAZY_FORWARD(soname, const char*, curl_easy_strerror, (CURLcode code), (code),
                    return "libcurl is not installed")
PODNET_LAZY_FORWARD(soname, struct curl_slist*, curl_slist_append,
                    (struct curl_slist * list, const char* text), (list, text), return nullptr)
PODNET_LAZY_FORWARD(soname, void, curl_slist_free_all, (struct curl_slist * list), (list), return )

// The two variadic entry points take exactly one argument after the option: a long, a pointer
// or a curl_off_t — all 64-bit INTEGER-class values in the x86-64 and AArch64 calling
// conventions — so passing it on as a pointer-sized value hands the callee the same bits.
extern "C" CURLcode curl_easy_setopt(CURL* handle, CURLoption option, ...) {
    using Real = CURLcode (*)(CURL*, CURLoption, ...);
    static auto real = reinterpret_cast<Real>(podnet::lazy_symbol(soname, "curl_easy_setopt"));
    if (real == nullptr) return CURLE_FAILED_INIT;
    va_list ap;
    va_start(ap, option);
    void* value = va_arg(ap, void*);
    va_end(ap);
    return real(handle, option, value);
}

extern "C" CURLcode curl_easy_getinfo(CURL* handle, CURLINFO info, ...) {
    using Real = CURLcode (*)(CURL*, CURLINFO, ...);
    static auto real = reinterpret_cast<Real>(podnet::lazy_symbol(soname, "curl_easy_getinfo"));
    if (real == nullptr) return CURLE_FAILED_INIT;
    va_list ap;
    va_start(ap, info);
    void* out = va_arg(ap, void*);
    va_end(ap);
    return real(handle, info, out);
}
