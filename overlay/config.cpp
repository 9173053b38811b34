#include "overlay/config.hpp"

#include <algorithm>
#include <cctype>
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
        // flannel's defaults: a /24 (IPv6: /64) per node, or two bits below a smaller network.
        c.subnet_len = c.network.address.is_v4()
                           ? (c.network.length <= 22 ? 24 : c.network.length + 2)
                           : (c.network.length <= 62 ? 64 : c.network.length + 2);
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

namespace {

// Go's encoding/json, which flannel decodes with, matches keys without regard to case.
bool same_key(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

// How a key is named to the user: flannel's name in the JSON file, or podnet.toml's snake_case.
struct KeyNamer {
    bool toml = false;
    std::string prefix;  // "net.json: " or "[overlay] "

    [[nodiscard]] std::string operator()(std::string_view flannel_key) const {
        if (!toml) return std::string(flannel_key);
        static const std::pair<std::string_view, std::string_view> names[] = {
            {"Network", "network"},
            {"SubnetLen", "subnet_len"},
            {"SubnetMin", "subnet_min"},
            {"SubnetMax", "subnet_max"},
            {"EnableIPv4", "enable_ipv4"},
            {"EnableIPv6", "enable_ipv6"},
            {"IPv6Network", "ipv6_network"},
            {"IPv6SubnetLen", "ipv6_subnet_len"},
            {"IPv6SubnetMin", "ipv6_subnet_min"},
            {"IPv6SubnetMax", "ipv6_subnet_max"},
            {"EnableNFTables", "enable_nftables"},
            {"Backend.Type", "backend"},
            {"Backend.VNI", "vni"},
            {"Backend.Port", "port"},
            {"Backend.MTU", "mtu"},
            {"Backend.DirectRouting", "direct_routing"},
            {"Backend.GBP", "gbp"},
            {"Backend.Learning", "learning"}};
        for (const auto& [flannel, snake] : names)
            if (flannel == flannel_key) return std::string(snake);
        return std::string(flannel_key);
    }
    [[nodiscard]] std::unexpected<Error> bad(std::string_view key, const std::string& why) const {
        return fail(prefix + (*this)(key) + ": " + why);
    }
};

// flannel's other backends: refused by type, with the reason.
constexpr std::string_view flannel_only_backends[] = {
    "ipip", "wireguard", "ipsec", "alloc", "aws-vpc", "gce", "ali-vpc", "tencent-vpc", "extension"};

// Backend keys flannel reads only in other backends or on Windows: accepted and ignored, as
// flannel's vxlan, host-gw and udp backends ignore them.
constexpr std::string_view ignored_backend_keys[] = {"MacPrefix",
                                                     "Name",
                                                     "PSK",
                                                     "ListenPort",
                                                     "ListenPortV6",
                                                     "PersistentKeepaliveInterval",
                                                     "Mode",
                                                     "UDPEncap",
                                                     "ESPProposal",
                                                     "RouteTableID",
                                                     "AccessKeyID",
                                                     "AccessKeySecret",
                                                     "PreStartupCommand",
                                                     "PostStartupCommand",
                                                     "SubnetAddCommand",
                                                     "SubnetRemoveCommand"};

// The settings as written (either source) into a checked config: one family, its keys, the
// backend's options. `backend_given`: false when the JSON had no Backend (flannel: udp).
Result<OverlayConfig> resolve(const OverlaySettings& s, const KeyNamer& key, bool backend_given,
                              std::vector<std::string> notes) {
    if (!s.enable_ipv4 && !s.enable_ipv6)
        return key.bad("EnableIPv4", "false, and EnableIPv6 is not true: no network to run");
    if (s.enable_ipv4 && s.enable_ipv6)
        return key.bad("EnableIPv6",
                       "with EnableIPv4: dual-stack clusters are not supported (for an IPv6 "
                       "cluster set " +
                           key("EnableIPv4") + " false)");
    OverlayConfig c;
    c.notes = std::move(notes);
    // The family's keys; the other family's are ignored, as flannel ignores them.
    const bool v6 = s.enable_ipv6;
    const char* network_key = v6 ? "IPv6Network" : "Network";
    const std::string& network = v6 ? s.ipv6_network : s.network;
    if (network.empty())
        return key.bad(network_key, v6 ? "required with EnableIPv6 (the IPv6 cluster CIDR)"
                                       : "required (the cluster CIDR)");
    auto prefix = parse_prefix(network, false);
    if (!prefix) return key.bad(network_key, prefix.error().message);
    if (v6 && prefix->address.is_v4()) return key.bad(network_key, "not an IPv6 network");
    c.network = *prefix;
    const int64_t subnet_len = v6 ? s.ipv6_subnet_len : s.subnet_len;
    const char* len_key = v6 ? "IPv6SubnetLen" : "SubnetLen";
    if (subnet_len < 0 || subnet_len > 128) return key.bad(len_key, "out of range");
    c.subnet_len = static_cast<int>(subnet_len);
    for (auto [name, text, field] :
         {std::tuple{v6 ? "IPv6SubnetMin" : "SubnetMin", v6 ? &s.ipv6_subnet_min : &s.subnet_min,
                     &c.subnet_min},
          std::tuple{v6 ? "IPv6SubnetMax" : "SubnetMax", v6 ? &s.ipv6_subnet_max : &s.subnet_max,
                     &c.subnet_max}}) {
        if (text->empty()) continue;
        auto a = parse_ip(*text);
        if (!a) return key.bad(name, a.error().message);
        *field = *a;
    }
    auto other_family =
        v6 ? std::vector<std::pair<const char*, bool>>{{"Network", !s.network.empty()},
                                                       {"SubnetLen", s.subnet_len != 0},
                                                       {"SubnetMin", !s.subnet_min.empty()},
                                                       {"SubnetMax", !s.subnet_max.empty()}}
           : std::vector<std::pair<const char*, bool>>{
                 {"IPv6Network", !s.ipv6_network.empty()},
                 {"IPv6SubnetLen", s.ipv6_subnet_len != 0},
                 {"IPv6SubnetMin", !s.ipv6_subnet_min.empty()},
                 {"IPv6SubnetMax", !s.ipv6_subnet_max.empty()}};
    for (const auto& [name, given] : other_family)
        if (given)
            c.notes.push_back(key(name) + ": ignored (" + key(v6 ? "EnableIPv4" : "EnableIPv6") +
                              " is false), as flannel does");
    if (s.enable_nftables)
        c.notes.push_back(key("EnableNFTables") + ": podnet always uses nftables, accepted");

    for (auto other : flannel_only_backends)
        if (s.backend == other)
            return key.bad("Backend.Type", "flannel's \"" + s.backend +
                                               "\" backend is not supported by podnet (vxlan, "
                                               "host-gw or udp)");
    auto backend = parse_backend(s.backend);
    if (!backend) return key.bad("Backend.Type", backend.error().message);
    c.backend = *backend;
    if (!backend_given)
        c.notes.push_back("Backend: not given; podnet uses vxlan (flannel's default is udp)");
    if (s.gbp)
        return key.bad("Backend.GBP",
                       "VXLAN Group Based Policy is not supported (podnet's NetworkPolicy "
                       "does not use it); set it false or leave it out");
    if (s.learning)
        return key.bad("Backend.Learning",
                       "a learning VTEP is not supported (the agent programs every peer's "
                       "neighbour and fdb entry itself); set it false or leave it out");
    if (s.vni < 1 || s.vni > 0xffffff) return key.bad("Backend.VNI", "out of range (1-16777215)");
    c.vni = static_cast<uint32_t>(s.vni);
    if (s.port < 0 || s.port > 65535) return key.bad("Backend.Port", "out of range (1-65535)");
    c.port = static_cast<uint16_t>(s.port);
    if (s.mtu != 0 && (s.mtu < 68 || s.mtu > 65535))
        return key.bad("Backend.MTU", "out of range (68-65535)");
    c.mtu = static_cast<int>(s.mtu);
    c.direct_routing = s.direct_routing;
    auto finished = finish_config(std::move(c));
    if (!finished) return fail(key.prefix + finished.error().message);
    return finished;
}

// A JSON value into an OverlaySettings field, type-checked as Go's decoder would (null: absent).
Result<void> json_string(const nlohmann::json& v, std::string_view name, const KeyNamer& key,
                         std::string& out) {
    if (v.is_null()) return {};
    if (!v.is_string()) return key.bad(name, "must be a string");
    out = v.get<std::string>();
    return {};
}

Result<void> json_number(const nlohmann::json& v, std::string_view name, const KeyNamer& key,
                         int64_t& out) {
    if (v.is_null()) return {};
    if (!v.is_number_integer() || v.get<int64_t>() < 0)
        return key.bad(name, "must be a non-negative number");
    out = std::min<int64_t>(v.get<int64_t>(), int64_t{1} << 32);
    return {};
}

Result<void> json_bool(const nlohmann::json& v, std::string_view name, const KeyNamer& key,
                       bool& out) {
    if (v.is_null()) return {};
    if (!v.is_boolean()) return key.bad(name, "must be true or false");
    out = v.get<bool>();
    return {};
}

}  // namespace

Result<OverlayConfig> parse_flannel_json(std::string_view text, const std::string& source) {
    auto doc = nlohmann::json::parse(text, nullptr, false);
    if (doc.is_discarded() || !doc.is_object()) return fail(source + ": not a JSON object");
    const KeyNamer key{false, source + ": "};
    OverlaySettings s;
    s.subnet_len = 0;
    bool backend_given = false;
    std::vector<std::string> notes;
    auto top_string = [&](std::string_view k) -> std::string* {
        if (same_key(k, "Network")) return &s.network;
        if (same_key(k, "SubnetMin")) return &s.subnet_min;
        if (same_key(k, "SubnetMax")) return &s.subnet_max;
        if (same_key(k, "IPv6Network")) return &s.ipv6_network;
        if (same_key(k, "IPv6SubnetMin")) return &s.ipv6_subnet_min;
        if (same_key(k, "IPv6SubnetMax")) return &s.ipv6_subnet_max;
        return nullptr;
    };
    for (const auto& [k, value] : doc.items()) {
        Result<void> r;
        if (auto* field = top_string(k)) {
            r = json_string(value, k, key, *field);
        } else if (same_key(k, "SubnetLen")) {
            r = json_number(value, "SubnetLen", key, s.subnet_len);
        } else if (same_key(k, "IPv6SubnetLen")) {
            r = json_number(value, "IPv6SubnetLen", key, s.ipv6_subnet_len);
        } else if (same_key(k, "EnableIPv4")) {
            r = json_bool(value, "EnableIPv4", key, s.enable_ipv4);
        } else if (same_key(k, "EnableIPv6")) {
            r = json_bool(value, "EnableIPv6", key, s.enable_ipv6);
        } else if (same_key(k, "EnableNFTables")) {
            r = json_bool(value, "EnableNFTables", key, s.enable_nftables);
        } else if (same_key(k, "Networks") || same_key(k, "IPv6Networks")) {
            // flannel's MultiClusterCIDR lists (filled from the Kubernetes API): empty is fine.
            if (!value.is_null() && !(value.is_array() && value.empty()))
                return key.bad(k,
                               "several cluster networks (flannel's MultiClusterCIDR) are not "
                               "supported; give one Network");
        } else if (same_key(k, "Backend")) {
            if (value.is_null()) continue;
            if (!value.is_object()) return key.bad("Backend", "must be an object");
            backend_given = true;
            // Type first: it decides whether the other keys mean anything.
            for (const auto& [bk, bv] : value.items())
                if (same_key(bk, "Type"))
                    if (auto t = json_string(bv, "Backend.Type", key, s.backend); !t)
                        return std::unexpected(t.error());
            for (const auto& [bk, bv] : value.items()) {
                Result<void> b;
                if (same_key(bk, "Type")) continue;
                if (same_key(bk, "VNI")) {
                    b = json_number(bv, "Backend.VNI", key, s.vni);
                } else if (same_key(bk, "Port")) {
                    b = json_number(bv, "Backend.Port", key, s.port);
                } else if (same_key(bk, "MTU")) {
                    b = json_number(bv, "Backend.MTU", key, s.mtu);
                } else if (same_key(bk, "DirectRouting")) {
                    b = json_bool(bv, "Backend.DirectRouting", key, s.direct_routing);
                } else if (same_key(bk, "GBP")) {
                    b = json_bool(bv, "Backend.GBP", key, s.gbp);
                } else if (same_key(bk, "Learning")) {
                    b = json_bool(bv, "Backend.Learning", key, s.learning);
                } else if (std::ranges::any_of(ignored_backend_keys, [&](std::string_view known) {
                               return same_key(bk, known);
                           })) {
                    notes.push_back("Backend." + bk + ": not read by podnet's " + s.backend +
                                    " backend (flannel reads it on Windows or in its other "
                                    "backends), ignored");
                } else {
                    return key.bad("Backend." + bk, "unknown key");
                }
                if (!b) return std::unexpected(b.error());
            }
        } else {
            return key.bad(k, "unknown key");
        }
        if (!r) return std::unexpected(r.error());
    }
    return resolve(s, key, backend_given, std::move(notes));
}

Result<OverlayConfig> overlay_config_from(const OverlaySettings& s) {
    const KeyNamer key{true, "[overlay] "};
    // [overlay] always has a backend (its default is vxlan): no note about flannel's udp.
    return resolve(s, key, true, {});
}

}  // namespace podnet::overlay
