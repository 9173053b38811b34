// Runtime's network and host-port operations.

#include <algorithm>

#include "podnet/runtime.hpp"
#include "sandbox/networking.hpp"
#include "sandbox/pod_lifecycle.hpp"
#include "sandbox/store.hpp"

namespace podnet {

namespace {

// Ids of the sandboxes with an attachment to `network`: a scan of the records, fine for
// network-level commands (never on the per-sandbox path).
std::vector<std::string> users_of(const SandboxStore& store, const std::string& network) {
    std::vector<std::string> users;
    if (auto ids = store.list_ids())
        for (const auto& id : *ids)
            if (auto record = store.load(id))
                for (const auto& a : record->attachments)
                    if (a.network == network) users.push_back(id);
    return users;
}

NetworkInfo network_info(const NetworkConfig& c, std::vector<std::string> users) {
    NetworkInfo info{c.name, c.driver,     c.bridge,  {},
                     c.mtu,  c.masquerade, c.created, std::move(users)};
    for (const auto& s : c.subnets) info.subnets.emplace_back(s.subnet.str(), s.gateway.str());
    return info;
}

bool same_mapping(const PortMapping& a, const PortMapping& b) {
    return a.protocol == b.protocol && a.host_port == b.host_port && a.host_ip == b.host_ip &&
           a.container_port == b.container_port;
}

// `port rm web 80` (no host port, as `-p 80` was given): every mapping of container port 80
// with that protocol, on the host address given, or on any when none is; `8000-8010:80` the
// ones whose host port is in that range.
bool serves_request(const PortMapping& held, const PortMapping& request) {
    return request.host_port == 0 && held.protocol == request.protocol &&
           held.container_port == request.container_port &&
           (!request.host_ip || held.host_ip == request.host_ip) &&
           (request.pick_first == 0 ||
            (held.host_port >= request.pick_first && held.host_port <= request.pick_last));
}

}  // namespace

Result<NetworkInfo> Runtime::create_network(const NetworkRequest& request) {
    SandboxStore store(config_.run_root);
    auto lock = store.lock();
    if (!lock) return std::unexpected(lock.error());
    auto config = SandboxNetworking(config_).create_network(request);
    if (!config) return std::unexpected(config.error());
    return network_info(*config, {});
}

Result<std::vector<NetworkInfo>> Runtime::list_networks() const {
    SandboxStore store(config_.run_root);
    auto networks = SandboxNetworking(config_).list_networks();
    if (!networks) return std::unexpected(networks.error());
    std::vector<NetworkInfo> out;
    for (const auto& n : *networks) out.push_back(network_info(n, users_of(store, n.name)));
    return out;
}

Result<NetworkInfo> Runtime::inspect_network(std::string_view name) const {
    SandboxStore store(config_.run_root);
    auto network = SandboxNetworking(config_).inspect_network(std::string(name));
    if (!network) return std::unexpected(network.error());
    return network_info(*network, users_of(store, network->name));
}

Result<void> Runtime::remove_network(std::string_view name) {
    SandboxStore store(config_.run_root);
    auto lock = store.lock();
    if (!lock) return std::unexpected(lock.error());
    return SandboxNetworking(config_).remove_network(std::string(name),
                                                     users_of(store, std::string(name)));
}

Result<std::vector<std::string>> Runtime::add_ports(std::string_view sandbox_ref,
                                                    const std::vector<std::string>& specs) {
    auto mappings = parse_port_specs(specs);
    if (!mappings) return std::unexpected(mappings.error());
    SandboxStore store(config_.run_root);
    auto locked = store.lock_and_load(sandbox_ref);
    if (!locked) return std::unexpected(locked.error());
    SandboxRecord& record = locked->record;
    if (record.attachments.empty())
        return fail("sandbox " + record.name + " has no network to publish ports from");
    if (record.network.starts_with("cni:"))
        return fail("sandbox " + record.name +
                    " is on CNI networks: its host ports are the plugins' portMappings, "
                    "given at create (-p)");
    std::vector<PortMapping> fresh;
    for (const auto& m : *mappings) {
        bool present = false;
        for (const auto& text : record.ports)
            if (format_port_mapping(m) == text) present = true;
        if (!present) fresh.push_back(m);
    }
    Rollback rollback;
    if (auto r = SandboxNetworking(config_).publish(record, fresh, rollback); !r)
        return std::unexpected(r.error());
    for (const auto& m : fresh) record.ports.push_back(format_port_mapping(m));
    if (auto r = store.save(record); !r) return std::unexpected(r.error());
    rollback.commit();
    return record.ports;
}

Result<std::vector<std::string>> Runtime::remove_ports(std::string_view sandbox_ref,
                                                       const std::vector<std::string>& specs) {
    auto mappings = parse_port_specs(specs);
    if (!mappings) return std::unexpected(mappings.error());
    SandboxStore store(config_.run_root);
    auto locked = store.lock_and_load(sandbox_ref);
    if (!locked) return std::unexpected(locked.error());
    SandboxRecord& record = locked->record;
    if (record.network.starts_with("cni:"))
        return fail("sandbox " + record.name +
                    " is on CNI networks: its host ports are the plugins' portMappings, "
                    "given at create (-p)");
    std::vector<PortMapping> gone;
    for (const auto& m : *mappings) {
        bool present = false;
        for (const auto& text : record.ports)
            if (auto held = parse_port_mapping(text))
                for (const auto& h : *held)
                    if (same_mapping(h, m) || serves_request(h, m)) {
                        present = true;
                        if (std::find(gone.begin(), gone.end(), h) == gone.end()) gone.push_back(h);
                    }
        if (!present)
            return fail("port " + format_port_mapping(m) + " is not mapped by sandbox " +
                        record.name);
    }
    std::vector<Error> errors;
    SandboxNetworking(config_).unpublish(record, gone, errors);
    std::erase_if(record.ports, [&](const std::string& text) {
        for (const auto& m : gone)
            if (format_port_mapping(m) == text) return true;
        return false;
    });
    if (auto r = store.save(record); !r) errors.push_back(r.error());
    if (!errors.empty()) return std::unexpected(join_errors("port rm", errors));
    return record.ports;
}

}  // namespace podnet
