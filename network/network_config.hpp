#pragma once
// podnet's built-in networks: what `podnet network create` records, validated before anything
// touches the kernel. One JSON file per network under <state_root>/networks/.

#include <optional>
#include <string>
#include <vector>

#include "common/ip.hpp"
#include "common/result.hpp"

namespace podnet {

struct SubnetConfig {
    IpPrefix subnet;    // network address, host bits zero
    IpAddress gateway;  // the bridge's address in that subnet
};

struct NetworkConfig {
    std::string name;
    std::string driver = "bridge";
    std::string bridge;                 // interface name, at most 15 characters
    std::vector<SubnetConfig> subnets;  // at most one IPv4 and one IPv6
    int mtu = 0;                        // 0: the kernel's default (1500)
    bool masquerade = true;
    std::string created;

    [[nodiscard]] const SubnetConfig* v4() const;
    [[nodiscard]] const SubnetConfig* v6() const;
};

// What `network create` was asked for, before validation.
struct NetworkRequest {
    std::string name;
    std::vector<std::string> subnets;  // CIDR texts
    std::string gateway;               // applies to the IPv4 subnet (or the only one)
    std::string bridge;                // empty: derived from the name
    int mtu = 0;
    bool masquerade = true;
};

// Validate a request against the existing networks: CIDR syntax, gateway inside its subnet and
// not its network or broadcast address, one subnet per family, no overlap with another
// network's subnets, bridge name free and valid, MTU 68..65535.
[[nodiscard]] Result<NetworkConfig> make_network_config(const NetworkRequest& request,
                                                        const std::vector<NetworkConfig>& existing);

class NetworkStore {
  public:
    explicit NetworkStore(std::string state_root) : dir_(std::move(state_root) + "/networks") {}

    [[nodiscard]] Result<void> save(const NetworkConfig& config) const;
    [[nodiscard]] Result<NetworkConfig> load(
        const std::string& name) const;  // "network X: no such network"
    [[nodiscard]] Result<std::vector<NetworkConfig>> list() const;
    [[nodiscard]] Result<void> remove(const std::string& name) const;
    [[nodiscard]] bool exists(const std::string& name) const;
    [[nodiscard]] const std::string& dir() const { return dir_; }

  private:
    std::string dir_;
};

[[nodiscard]] std::string network_to_json(const NetworkConfig& config);
[[nodiscard]] Result<NetworkConfig> network_from_json(const std::string& text,
                                                      const std::string& source);

}  // namespace podnet
