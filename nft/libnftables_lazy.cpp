// libnftables, loaded on first use (see common/lazy_library.hpp). nft_ctx_new reports a missing
// library as a failed context, which NftContext turns into an error; the others are only
// reached with a context, so the library is there.

#include <nftables/libnftables.h>

#include <cstdlib>

#include "common/lazy_library.hpp"

namespace {
constexpr const char* soname = "libnftables.so.1";
}

PODNET_LAZY_FORWARD(soname, struct nft_ctx*, nft_ctx_new, (uint32_t flags), (flags), return nullptr)
PODNET_LAZY_FORWARD(soname, void, nft_ctx_free, (struct nft_ctx * ctx), (ctx), return )
PODNET_LAZY_FORWARD(soname, unsigned int, nft_ctx_output_get_flags, (struct nft_ctx * ctx), (ctx),
                    std::abort())
PODNET_LAZY_FORWARD(soname, void, nft_ctx_output_set_flags,
                    (struct nft_ctx * ctx, unsigned int flags), (ctx, flags), std::abort())
PODNET_LAZY_FORWARD(soname, int, nft_ctx_buffer_output, (struct nft_ctx * ctx), (ctx), std::abort())
PODNET_LAZY_FORWARD(soname, int, nft_ctx_buffer_error, (struct nft_ctx * ctx), (ctx), std::abort())
PODNET_LAZY_FORWARD(soname, const char*, nft_ctx_get_output_buffer, (struct nft_ctx * ctx), (ctx),
                    std::abort())
PODNET_LAZY_FORWARD(soname, const char*, nft_ctx_get_error_buffer, (struct nft_ctx * ctx), (ctx),
                    std::abort())
PODNET_LAZY_FORWARD(soname, int, nft_run_cmd_from_buffer, (struct nft_ctx * nft, const char* buf),
                    (nft, buf), std::abort())
PODNET_LAZY_FORWARD(soname, int, nft_run_cmd_from_filename,
                    (struct nft_ctx * nft, const char* filename), (nft, filename), std::abort())
