#pragma once
// `podnet overlay status`: one node's view — its own lease, and for every other node's lease
// whether this node's kernel holds what the backend needs to reach that node's pods (host-gw: a
// route via its address; vxlan: the onlink route, permanent neighbour and FDB entry, or with
// DirectRouting a plain route for nodes on the same underlay subnet; udp: the TUN route for the
// cluster network — the per-node table lives in the agent). Read-only.

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.hpp"
#include "netns/netlink.hpp"
#include "overlay/config.hpp"
#include "overlay/lease.hpp"

namespace podnet::overlay {

struct PeerKernelState {
    Lease lease;
    bool direct = false;  // DirectRouting: reached by a plain route, not the VTEP
    bool route = false;
    std::optional<bool> neighbour;  // vxlan through the VTEP only
    std::optional<bool> fdb;        // vxlan through the VTEP only
    [[nodiscard]] bool ready() const {
        return route && neighbour.value_or(true) && fdb.value_or(true);
    }
};

struct NodeOverlayStatus {
    IpAddress public_ip;
    std::string underlay;
    Backend backend = Backend::vxlan;
    std::optional<Lease> own;  // the lease held for public_ip, when there is one
    std::vector<PeerKernelState> peers;
    // Routes into the cluster network that no lease explains (a node gone, not yet reconciled).
    std::vector<std::string> stale_routes;
    std::vector<std::string> warnings;  // lease records skipped, the store unreachable
};

[[nodiscard]] Result<NodeOverlayStatus> node_overlay_status(const OverlayConfig& config,
                                                            const IpAddress& public_ip,
                                                            const std::string& underlay,
                                                            LeaseStore& store,
                                                            NetlinkSocket& netlink);

[[nodiscard]] nlohmann::json node_overlay_status_json(const NodeOverlayStatus& status);

}  // namespace podnet::overlay
