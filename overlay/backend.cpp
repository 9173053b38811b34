#include "overlay/backend.hpp"

#include "overlay/udp_backend.hpp"

#include <algorithm>
#include <map>
#include <set>

namespace podnet::overlay {

std::string vtep_name(uint32_t vni) {
    return "podnet." + std::to_string(vni);
}

namespace {

std::string context(const std::string& what) {
    return "overlay: " + what;
}

// Routes on `link` towards the cluster network made to be exactly `wanted` (destination ->
// gateway, onlink). Others on the link are left alone (the connected route, say).
Result<void> reconcile_routes(NetlinkSocket& nl, const OverlayConfig& config,
                              const std::string& link, const std::map<IpPrefix, IpAddress>& wanted,
                              bool onlink) {
    auto current = nl.routes(link);
    if (!current) return wrap(current.error(), context("list routes on " + link));
    for (const auto& r : *current) {
        if (!config.network.contains(r.destination.address) ||
            r.destination.length < config.network.length)
            continue;
        auto it = wanted.find(r.destination);
        if (it == wanted.end())
            if (auto d = nl.delete_route(r.destination, link); !d)
                return wrap(d.error(), context("remove route"));
    }
    for (const auto& [destination, via] : wanted) {
        bool present = std::any_of(current->begin(), current->end(), [&](const auto& r) {
            return r.destination == destination && r.via && *r.via == via && r.onlink == onlink;
        });
        if (present) continue;
        if (auto r = nl.replace_route(destination, via, link, onlink); !r)
            return wrap(r.error(), context("route " + destination.str()));
    }
    return {};
}

class HostGw final : public OverlayBackend {
  public:
    HostGw(const OverlayConfig& config, const LocalNode& local, NetlinkSocket& nl)
        : config_(config), local_(local), nl_(nl) {}
    Result<nlohmann::json> prepare() override { return nlohmann::json::object(); }
    Result<void> activate(const Lease&) override { return {}; }
    Result<void> reconcile(const std::vector<Lease>& others) override {
        std::map<IpPrefix, IpAddress> wanted;
        for (const auto& l : others)
            if (l.backend == Backend::host_gw) wanted[l.subnet] = l.public_ip;
        return reconcile_routes(nl_, config_, local_.underlay, wanted, false);
    }
    int pod_mtu() const override { return config_.mtu != 0 ? config_.mtu : local_.underlay_mtu; }

  private:
    OverlayConfig config_;
    LocalNode local_;
    NetlinkSocket& nl_;
};

// fe80::/10: the kernel's own address on every IPv6 link, never one a lease gave.
bool ipv6_link_local(const IpAddress& a) {
    return a.is_v6() && a.bytes[0] == 0xfe && (a.bytes[1] & 0xc0) == 0x80;
}

class Vxlan final : public OverlayBackend {
  public:
    Vxlan(const OverlayConfig& config, const LocalNode& local, NetlinkSocket& nl)
        : config_(config), local_(local), nl_(nl), name_(vtep_name(config.vni)) {}

    Result<nlohmann::json> prepare() override {
        VxlanSpec spec;
        spec.name = name_;
        spec.vni = config_.vni;
        spec.local = local_.public_ip;
        spec.underlay = local_.underlay;
        spec.port = config_.port;
        spec.mtu = pod_mtu();
        if (auto r = nl_.create_vxlan(spec); !r) return wrap(r.error(), context("VTEP"));
        if (config_.direct_routing) {
            auto on_underlay = nl_.addresses(local_.underlay);
            if (!on_underlay) return wrap(on_underlay.error(), context("DirectRouting"));
            underlay_subnets_ = *on_underlay;
        }
        if (auto r = nl_.set_up(name_); !r) return wrap(r.error(), context("VTEP"));
        auto mac = nl_.link_mac(name_);
        if (!mac) return wrap(mac.error(), context("VTEP"));
        return nlohmann::json{{"VtepMAC", *mac}};
    }

    Result<void> activate(const Lease& own) override {
        // flannel gives the VTEP its subnet's network address as a /32: the source for the
        // node's own traffic into the overlay, and the gateway other nodes route through.
        IpPrefix address{own.subnet.network().address, own.subnet.address.is_v4() ? 32 : 128};
        if (auto r = nl_.add_address(name_, address); !r) return wrap(r.error(), context("VTEP"));
        // A node whose lease changed (its old one released or expired) still holds the old
        // network address, which is now another node's gateway: routes through it would fail.
        auto present = nl_.addresses(name_);
        if (!present) return wrap(present.error(), context("VTEP"));
        for (const auto& a : *present)
            if (a.address.family == address.address.family && a != address &&
                !ipv6_link_local(a.address))
                if (auto r = nl_.delete_address(name_, a); !r)
                    return wrap(r.error(), context("VTEP"));
        return {};
    }

    Result<void> reconcile(const std::vector<Lease>& others) override {
        std::map<IpPrefix, IpAddress> routes;
        std::map<IpPrefix, IpAddress> direct_routes;  // DirectRouting: host-gw for neighbours
        std::map<IpAddress, std::string> neighbours;
        std::map<std::string, IpAddress> fdb;
        for (const auto& l : others) {
            if (l.backend != Backend::vxlan) continue;
            if (directly_reachable(l.public_ip)) {
                direct_routes[l.subnet] = l.public_ip;
                continue;
            }
            std::string mac = l.backend_data.value("VtepMAC", "");
            if (mac.empty()) continue;
            IpAddress gateway = l.subnet.network().address;
            routes[l.subnet] = gateway;
            neighbours[gateway] = mac;
            fdb[mac] = l.public_ip;
        }
        // Neighbour and FDB entries first, so a new route never points at an unresolved hop.
        auto current_fdb = nl_.fdb_entries(name_);
        if (!current_fdb) return wrap(current_fdb.error(), context("list FDB"));
        for (const auto& e : *current_fdb) {
            auto it = fdb.find(e.mac);
            if (it == fdb.end() || !(it->second == e.dst))
                if (auto r = nl_.delete_fdb(name_, e.mac, e.dst); !r)
                    return wrap(r.error(), context("FDB"));
        }
        for (const auto& [mac, dst] : fdb)
            if (auto r = nl_.replace_fdb(name_, mac, dst); !r)
                return wrap(r.error(), context("FDB"));
        auto current_neigh = nl_.neighbours(name_);
        if (!current_neigh) return wrap(current_neigh.error(), context("list neighbours"));
        for (const auto& n : *current_neigh)
            if (!neighbours.contains(n.ip))
                if (auto r = nl_.delete_neighbour(name_, n.ip); !r)
                    return wrap(r.error(), context("neighbour"));
        for (const auto& [ip, mac] : neighbours) {
            bool same = std::any_of(current_neigh->begin(), current_neigh->end(),
                                    [&](const auto& n) { return n.ip == ip && n.mac == mac; });
            if (!same)
                if (auto r = nl_.replace_neighbour(name_, ip, mac); !r)
                    return wrap(r.error(), context("neighbour"));
        }
        // The underlay's routes first: a subnet moving from the VTEP to a direct route is
        // replaced in one step (same destination), never left without a route.
        if (auto r = reconcile_routes(nl_, config_, local_.underlay, direct_routes, false); !r)
            return r;
        return reconcile_routes(nl_, config_, name_, routes, true);
    }

    int pod_mtu() const override {
        return config_.mtu != 0 ? config_.mtu : local_.underlay_mtu - 50;
    }

  private:
    // flannel's DirectRouting: a node on the same underlay subnet is reached by a plain route
    // through its address (no encapsulation); the others through the VTEP.
    [[nodiscard]] bool directly_reachable(const IpAddress& peer) const {
        return routes_directly(config_, underlay_subnets_, peer);
    }

    OverlayConfig config_;
    LocalNode local_;
    NetlinkSocket& nl_;
    std::string name_;
    std::vector<IpPrefix> underlay_subnets_;  // DirectRouting only
};

}  // namespace

Result<std::unique_ptr<OverlayBackend>> make_backend(const OverlayConfig& config,
                                                     const LocalNode& local,
                                                     NetlinkSocket& netlink) {
    switch (config.backend) {
        case Backend::host_gw:
            // Its routes go via the peers' own addresses: the cluster's family must be theirs.
            if (config.network.address.family != local.public_ip.family)
                return fail("overlay backend host-gw: the cluster network " + config.network.str() +
                            " and the node address " + local.public_ip.str() +
                            " differ in family (routes go via node addresses; use vxlan)");
            return std::make_unique<HostGw>(config, local, netlink);
        case Backend::vxlan:
            return std::make_unique<Vxlan>(config, local, netlink);
        case Backend::udp:
            return make_udp_backend(config, local, netlink);
    }
    return fail("overlay backend " + backend_name(config.backend) + " is unknown");
}

bool routes_directly(const OverlayConfig& config, const std::vector<IpPrefix>& underlay_addresses,
                     const IpAddress& peer) {
    return config.direct_routing && peer.family == config.network.address.family &&
           std::any_of(underlay_addresses.begin(), underlay_addresses.end(),
                       [&](const IpPrefix& p) { return p.network().contains(peer); });
}

}  // namespace podnet::overlay
