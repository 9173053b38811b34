#pragma once
// Links, addresses and routes through rtnetlink (libnl-route-3), without `ip` commands.
//
// A netlink socket is bound to the network namespace it was created in, for its whole life, no
// matter which thread uses it later. So a NetlinkSocket opened in a pod's namespace configures
// that pod; one opened in the host's namespace configures the host. Nobody has to setns().
//
// Errors are one line naming the link and the operation, ending in the kernel's reason (and its
// extended-ack text when it sent one): "create veth pn1a2b3c (peer eth0): File exists".

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/ip.hpp"
#include "common/result.hpp"
#include "netns/run_in_netns.hpp"

namespace podnet {

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

    // Addresses. `address` is an interface address with its prefix length ("10.0.0.2/24"): the
    // kernel adds the connected route when the link is up. IPv4 gets the subnet's broadcast
    // address (prefixes up to /30); IPv6 is added with IFA_F_NODAD, so it is usable at once
    // instead of after duplicate address detection. Already present = success.
    [[nodiscard]] Result<void> add_address(const std::string& link, const IpPrefix& address);
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

  private:
    struct State;  // the nl_sock and the kernel's last refusal (netlink.cpp)
    explicit NetlinkSocket(std::unique_ptr<State> state);
    std::unique_ptr<State> state_;
};

}  // namespace podnet
