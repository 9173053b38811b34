#pragma once
// podnet-cni: podnet's bridge network (the docker0 model) and host port mapping as a CNI plugin,
// for runtimes that speak CNI (containerd, CRI-O, podman with CNI, podnet's own runner).
//
// One binary does what the reference chain bridge + host-local + portmap does, with podnet's
// machinery: a veth per attachment created with its peer directly inside CNI_NETNS, an address
// from podnet's IPAM, a default route via the bridge, host ports as elements of podnet's nftables
// maps (one additions-only transaction), masquerade of the subnet's traffic leaving it.
//
// State lives under its own roots, never podnet's (`podnet gc` releases whatever its own live
// sandboxes do not hold): with "root": DIR in the config, DIR/state and DIR/run as `podnet
// --root DIR` would; otherwise /var/lib/podnet-cni and /run/podnet-cni.
//   <state>/ipam/<network>.json                 address leases (owner: the attachment id)
//   <run>/attachments/<network>/<id>.json       what ADD made, for DEL, CHECK and GC
//   <run>/attachments/<network>/<id>.veth       a veth DEL left to its namespace, for GC
//   <run>/ports/<proto>-<port>/<any|address>    host port claims -> attachment id
//   <run>/networks/<network>.json               the network as last set up in the kernel
// An attachment is (CNI_CONTAINERID, CNI_IFNAME); its id is the SHA-256 of "containerID/ifname"
// in hex: the IPAM owner and the nft owner tag. The host end of its veth is "pnc" + 12 hex of
// the id (podnet's gc only deletes "pnv" veths).
//
// Parsing (environment + stdin into a Request) and the JSON this plugin prints are pure
// functions; run() does the work. Nothing here prints or exits: podnet_cni_main.cpp does.

#include <array>
#include <expected>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/ip.hpp"
#include "common/result.hpp"
#include "network/network_config.hpp"
#include "portmap/portmap.hpp"

namespace podnet::cni_plugin {

inline constexpr std::array<std::string_view, 2> supported_versions = {"1.0.0", "1.1.0"};

// The spec's well-known error codes (SPEC.md "Error"), and libcni's code for everything else.
enum ErrorCode : int {
    incompatible_version = 1,
    unsupported_field = 2,
    unknown_container = 3,
    invalid_environment = 4,
    io_failure = 5,
    decoding_failure = 6,
    invalid_network_config = 7,
    invalid_netns = 8,
    try_again_later = 11,
    plugin_not_available = 50,
    internal_error = 999,
};

struct CniError {
    int code = internal_error;
    std::string msg;
    std::string details;
};

template <class T = void>
using CniResult = std::expected<T, CniError>;

struct AttachmentId {  // an entry of cni.dev/valid-attachments
    std::string container_id;
    std::string ifname;
};

// The plugin's network configuration (stdin), validated.
struct PluginConfig {
    std::string name;
    std::string cni_version;
    std::string bridge = "pncni0";
    IpPrefix subnet;  // "subnet", default 10.78.0.0/16
    std::optional<IpPrefix> subnet6;
    bool ip_masq = true;
    int mtu = 0;  // 0: the kernel's default
    std::string state_root = "/var/lib/podnet-cni";
    std::string run_root = "/run/podnet-cni";
    std::vector<PortMapping> port_mappings;  // runtimeConfig.portMappings
    // runtimeConfig.ips (the `ips` capability, CNI's CONVENTIONS.md): static addresses, at most
    // one per family, inside "subnet" / "subnet6"; "10.78.0.50" or "10.78.0.50/16" alike.
    std::optional<IpAddress> ip, ip6;
    std::optional<nlohmann::json> prev_result;
    std::vector<AttachmentId> valid_attachments;  // GC only
};

struct Request {
    std::string command;  // ADD, DEL, CHECK, GC, STATUS, VERSION
    std::string container_id;
    std::string netns;
    std::string ifname;
    std::string args;  // CNI_ARGS, accepted and not used
    std::string path;  // CNI_PATH, required by the spec; podnet-cni delegates to nothing
    PluginConfig config;
};

// CNI_* variables by name.
using Environment = std::map<std::string, std::string>;

// The environment and stdin into a request, checked as libcni's skel does and in its order:
// missing variables (4), unknown command (4), stdin not JSON (6), network name (7), container id
// and interface name (4), cniVersion (1), then podnet-cni's own keys (7). VERSION needs no stdin.
[[nodiscard]] CniResult<Request> parse_request(const Environment& env, std::string_view stdin_text);
// The configuration alone (stdin of `command`). Unknown keys are ignored, as CNI plugins do
// (runtimes add their own), except a key that differs from one of ours only in case ("ipmasq"):
// that is a typo, and an error rather than a silent default.
[[nodiscard]] CniResult<PluginConfig> parse_config(std::string_view stdin_text,
                                                   std::string_view command);

// The bridge network podnet's driver sets up for this configuration (gateway: first address).
[[nodiscard]] NetworkConfig network_of(const PluginConfig& config);

[[nodiscard]] std::string sha256_hex(std::string_view data);
// The attachment's 64-hex id: sha256_hex(container_id + "/" + ifname).
[[nodiscard]] std::string attachment_owner(std::string_view container_id, std::string_view ifname);
inline constexpr std::string_view host_interface_prefix = "pnc";
// "pnc" + the first 12 hex of the id (15 characters, the kernel's limit).
[[nodiscard]] std::string host_interface_for(std::string_view owner);
// Whether a link name has that shape (a bridge "pncni0" does not).
[[nodiscard]] bool is_host_interface_name(std::string_view name);

// What ADD made, kept under the run root.
struct AttachmentState {
    std::string container_id;
    std::string ifname;
    std::string netns;
    std::string network;
    std::string host_interface;
    std::string host_mac;
    std::string mac;
    std::optional<IpPrefix> ipv4, ipv6;  // with the subnet's length
    std::optional<IpAddress> gateway4, gateway6;
    std::vector<PortMapping> port_mappings;
};
[[nodiscard]] std::string attachment_to_json(const AttachmentState& state);
[[nodiscard]] Result<AttachmentState> attachment_from_json(std::string_view text,
                                                           const std::string& source);

// ADD's result (the 1.0.0 / 1.1.0 shape): interfaces [host end, pod end with "sandbox"], ips
// with gateway and interface index 1, default routes, empty dns.
[[nodiscard]] std::string add_result_json(const AttachmentState& state,
                                          std::string_view cni_version);
// VERSION's answer.
[[nodiscard]] std::string version_json();
// {"cniVersion","code","msg","details"}. The version is the config's when it is one this plugin
// speaks (taken from `stdin_text`, which may be anything), else the newest supported.
[[nodiscard]] std::string error_json(const CniError& error, std::string_view stdin_text);

// Runs the command: the text to print on success (empty for DEL, CHECK, GC, STATUS). Errors
// carry their spec code; failures of the work itself are 999, the message naming what failed.
// `used_nft` is set when an nftables context was opened (podnet_cni_main.cpp: the kernel may make
// the last holder of its socket wait on close).
[[nodiscard]] CniResult<std::string> run(const Request& request, bool& used_nft);

}  // namespace podnet::cni_plugin
