#pragma once
// The overlay's configuration: flannel's network config (the JSON flanneld reads from
// /coreos.com/network/config, or podnet.toml's [overlay]) with flannel's defaults, validated.

#include <cstdint>
#include <string>
#include <vector>

#include "common/config.hpp"
#include "common/ip.hpp"
#include "common/result.hpp"

namespace podnet::overlay {

enum class Backend { vxlan, host_gw, udp };

[[nodiscard]] std::string backend_name(Backend backend);  // "vxlan", "host-gw", "udp"
[[nodiscard]] Result<Backend> parse_backend(std::string_view text);

struct OverlayConfig {
    IpPrefix network;      // the cluster CIDR (flannel's default 10.244.0.0/16 in the lab)
    int subnet_len = 0;    // 0: flannel's default (24, or network length + 2 below a /22)
    IpAddress subnet_min;  // family 0: the second subnet of the network (flannel's default)
    IpAddress subnet_max;  // family 0: the last subnet
    Backend backend = Backend::vxlan;
    uint32_t vni = 1;   // vxlan
    uint16_t port = 0;  // 0: 8472 for vxlan (the Linux default flannel uses), 8285 for udp
    int mtu = 0;        // 0: the underlay's minus the encapsulation (50 vxlan, 28 udp)
    bool direct_routing = false;  // vxlan: plain routes to nodes on the same underlay subnet
    // flannel keys accepted without effect, one line each ("EnableNFTables: podnet always uses
    // nftables, accepted"), for the agent to log.
    std::vector<std::string> notes;

    // Number of subnets between subnet_min and subnet_max.
    [[nodiscard]] uint64_t capacity() const;
};

// Fills defaults and checks: the network is a network, subnet length within it (and at most
// /30 for IPv4 so a subnet holds a gateway and pods), min/max inside the network and aligned,
// min <= max, VNI within 24 bits. Errors say which field and why.
[[nodiscard]] Result<OverlayConfig> finish_config(OverlayConfig config);

// flannel's net-conf.json: every key flannel reads (pkg/subnet/config.go and its backends) is
// honoured or refused with the reason, keys matched without regard to case as Go's encoding/json
// does. Honoured: Network, SubnetLen, SubnetMin, SubnetMax, EnableIPv4, EnableIPv6 (one family:
// EnableIPv4 false with EnableIPv6 true is an IPv6 cluster on IPv6Network, IPv6SubnetLen,
// IPv6SubnetMin, IPv6SubnetMax), Backend.Type vxlan|host-gw|udp, Backend.VNI, Port, MTU,
// DirectRouting. Refused: dual stack, Networks/IPv6Networks (MultiClusterCIDR), GBP and Learning
// true, other backend types. Accepted without effect (a note): EnableNFTables, keys flannel
// ignores too (Windows' MacPrefix, another backend's keys, IPv6* without EnableIPv6). Keys
// flannel does not know are errors, as everywhere in podnet.
[[nodiscard]] Result<OverlayConfig> parse_flannel_json(std::string_view text,
                                                       const std::string& source);

// podnet.toml's [overlay] (the same fields, snake_case); errors name "[overlay] KEY".
[[nodiscard]] Result<OverlayConfig> overlay_config_from(const OverlaySettings& settings);

}  // namespace podnet::overlay
