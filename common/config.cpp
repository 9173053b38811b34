#include "common/config.hpp"

#include <sstream>

// Header-only: the CLI links statically (exec cost is part of every command), and Debian ships
// toml++ only as a shared library otherwise.
#define TOML_HEADER_ONLY 1
#include <toml++/toml.h>

#include "common/fs.hpp"

namespace podnet {

namespace {

std::string position(const std::string& source, const toml::source_region& where) {
    return source + ":" + std::to_string(where.begin.line) + ":" +
           std::to_string(where.begin.column);
}

template <class T>
Result<void> read_key(const toml::table& table, const std::string& section, const char* key, T& out,
                      const std::string& source) {
    const toml::node* node = table.get(key);
    if (node == nullptr) return {};
    auto value = node->value<T>();
    if (!value)
        return fail(position(source, node->source()) + ": [" + section + "] " + key +
                    ": wrong type");
    out = *value;
    return {};
}

Result<void> reject_unknown(const toml::table& table, const std::string& section,
                            std::initializer_list<std::string_view> known,
                            const std::string& source) {
    for (auto&& [key, node] : table) {
        bool found = false;
        for (auto k : known) found = found || key.str() == k;
        if (!found)
            return fail(position(source, node.source()) + ": unknown key " +
                        (section.empty() ? "" : "[" + section + "] ") + std::string(key.str()));
    }
    return {};
}

}  // namespace

Result<Config> parse_config(const std::string& toml_text, const std::string& source) {
    toml::table root;
    try {
        root = toml::parse(toml_text, source);
    } catch (const toml::parse_error& e) {
        return fail(position(source, e.source()) + ": " + std::string(e.description()));
    }
    Config config;
    if (auto r =
            reject_unknown(root, "", {"paths", "sandbox", "network", "cni", "overlay"}, source);
        !r)
        return std::unexpected(r.error());
    if (const toml::table* paths = root["paths"].as_table()) {
        if (auto r = reject_unknown(*paths, "paths", {"run_root", "state_root"}, source); !r)
            return std::unexpected(r.error());
        if (auto r = read_key(*paths, "paths", "run_root", config.run_root, source); !r)
            return std::unexpected(r.error());
        if (auto r = read_key(*paths, "paths", "state_root", config.state_root, source); !r)
            return std::unexpected(r.error());
    }
    if (const toml::table* sandbox = root["sandbox"].as_table()) {
        if (auto r = reject_unknown(*sandbox, "sandbox",
                                    {"pause_binary", "stop_timeout_seconds", "seccomp"}, source);
            !r)
            return std::unexpected(r.error());
        if (auto r = read_key(*sandbox, "sandbox", "pause_binary", config.pause_binary, source); !r)
            return std::unexpected(r.error());
        int64_t timeout = config.stop_timeout_seconds;
        if (auto r = read_key(*sandbox, "sandbox", "stop_timeout_seconds", timeout, source); !r)
            return std::unexpected(r.error());
        if (timeout < 0 || timeout > 86400)
            return fail(source + ": [sandbox] stop_timeout_seconds: must be 0..86400");
        config.stop_timeout_seconds = static_cast<int>(timeout);
        if (auto r = read_key(*sandbox, "sandbox", "seccomp", config.seccomp, source); !r)
            return std::unexpected(r.error());
    }
    if (const toml::table* network = root["network"].as_table()) {
        if (auto r = reject_unknown(
                *network, "network",
                {"default_network", "default_bridge", "default_subnet", "default_subnet6"}, source);
            !r)
            return std::unexpected(r.error());
        for (auto [key, field] : {std::pair{"default_network", &config.default_network},
                                  std::pair{"default_bridge", &config.default_bridge},
                                  std::pair{"default_subnet", &config.default_subnet},
                                  std::pair{"default_subnet6", &config.default_subnet6}})
            if (auto r = read_key(*network, "network", key, *field, source); !r)
                return std::unexpected(r.error());
    }
    if (const toml::table* cni = root["cni"].as_table()) {
        if (auto r = reject_unknown(
                *cni, "cni", {"conf_dir", "plugin_path", "cache_dir", "timeout_seconds"}, source);
            !r)
            return std::unexpected(r.error());
        for (auto [key, field] : {std::pair{"conf_dir", &config.cni_conf_dir},
                                  std::pair{"plugin_path", &config.cni_plugin_path},
                                  std::pair{"cache_dir", &config.cni_cache_dir}})
            if (auto r = read_key(*cni, "cni", key, *field, source); !r)
                return std::unexpected(r.error());
        int64_t timeout = config.cni_timeout_seconds;
        if (auto r = read_key(*cni, "cni", "timeout_seconds", timeout, source); !r)
            return std::unexpected(r.error());
        if (timeout < 1 || timeout > 3600)
            return fail(source + ": [cni] timeout_seconds: must be 1..3600");
        config.cni_timeout_seconds = static_cast<int>(timeout);
    }
    if (const toml::table* overlay = root["overlay"].as_table()) {
        OverlaySettings& o = config.overlay;
        if (auto r = reject_unknown(*overlay, "overlay",
                                    {"network",
                                     "subnet_len",
                                     "subnet_min",
                                     "subnet_max",
                                     "enable_ipv4",
                                     "enable_ipv6",
                                     "ipv6_network",
                                     "ipv6_subnet_len",
                                     "ipv6_subnet_min",
                                     "ipv6_subnet_max",
                                     "enable_nftables",
                                     "backend",
                                     "vni",
                                     "port",
                                     "mtu",
                                     "direct_routing",
                                     "gbp",
                                     "learning",
                                     "store",
                                     "public_ip",
                                     "iface",
                                     "node",
                                     "ttl_seconds"},
                                    source);
            !r)
            return std::unexpected(r.error());
        for (auto [key, field] :
             {std::pair{"network", &o.network}, std::pair{"subnet_min", &o.subnet_min},
              std::pair{"subnet_max", &o.subnet_max}, std::pair{"ipv6_network", &o.ipv6_network},
              std::pair{"ipv6_subnet_min", &o.ipv6_subnet_min},
              std::pair{"ipv6_subnet_max", &o.ipv6_subnet_max}, std::pair{"backend", &o.backend},
              std::pair{"store", &o.store}, std::pair{"public_ip", &o.public_ip},
              std::pair{"iface", &o.iface}, std::pair{"node", &o.node}})
            if (auto r = read_key(*overlay, "overlay", key, *field, source); !r)
                return std::unexpected(r.error());
        for (auto [key, field] : {std::pair{"subnet_len", &o.subnet_len}, std::pair{"vni", &o.vni},
                                  std::pair{"port", &o.port}, std::pair{"mtu", &o.mtu},
                                  std::pair{"ttl_seconds", &o.ttl_seconds},
                                  std::pair{"ipv6_subnet_len", &o.ipv6_subnet_len}})
            if (auto r = read_key(*overlay, "overlay", key, *field, source); !r)
                return std::unexpected(r.error());
        for (auto [key, field] :
             {std::pair{"direct_routing", &o.direct_routing}, std::pair{"gbp", &o.gbp},
              std::pair{"learning", &o.learning}, std::pair{"enable_ipv4", &o.enable_ipv4},
              std::pair{"enable_ipv6", &o.enable_ipv6},
              std::pair{"enable_nftables", &o.enable_nftables}})
            if (auto r = read_key(*overlay, "overlay", key, *field, source); !r)
                return std::unexpected(r.error());
        if (o.ttl_seconds < 3 || o.ttl_seconds > 86400)
            return fail(source + ": [overlay] ttl_seconds: must be 3..86400");
    }
    if (config.run_root.empty() || config.run_root.front() != '/')
        return fail(source + ": [paths] run_root: must be an absolute path");
    if (config.state_root.empty() || config.state_root.front() != '/')
        return fail(source + ": [paths] state_root: must be an absolute path");
    return config;
}

Result<Config> load_config(const std::string& path, bool required) {
    if (!required && !path_exists(path)) return Config{};
    auto text = read_file(path);
    if (!text) return wrap(text.error(), "config");
    return parse_config(*text, path);
}

void place_under_root(Config& config, const std::string& root) {
    config.run_root = root + "/run";
    config.state_root = root + "/state";
}

std::string config_to_toml(const Config& config) {
    toml::table paths{{"run_root", config.run_root}, {"state_root", config.state_root}};
    toml::table sandbox{{"pause_binary", config.pause_binary},
                        {"stop_timeout_seconds", config.stop_timeout_seconds},
                        {"seccomp", config.seccomp}};
    toml::table network{{"default_network", config.default_network},
                        {"default_bridge", config.default_bridge},
                        {"default_subnet", config.default_subnet},
                        {"default_subnet6", config.default_subnet6}};
    toml::table cni{{"conf_dir", config.cni_conf_dir},
                    {"plugin_path", config.cni_plugin_path},
                    {"cache_dir", config.effective_cni_cache_dir()},
                    {"timeout_seconds", config.cni_timeout_seconds}};
    const OverlaySettings& o = config.overlay;
    toml::table overlay{{"network", o.network},
                        {"subnet_len", o.subnet_len},
                        {"subnet_min", o.subnet_min},
                        {"subnet_max", o.subnet_max},
                        {"enable_ipv4", o.enable_ipv4},
                        {"enable_ipv6", o.enable_ipv6},
                        {"ipv6_network", o.ipv6_network},
                        {"ipv6_subnet_len", o.ipv6_subnet_len},
                        {"ipv6_subnet_min", o.ipv6_subnet_min},
                        {"ipv6_subnet_max", o.ipv6_subnet_max},
                        {"enable_nftables", o.enable_nftables},
                        {"backend", o.backend},
                        {"vni", o.vni},
                        {"port", o.port},
                        {"mtu", o.mtu},
                        {"direct_routing", o.direct_routing},
                        {"gbp", o.gbp},
                        {"learning", o.learning},
                        {"store", config.effective_overlay_store()},
                        {"public_ip", o.public_ip},
                        {"iface", o.iface},
                        {"node", o.node},
                        {"ttl_seconds", o.ttl_seconds}};
    toml::table root{{"paths", paths},
                     {"sandbox", sandbox},
                     {"network", network},
                     {"cni", cni},
                     {"overlay", overlay}};
    std::ostringstream out;
    out << root << "\n";
    return out.str();
}

}  // namespace podnet
