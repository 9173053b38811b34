#pragma once
// podnet's embeddable API: what the `podnet` command does, for a CRI runtime or any C++ program.
//
//   auto rt = podnet::Runtime::open(config);              // config: podnet::Config
//   auto sb = rt->create_sandbox({.name = "web"});         // pause process + pinned namespaces
//   auto c  = rt->run_container("web", {.command = {"/bin/busybox", "hostname"}});
//   int code = *rt->wait_container(*c);
//   rt->remove_sandbox("web", /*force=*/true);
//
// Every call takes the run root's lock for its mutations, so several processes (and several
// Runtime objects) may share one root. Calls return Result<T>; nothing here prints.

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/config.hpp"
#include "common/result.hpp"
#include "common/validate.hpp"
#include "network/network_config.hpp"

namespace podnet {

struct SandboxSpec {
    std::string name;                       // empty: the first 12 characters of the id
    std::string hostname;                   // empty: the name
    std::string k8s_namespace = "default";  // Kubernetes namespace (policy selects by it)
    Labels labels;
    // A network name, "none" (only lo), or empty: the default network (created on first use).
    std::string network;
    // CNI networks (`--network cni:NAME`, names without the prefix), attached in order as eth0,
    // eth1, ...; when given, `network` must be empty. -p goes to the plugins as the portMappings
    // capability, --ip/--ip6 as `ips`.
    std::vector<std::string> cni_networks;
    std::string ip;   // static IPv4 address on that network
    std::string ip6;  // static IPv6 address
    std::vector<std::string>
        ports;  // Docker's -p syntax: [HOSTIP:]HOSTPORT[-END]:PORT[-END][/PROTO]
    // Container ports NetworkPolicy can name: "http=80/tcp" (Kubernetes' containerPort name).
    std::vector<std::string> named_ports;
};

struct NetworkAttachmentInfo {
    std::string network;
    std::string interface;       // inside the pod: eth0
    std::string host_interface;  // the veth's host end
    std::string ipv4, ipv6;      // "10.77.0.2/16"; empty when the network has no such subnet
    std::string gateway4, gateway6;
    std::string mac;
    std::string cni_result;  // CNI networks: the ADD result (JSON text)
};

struct ContainerInfo {
    std::string id;
    std::string name;
    pid_t pid = 0;      // in the caller's PID namespace
    pid_t pod_pid = 0;  // inside the pod
    std::vector<std::string> command;
    bool detached = false;
    std::string log_path;
    std::string created;
    std::string status;  // "running" or "exited"
    std::optional<int> exit_code;
    bool auto_remove = false;  // --rm (an exited one is never listed: it is forgotten)
};

struct SandboxInfo {
    std::string id;
    std::string name;
    std::string k8s_namespace;
    std::string hostname;
    Labels labels;
    std::string network;
    std::vector<NetworkAttachmentInfo> attachments;
    std::vector<std::string> ports;        // canonical -p texts
    std::vector<std::string> named_ports;  // "http=80/tcp"
    std::string state;  // "running", "stopped", or "exited" (pause died without a stop)
    pid_t pause_pid = 0;
    std::map<std::string, std::string> namespace_paths;  // "net", "ipc", "uts", "pid" → pin
    std::vector<ContainerInfo> containers;
    std::string created;
};

struct ContainerSpec {
    std::string name;  // empty: the first 12 characters of the id
    std::vector<std::string> command;
    std::vector<std::string> env;  // "K=V", added to PATH=… and HOSTNAME=…
    std::string workdir = "/";
    std::optional<uid_t> uid;
    std::optional<gid_t> gid;
    std::string seccomp;  // "default", "unconfined", a profile file; empty: the config's
    std::vector<std::string> cap_add;
    std::vector<std::string> cap_drop;
    std::string rootfs;  // empty: host filesystem with the pod's /proc
    bool detach = false;
    // --rm: forget the container and its log once it has exited (foreground: in
    // wait_container; detached: remove_after_exit, or the next run in the sandbox).
    bool auto_remove = false;
    // A terminal (a pty's slave end, borrowed, foreground only): the container's controlling
    // terminal and its stdin, stdout and stderr. -1: the caller's stdio is inherited.
    int tty_fd = -1;
};

struct RunningContainer {
    std::string sandbox_id;
    std::string id;
    pid_t pid = 0;
    pid_t helper = 0;  // foreground only
};

struct NetworkInfo {
    std::string name;
    std::string driver;
    std::string bridge;
    std::vector<std::pair<std::string, std::string>> subnets;  // (subnet, gateway)
    int mtu = 0;
    bool masquerade = true;
    std::string created;
    std::vector<std::string> sandboxes;  // ids of sandboxes attached to it
};

// NetworkPolicy (`podnet policy ...`, `podnet namespace ...`).
struct PolicySource {
    std::string text;    // YAML (multi-document, kind: List) or JSON
    std::string source;  // a file name, for errors
};

struct PolicyApplied {
    std::string key;     // "ns/name"
    std::string action;  // "created", "configured" or "unchanged"
};

struct PolicyInfo {
    std::string ns, name;
    std::string pod_selector;        // kubectl's selector syntax, "{}" for every pod
    std::vector<std::string> types;  // "Ingress", "Egress" (defaults applied)
    size_t ingress_rules = 0, egress_rules = 0;
    std::string object_json;  // the object as applied
};

struct NamespaceInfo {
    std::string name;
    Labels labels;
    size_t sandboxes = 0;
    size_t policies = 0;
};

struct PolicyExplanation {
    std::string from, to;  // as resolved: "ns/pod" or an address
    uint16_t port = 0;
    std::string protocol;
    bool allowed = true;
    std::string reason;
};

struct GcReport {
    std::vector<std::string> actions;  // one line per thing repaired; empty when all was well
    std::vector<std::string> errors;   // what could not be repaired (gc keeps going)
};

class Runtime {
  public:
    [[nodiscard]] static Result<Runtime> open(Config config);

    [[nodiscard]] Result<SandboxInfo> create_sandbox(const SandboxSpec& spec);
    [[nodiscard]] Result<SandboxInfo> inspect_sandbox(std::string_view ref) const;
    [[nodiscard]] Result<std::vector<SandboxInfo>> list_sandboxes() const;
    // SIGTERM to the containers, up to `timeout` for them to exit, then the pod is torn down.
    [[nodiscard]] Result<void> stop_sandbox(std::string_view ref, std::chrono::seconds timeout);
    // A running sandbox needs `force` (then it is killed at once, like `docker rm -f`).
    [[nodiscard]] Result<void> remove_sandbox(std::string_view ref, bool force);

    [[nodiscard]] Result<RunningContainer> run_container(std::string_view sandbox_ref,
                                                         const ContainerSpec& spec);
    // Foreground containers: wait and record the exit code (128+N when killed by signal N).
    [[nodiscard]] Result<int> wait_container(const RunningContainer& container);
    // Detached --rm containers: blocks until the container has exited, then forgets it and
    // its log. (`podnet run -d --rm` runs this in a small background process.)
    [[nodiscard]] Result<void> remove_after_exit(const RunningContainer& container);
    // Signal one container (by id, id prefix or name) or, with an empty ref, all of them.
    [[nodiscard]] Result<int> kill_containers(std::string_view sandbox_ref,
                                              std::string_view container_ref, int signal);
    [[nodiscard]] Result<ContainerInfo> find_container(std::string_view sandbox_ref,
                                                       std::string_view container_ref) const;

    // Built-in bridge networks (`podnet network ...`).
    [[nodiscard]] Result<NetworkInfo> create_network(const NetworkRequest& request);
    [[nodiscard]] Result<std::vector<NetworkInfo>> list_networks() const;
    [[nodiscard]] Result<NetworkInfo> inspect_network(std::string_view name) const;
    // Refuses while a sandbox uses it.
    [[nodiscard]] Result<void> remove_network(std::string_view name);

    // Host ports of a running sandbox (`podnet port ...`), Docker's -p syntax. Each call is one
    // nftables transaction; conflicts name the sandbox holding the port.
    [[nodiscard]] Result<std::vector<std::string>> add_ports(std::string_view sandbox_ref,
                                                             const std::vector<std::string>& specs);
    [[nodiscard]] Result<std::vector<std::string>> remove_ports(
        std::string_view sandbox_ref, const std::vector<std::string>& specs);

    // NetworkPolicy. Every change is checked whole first (a bad object changes nothing), then
    // stored and enforced in one nftables transaction.
    [[nodiscard]] Result<std::vector<PolicyApplied>> apply_policies(
        const std::vector<PolicySource>& sources);
    [[nodiscard]] Result<void> remove_policy(std::string_view ns, std::string_view name);
    // Empty `ns`: every namespace.
    [[nodiscard]] Result<std::vector<PolicyInfo>> list_policies(std::string_view ns) const;
    // Sets `set` and removes the keys in `remove` (kubectl label's "key-").
    [[nodiscard]] Result<NamespaceInfo> label_namespace(std::string_view ns, const Labels& set,
                                                        const std::vector<std::string>& remove);
    [[nodiscard]] Result<std::vector<NamespaceInfo>> list_namespaces() const;
    // Would a new connection from `from` to `to` on `port` ("80", "80/udp", "http/tcp") be
    // allowed? Endpoints: a sandbox (name or id), "ns/name", or an IP address.
    [[nodiscard]] Result<PolicyExplanation> explain_policy(std::string_view from,
                                                           std::string_view to,
                                                           std::string_view port) const;

    // Repair after crashes: remove what no running sandbox owns. Idempotent.
    [[nodiscard]] Result<GcReport> gc();

    [[nodiscard]] const Config& config() const { return config_; }

  private:
    explicit Runtime(Config config);
    Config config_;
    std::string pause_binary_;
    // NetworkPolicy state kept in step with the kernel between calls (sandbox/policy_enforcement).
    std::shared_ptr<class PolicyEnforcer> policy_;
};

}  // namespace podnet
