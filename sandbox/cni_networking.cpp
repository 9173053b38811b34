#include "sandbox/cni_networking.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <map>

#include "cni-runner/conf.hpp"
#include "common/fs.hpp"
#include "common/process.hpp"

namespace podnet {

using nlohmann::json;

namespace {

bool is_cni(const AttachmentRecord& a) {
    return a.network.starts_with(cni_network_prefix);
}

std::string list_name(const AttachmentRecord& a) {
    return a.network.substr(cni_network_prefix.size());
}

// The list to DEL with: the conf dir's current one, or — when it was removed or broke since —
// the bytes ADD used, which the cache keeps for exactly this.
Result<cni::NetworkConfList> list_for_del(const Config& config, const std::string& name,
                                          const std::string& cached_bytes) {
    auto list = find_cni_network(config, name);
    if (list || cached_bytes.empty()) return list;
    return cni::parse_conf_list(cached_bytes, "cached configuration of " + name);
}

json port_mappings_capability(const std::vector<PortMapping>& ports) {
    json out = json::array();
    for (const auto& m : ports) {
        json j = {{"hostPort", m.host_port},
                  {"containerPort", m.container_port},
                  {"protocol", m.protocol}};
        if (m.host_ip) j["hostIP"] = m.host_ip->str();
        out.push_back(std::move(j));
    }
    return out;
}

// The addresses of `ifname` in a CNI result (1.0.0 shape after conversion by the runner; 0.x
// results carry the same fields).
void fill_from_result(const json& result, AttachmentRecord& a) {
    std::optional<size_t> index;
    const json& interfaces = result.contains("interfaces") ? result["interfaces"] : json::array();
    for (size_t i = 0; i < interfaces.size(); ++i) {
        const json& itf = interfaces[i];
        if (itf.value("name", "") == a.interface && !itf.value("sandbox", "").empty()) {
            index = i;
            a.mac = itf.value("mac", "");
        } else if (itf.value("sandbox", "").empty() && a.host_interface.empty()) {
            a.host_interface = itf.value("name", "");
        }
    }
    for (const auto& ip : result.value("ips", json::array())) {
        if (index && ip.contains("interface") && ip["interface"].is_number() &&
            ip["interface"].get<size_t>() != *index)
            continue;
        std::string address = ip.value("address", "");
        bool v6 = address.find(':') != std::string::npos;
        std::string& field = v6 ? a.ipv6 : a.ipv4;
        if (!field.empty()) continue;
        field = address;
        (v6 ? a.gateway6 : a.gateway4) = ip.value("gateway", "");
    }
}

std::string env_value(const char* name) {
    const char* value = std::getenv(name);
    return value != nullptr ? std::string(value) : std::string();
}

}  // namespace

CniSearch cni_search(const Config& config) {
    CniSearch s{config.cni_conf_dir, "[cni] conf_dir", config.cni_plugin_path, "[cni] plugin_path"};
    // Empty counts as unset, as cnitool treats it.
    if (auto dir = env_value("NETCONFPATH"); !dir.empty()) s = {dir, "NETCONFPATH", "", ""};
    if (auto path = env_value("CNI_PATH"); !path.empty()) {
        s.plugin_path = path;
        s.plugin_path_from = "CNI_PATH";
    } else {
        s.plugin_path = config.cni_plugin_path;
        s.plugin_path_from = "[cni] plugin_path";
    }
    return s;
}

Result<cni::NetworkConfList> find_cni_network(const Config& config, const std::string& name) {
    CniSearch s = cni_search(config);
    auto list = cni::find_network(s.conf_dir, name);
    if (list) return list;
    std::string from = s.conf_dir_from == "NETCONFPATH"
                           ? "from NETCONFPATH"
                           : "from [cni] conf_dir; NETCONFPATH overrides it";
    return std::unexpected(Error{list.error().message + " (" + from + ")"});
}

cni::Runner make_cni_runner(const Config& config) {
    cni::RunnerOptions options;
    options.plugin_dirs = cni::split_path_list(cni_search(config).plugin_path);
    options.cache_dir = config.effective_cni_cache_dir();
    options.timeout = std::chrono::seconds(config.cni_timeout_seconds);
    std::string log_path = options.cache_dir + "/plugins.log";
    options.log = [log_path](const std::string& line) {
        // Best effort: a log that cannot be written must not fail a network operation.
        int fd = ::open(log_path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0) return;
        std::string text = now_rfc3339() + " " + line + "\n";
        (void)!::write(fd, text.data(), text.size());
        ::close(fd);
    };
    return cni::Runner(std::move(options));
}

Result<std::vector<AttachmentRecord>> attach_cni_networks(const Config& config,
                                                          const CniAttachRequest& request,
                                                          Rollback& rollback) {
    std::vector<cni::NetworkConfList> lists;
    for (const auto& name : request.networks) {
        auto list = find_cni_network(config, name);
        if (!list) return wrap(list.error(), "network cni:" + name);
        lists.push_back(std::move(*list));
    }
    if (!request.ips.empty() && !lists.empty()) {
        const cni::NetworkConfList& first = lists.front();
        bool declared = std::ranges::any_of(first.plugins, [](const cni::PluginConf& p) {
            return std::ranges::find(p.capabilities, "ips") != p.capabilities.end();
        });
        if (!declared) {
            std::string ips;
            for (const auto& ip : request.ips) ips += (ips.empty() ? "" : ", ") + ip;
            return fail("network cni:" + first.name + ": static address " + ips +
                        " needs the \"ips\" capability, and no plugin of " +
                        (first.source.empty() ? first.name : first.source) +
                        " declares it (add \"capabilities\": {\"ips\": true} to the plugin "
                        "whose IPAM takes static addresses: podnet-cni, or bridge with "
                        "host-local)");
        }
    }
    if (auto r = make_dirs(config.effective_cni_cache_dir(), 0700); !r)
        return std::unexpected(r.error());
    json capability_args = json::object();
    if (!request.ports.empty())
        capability_args["portMappings"] = port_mappings_capability(request.ports);
    if (!request.ips.empty()) capability_args["ips"] = request.ips;

    std::vector<AttachmentRecord> records;
    for (size_t i = 0; i < lists.size(); ++i) {
        cni::RuntimeConf rt;
        rt.container_id = request.sandbox_id;
        rt.netns = request.netns_path;
        rt.ifname = "eth" + std::to_string(i);
        // Host ports and static addresses belong to the primary network only: one host port
        // cannot be DNATed to two pod addresses, and the pod answers through eth0's default
        // route, so a mapping on another network would answer from the wrong interface.
        if (i == 0) rt.capability_args = capability_args;
        auto runner = make_cni_runner(config);
        auto result = runner.add(lists[i], rt);
        if (!result) return wrap(result.error(), "network cni:" + lists[i].name);
        rollback.push([config, list = lists[i], rt] {
            auto runner = make_cni_runner(config);
            (void)runner.del(list, rt);
        });
        AttachmentRecord a;
        a.network = std::string(cni_network_prefix) + lists[i].name;
        a.interface = rt.ifname;
        fill_from_result(*result, a);
        a.cni_result = result->dump();
        records.push_back(std::move(a));
    }
    return records;
}

void detach_cni_networks(const Config& config, SandboxRecord& record, std::vector<Error>& errors) {
    auto runner = make_cni_runner(config);
    std::vector<AttachmentRecord> kept;
    for (auto it = record.attachments.rbegin(); it != record.attachments.rend(); ++it) {
        if (!is_cni(*it)) {
            kept.insert(kept.begin(), *it);
            continue;
        }
        std::string name = list_name(*it);
        std::string bytes;
        if (auto entry = runner.cache().load(name, record.id, it->interface); entry && *entry)
            bytes = (*entry)->config;
        auto list = list_for_del(config, name, bytes);
        if (!list) {
            errors.push_back(list.error().wrap("DEL cni:" + name));
            kept.insert(kept.begin(), *it);
            continue;
        }
        cni::RuntimeConf rt;
        rt.container_id = record.id;
        rt.ifname = it->interface;
        auto ns = record.namespace_paths.find("net");
        if (ns != record.namespace_paths.end() && path_exists(ns->second)) rt.netns = ns->second;
        if (auto r = runner.del(*list, rt); !r) {
            errors.push_back(r.error());
            kept.insert(kept.begin(), *it);
        }
    }
    record.attachments = std::move(kept);
}

void collect_cni_networks(const Config& config, const std::set<std::string>& live,
                          std::vector<std::string>& actions, std::vector<std::string>& errors) {
    auto runner = make_cni_runner(config);
    std::vector<std::string> skipped;
    auto entries = runner.cache().list("", &skipped);
    if (!entries) {
        errors.push_back(entries.error().message);
        return;
    }
    for (const auto& s : skipped) errors.push_back("unreadable CNI cache entry " + s + " (left)");
    // network → (config bytes of some entry, valid attachments)
    std::map<std::string, std::pair<std::string, std::vector<cni::AttachmentId>>> networks;
    for (const auto& e : *entries) {
        auto& [bytes, valid] = networks[e.network];
        if (bytes.empty()) bytes = e.config;
        if (live.contains(e.container_id)) valid.push_back({e.container_id, e.ifname});
    }
    for (const auto& [name, info] : networks) {
        auto list = list_for_del(config, name, info.first);
        if (!list) {
            errors.push_back("gc of cni:" + name + ": " + list.error().message);
            continue;
        }
        auto removed = runner.gc(*list, info.second);
        if (!removed) {
            errors.push_back("gc of cni:" + name + ": " + removed.error().message);
            continue;
        }
        for (const auto& r : *removed) actions.push_back(r);
    }
}

}  // namespace podnet
