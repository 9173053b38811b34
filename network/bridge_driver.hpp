#pragma once
// The docker0 model: a host bridge per network, a veth pair per pod (eth0 inside), an address
// from the bridge's subnet, a default route via the bridge, masquerade for traffic leaving it.

#include <optional>
#include <string>

#include "common/ip.hpp"
#include "common/result.hpp"
#include "common/rollback.hpp"
#include "network/ipam.hpp"
#include "network/network_config.hpp"

namespace podnet {

struct Attachment {
    std::string network;
    std::string interface = "eth0";
    std::string host_interface;    // the host end of the veth, on the bridge
    std::optional<IpPrefix> ipv4;  // pod address with the subnet's length
    std::optional<IpPrefix> ipv6;
    std::optional<IpAddress> gateway4;
    std::optional<IpAddress> gateway6;
    std::string mac;
};

struct AttachRequest {
    std::string sandbox_id;
    std::optional<IpAddress> ip;   // static --ip
    std::optional<IpAddress> ip6;  // static --ip6
    int pod_netns_fd = -1;         // borrowed
    // Names of the two ends; empty: "eth0" inside the pod and host_veth_name(sandbox_id) on the
    // host. Callers other than podnet's own sandboxes (the CNI plugin: CNI_IFNAME, and a host
    // prefix podnet's gc leaves alone) pass their own.
    std::string interface;
    std::string host_interface;
    // Turn IPv6 off on the pod's interface, before it comes up, when the network has no IPv6
    // subnet. podnet's own pods need not: their pause process turns it off for every new link of
    // the namespace. A namespace made by someone else (a CNI runtime) keeps its defaults, and
    // without this the pod's link-local chatter is flooded to every other pod on the bridge.
    bool ipv6_off_without_v6 = false;
};

// Host veths podnet creates start with this ("pnv" + 12 hex of the sandbox id: 15, the limit),
// so gc can tell its own from others (bridges are named differently).
inline constexpr std::string_view host_veth_prefix = "pnv";
[[nodiscard]] std::string host_veth_name(const std::string& sandbox_id);

class BridgeDriver {
  public:
    // ipam_dir: <state_root>/ipam
    explicit BridgeDriver(std::string ipam_dir) : ipam_dir_(std::move(ipam_dir)) {}

    // Make the network exist in the kernel (idempotent): bridge with its addresses, up;
    // forwarding and route_localnet sysctls. (NAT for the network's subnets is the caller's:
    // network/ does not depend on portmap/.)
    [[nodiscard]] Result<void> ensure(const NetworkConfig& network) const;
    // Remove the network's bridge and its IPAM state (network rm).
    [[nodiscard]] Result<void> remove(const NetworkConfig& network) const;

    // Attach a pod: addresses from IPAM, veth created with its peer directly in the pod's
    // namespace, addresses and default routes inside, host end on the bridge. Each step pushes
    // its undo onto `rollback`.
    [[nodiscard]] Result<Attachment> attach(const NetworkConfig& network,
                                            const AttachRequest& request, Rollback& rollback) const;
    // Release what the pod held. The veth goes with the pod's network namespace (the kernel
    // deletes it when the namespace dies, which costs nothing, unlike deleting it: 20-40 ms).
    [[nodiscard]] Result<void> release(const NetworkConfig& network,
                                       const std::string& sandbox_id) const;

  private:
    std::string ipam_dir_;
};

}  // namespace podnet
