#include "cli/output.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>

namespace podnet::cli {

using nlohmann::json;

json container_json(const ContainerInfo& c) {
    json j = {{"id", c.id},           {"name", c.name},       {"pid", c.pid},
              {"pod_pid", c.pod_pid}, {"command", c.command}, {"detached", c.detached},
              {"status", c.status},   {"created", c.created}};
    j["exit_code"] = c.exit_code ? json(*c.exit_code) : json(nullptr);
    if (c.detached) j["log_path"] = c.log_path;
    return j;
}

json sandbox_json(const SandboxInfo& s) {
    json containers = json::array();
    for (const auto& c : s.containers) containers.push_back(container_json(c));
    json attachments = json::array();
    for (const auto& a : s.attachments) {
        json ja = {{"network", a.network},
                   {"interface", a.interface},
                   {"host_interface", a.host_interface},
                   {"ipv4", a.ipv4},
                   {"ipv6", a.ipv6},
                   {"gateway4", a.gateway4},
                   {"gateway6", a.gateway6},
                   {"mac", a.mac}};
        if (!a.cni_result.empty()) ja["cni_result"] = json::parse(a.cni_result, nullptr, false);
        attachments.push_back(std::move(ja));
    }
    return {{"id", s.id},
            {"attachments", attachments},
            {"ports", s.ports},
            {"named_ports", s.named_ports},
            {"name", s.name},
            {"namespace", s.k8s_namespace},
            {"hostname", s.hostname},
            {"labels", s.labels},
            {"network", s.network},
            {"state", s.state},
            {"pause_pid", s.pause_pid},
            {"namespaces", s.namespace_paths},
            {"containers", containers},
            {"created", s.created}};
}

bool color_wanted(bool stdout_is_tty, const char* no_color_env) {
    return stdout_is_tty && (no_color_env == nullptr || *no_color_env == '\0');
}

bool use_color() {
    return color_wanted(::isatty(STDOUT_FILENO) == 1, std::getenv("NO_COLOR"));
}

json oci_namespaces_json(const SandboxInfo& s) {
    // runtime-spec config-linux.md: {"type": "network", "path": "/run/..."}; the container
    // keeps a mount namespace of its own.
    static const std::pair<const char*, const char*> kinds[] = {
        {"network", "net"}, {"ipc", "ipc"}, {"uts", "uts"}, {"pid", "pid"}};
    json entries = json::array();
    for (const auto& [type, key] : kinds) {
        auto it = s.namespace_paths.find(key);
        if (it != s.namespace_paths.end())
            entries.push_back({{"type", type}, {"path", it->second}});
    }
    entries.push_back({{"type", "mount"}});
    return entries;
}

json network_json(const NetworkInfo& n) {
    json subnets = json::array();
    for (const auto& [subnet, gateway] : n.subnets)
        subnets.push_back({{"subnet", subnet}, {"gateway", gateway}});
    return {{"name", n.name},       {"driver", n.driver},
            {"bridge", n.bridge},   {"subnets", subnets},
            {"mtu", n.mtu},         {"masquerade", n.masquerade},
            {"created", n.created}, {"sandboxes", n.sandboxes}};
}

std::string format_table(const std::vector<std::vector<std::string>>& rows) {
    std::vector<size_t> widths;
    for (const auto& row : rows)
        for (size_t i = 0; i < row.size(); ++i) {
            if (widths.size() <= i) widths.push_back(0);
            widths[i] = std::max(widths[i], row[i].size());
        }
    std::string out;
    for (const auto& row : rows) {
        std::string line;
        for (size_t i = 0; i < row.size(); ++i) {
            line += row[i];
            if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 3, ' ');
        }
        out += line + "\n";
    }
    return out;
}

std::string join(const std::vector<std::string>& parts, const std::string& sep) {
    std::string out;
    for (size_t i = 0; i < parts.size(); ++i) out += (i ? sep : "") + parts[i];
    return out;
}

}  // namespace podnet::cli
