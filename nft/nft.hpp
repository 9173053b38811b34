#pragma once
// The one way podnet talks to nftables: nft script text through libnftables, each run one atomic
// transaction (nft -f semantics: the whole buffer commits or nothing does).
//
// podnet owns only its own table (`table inet podnet`) and never flushes or edits anyone else's;
// that rule lives with the scripts (portmap/), this class runs whatever text it is given.

#include <memory>
#include <string>
#include <string_view>

#include "common/result.hpp"

struct nft_ctx;  // libnftables

namespace podnet {

enum class NftOutput { text, json };

// A libnftables context. Its netlink socket belongs to the network namespace that was current
// (for the calling thread) when the context was created and keeps talking to that namespace
// whichever thread uses it later. One thread at a time per context.
//
// Cost: a transaction is well under a millisecond, but one that deleted anything leaves the
// kernel an RCU grace period (~10-15 ms) that it waits for when the socket closes (context
// destroyed, or process exit). So use one context for all the transactions of a command.
class NftContext {
  public:
    // In the calling thread's network namespace.
    [[nodiscard]] static Result<NftContext> open();
    // In the network namespace `netns_fd` (borrowed), created on a short-lived thread that
    // joins it; the caller's thread never changes namespace.
    [[nodiscard]] static Result<NftContext> open_in(int netns_fd);
    // One context per process for the caller's network namespace, opened on first use and kept:
    // after a transaction that deletes, closing the context waits for an RCU grace period
    // (~10-15 ms here); a kept context moves that wait to process exit (or never, for a
    // long-running embedder).
    [[nodiscard]] static Result<NftContext*> shared();

    // Runs `script` as one transaction. A script of only blanks and comments does nothing
    // (no netlink round trip). Error: nft's first error on one line, with the failing command.
    [[nodiscard]] Result<void> run(const std::string& script);
    // Runs a read command ("list table inet podnet") and returns what nft printed.
    [[nodiscard]] Result<std::string> run_capture(const std::string& command,
                                                  NftOutput format = NftOutput::text);

    NftContext(NftContext&&) noexcept = default;
    NftContext& operator=(NftContext&&) noexcept = default;
    ~NftContext() = default;

  private:
    struct Free {
        void operator()(nft_ctx* ctx) const;
    };
    explicit NftContext(nft_ctx* ctx) : ctx_(ctx) {}
    [[nodiscard]] Result<std::string> execute(const std::string& text, bool as_file);

    std::unique_ptr<nft_ctx, Free> ctx_;
};

// nft's error output (several lines: "Error: why", the command, a caret line) condensed to one
// line: "why: the command". Exposed for tests.
[[nodiscard]] std::string summarize_nft_error(std::string_view output);

}  // namespace podnet
