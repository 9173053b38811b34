#pragma once
// Sandboxes on CNI networks (`--network cni:NAME`): the glue between sandbox records and
// cni-runner/. Each network is attached as the next interface (eth0, eth1, ...) with the sandbox
// id as the CNI container id and the pinned net namespace as CNI_NETNS; host ports go to the
// first network's plugins as the portMappings capability and static addresses as `ips`.
// The runner's cache (under the state root) remembers every attachment, so rm and gc can run
// DEL with the result of ADD even after a crash or a restart.

#include <set>
#include <string>
#include <vector>

#include "cni-runner/runner.hpp"
#include "common/config.hpp"
#include "common/result.hpp"
#include "common/rollback.hpp"
#include "portmap/portmap.hpp"
#include "sandbox/record.hpp"

namespace podnet {

inline constexpr std::string_view cni_network_prefix = "cni:";

// Where CNI networks and plugins are found — one answer for `podnet cni` and for
// `--network cni:NAME`: NETCONFPATH and CNI_PATH from the environment (as cnitool and
// libcni's callers read them), else podnet.toml's [cni] conf_dir and plugin_path.
struct CniSearch {
    std::string conf_dir;
    std::string conf_dir_from;  // "NETCONFPATH" or "[cni] conf_dir"
    std::string plugin_path;    // CNI_PATH syntax: dirs separated by ':'
    std::string plugin_path_from;
};
[[nodiscard]] CniSearch cni_search(const Config& config);

// The list named `name` in the conf dir; not found, the error says which directory was read and
// what chose it: `no CNI network "x" in /etc/cni/net.d (from [cni] conf_dir; NETCONFPATH
// overrides it)`.
[[nodiscard]] Result<cni::NetworkConfList> find_cni_network(const Config& config,
                                                            const std::string& name);

// The runner as the sandbox side uses it (plugin dirs from cni_search, cache and timeout from
// the config); plugin stderr is appended to <state_root>/cni/plugins.log.
[[nodiscard]] cni::Runner make_cni_runner(const Config& config);

struct CniAttachRequest {
    std::vector<std::string> networks;  // conflist names, without the "cni:" prefix
    std::string sandbox_id;
    std::string netns_path;
    std::vector<PortMapping> ports;
    std::vector<std::string> ips;  // static addresses (--ip, --ip6)
};

// Load every list first (a bad name fails before any plugin runs), then ADD each; each success
// pushes its DEL onto `rollback`. Static addresses go to the first network as the `ips`
// capability; when no plugin of its list declares that capability they would be dropped
// (libcni passes a capability only to plugins that declare it), so that is an error, before
// any plugin runs.
[[nodiscard]] Result<std::vector<AttachmentRecord>> attach_cni_networks(
    const Config& config, const CniAttachRequest& request, Rollback& rollback);

// DEL every CNI attachment of `record` (in reverse), clearing them; errors are collected.
void detach_cni_networks(const Config& config, SandboxRecord& record, std::vector<Error>& errors);

// gc: for every network with cached attachments, DEL those whose sandbox is not in `live`,
// then CNI GC (>= 1.1.0) with the live ones as cni.dev/valid-attachments.
void collect_cni_networks(const Config& config, const std::set<std::string>& live,
                          std::vector<std::string>& actions, std::vector<std::string>& errors);

}  // namespace podnet
