#include "network/bridge_driver.hpp"

#include "netns/netlink.hpp"
#include "netns/sysctl.hpp"

namespace podnet {

std::string host_veth_name(const std::string& sandbox_id) {
    return std::string(host_veth_prefix) + sandbox_id.substr(0, 12);
}

Result<void> BridgeDriver::ensure(const NetworkConfig& network) const {
    auto nl = NetlinkSocket::open_current();
    if (!nl) return std::unexpected(nl.error());
    auto exists = nl->link_exists(network.bridge);
    if (!exists) return std::unexpected(exists.error());
    if (!*exists) {
        if (auto r = nl->create_bridge(network.bridge, network.mtu); !r)
            return wrap(r.error(), "network " + network.name);
    }
    for (const auto& s : network.subnets) {
        if (auto r = nl->add_address(network.bridge, IpPrefix{s.gateway, s.subnet.length}); !r)
            return wrap(r.error(), "network " + network.name);
    }
    if (auto r = nl->set_up(network.bridge); !r) return wrap(r.error(), "network " + network.name);
    // Forwarding between the bridge and the rest; route_localnet lets 127.0.0.1:HOSTPORT be
    // DNATed to a pod (the kernel otherwise drops packets from 127/8 leaving lo).
    if (auto r = write_sysctl("net.ipv4.ip_forward", "1"); !r) return r;
    if (auto r = write_sysctl("net.ipv4.conf.all.route_localnet", "1"); !r) return r;
    if (network.v6())
        if (auto r = write_sysctl("net.ipv6.conf.all.forwarding", "1"); !r) return r;
    return {};
}

Result<void> BridgeDriver::remove(const NetworkConfig& network) const {
    std::vector<Error> errors;
    if (auto nl = NetlinkSocket::open_current()) {
        if (auto r = nl->delete_link(network.bridge); !r) errors.push_back(r.error());
    } else {
        errors.push_back(nl.error());
    }
    Ipam ipam(ipam_dir_, network.name);
    if (auto r = ipam.remove_all(); !r) errors.push_back(r.error());
    if (!errors.empty())
        return std::unexpected(errors.front().wrap("remove network " + network.name));
    return {};
}

Result<Attachment> BridgeDriver::attach(const NetworkConfig& network, const AttachRequest& request,
                                        Rollback& rollback) const {
    Attachment att;
    att.network = network.name;
    if (!request.interface.empty()) att.interface = request.interface;
    att.host_interface = request.host_interface.empty() ? host_veth_name(request.sandbox_id)
                                                        : request.host_interface;
    std::string context = "attach to network " + network.name;

    Ipam ipam(ipam_dir_, network.name);
    rollback.push([ipam, id = request.sandbox_id]() mutable { (void)ipam.release(id); });
    if (const SubnetConfig* v4 = network.v4()) {
        IpamRange range{v4->subnet, v4->gateway};
        auto ip = request.ip ? ipam.allocate_static(range, *request.ip, request.sandbox_id)
                             : ipam.allocate(range, request.sandbox_id);
        if (!ip) return std::unexpected(ip.error());
        att.ipv4 = IpPrefix{*ip, v4->subnet.length};
        att.gateway4 = v4->gateway;
    } else if (request.ip) {
        return fail("--ip " + request.ip->str() + ": network " + network.name +
                    " has no IPv4 subnet");
    }
    if (const SubnetConfig* v6 = network.v6()) {
        IpamRange range{v6->subnet, v6->gateway};
        auto ip = request.ip6 ? ipam.allocate_static(range, *request.ip6, request.sandbox_id)
                              : ipam.allocate(range, request.sandbox_id);
        if (!ip) return std::unexpected(ip.error());
        att.ipv6 = IpPrefix{*ip, v6->subnet.length};
        att.gateway6 = v6->gateway;
    } else if (request.ip6) {
        return fail("--ip6 " + request.ip6->str() + ": network " + network.name +
                    " has no IPv6 subnet");
    }

    auto host = NetlinkSocket::open_current();
    if (!host) return wrap(host.error(), context);
    if (auto r =
            host->create_veth(att.host_interface, att.interface, request.pod_netns_fd, network.mtu);
        !r)
        return wrap(r.error(), context);
    // Until the pod's namespace goes, the host end is ours to delete on failure.
    rollback.push([name = att.host_interface] {
        if (auto nl = NetlinkSocket::open_current()) (void)nl->delete_link(name);
    });
    if (request.ipv6_off_without_v6 && !network.v6()) {
        // Best effort: a kernel without IPv6 has no such file, and nothing to turn off.
        (void)write_sysctl_in(request.pod_netns_fd,
                              "net/ipv6/conf/" + att.interface + "/disable_ipv6", "1");
    }
    if (auto r = host->set_master(att.host_interface, network.bridge); !r)
        return wrap(r.error(), context);
    // A pod reaching its own host port gets its packet back through the same bridge port.
    if (auto r = host->set_hairpin(att.host_interface, true); !r) return wrap(r.error(), context);
    if (auto r = host->set_up(att.host_interface); !r) return wrap(r.error(), context);

    auto pod = NetlinkSocket::open_in(request.pod_netns_fd);
    if (!pod) return wrap(pod.error(), context);
    for (const auto& address : {att.ipv4, att.ipv6})
        if (address)
            if (auto r = pod->add_address(att.interface, *address); !r)
                return wrap(r.error(), context);
    if (auto r = pod->set_up(att.interface); !r) return wrap(r.error(), context);
    for (const auto& gateway : {att.gateway4, att.gateway6})
        if (gateway)
            if (auto r = pod->add_default_route(att.interface, *gateway); !r)
                return wrap(r.error(), context);
    if (auto mac = pod->link_mac(att.interface)) att.mac = *mac;
    return att;
}

Result<void> BridgeDriver::release(const NetworkConfig& network,
                                   const std::string& sandbox_id) const {
    Ipam ipam(ipam_dir_, network.name);
    return ipam.release(sandbox_id);
}

}  // namespace podnet
