#pragma once
// How a node reaches the other nodes' pod subnets, flannel's backends:
//   host-gw: per remote node one route, its subnet via its public address (nodes share a link);
//   vxlan:   one VTEP; per remote node one route (its subnet via its VTEP address, onlink), one
//            permanent neighbour (that address -> its VTEP MAC) and one FDB entry (that MAC ->
//            its public address). MTU = underlay - 50.
// reconcile() makes the kernel hold exactly the entries for the given leases: it adds what is
// missing, replaces what differs and deletes what no lease wants, and never tears down what is
// right — so an agent restart leaves running traffic alone.

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.hpp"
#include "netns/netlink.hpp"
#include "overlay/config.hpp"
#include "overlay/lease.hpp"

namespace podnet::overlay {

struct LocalNode {
    IpAddress public_ip;
    std::string underlay;  // the link holding public_ip
    int underlay_mtu = 1500;
};

class OverlayBackend {
  public:
    virtual ~OverlayBackend() = default;
    // Devices made (or found) before the lease: returns the lease's backend data.
    [[nodiscard]] virtual Result<nlohmann::json> prepare() = 0;
    // The node's own lease known: addresses on the devices.
    [[nodiscard]] virtual Result<void> activate(const Lease& own) = 0;
    // The kernel made to match `others` exactly (leases of the other nodes).
    [[nodiscard]] virtual Result<void> reconcile(const std::vector<Lease>& others) = 0;
    // MTU for pod interfaces on this node.
    [[nodiscard]] virtual int pod_mtu() const = 0;
};

// `netlink` is the node's own namespace; borrowed for the backend's life.
[[nodiscard]] Result<std::unique_ptr<OverlayBackend>> make_backend(const OverlayConfig& config,
                                                                   const LocalNode& local,
                                                                   NetlinkSocket& netlink);

// flannel's DirectRouting test: DirectRouting is on, the peer's address lies in one of the
// underlay's own prefixes (same L2 segment) and is of the cluster's family (a route to an IPv6
// subnet cannot go via an IPv4 address), so a plain route via it reaches the peer without
// encapsulation.
[[nodiscard]] bool routes_directly(const OverlayConfig& config,
                                   const std::vector<IpPrefix>& underlay_addresses,
                                   const IpAddress& peer);

// The VTEP's name: "podnet.<VNI>" (flannel's is "flannel.<VNI>").
[[nodiscard]] std::string vtep_name(uint32_t vni);

}  // namespace podnet::overlay
