// libnetfilter_conntrack, loaded on first use (see common/lazy_library.hpp). nfct_open and
// nfct_new report a missing library as failure (nullptr), which flush_conntrack turns into an
// error; the rest are only reached with what those returned.

#include <libnetfilter_conntrack/libnetfilter_conntrack.h>

#include <cstdlib>

#include "common/lazy_library.hpp"

namespace {
constexpr const char* soname = "libnetfilter_conntrack.so.3";
using Callback = int (*)(enum nf_conntrack_msg_type, struct nf_conntrack*, void*);
}  // namespace

PODNET_LAZY_FORWARD(soname, struct nfct_handle*, nfct_open, (uint8_t subsys, unsigned groups),
                    (subsys, groups), return nullptr)
PODNET_LAZY_FORWARD(soname, int, nfct_close, (struct nfct_handle * h), (h), return -1)
PODNET_LAZY_FORWARD(soname, int, nfct_fd, (struct nfct_handle * h), (h), return -1)
PODNET_LAZY_FORWARD(soname, struct nf_conntrack*, nfct_new, (void), (), return nullptr)
PODNET_LAZY_FORWARD(soname, void, nfct_destroy, (struct nf_conntrack * ct), (ct), return )
PODNET_LAZY_FORWARD(soname, int, nfct_attr_is_set,
                    (const struct nf_conntrack* ct, const enum nf_conntrack_attr type), (ct, type),
                    std::abort())
PODNET_LAZY_FORWARD(soname, const void*, nfct_get_attr,
                    (const struct nf_conntrack* ct, const enum nf_conntrack_attr type), (ct, type),
                    std::abort())
PODNET_LAZY_FORWARD(soname, int, nfct_callback_register,
                    (struct nfct_handle * h, enum nf_conntrack_msg_type type, Callback cb,
                     void* data),
                    (h, type, cb, data), std::abort())
PODNET_LAZY_FORWARD(soname, void, nfct_callback_unregister, (struct nfct_handle * h), (h),
                    std::abort())
PODNET_LAZY_FORWARD(soname, int, nfct_query,
                    (struct nfct_handle * h, const enum nf_conntrack_query query, const void* data),
                    (h, query, data), std::abort())
PODNET_LAZY_FORWARD(soname, uint8_t, nfct_get_attr_u8,
                    (const struct nf_conntrack* ct, const enum nf_conntrack_attr type), (ct, type),
                    std::abort())
PODNET_LAZY_FORWARD(soname, uint16_t, nfct_get_attr_u16,
                    (const struct nf_conntrack* ct, const enum nf_conntrack_attr type), (ct, type),
                    std::abort())
PODNET_LAZY_FORWARD(soname, uint32_t, nfct_get_attr_u32,
                    (const struct nf_conntrack* ct, const enum nf_conntrack_attr type), (ct, type),
                    std::abort())
