#include "network/network_config.hpp"

#include <nlohmann/json.hpp>

#include "common/fs.hpp"
#include "common/process.hpp"
#include "common/validate.hpp"

namespace podnet {

const SubnetConfig* NetworkConfig::v4() const {
    for (const auto& s : subnets)
        if (s.subnet.address.is_v4()) return &s;
    return nullptr;
}

const SubnetConfig* NetworkConfig::v6() const {
    for (const auto& s : subnets)
        if (s.subnet.address.is_v6()) return &s;
    return nullptr;
}

namespace {

Result<void> validate_bridge_name(const std::string& name) {
    bool ok = !name.empty() && name.size() <= 15;
    for (char c : name)
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.')
            ok = false;
    if (!ok)
        return fail("invalid bridge name \"" + name +
                    "\": at most 15 of letters, digits, '-', '_' and '.'");
    return {};
}

}  // namespace

Result<NetworkConfig> make_network_config(const NetworkRequest& request,
                                          const std::vector<NetworkConfig>& existing) {
    if (auto r = validate_name("network", request.name); !r) return std::unexpected(r.error());
    for (const auto& n : existing)
        if (n.name == request.name) return fail("network \"" + request.name + "\" already exists");
    NetworkConfig config;
    config.name = request.name;
    config.bridge = request.bridge.empty() ? "pn-" + request.name.substr(0, 12) : request.bridge;
    if (auto r = validate_bridge_name(config.bridge); !r) return std::unexpected(r.error());
    for (const auto& n : existing)
        if (n.bridge == config.bridge)
            return fail("bridge " + config.bridge + " is already used by network " + n.name);
    if (request.mtu != 0 && (request.mtu < 68 || request.mtu > 65535))
        return fail("invalid MTU " + std::to_string(request.mtu) + ": must be 68..65535");
    config.mtu = request.mtu;
    config.masquerade = request.masquerade;
    if (request.subnets.empty()) return fail("network " + request.name + ": --subnet is required");

    std::optional<IpAddress> gateway;
    if (!request.gateway.empty()) {
        auto gw = parse_ip(request.gateway);
        if (!gw) return fail("invalid gateway \"" + request.gateway + "\"");
        gateway = *gw;
    }
    bool gateway_used = false;
    for (const auto& text : request.subnets) {
        auto subnet = parse_prefix(text, true);
        if (!subnet) return std::unexpected(subnet.error());
        bool v4 = subnet->address.is_v4();
        if ((v4 && config.v4()) || (!v4 && config.v6()))
            return fail("network " + request.name + ": at most one " +
                        std::string(v4 ? "IPv4" : "IPv6") + " subnet");
        if (subnet->length > (v4 ? 30 : 126))
            return fail("subnet " + subnet->str() +
                        " is too small: it needs room for a gateway and at least one pod");
        for (const auto& n : existing)
            for (const auto& s : n.subnets)
                if (s.subnet.overlaps(*subnet))
                    return fail("subnet " + subnet->str() + " overlaps " + s.subnet.str() +
                                " of network " + n.name);
        SubnetConfig sc{*subnet, subnet->at(1)};  // the first host address by default
        if (gateway && gateway->family == subnet->address.family) {
            if (!subnet->contains(*gateway))
                return fail("gateway " + gateway->str() + " is outside subnet " + subnet->str());
            if (*gateway == subnet->address)
                return fail("gateway " + gateway->str() + " is the network address of subnet " +
                            subnet->str());
            if (v4 && *gateway == subnet->last())
                return fail("gateway " + gateway->str() + " is the broadcast address of subnet " +
                            subnet->str());
            sc.gateway = *gateway;
            gateway_used = true;
        }
        config.subnets.push_back(sc);
    }
    if (gateway && !gateway_used)
        return fail("gateway " + gateway->str() + " is outside every subnet of network " +
                    request.name);
    config.created = now_rfc3339();
    return config;
}

std::string network_to_json(const NetworkConfig& c) {
    nlohmann::json subnets = nlohmann::json::array();
    for (const auto& s : c.subnets)
        subnets.push_back({{"subnet", s.subnet.str()}, {"gateway", s.gateway.str()}});
    nlohmann::json j = {{"name", c.name},      {"driver", c.driver}, {"bridge", c.bridge},
                        {"subnets", subnets},  {"mtu", c.mtu},       {"masquerade", c.masquerade},
                        {"created", c.created}};
    return j.dump(2) + "\n";
}

Result<NetworkConfig> network_from_json(const std::string& text, const std::string& source) {
    try {
        auto j = nlohmann::json::parse(text);
        NetworkConfig c;
        c.name = j.at("name").get<std::string>();
        c.driver = j.value("driver", "bridge");
        c.bridge = j.at("bridge").get<std::string>();
        c.mtu = j.value("mtu", 0);
        c.masquerade = j.value("masquerade", true);
        c.created = j.value("created", "");
        for (const auto& s : j.at("subnets")) {
            auto subnet = parse_prefix(s.at("subnet").get<std::string>(), true);
            auto gateway = parse_ip(s.at("gateway").get<std::string>());
            if (!subnet || !gateway) return fail("network state " + source + ": bad subnet");
            c.subnets.push_back({*subnet, *gateway});
        }
        return c;
    } catch (const nlohmann::json::exception& e) {
        return fail("network state " + source + ": " + e.what());
    }
}

Result<void> NetworkStore::save(const NetworkConfig& config) const {
    if (auto r = make_dirs(dir_, 0700); !r) return r;
    return write_file_atomic(dir_ + "/" + config.name + ".json", network_to_json(config), 0600);
}

Result<NetworkConfig> NetworkStore::load(const std::string& name) const {
    if (validate_name("network", name) && exists(name)) {
        std::string path = dir_ + "/" + name + ".json";
        auto text = read_file(path);
        if (!text) return std::unexpected(text.error());
        return network_from_json(*text, path);
    }
    return fail("network \"" + name + "\": no such network");
}

bool NetworkStore::exists(const std::string& name) const {
    return path_exists(dir_ + "/" + name + ".json");
}

Result<std::vector<NetworkConfig>> NetworkStore::list() const {
    auto names = list_dir(dir_);
    if (!names) return std::unexpected(names.error());
    std::vector<NetworkConfig> out;
    for (const auto& n : *names) {
        if (!n.ends_with(".json")) continue;
        auto c = load(n.substr(0, n.size() - 5));
        if (!c) return std::unexpected(c.error());
        out.push_back(std::move(*c));
    }
    std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.name < b.name; });
    return out;
}

Result<void> NetworkStore::remove(const std::string& name) const {
    return remove_file(dir_ + "/" + name + ".json");
}

}  // namespace podnet
