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

// Brings nftables in line with the stored policies for `records`. Costs nothing when no policy
// was ever stored. `full` rewrites every set (gc) instead of applying the difference.
[[nodiscard]] Result<void> sync_policy(const Config& config,
                                       const std::vector<SandboxRecord>& records,
                                       bool full = false);

}  // namespace podnet
