#pragma once
// A sandbox's networks and host ports: the glue between sandbox records and network/ (bridge
// driver, IPAM) and portmap/ (nftables DNAT). Host ports are claimed in an index under the run
// root before nftables is touched, so a crash at any point leaves a claim that gc can follow to
// the nft elements it must delete.

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/config.hpp"
#include "common/result.hpp"
#include "common/rollback.hpp"
#include "network/network_config.hpp"
#include "portmap/portmap.hpp"
#include "sandbox/record.hpp"

namespace podnet {

class SandboxNetworking {
  public:
    explicit SandboxNetworking(const Config& config);

    // "" → the default network (created on first use), "none" → nullopt, else the named one.
    [[nodiscard]] Result<std::optional<NetworkConfig>> resolve(const std::string& name);
    // Without subnets in the request, one is picked (network/subnet_pool.hpp).
    [[nodiscard]] Result<NetworkConfig> create_network(const NetworkRequest& request);
    [[nodiscard]] Result<std::vector<NetworkConfig>> list_networks() const;
    [[nodiscard]] Result<NetworkConfig> inspect_network(const std::string& name) const;
    // Refuses while a sandbox in `users` (ids) is attached.
    [[nodiscard]] Result<void> remove_network(const std::string& name,
                                              const std::vector<std::string>& users);

    [[nodiscard]] Result<AttachmentRecord> attach(const NetworkConfig& network,
                                                  const std::string& sandbox_id,
                                                  const std::string& ip, const std::string& ip6,
                                                  int pod_netns_fd, Rollback& rollback);
    // Claim and program host ports for a sandbox (one nft transaction). A mapping with
    // host_port 0 (Docker's -p 80) gets a free port of the ephemeral range, written back into
    // `mappings`. Callers hold the run root's lock.
    [[nodiscard]] Result<void> publish(const SandboxRecord& record,
                                       std::vector<PortMapping>& mappings, Rollback& rollback);
    // Remove the sandbox's nft elements and claims, flush their conntrack entries.
    void unpublish(const SandboxRecord& record, const std::vector<PortMapping>& mappings,
                   std::vector<Error>& errors);
    // Release addresses (the veth goes with the pod's namespace).
    void detach(const SandboxRecord& record, std::vector<Error>& errors);

    // gc: release addresses, claims/nft elements and host veths of sandboxes not in `live`.
    void collect(const std::set<std::string>& live, std::vector<std::string>& actions,
                 std::vector<std::string>& errors);

  private:
    [[nodiscard]] Result<void> ensure_network(const NetworkConfig& network);
    [[nodiscard]] Result<std::string> free_subnet(const std::vector<NetworkConfig>& existing);
    [[nodiscard]] std::string claim_dir(const PortMapping& m) const;
    [[nodiscard]] std::string claim_path(const PortMapping& m) const;
    // The id of the sandbox whose claim overlaps `m`, if any.
    [[nodiscard]] std::optional<std::string> holder(const PortMapping& m) const;
    [[nodiscard]] std::string conflict_message(const PortMapping& m,
                                               const std::string& owner) const;
    [[nodiscard]] Result<void> claim(const SandboxRecord& record, const PortMapping& m,
                                     Rollback& rollback);

    Config config_;
    NetworkStore networks_;
    std::string ipam_dir_;
    std::string ports_dir_;
};

// Unpublish host ports and release addresses; clears them from `record` (idempotent).
void release_network(const Config& config, SandboxRecord& record, std::vector<Error>& errors);

[[nodiscard]] Result<std::vector<PortMapping>> parse_port_specs(
    const std::vector<std::string>& specs);

}  // namespace podnet
