#pragma once
// podnet.toml: every key optional, embedded defaults for the rest. Unknown keys are errors, so a
// typo never silently falls back to a default.

#include <cstdint>
#include <string>

#include "common/result.hpp"

namespace podnet {

inline constexpr const char* default_config_path = "/etc/podnet/podnet.toml";

// [overlay]: the node's overlay agent (flannel's network config plus the node's own facts), as
// written; overlay/ parses and checks it (common knows nothing of overlays).
struct OverlaySettings {
    std::string network;  // the cluster CIDR; empty: no [overlay] (flags must say it)
    int64_t subnet_len = 0;
    std::string subnet_min, subnet_max;
    // flannel's EnableIPv4/EnableIPv6 and IPv6* keys: an IPv6-only cluster is enable_ipv4 =
    // false, enable_ipv6 = true and ipv6_network (dual stack is refused by overlay/).
    bool enable_ipv4 = true, enable_ipv6 = false;
    std::string ipv6_network;
    int64_t ipv6_subnet_len = 0;
    std::string ipv6_subnet_min, ipv6_subnet_max;
    bool enable_nftables = false;  // flannel's switch; podnet always uses nftables
    std::string backend = "vxlan";
    int64_t vni = 1, port = 0, mtu = 0;
    bool direct_routing = false;
    bool gbp = false, learning = false;  // flannel's vxlan options: only false is supported
    std::string store;      // "file:PATH" or "etcd:URL[,URL...]"; empty: file under state_root
    std::string public_ip;  // empty: --public-ip
    std::string iface;      // empty: the link holding public_ip
    std::string node;       // empty: the host name
    int64_t ttl_seconds = 60;
};

struct Config {
    // Volatile state: namespace pins, pause pids, locks, sandbox records, container logs.
    std::string run_root = "/run/podnet";
    // Persistent state (IPAM, leases, CNI cache, policies) — used by the network issues.
    std::string state_root = "/var/lib/podnet";
    // Empty: the podnet-pause next to the running podnet binary.
    std::string pause_binary;
    // Seconds `sandbox stop` waits for containers after SIGTERM before killing the pod.
    int stop_timeout_seconds = 10;
    // Default seccomp profile for containers: "default", "unconfined" or a profile file path.
    std::string seccomp = "default";

    // The network sandboxes join when `--network` is not given, created on first use. Its
    // subnet is one neither Docker (172.17.0.0/16) nor podman (10.88.0.0/16, then 10.89.x.0/24)
    // uses by default.
    std::string default_network = "podnet";
    std::string default_bridge = "podnet0";
    std::string default_subnet = "10.77.0.0/16";
    std::string default_subnet6;  // empty: IPv4 only, as Docker's default bridge

    // CNI (`--network cni:NAME`, `podnet cni`): where conflists and plugins are, as containerd
    // and CRI-O default them; the result cache sits in the state root unless set.
    std::string cni_conf_dir = "/etc/cni/net.d";
    std::string cni_plugin_path = "/opt/cni/bin:/usr/lib/cni";  // CNI_PATH syntax
    std::string cni_cache_dir;                                  // empty: <state_root>/cni
    int cni_timeout_seconds = 60;                               // per plugin call

    OverlaySettings overlay;

    [[nodiscard]] std::string effective_cni_cache_dir() const {
        return cni_cache_dir.empty() ? state_root + "/cni" : cni_cache_dir;
    }
    // One JSON file for the leases; nodes sharing a VM must name one path in [overlay] store.
    [[nodiscard]] std::string effective_overlay_store() const {
        return overlay.store.empty() ? "file:" + state_root + "/overlay/leases.json"
                                     : overlay.store;
    }
};

// Parse TOML text; errors name `source` with line and column.
[[nodiscard]] Result<Config> parse_config(const std::string& toml_text, const std::string& source);
// Load `path`; when `required` is false a missing file yields the defaults.
[[nodiscard]] Result<Config> load_config(const std::string& path, bool required);
// `--root DIR`: all state under DIR (run/ and state/).
void place_under_root(Config& config, const std::string& root);
// The effective configuration as TOML (what `podnet config show` prints).
[[nodiscard]] std::string config_to_toml(const Config& config);

}  // namespace podnet
