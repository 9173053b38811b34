#include "overlay/lease.hpp"

#include <algorithm>
#include <chrono>
#include <set>

#include "common/text.hpp"

namespace podnet::overlay {

int64_t now_unix_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string subnet_key(const IpPrefix& subnet) {
    return subnet.network().address.str() + "-" + std::to_string(subnet.length);
}

Result<IpPrefix> parse_subnet_key(std::string_view key) {
    auto dash = key.rfind('-');
    if (dash == std::string_view::npos) return fail(quoted(key) + " is not ADDR-LEN");
    std::string text = std::string(key.substr(0, dash)) + "/" + std::string(key.substr(dash + 1));
    auto p = parse_prefix(text, true);
    if (!p) return fail(quoted(key) + ": " + p.error().message);
    return *p;
}

nlohmann::json lease_to_json(const Lease& lease) {
    return {{"subnet", lease.subnet.str()},
            {"PublicIP", lease.public_ip.str()},
            {"node", lease.node},
            {"BackendType", backend_name(lease.backend)},
            {"BackendData", lease.backend_data},
            {"renewed_ms", lease.renewed_ms},
            {"expiration_ms", lease.expiration_ms}};
}

Result<Lease> lease_from_json(const nlohmann::json& record, const std::string& key) {
    auto bad = [&](const std::string& why) { return fail("lease " + key + ": " + why); };
    if (!record.is_object()) return bad("not an object");
    auto text = [&](const char* field) -> Result<std::string> {
        if (!record.contains(field) || !record[field].is_string())
            return fail(std::string(field) + " missing or not a string");
        return record[field].get<std::string>();
    };
    Lease lease;
    auto subnet = text("subnet");
    if (!subnet) return bad(subnet.error().message);
    auto prefix = parse_prefix(*subnet, true);
    if (!prefix) return bad("subnet: " + prefix.error().message);
    lease.subnet = *prefix;
    if (auto from_key = parse_subnet_key(key); !from_key || !(*from_key == lease.subnet))
        return bad("subnet " + lease.subnet.str() + " does not match the key");
    auto ip = text("PublicIP");
    if (!ip) return bad(ip.error().message);
    auto address = parse_ip(*ip);
    if (!address) return bad("PublicIP: " + address.error().message);
    lease.public_ip = *address;
    auto backend = text("BackendType");
    if (!backend) return bad(backend.error().message);
    auto b = parse_backend(*backend);
    if (!b) return bad("BackendType: " + b.error().message);
    lease.backend = *b;
    lease.node = record.value("node", "");
    if (record.contains("BackendData") && record["BackendData"].is_object())
        lease.backend_data = record["BackendData"];
    if (!record.contains("expiration_ms") || !record["expiration_ms"].is_number_integer())
        return bad("expiration_ms missing or not a number");
    lease.expiration_ms = record["expiration_ms"].get<int64_t>();
    lease.renewed_ms = record.value("renewed_ms", int64_t{0});
    return lease;
}

Lease granted_lease(const LeaseRequest& request, const IpPrefix& subnet, int64_t now_ms) {
    return Lease{subnet,
                 request.public_ip,
                 request.node,
                 request.backend,
                 request.backend_data,
                 now_ms,
                 now_ms + int64_t{request.ttl_seconds} * 1000};
}

Result<IpPrefix> choose_subnet(const OverlayConfig& config, const std::vector<Lease>& leases,
                               const std::vector<IpPrefix>& taken, const IpAddress& public_ip) {
    for (const auto& lease : leases)
        if (lease.public_ip == public_ip && config.network.contains(lease.subnet.address) &&
            lease.subnet.length == config.subnet_len)
            return lease.subnet;
    std::set<IpAddress> used;
    for (const auto& lease : leases) used.insert(lease.subnet.network().address);
    for (const auto& t : taken) used.insert(t.network().address);
    uint64_t first = config.network.subnet_index(config.subnet_min, config.subnet_len);
    for (uint64_t i = 0; i < config.capacity(); ++i) {
        IpPrefix candidate = config.network.subnet(config.subnet_len, first + i);
        if (!used.contains(candidate.address)) return candidate;
    }
    return fail("no free /" + std::to_string(config.subnet_len) + " left in " +
                config.network.str() + " (" + std::to_string(config.capacity()) +
                " subnets, all leased)");
}

}  // namespace podnet::overlay
