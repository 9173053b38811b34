#pragma once
// Links, addresses, routes, neighbours and VXLAN forwarding entries through rtnetlink
// (libnl-route-3), without `ip` commands.
//
// A netlink socket is bound to the network namespace it was created in, for its whole life, no
// matter which thread uses it later. So a NetlinkSocket opened in a pod's namespace configures
// that pod; one opened in the host's namespace configures the host. Nobody has to setns().
//
// Errors are one line naming the link and the operation, ending in the kernel's reason (and its
// extended-ack text when it sent one): "create veth pn1a2b3c (peer eth0): File exists".

#include <compare>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/ip.hpp"
#include "common/result.hpp"
#include "netns/run_in_netns.hpp"

namespace podnet {

// A VXLAN tunnel endpoint as flannel's vxlan backend makes it:
// `ip link add NAME type vxlan id VNI local LOCAL dev UNDERLAY dstport PORT nolearning`.
struct VxlanSpec {
    std::string name;
    uint32_t vni = 0;                // 0-16777215
    std::optional<IpAddress> local;  // source address of the outer packets (IPv4 or IPv6)
    std::string underlay;            // the outer packets' link (IFLA_VXLAN_LINK), or empty
    uint16_t port = 8472;            // UDP destination port (Linux's default, not IANA's 4789)
    int mtu = 0;                     // 0 = the kernel's default
    bool learning = false;           // learn remote MACs from received packets
};

// A permanent neighbour (ARP / NDP) entry: `ip` is reached at link-layer address `mac`.
struct Neighbour {
    IpAddress ip;
    std::string mac;  // "aa:bb:cc:dd:ee:ff"
    auto operator<=>(const Neighbour&) const = default;
};

// A VXLAN forwarding entry: frames for `mac` are tunnelled to the remote endpoint `dst`.
struct FdbEntry {
    std::string mac;  // "aa:bb:cc:dd:ee:ff"
    IpAddress dst;
    auto operator<=>(const FdbEntry&) const = default;
};

// A main-table unicast route through one link.
struct RouteEntry {
    IpPrefix destination;
    std::optional<IpAddress> via;
    bool onlink = false;  // RTNH_F_ONLINK: the gateway is taken to be on the link, unchecked
    auto operator<=>(const RouteEntry&) const = default;
};

// A NETLINK_ROUTE socket bound to one network namespace. Move-only; a moved-from socket must not
// be used. One thread at a time (requests and their acks are matched by sequence number).
class NetlinkSocket {
  public:
    // The caller's (thread's) network namespace.
    [[nodiscard]] static Result<NetlinkSocket> open_current();
    // The namespace `netns_fd`: opened on a short-lived thread that setns()es into it and ends.
    // The caller's thread never changes namespace.
    [[nodiscard]] static Result<NetlinkSocket> open_in(int netns_fd);

    NetlinkSocket(NetlinkSocket&&) noexcept;
    NetlinkSocket& operator=(NetlinkSocket&&) noexcept;
    NetlinkSocket(const NetlinkSocket&) = delete;
    NetlinkSocket& operator=(const NetlinkSocket&) = delete;
    ~NetlinkSocket();

    // Links. Names are checked first (1-15 bytes, no '/', ':' or whitespace): libnl would
    // silently truncate a long one. Errors: "link NAME: No such device".
    [[nodiscard]] Result<int> link_index(const std::string& name);
    [[nodiscard]] Result<bool> link_exists(const std::string& name);
    // mtu 0 = the kernel's default. An existing link of that name is an error ("File exists").
    [[nodiscard]] Result<void> create_bridge(const std::string& name, int mtu);
    // A veth pair: `host_name` in this socket's namespace, `peer_name` created directly inside
    // `peer_netns_fd` (IFLA_NET_NS_FD on the peer: moving a link afterwards would cost ~30 ms).
    // Both ends get `mtu` (0 = default). Both ends start down.
    [[nodiscard]] Result<void> create_veth(const std::string& host_name,
                                           const std::string& peer_name, int peer_netns_fd,
                                           int mtu);
    [[nodiscard]] Result<void> set_up(const std::string& name);
    // Administratively down: a bridge port stops forwarding and its veth peer loses carrier.
    [[nodiscard]] Result<void> set_down(const std::string& name);
    // Make `name` a port of the bridge `bridge`.
    [[nodiscard]] Result<void> set_master(const std::string& name, const std::string& bridge);
    [[nodiscard]] Result<void> set_mtu(const std::string& name, int mtu);
    // Hairpin mode on a bridge port (frames may leave by the port they came in on).
    [[nodiscard]] Result<void> set_hairpin(const std::string& name, bool on);
    // A link that is already gone counts as deleted. Deleting either end of a veth pair deletes
    // both.
    [[nodiscard]] Result<void> delete_link(const std::string& name);
    // Names starting with `prefix`, in interface-index order.
    [[nodiscard]] Result<std::vector<std::string>> list_links(std::string_view prefix);
    // The link-layer address, "aa:bb:cc:dd:ee:ff" (for display).
    [[nodiscard]] Result<std::string> link_mac(const std::string& name);
    // A VXLAN device, down. For agent restarts: an existing VXLAN link of that name with the
    // same VNI, port, local address (when given), underlay (when given) and learning is kept
    // as it is, only its MTU set to `spec.mtu` when that is given; anything else of that name is
    // an error naming each difference ("... exists with vni 2 (want 1)"). The kernel refuses a
    // second device with the same VNI, port and local address under another name.
    [[nodiscard]] Result<void> create_vxlan(const VxlanSpec& spec);

    // Addresses. `address` is an interface address with its prefix length ("10.0.0.2/24"): the
    // kernel adds the connected route when the link is up. IPv4 gets the subnet's broadcast
    // address (prefixes up to /30); IPv6 is added with IFA_F_NODAD, so it is usable at once
    // instead of after duplicate address detection. Already present = success.
    [[nodiscard]] Result<void> add_address(const std::string& link, const IpPrefix& address);
    // Already absent = success.
    [[nodiscard]] Result<void> delete_address(const std::string& link, const IpPrefix& address);
    // Every address on the link, IPv4 then IPv6, including IPv6 link-local ones.
    [[nodiscard]] Result<std::vector<IpPrefix>> addresses(const std::string& link);

    // Routes in the main table. The kernel wants the gateway reachable through `link` (the link
    // up, with an address in the gateway's subnet), else "Network is unreachable".
    // Already present = success.
    [[nodiscard]] Result<void> add_default_route(const std::string& link, const IpAddress& gateway);
    // `destination` through `link`, via `via` when given (same family as `destination`).
    [[nodiscard]] Result<void> add_route(const IpPrefix& destination,
                                         const std::optional<IpAddress>& via,
                                         const std::string& link);
    // Deletes the route to `destination` through `link`, whatever its gateway. A missing route
    // (or link) = success.
    [[nodiscard]] Result<void> delete_route(const IpPrefix& destination, const std::string& link);
    // `destination` through `link` (via `via` when given), replacing the route to
    // `destination` that is there, whatever its gateway or link (NLM_F_REPLACE). `onlink`
    // (RTNH_F_ONLINK) skips the check that the gateway is reachable through the link: flannel's
    // vxlan backend routes "10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink".
    [[nodiscard]] Result<void> replace_route(const IpPrefix& destination,
                                             const std::optional<IpAddress>& via,
                                             const std::string& link, bool onlink);
    // Main-table unicast routes through `link`, IPv4 then IPv6, for reconciliation. Routes
    // the kernel made itself (proto kernel: connected subnets, IPv6 fe80::/64) are left out,
    // as are multipath routes.
    [[nodiscard]] Result<std::vector<RouteEntry>> routes(const std::string& link);

    // Neighbours (ARP for IPv4, NDP for IPv6). `replace_neighbour` makes `ip` permanently
    // (NUD_PERMANENT) reachable at `mac` on `link`, creating or overwriting the entry.
    [[nodiscard]] Result<void> replace_neighbour(const std::string& link, const IpAddress& ip,
                                                 const std::string& mac);
    // Whatever its state. A missing entry (or link) = success.
    [[nodiscard]] Result<void> delete_neighbour(const std::string& link, const IpAddress& ip);
    // The permanent entries on `link`, IPv4 then IPv6, each family by address.
    [[nodiscard]] Result<std::vector<Neighbour>> neighbours(const std::string& link);

    // The forwarding database of a VXLAN device (`bridge fdb ... self`): `replace_fdb` sends
    // frames for `mac` to the remote endpoint `dst`, permanently, overwriting the entry's
    // destination if `mac` had one.
    [[nodiscard]] Result<void> replace_fdb(const std::string& link, const std::string& mac,
                                           const IpAddress& dst);
    // The entry `mac` -> `dst`. A missing entry (or link) = success.
    [[nodiscard]] Result<void> delete_fdb(const std::string& link, const std::string& mac,
                                          const IpAddress& dst);
    // Entries with a remote destination, by MAC then destination.
    [[nodiscard]] Result<std::vector<FdbEntry>> fdb_entries(const std::string& link);

  private:
    struct State;  // the nl_sock and the kernel's last refusal (netlink.cpp)
    explicit NetlinkSocket(std::unique_ptr<State> state);
    std::unique_ptr<State> state_;
};

}  // namespace podnet
