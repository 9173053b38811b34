// podnet: the command line. Global options come before the command.

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "cli/cli.hpp"
#include "common/config.hpp"

namespace podnet::cli {

namespace {

constexpr const char* usage_text = R"(usage: podnet [--root DIR] [--config FILE] COMMAND ...

Sandboxes (pods):
  sandbox create [--name N] [--hostname H] [--namespace NS] [--label k=v]...
      [--network NAME|none|cni:NAME]... [--ip IP] [--ip6 IP] [-p [HOSTIP:]HOSTPORT[-END]:PORT[-END][/tcp|/udp]]...
      [--named-port NAME=PORT[/tcp|/udp|/sctp]]... [--json]
  sandbox ls [--json]
  sandbox inspect SANDBOX [--json] [--oci]
  sandbox stop SANDBOX [--timeout S]
  sandbox rm [-f] SANDBOX...
Containers:
  run SANDBOX [--name C] [-d] [--env K=V]... [--workdir D] [--user UID[:GID]]
      [--seccomp default|unconfined|FILE] [--cap-add C]... [--cap-drop C]... [--rootfs DIR]
      [--json] -- CMD ARGS...
  ps [SANDBOX] [--json]
  kill [--signal SIG] SANDBOX [CONTAINER]
  logs [-f] SANDBOX CONTAINER
Networks and host ports:
  network create NAME --subnet CIDR [--subnet CIDR6] [--gateway IP] [--mtu N] [--bridge IF] [--no-masquerade]
  network ls [--json] | network inspect NAME | network rm NAME
  port add SANDBOX MAPPING... | port rm SANDBOX MAPPING... | port ls SANDBOX [--json]
CNI (conflists in [cni] conf_dir or $NETCONFPATH, plugins in CNI_PATH):
  cni add|del|check NETWORK NETNS [--container-id ID] [--ifname IF] [--cap-args JSON] [--args K=V;...]
  cni status|version NETWORK | cni gc NETWORK [--valid CONTAINER_ID/IFNAME]...
NetworkPolicy (networking.k8s.io/v1):
  policy apply -f FILE|DIR...    policy ls [-n NS] [--json]    policy rm NAME [-n NS]
  policy explain SRC DST PORT[/PROTO]     (SRC, DST: sandbox, NS/NAME or IP)
  policy eval --scenario FILE [--json]    judge a scenario offline
  policy probe --scenario FILE [--json]   build it in a private network namespace and compare
  namespace label NS KEY=VALUE... [KEY-]...   namespace ls [--json]
Overlay (flannel's design) and the multi-node lab:
  overlay agent [--network-config FILE] [--store file:PATH|etcd:URL] [--public-ip IP] [--iface IF] [--node N] [--ttl S]
  overlay status [--json]   this node's lease, and per other node whether its routes are in place
  overlay leases [--json]   every node's lease   (both: [--network-config FILE] [--store SPEC])
  overlay release SUBNET    a node leaving for good  (overlay flags default to podnet.toml's [overlay])
  lab stop|start|restart NODE|etcd
  lab up [--nodes N] [--backend vxlan|host-gw|udp] [--store file|etcd] [--cluster-cidr CIDR] [--direct-routing] [--json]
  lab exec NODE -- COMMAND ARGS...     lab status [--json]     lab down
Maintenance:
  gc [--json]            remove what crashed or stopped sandboxes left behind
  config show            the effective configuration (TOML)

SANDBOX is an id, a unique id prefix, or a name. --root DIR keeps all state under DIR.
)";

int cmd_config(Context& ctx, Args args) {
    if (args.empty() || args[0] != "show") return usage_error("usage: podnet config show");
    std::cout << config_to_toml(ctx.config);
    return exit_ok;
}

}  // namespace

Result<Runtime*> Context::runtime() {
    if (!runtime_) {
        auto rt = Runtime::open(config);
        if (!rt) return std::unexpected(rt.error());
        runtime_.emplace(std::move(*rt));
    }
    return &*runtime_;
}

int report(const Error& error, int code) {
    std::fprintf(stderr, "podnet: %s\n", error.message.c_str());
    return code;
}

int usage_error(const std::string& message) {
    return report(Error{message}, exit_usage);
}

int run_main(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    std::string root, config_path;
    size_t i = 0;
    for (; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (a == "-h" || a == "--help" || a == "help") {
            std::cout << usage_text;
            return exit_ok;
        }
        if (a == "--version") {
            std::cout << "podnet 0.1.0\n";
            return exit_ok;
        }
        if ((a == "--root" || a == "--config") && i + 1 < args.size()) {
            (a == "--root" ? root : config_path) = args[++i];
        } else if (a.starts_with("--root=")) {
            root = a.substr(7);
        } else if (a.starts_with("--config=")) {
            config_path = a.substr(9);
        } else if (a.starts_with("-")) {
            return usage_error("unknown global option " + a + " (see podnet --help)");
        } else {
            break;
        }
    }
    if (i >= args.size()) {
        std::cerr << usage_text;
        return exit_usage;
    }

    // `podnet lab exec NODE -- podnet ...` runs podnet as if on that node: its config and root.
    if (config_path.empty())
        if (const char* env = std::getenv("PODNET_CONFIG"); env != nullptr && *env != '\0')
            config_path = env;
    auto config =
        load_config(config_path.empty() ? default_config_path : config_path, !config_path.empty());
    if (!config) return report(config.error());
    Context ctx;
    ctx.config = *config;
    if (root.empty())
        if (const char* env = std::getenv("PODNET_ROOT"); env != nullptr && *env != '\0')
            root = env;
    if (!root.empty()) {
        if (root.front() != '/') return usage_error("--root " + root + ": must be absolute");
        place_under_root(ctx.config, root);
    }

    const std::string command = args[i];
    Args rest(args.data() + i + 1, args.size() - i - 1);
    if (command == "sandbox") return cmd_sandbox(ctx, rest);
    if (command == "run") return cmd_run(ctx, rest);
    if (command == "ps") return cmd_ps(ctx, rest);
    if (command == "kill") return cmd_kill(ctx, rest);
    if (command == "logs") return cmd_logs(ctx, rest);
    if (command == "gc") return cmd_gc(ctx, rest);
    if (command == "network") return cmd_network(ctx, rest);
    if (command == "port") return cmd_port(ctx, rest);
    if (command == "cni") return cmd_cni(ctx, rest);
    if (command == "policy") return cmd_policy(ctx, rest);
    if (command == "namespace") return cmd_namespace(ctx, rest);
    if (command == "overlay") return cmd_overlay(ctx, rest);
    if (command == "lab") return cmd_lab(ctx, rest);
    if (command == "config") return cmd_config(ctx, rest);
    return usage_error("unknown command \"" + command + "\" (see podnet --help)");
}

}  // namespace podnet::cli

int main(int argc, char** argv) {
    return podnet::cli::run_main(argc, argv);
}
