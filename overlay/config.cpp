#include "overlay/config.hpp"

#include <tuple>

#include <nlohmann/json.hpp>

namespace podnet::overlay {

std::string backend_name(Backend backend) {
    switch (backend) {
        case Backend::vxlan:
            return "vxlan";
        case Backend::host_gw:
            return "host-gw";
        case Backend::udp:
            return "udp";
    }
    return "vxlan";
}

Result<Backend> parse_backend(std::string_view text) {
    if (text == "vxlan") return Backend::vxlan;
    if (text == "host-gw") return Backend::host_gw;
    if (text == "udp") return Backend::udp;
    return fail("unknown backend \"" + std::string(text) + "\" (vxlan, host-gw or udp)");
}

uint64_t OverlayConfig::capacity() const {
    return network.subnet_index(subnet_max, subnet_len) -
           network.subnet_index(subnet_min, subnet_len) + 1;
}

Result<OverlayConfig> finish_config(OverlayConfig c) {
    if (c.network.address.family == 0) return fail("overlay network: required");
    if (!(c.network == c.network.network()))
        return fail("overlay network " + c.network.str() + ": host bits set (want " +
                    c.network.network().str() + ")");
    int max_len = c.network.address.is_v4() ? 30 : 126;
    if (c.subnet_len == 0)
        c.subnet_len =
            c.network.address.is_v4() ? (c.network.length <= 22 ? 24 : c.network.length + 2) : 64;
    if (c.subnet_len > max_len)
        return fail("overlay subnet length /" + std::to_string(c.subnet_len) +
                    " is out of range (at most /" + std::to_string(max_len) + ")");
    if (c.subnet_len <= c.network.length)
        return fail("overlay network " + c.network.str() + " is too small for /" +
                    std::to_string(c.subnet_len) + " subnets (want a shorter prefix than /" +
                    std::to_string(c.subnet_len) + ")");
    if (c.subnet_len - c.network.length > 63)
        return fail("overlay network " + c.network.str() + " holds more than 2^63 /" +
                    std::to_string(c.subnet_len) + " subnets (want a longer prefix)");
    if (c.subnet_min.family == 0) {
        // flannel skips the first subnet (it holds the network address); a shorter subnet
        // length than the network's was refused above, so there are at least two.
        c.subnet_min = c.network.subnet(c.subnet_len, 1).address;
    }
    if (c.subnet_max.family == 0)
        c.subnet_max = IpPrefix{c.network.last(), c.subnet_len}.network().address;
    auto check_bound = [&](const char* name, const IpAddress& value) -> Result<void> {
        if (!c.network.contains(value))
            return fail(std::string("overlay ") + name + " " + value.str() + " is outside " +
                        c.network.str());
        if (IpPrefix{value, c.subnet_len}.network().address != value)
            return fail(std::string("overlay ") + name + " " + value.str() +
                        " is not the start of a /" + std::to_string(c.subnet_len) + " subnet");
        return {};
    };
    if (auto r = check_bound("SubnetMin", c.subnet_min); !r) return std::unexpected(r.error());
    if (auto r = check_bound("SubnetMax", c.subnet_max); !r) return std::unexpected(r.error());
    if (c.subnet_max < c.subnet_min)
        return fail("overlay SubnetMax " + c.subnet_max.str() + " is below SubnetMin " +
                    c.subnet_min.str());
    if (c.vni == 0 || c.vni > 0xffffff)
        return fail("overlay VNI " + std::to_string(c.vni) + " is out of range (1-16777215)");
    if (c.backend == Backend::udp && !c.network.address.is_v4())
        return fail("overlay backend udp carries IPv4 only (network " + c.network.str() +
                    "; use vxlan)");
    if (c.port == 0) c.port = c.backend == Backend::udp ? 8285 : 8472;
    if (c.mtu != 0 && (c.mtu < 68 || c.mtu > 65535))
        return fail("overlay MTU " + std::to_string(c.mtu) + " is out of range (68-65535)");
    return c;
}

Result<OverlayConfig> parse_flannel_json(std::string_view text, const std::string& source) {
    auto doc = nlohmann::json::parse(text, nullptr, false);
    if (doc.is_discarded() || !doc.is_object()) return fail(source + ": not a JSON object");
    auto bad = [&](const std::string& why) { return fail(source + ": " + why); };
    OverlayConfig c;
    for (const auto& [key, value] : doc.items()) {
        if (key == "Network") {
            if (!value.is_string()) return bad("Network: must be a string");
            auto p = parse_prefix(value.get<std::string>(), false);
            if (!p) return bad("Network: " + p.error().message);
            c.network = *p;
        } else if (key == "SubnetLen") {
            if (!value.is_number_integer()) return bad("SubnetLen: must be a number");
            c.subnet_len = value.get<int>();
            if (c.subnet_len <= 0) return bad("SubnetLen: must be positive");
        } else if (key == "SubnetMin" || key == "SubnetMax") {
            if (!value.is_string()) return bad(key + ": must be a string");
            auto a = parse_ip(value.get<std::string>());
            if (!a) return bad(key + ": " + a.error().message);
            (key == "SubnetMin" ? c.subnet_min : c.subnet_max) = *a;
        } else if (key == "Backend") {
            if (!value.is_object()) return bad("Backend: must be an object");
            for (const auto& [bkey, bvalue] : value.items()) {
                if (bkey == "Type") {
                    if (!bvalue.is_string()) return bad("Backend.Type: must be a string");
                    auto b = parse_backend(bvalue.get<std::string>());
                    if (!b) return bad("Backend.Type: " + b.error().message);
                    c.backend = *b;
                } else if (bkey == "VNI" || bkey == "Port" || bkey == "MTU") {
                    if (!bvalue.is_number_integer() || bvalue.get<int64_t>() < 0)
                        return bad("Backend." + bkey + ": must be a non-negative number");
                    auto n = bvalue.get<int64_t>();
                    if (bkey == "VNI") c.vni = static_cast<uint32_t>(std::min<int64_t>(n, 1 << 30));
                    if (bkey == "Port") {
                        if (n > 65535) return bad("Backend.Port: out of range (1-65535)");
                        c.port = static_cast<uint16_t>(n);
                    }
                    if (bkey == "MTU") c.mtu = static_cast<int>(std::min<int64_t>(n, 1 << 20));
                } else if (bkey == "DirectRouting") {
                    if (!bvalue.is_boolean())
                        return bad("Backend.DirectRouting: must be true/false");
                    c.direct_routing = bvalue.get<bool>();
                } else {
                    return bad("Backend." + bkey + ": unknown key");
                }
            }
        } else {
            return bad(key + ": unknown key");
        }
    }
    auto finished = finish_config(c);
    if (!finished) return bad(finished.error().message);
    return finished;
}

Result<OverlayConfig> overlay_config_from(const OverlaySettings& s) {
    auto bad = [](const std::string& key, const std::string& why) {
        return fail("[overlay] " + key + ": " + why);
    };
    OverlayConfig c;
    if (s.network.empty()) return bad("network", "required (the cluster CIDR)");
    auto network = parse_prefix(s.network, false);
    if (!network) return bad("network", network.error().message);
    c.network = *network;
    if (s.subnet_len < 0 || s.subnet_len > 128) return bad("subnet_len", "out of range");
    c.subnet_len = static_cast<int>(s.subnet_len);
    for (auto [key, text, field] : {std::tuple{"subnet_min", &s.subnet_min, &c.subnet_min},
                                    std::tuple{"subnet_max", &s.subnet_max, &c.subnet_max}}) {
        if (text->empty()) continue;
        auto a = parse_ip(*text);
        if (!a) return bad(key, a.error().message);
        *field = *a;
    }
    auto backend = parse_backend(s.backend);
    if (!backend) return bad("backend", backend.error().message);
    c.backend = *backend;
    if (s.vni < 1 || s.vni > 0xffffff) return bad("vni", "out of range (1-16777215)");
    c.vni = static_cast<uint32_t>(s.vni);
    if (s.port < 0 || s.port > 65535) return bad("port", "out of range (1-65535)");
    c.port = static_cast<uint16_t>(s.port);
    if (s.mtu != 0 && (s.mtu < 68 || s.mtu > 65535)) return bad("mtu", "out of range (68-65535)");
    c.mtu = static_cast<int>(s.mtu);
    c.direct_routing = s.direct_routing;
    auto finished = finish_config(c);
    if (!finished) return fail("[overlay] " + finished.error().message);
    return finished;
}

}  // namespace podnet::overlay
