#pragma once
// NetworkPolicy on this node: the glue between sandbox records (pods with namespace, labels,
// addresses and named ports), the policy store under the state root, and the nftables compiler
// (policy/compile.hpp). Every change — a policy applied or removed, a namespace relabelled, a
// sandbox created or removed — recompiles and applies the difference in one nft transaction,
// so no packet ever sees a half-applied change. The caller holds the run root's lock.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/config.hpp"
#include "common/result.hpp"
#include "policy/engine.hpp"
#include "policy/model.hpp"
#include "sandbox/record.hpp"
#include "sandbox/store.hpp"

namespace podnet {

// "http=80/tcp" (protocol tcp, udp or sctp; tcp when omitted). Errors name the text.
[[nodiscard]] Result<policy::NamedPort> parse_named_port(std::string_view text);
[[nodiscard]] std::string format_named_port(const policy::NamedPort& port);

// Running sandboxes of the store; `replace` stands in for the record with its id (or is added),
// `drop_id` is left out — for a change not yet saved.
[[nodiscard]] Result<std::vector<SandboxRecord>> running_records(
    const SandboxStore& store, const SandboxRecord* replace = nullptr,
    std::string_view drop_id = {});

// Sandboxes as pods (namespace, name, labels, addresses, named ports), with the stored
// namespace labels and policies.
[[nodiscard]] Result<policy::Cluster> node_cluster(const Config& config,
                                                   const std::vector<SandboxRecord>& records);

// Keeps nftables in line with the stored policies and the running sandboxes. It holds a
// PolicyEngine in step with the kernel, so a change in a long-lived process (an embedder, a CRI
// runtime) costs only what it affects. A token under the run root, renewed by every update,
// tells whether another process changed things since; then (and on first use, as in every
// `podnet` command) everything is reloaded and the sets are rewritten in one transaction.
// Nothing is done, not even a table, while no policy exists. Callers hold the run root's lock.
class PolicyEnforcer {
  public:
    explicit PolicyEnforcer(Config config) : config_(std::move(config)) {}

    // A sandbox was created (or changed) / removed. `record` as it is now.
    [[nodiscard]] Result<void> pod_changed(const SandboxStore& store, const SandboxRecord& record);
    [[nodiscard]] Result<void> pod_removed(const SandboxStore& store, const SandboxRecord& record);
    // Policies or namespace labels changed on disk.
    [[nodiscard]] Result<void> policies_changed(const SandboxStore& store,
                                                const std::vector<policy::NetworkPolicy>& upserted,
                                                const std::vector<std::string>& removed);
    [[nodiscard]] Result<void> namespace_changed(const SandboxStore& store, const std::string& ns);
    // Everything reloaded and every set rewritten (gc, or when the engine is not in step).
    [[nodiscard]] Result<void> reload(const SandboxStore& store);

  private:
    template <class F>
    Result<void> update(const SandboxStore& store, F&& change);
    [[nodiscard]] bool in_step() const;
    [[nodiscard]] Result<void> commit(const std::string& script);
    [[nodiscard]] Result<void> remove_table();

    Config config_;
    std::optional<policy::PolicyEngine> engine_;
    std::string token_;
};

}  // namespace podnet
