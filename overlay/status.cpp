#include "overlay/status.hpp"

#include <algorithm>

#include "overlay/backend.hpp"
#include "overlay/udp_backend.hpp"

namespace podnet::overlay {

namespace {

bool has_route(const std::vector<RouteEntry>& routes, const IpPrefix& destination,
               const std::optional<IpAddress>& via) {
    return std::any_of(routes.begin(), routes.end(), [&](const RouteEntry& r) {
        return r.destination == destination && r.via == via;
    });
}

// Routes on `link` into the cluster network, less those `explained`.
void collect_stale(const OverlayConfig& config, const std::string& link,
                   const std::vector<RouteEntry>& routes, const std::vector<IpPrefix>& explained,
                   std::vector<std::string>& out) {
    for (const auto& r : routes) {
        if (!config.network.contains(r.destination.address) ||
            r.destination.length < config.network.length)
            continue;
        if (std::find(explained.begin(), explained.end(), r.destination) == explained.end())
            out.push_back(r.destination.str() + " dev " + link);
    }
}

}  // namespace

Result<NodeOverlayStatus> node_overlay_status(const OverlayConfig& config,
                                              const IpAddress& public_ip,
                                              const std::string& underlay, LeaseStore& store,
                                              NetlinkSocket& nl) {
    NodeOverlayStatus status;
    status.public_ip = public_ip;
    status.underlay = underlay;
    status.backend = config.backend;
    auto list = store.list();
    if (!list) return wrap(list.error(), "overlay status: leases");
    status.warnings = list->warnings;

    auto underlay_routes = nl.routes(underlay);
    if (!underlay_routes) return wrap(underlay_routes.error(), "overlay status");
    std::vector<IpPrefix> underlay_subnets;
    if (config.direct_routing) {
        auto a = nl.addresses(underlay);
        if (!a) return wrap(a.error(), "overlay status");
        underlay_subnets = *a;
    }
    std::string vtep = vtep_name(config.vni);
    std::vector<RouteEntry> vtep_routes;
    std::vector<Neighbour> neighbours;
    std::vector<FdbEntry> fdb;
    bool have_vtep = false;
    if (config.backend == Backend::vxlan) {
        auto exists = nl.link_exists(vtep);
        have_vtep = exists && *exists;
        if (have_vtep) {
            auto r = nl.routes(vtep);
            auto n = nl.neighbours(vtep);
            auto f = nl.fdb_entries(vtep);
            if (!r || !n || !f) return fail("overlay status: read " + vtep);
            vtep_routes = *r;
            neighbours = *n;
            fdb = *f;
        }
    }
    bool tun_route = false;
    if (config.backend == Backend::udp) {
        auto exists = nl.link_exists(udp_tun_name);
        if (exists && *exists) {
            auto r = nl.routes(udp_tun_name);
            tun_route = r && has_route(*r, config.network, std::nullopt);
        }
    }

    std::vector<IpPrefix> via_underlay, via_vtep;
    for (const auto& l : list->leases) {
        if (l.public_ip == public_ip) {
            status.own = l;
            continue;
        }
        PeerKernelState p;
        p.lease = l;
        switch (config.backend) {
            case Backend::host_gw:
                p.route = has_route(*underlay_routes, l.subnet, l.public_ip);
                via_underlay.push_back(l.subnet);
                break;
            case Backend::udp:
                p.route = tun_route;
                break;
            case Backend::vxlan: {
                p.direct = routes_directly(config, underlay_subnets, l.public_ip);
                if (p.direct) {
                    p.route = has_route(*underlay_routes, l.subnet, l.public_ip);
                    via_underlay.push_back(l.subnet);
                    break;
                }
                IpAddress gateway = l.subnet.network().address;
                std::string mac = l.backend_data.value("VtepMAC", "");
                p.route = has_route(vtep_routes, l.subnet, gateway);
                p.neighbour = std::any_of(neighbours.begin(), neighbours.end(), [&](const auto& n) {
                    return n.ip == gateway && n.mac == mac;
                });
                p.fdb = std::any_of(fdb.begin(), fdb.end(), [&](const auto& e) {
                    return e.mac == mac && e.dst == l.public_ip;
                });
                via_vtep.push_back(l.subnet);
                break;
            }
        }
        status.peers.push_back(p);
    }
    collect_stale(config, underlay, *underlay_routes, via_underlay, status.stale_routes);
    if (have_vtep) collect_stale(config, vtep, vtep_routes, via_vtep, status.stale_routes);
    return status;
}

nlohmann::json node_overlay_status_json(const NodeOverlayStatus& s) {
    nlohmann::json peers = nlohmann::json::array();
    for (const auto& p : s.peers) {
        nlohmann::json kernel = {{"route", p.route}};
        if (p.neighbour) kernel["neighbour"] = *p.neighbour;
        if (p.fdb) kernel["fdb"] = *p.fdb;
        if (p.direct) kernel["direct"] = true;
        auto entry = lease_to_json(p.lease);
        entry["kernel"] = kernel;
        entry["ready"] = p.ready();
        peers.push_back(entry);
    }
    nlohmann::json out = {{"public_ip", s.public_ip.str()},
                          {"underlay", s.underlay},
                          {"backend", backend_name(s.backend)},
                          {"lease", nullptr},
                          {"peers", peers},
                          {"stale_routes", s.stale_routes},
                          {"warnings", s.warnings}};
    if (s.own) out["lease"] = lease_to_json(*s.own);
    return out;
}

}  // namespace podnet::overlay
