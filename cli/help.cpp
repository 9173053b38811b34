// The help table (cli/help.hpp) and what is generated from it: help pages, the overview, the
// man page, and the bash and zsh completion scripts.

#include "cli/help.hpp"
#include "common/text.hpp"

#include <algorithm>
#include <string>
#include <vector>

namespace podnet::cli {

namespace {

// ---- options, one array per command ----

constexpr HelpOption json_only[] = {{"json", 0, "", "print JSON instead of a table"}};

constexpr HelpOption sandbox_create_options[] = {
    {"name", 0, "N", "a name for the sandbox (unique; an id prefix also names it)"},
    {"hostname", 0, "H",
     "the pod's host name (default: the sandbox name, which defaults to the first 12 hex of the "
     "id)"},
    {"namespace", 'n', "NS", "the NetworkPolicy namespace of the pod (default: default)"},
    {"label", 'l', "KEY=VALUE", "a pod label for NetworkPolicy selectors (repeatable)"},
    {"network", 0, "NAME|none|cni:NAME",
     "the built-in network to join (default: podnet), none for lo only, or CNI networks "
     "(repeatable: eth0, eth1, ...)",
     "@network"},
    {"ip", 0, "IP", "a static IPv4 address on the network"},
    {"ip6", 0, "IP", "a static IPv6 address on the network"},
    {"publish", 'p', "[HOSTIP:][HOSTPORT[-END]:]PORT[-END][/tcp|/udp]",
     "publish a port on the host (repeatable); -p 80 or -p 127.0.0.1::80 picks a free host port"},
    {"named-port", 0, "NAME=PORT[/tcp|/udp|/sctp]",
     "a named container port for NetworkPolicy (repeatable)"},
    {"json", 0, "", "print the sandbox as JSON instead of its id"},
};
constexpr HelpOption sandbox_ls_options[] = {
    {"json", 0, "", "print JSON instead of a table"},
    {"quiet", 'q', "", "print only the ids (not with --json)"},
};
constexpr HelpOption sandbox_inspect_options[] = {
    {"json", 0, "", "print JSON (the default and only format; accepted for scripts)"},
    {"oci", 0, "", "print OCI runtime-spec linux.namespaces entries that join the sandbox"},
};
constexpr HelpOption sandbox_stop_options[] = {
    {"timeout", 't', "S",
     "seconds to wait after SIGTERM before ending the pod (default 10, config "
     "stop_timeout_seconds)"},
    {"json", 0, "", "print the stopped sandboxes as a JSON array"},
};
constexpr HelpOption sandbox_rm_options[] = {
    {"force", 'f', "", "remove a running sandbox too, killing it at once (SIGKILL)"},
    {"json", 0, "", "print the removed sandboxes as a JSON array"},
};
constexpr HelpOption run_options[] = {
    {"name", 0, "C", "a name for the container"},
    {"detach", 'd', "", "run in the background, print the container id; output goes to its log"},
    {"rm", 0, "", "remove the container once it has ended (with -d too)"},
    {"interactive", 'i', "", "connect stdin to the container (foreground only; -it for a shell)"},
    {"tty", 't', "", "give the container a pseudo-terminal (foreground only)"},
    {"env", 'e', "K=V", "set an environment variable (repeatable)"},
    {"workdir", 'w', "DIR", "working directory inside the container (default /)", "@dir"},
    {"user", 'u', "UID[:GID]", "run as this user (numbers only)"},
    {"seccomp", 0, "default|unconfined|FILE", "seccomp profile (default: Docker's default profile)",
     "default unconfined @file"},
    {"cap-add", 0, "CAP", "add a capability to Docker's default set (repeatable; ALL for all)"},
    {"cap-drop", 0, "CAP", "drop a capability (repeatable; ALL for all)"},
    {"rootfs", 0, "DIR", "pivot into DIR instead of seeing the host's filesystem", "@dir"},
    {"json", 0, "", "with -d: print the id and pid as JSON"},
};
constexpr HelpOption ps_options[] = {
    {"all", 'a', "", "also show containers that have ended"},
    {"json", 0, "", "print JSON instead of a table"},
};
constexpr HelpOption kill_options[] = {
    {"signal", 's', "SIG", "the signal, by name or number (default KILL)",
     "TERM KILL INT HUP QUIT USR1 USR2 STOP CONT WINCH ALRM"},
};
constexpr HelpOption logs_options[] = {
    {"follow", 'f', "", "keep printing output while the container runs"},
};
constexpr HelpOption gc_options[] = {
    {"json", 0, "", "print the actions and errors as JSON"},
};
constexpr HelpOption network_create_options[] = {
    {"subnet", 0, "CIDR",
     "an IPv4 and/or an IPv6 subnet (repeatable, one per family; default: a free IPv4 /24)"},
    {"gateway", 0, "IP", "the bridge's address (default: the subnet's first address)"},
    {"mtu", 0, "N", "MTU of the bridge and the pods' links"},
    {"bridge", 0, "IF", "the bridge's name (default: derived from the network's name)"},
    {"no-masquerade", 0, "", "do not masquerade traffic leaving the network's subnets"},
    {"json", 0, "", "print the network as JSON instead of its name"},
};
constexpr HelpOption network_ls_options[] = {
    {"json", 0, "", "print JSON instead of a table"},
    {"quiet", 'q', "", "print only the names"},
};
constexpr HelpOption network_inspect_options[] = {
    {"json", 0, "", "print JSON (the default and only format; accepted for scripts)"},
};
constexpr HelpOption network_rm_options[] = {
    {"json", 0, "", "accepted for scripts; the removed names are printed one a line"},
};
constexpr HelpOption port_options[] = {
    {"json", 0, "", "print the sandbox's mappings as a JSON array"},
};
constexpr HelpOption cni_attachment_options[] = {
    {"container-id", 0, "ID", "CNI_CONTAINERID (default: derived from the netns path)"},
    {"ifname", 0, "IF", "CNI_IFNAME (default: $CNI_IFNAME or eth0)"},
    {"cap-args", 0, "JSON", "capability arguments as a JSON object (default: $CAP_ARGS)"},
    {"args", 0, "K=V;...", "CNI_ARGS (default: $CNI_ARGS)"},
    {"timeout", 0, "S", "seconds each plugin may take (default: [cni] timeout_seconds)"},
};
constexpr HelpOption cni_network_options[] = {
    {"timeout", 0, "S", "seconds each plugin may take (default: [cni] timeout_seconds)"},
};
constexpr HelpOption cni_gc_options[] = {
    {"valid", 0, "CONTAINER_ID/IFNAME", "an attachment to keep (repeatable)"},
    {"timeout", 0, "S", "seconds each plugin may take (default: [cni] timeout_seconds)"},
};
constexpr HelpOption policy_apply_options[] = {
    {"filename", 'f', "FILE|DIR|-",
     "a YAML or JSON file, a directory of them, or - for stdin (repeatable)", "@file"},
};
constexpr HelpOption policy_ls_options[] = {
    {"namespace", 'n', "NS", "only this namespace (default: all)"},
    {"json", 0, "", "print the policies as JSON"},
};
constexpr HelpOption policy_rm_options[] = {
    {"namespace", 'n', "NS", "the policies' namespace (default: default)"},
};
constexpr HelpOption policy_explain_options[] = {
    {"json", 0, "", "print the verdict as JSON"},
};
constexpr HelpOption policy_eval_options[] = {
    {"scenario", 0, "FILE", "the scenario (pods, namespaces, policies, probes) in YAML", "@file"},
    {"json", 0, "", "print the verdicts as JSON"},
};
constexpr HelpOption policy_probe_options[] = {
    {"scenario", 0, "FILE", "the scenario (pods, namespaces, policies, probes) in YAML", "@file"},
    {"json", 0, "", "print the results as JSON"},
    {"timeout-ms", 0, "MS", "how long one probe waits for a connection (default 1000)"},
};
constexpr HelpOption overlay_agent_options[] = {
    {"network-config", 0, "FILE", "flannel's network config JSON (default: [overlay])", "@file"},
    {"store", 0, "file:PATH|etcd:URL[,URL]", "where the leases live (default: [overlay] store)"},
    {"public-ip", 0, "IP", "this node's underlay address (default: [overlay] public_ip)"},
    {"iface", 0, "IF", "the underlay link (default: the link holding the public IP)"},
    {"node", 0, "N", "this node's name (default: the host name)"},
    {"ttl", 0, "S", "lease lifetime in seconds, at least 3 (default: [overlay] ttl_seconds)"},
};
constexpr HelpOption overlay_leases_options[] = {
    {"network-config", 0, "FILE", "flannel's network config JSON (default: [overlay])", "@file"},
    {"store", 0, "file:PATH|etcd:URL[,URL]", "where the leases live (default: [overlay] store)"},
    {"json", 0, "", "print JSON instead of a table"},
};
constexpr HelpOption overlay_status_options[] = {
    {"network-config", 0, "FILE", "flannel's network config JSON (default: [overlay])", "@file"},
    {"store", 0, "file:PATH|etcd:URL[,URL]", "where the leases live (default: [overlay] store)"},
    {"public-ip", 0, "IP", "this node's underlay address (default: [overlay] public_ip)"},
    {"iface", 0, "IF", "the underlay link (default: the link holding the public IP)"},
    {"json", 0, "", "print JSON instead of a table"},
};
constexpr HelpOption overlay_release_options[] = {
    {"network-config", 0, "FILE", "flannel's network config JSON (default: [overlay])", "@file"},
    {"store", 0, "file:PATH|etcd:URL[,URL]", "where the leases live (default: [overlay] store)"},
};
constexpr HelpOption lab_up_options[] = {
    {"nodes", 0, "N", "how many nodes (default 3)"},
    {"backend", 0, "vxlan|host-gw|udp", "the overlay backend (default vxlan)", "vxlan host-gw udp"},
    {"store", 0, "file|etcd", "where the leases live (default file)", "file etcd"},
    {"cluster-cidr", 0, "CIDR", "the cluster network (default 10.244.0.0/16)"},
    {"direct-routing", 0, "", "vxlan: plain routes to peers on the same underlay subnet"},
    {"json", 0, "", "print the lab's status as JSON"},
};
constexpr HelpOption help_options[] = {
    {"man", 0, "", "print the podnet(1) man page (roff) instead"},
};

constexpr std::string_view run_exit =
    "N  the container's exit code (128+N when a signal N ended it); with -d, 0";
constexpr std::string_view lab_exec_exit =
    "N  the command's exit code; 127 when it cannot be started";

// ---- the table ----

constexpr HelpCommand table[] = {
    {"sandbox",
     "podnet sandbox create|ls|inspect|stop|rm ...",
     "sandboxes (pods): a pause process holding pinned namespaces",
     {},
     "podnet sandbox create --name web -p 8080:80",
     "",
     "",
     0,
     "Sandboxes (pods)"},
    {"sandbox create",
     "podnet sandbox create [--name N] [--hostname H] [--namespace NS] [--label KEY=VALUE]... "
     "[--network NAME|none|cni:NAME]... [--ip IP] [--ip6 IP] "
     "[-p [HOSTIP:][HOSTPORT[-END]:]PORT[-END][/tcp|/udp]]... "
     "[--named-port NAME=PORT[/PROTO]]... [--json]",
     "create a pod and print its id", sandbox_create_options,
     "podnet sandbox create --name web --namespace demo --label run=nginx -p 8080:80", "", "", 0,
     "", "",
     "Spawns podnet-pause in new network, IPC, UTS and PID namespaces, brings lo up, sets the "
     "host name, pins the namespaces, attaches the network and publishes the host ports."},
    {"sandbox ls", "podnet sandbox ls [--json] [-q]", "list sandboxes (with the pod IP)",
     sandbox_ls_options, "podnet sandbox ls -q", "", "", 0, "", "list"},
    {"sandbox inspect", "podnet sandbox inspect SANDBOX... [--json] [--oci]",
     "details of sandboxes as JSON", sandbox_inspect_options, "podnet sandbox inspect web --oci",
     "", "@sandbox"},
    {"sandbox stop", "podnet sandbox stop SANDBOX... [--timeout S] [--json]",
     "stop sandboxes: SIGTERM their containers, then end the pod", sandbox_stop_options,
     "podnet sandbox stop web --timeout 5", "", "@sandbox"},
    {"sandbox rm", "podnet sandbox rm [-f] SANDBOX... [--json]", "remove stopped sandboxes",
     sandbox_rm_options, "podnet sandbox rm -f web", "", "@sandbox", 0, "", "remove"},

    {"run",
     "podnet run SANDBOX [--name C] [-d] [--rm] [-i] [-t] [--env K=V]... [--workdir DIR] "
     "[--user UID[:GID]] [--seccomp default|unconfined|FILE] [--cap-add CAP]... "
     "[--cap-drop CAP]... [--rootfs DIR] [--json] [--] CMD ARGS...",
     "start a container in a pod", run_options,
     "podnet run web -d --name nginx -- /bin/busybox httpd -f -p 80", run_exit, "@sandbox", 1,
     "Containers", "",
     "The container joins the pod's net, IPC, UTS and PID namespaces. Options after CMD belong "
     "to CMD, so `podnet run web sh --help` asks sh, not podnet."},
    {"ps", "podnet ps [SANDBOX...] [-a] [--json]", "list containers, their pids and status",
     ps_options, "podnet ps web", "", "@sandbox"},
    {"kill", "podnet kill [--signal SIG] SANDBOX [CONTAINER]",
     "signal one container, or all of a pod's", kill_options, "podnet kill -s TERM web nginx", "",
     "@sandbox"},
    {"logs", "podnet logs [-f] SANDBOX CONTAINER", "output of a detached container", logs_options,
     "podnet logs -f web nginx", "", "@sandbox"},

    {"network",
     "podnet network create|ls|inspect|rm ...",
     "built-in bridge networks (the docker0 model)",
     {},
     "podnet network create backend --subnet 10.78.0.0/24",
     "",
     "",
     0,
     "Networks and host ports"},
    {"network create",
     "podnet network create NAME [--subnet CIDR] [--subnet CIDR6] [--gateway IP] [--mtu N] "
     "[--bridge IF] [--no-masquerade] [--json]",
     "create a bridge network", network_create_options,
     "podnet network create backend --subnet 10.78.0.0/24 --subnet fd78::/64"},
    {"network ls", "podnet network ls [--json] [-q]", "list networks", network_ls_options,
     "podnet network ls", "", "", 0, "", "list"},
    {"network inspect", "podnet network inspect NAME [--json]", "details of a network as JSON",
     network_inspect_options, "podnet network inspect backend", "", "@network"},
    {"network rm", "podnet network rm NAME... [--json]",
     "remove networks (refused while a sandbox uses one)", network_rm_options,
     "podnet network rm backend", "", "@network", 0, "", "remove"},
    {"port",
     "podnet port add|rm|ls SANDBOX ...",
     "host ports of a running sandbox",
     {},
     "podnet port add web 127.0.0.1:9090:90",
     "",
     ""},
    {"port add", "podnet port add SANDBOX MAPPING... [--json]",
     "publish more host ports (Docker's -p syntax)", port_options,
     "podnet port add web 9090:90 5353:53/udp", "", "@sandbox"},
    {"port rm", "podnet port rm SANDBOX MAPPING... [--json]", "unpublish host ports", port_options,
     "podnet port rm web 9090:90", "", "@sandbox", 0, "", "remove"},
    {"port ls", "podnet port ls SANDBOX [--json]", "a sandbox's host ports", port_options,
     "podnet port ls web", "", "@sandbox"},

    {"cni",
     "podnet cni add|del|check|status|version|gc NETWORK ...",
     "run a CNI network's plugins by hand, as cnitool does",
     {},
     "podnet cni add mynet /run/netns/demo",
     "",
     "",
     0,
     "CNI (conflists in [cni] conf_dir or $NETCONFPATH, plugins in $CNI_PATH)"},
    {"cni add",
     "podnet cni add NETWORK NETNS [--container-id ID] [--ifname IF] [--cap-args JSON] "
     "[--args K=V;...] [--timeout S]",
     "attach a network namespace; print the result", cni_attachment_options,
     R"(podnet cni add mynet /run/netns/demo --cap-args '{"portMappings":[{"hostPort":8080,"containerPort":80,"protocol":"tcp"}]}')"},
    {"cni del",
     "podnet cni del NETWORK NETNS [--container-id ID] [--ifname IF] [--cap-args JSON] "
     "[--args K=V;...] [--timeout S]",
     "detach a network namespace (idempotent)", cni_attachment_options,
     "podnet cni del mynet /run/netns/demo"},
    {"cni check",
     "podnet cni check NETWORK NETNS [--container-id ID] [--ifname IF] [--cap-args JSON] "
     "[--args K=V;...] [--timeout S]",
     "check an attachment (CNI 0.4.0 and later)", cni_attachment_options,
     "podnet cni check mynet /run/netns/demo"},
    {"cni status", "podnet cni status NETWORK [--timeout S]",
     "ask the plugins whether they are ready (CNI 1.1.0)", cni_network_options,
     "podnet cni status mynet"},
    {"cni version", "podnet cni version NETWORK [--timeout S]",
     "each plugin's supported CNI versions", cni_network_options, "podnet cni version mynet"},
    {"cni gc", "podnet cni gc NETWORK [--valid CONTAINER_ID/IFNAME]... [--timeout S]",
     "delete every cached attachment not listed, then GC (CNI 1.1.0)", cni_gc_options,
     "podnet cni gc mynet --valid 0123abcd/eth0"},

    {"policy",
     "podnet policy apply|ls|rm|explain|eval|probe ...",
     "NetworkPolicy objects (networking.k8s.io/v1), enforced with nftables",
     {},
     "podnet policy apply -f default-deny.yaml",
     "",
     "",
     0,
     "NetworkPolicy"},
    {"policy apply", "podnet policy apply -f FILE|DIR|-...",
     "create or update policies from YAML or JSON (all checked first)", policy_apply_options,
     "podnet policy apply -f examples/netpol-demo/default-deny.yaml"},
    {"policy ls", "podnet policy ls [-n NS] [--json]", "list policies", policy_ls_options,
     "podnet policy ls -n demo", "", "", 0, "", "list"},
    {"policy rm", "podnet policy rm NAME... [-n NS]", "delete policies", policy_rm_options,
     "podnet policy rm default-deny -n demo", "", "", 0, "", "remove"},
    {"policy explain", "podnet policy explain SRC DST PORT[/PROTO] [--json]",
     "would a new connection be allowed, and why", policy_explain_options,
     "podnet policy explain busybox nginx http",
     "1  also when the connection would be denied (the verdict and its reason are printed)",
     "@sandbox", 0, "", "",
     "SRC and DST are a sandbox, NS/NAME or an address; PORT is a number or a named port of "
     "DST."},
    {"policy eval", "podnet policy eval --scenario FILE [--json]",
     "judge a scenario's probes offline", policy_eval_options,
     "podnet policy eval --scenario tests/scenarios/netpol/05-and-vs-or-peers.yaml",
     "1  also when a probe differs from its expected verdict"},
    {"policy probe", "podnet policy probe --scenario FILE [--json] [--timeout-ms MS]",
     "build a scenario in a private network namespace and compare with the evaluator",
     policy_probe_options,
     "podnet policy probe --scenario tests/scenarios/netpol/05-and-vs-or-peers.yaml",
     "1  also when the kernel and the evaluator disagree, or an expectation fails"},
    {"namespace",
     "podnet namespace label|ls ...",
     "namespace labels for namespaceSelector",
     {},
     "podnet namespace label demo team=web",
     "",
     ""},
    {"namespace label",
     "podnet namespace label NS KEY=VALUE... [KEY-]...",
     "set labels (KEY- removes one)",
     {},
     "podnet namespace label demo team=web env-"},
    {"namespace ls", "podnet namespace ls [--json]", "namespaces, labels, sandboxes, policies",
     json_only, "podnet namespace ls", "", "", 0, "", "list"},

    {"overlay",
     "podnet overlay agent|leases|status|release ...",
     "the node's overlay agent (flannel's design) and its leases",
     {},
     "podnet overlay agent --public-ip 192.168.100.1",
     "",
     "",
     0,
     "Overlay (flannel's design) and the multi-node lab"},
    {"overlay agent",
     "podnet overlay agent [--network-config FILE] [--store file:PATH|etcd:URL[,URL]] "
     "[--public-ip IP] [--iface IF] [--node N] [--ttl S]",
     "run the node's agent in the foreground (defaults from [overlay])", overlay_agent_options,
     "podnet overlay agent --public-ip 192.168.100.1 --store etcd:http://192.168.100.254:2379"},
    {"overlay leases",
     "podnet overlay leases [--network-config FILE] [--store file:PATH|etcd:URL[,URL]] [--json]",
     "every node's lease", overlay_leases_options, "podnet overlay leases --json"},
    {"overlay status",
     "podnet overlay status [--network-config FILE] [--store file:PATH|etcd:URL[,URL]] "
     "[--public-ip IP] [--iface IF] [--json]",
     "this node's lease, and per peer whether the kernel reaches it", overlay_status_options,
     "podnet overlay status"},
    {"overlay release",
     "podnet overlay release SUBNET [--network-config FILE] [--store file:PATH|etcd:URL[,URL]]",
     "delete a lease (a node leaving for good)", overlay_release_options,
     "podnet overlay release 10.244.3.0/24"},
    {"lab",
     "podnet lab up|exec|status|stop|start|restart|down ...",
     "many nodes on one VM, joined by the overlay",
     {},
     "podnet lab up --nodes 3",
     "",
     ""},
    {"lab up",
     "podnet lab up [--nodes N] [--backend vxlan|host-gw|udp] [--store file|etcd] "
     "[--cluster-cidr CIDR] [--direct-routing] [--json]",
     "build the nodes and start an agent on each", lab_up_options,
     "podnet lab up --nodes 3 --backend vxlan --store etcd"},
    {"lab exec",
     "podnet lab exec NODE -- CMD ARGS...",
     "run a command on a node (its network, PODNET_ROOT and PODNET_CONFIG)",
     {},
     "podnet lab exec node1 -- podnet overlay status",
     lab_exec_exit},
    {"lab status", "podnet lab status [--json]", "per node: address, subnet, agent, ready",
     json_only, "podnet lab status"},
    {"lab stop",
     "podnet lab stop NODE|etcd",
     "stop a node's agent (or the lab's etcd)",
     {},
     "podnet lab stop node2"},
    {"lab start",
     "podnet lab start NODE|etcd",
     "start a node's agent (or the lab's etcd)",
     {},
     "podnet lab start node2"},
    {"lab restart",
     "podnet lab restart NODE|etcd",
     "restart a node's agent (or the lab's etcd)",
     {},
     "podnet lab restart node2"},
    {"lab down",
     "podnet lab down",
     "remove the lab: agents, etcd, sandboxes, namespaces, links, files",
     {},
     "podnet lab down"},

    {"gc", "podnet gc [--json]",
     "remove what crashed or stopped sandboxes left; running it twice changes nothing", gc_options,
     "podnet gc", "1  also when something could not be removed (each is named)", "", 0,
     "Maintenance"},
    {"config", "podnet config show", "the configuration", {}, "podnet config show", "", ""},
    {"config show",
     "podnet config show",
     "print the effective configuration as TOML",
     {},
     "podnet --config /etc/podnet/podnet.toml config show"},
    {"help", "podnet help [COMMAND [SUB-COMMAND]] [--man]",
     "show help for podnet or one of its commands", help_options, "podnet help sandbox create", "",
     "@command"},
    {"completion",
     "podnet completion bash|zsh",
     "print a shell completion script",
     {},
     "source <(podnet completion bash)",
     "",
     "bash zsh"},
};

constexpr std::string_view global_synopsis = "podnet [--root DIR] [--config FILE] COMMAND ...";

struct GlobalOption {
    std::string_view flags;
    std::string_view description;
};
constexpr GlobalOption global_options[] = {
    {"--root DIR",
     "keep all state under DIR/run and DIR/state (must be absolute; $PODNET_ROOT when not given)"},
    {"--config FILE",
     "read this configuration instead of /etc/podnet/podnet.toml ($PODNET_CONFIG when not "
     "given)"},
    {"--version", "print podnet's version"},
    {"-h, --help", "show this overview; `podnet help COMMAND` shows a command's"},
};

constexpr std::string_view usual_exit_codes[] = {
    "0  ok",
    "1  failure: one line on stderr, \"podnet: ...\", naming the thing and why",
    "2  usage error: a wrong option or argument (the line names it, with the synopsis)",
};

bool word_in(std::string_view words, std::string_view word) {
    while (!words.empty()) {
        auto space = words.find(' ');
        if (words.substr(0, space) == word) return true;
        if (space == std::string_view::npos) break;
        words.remove_prefix(space + 1);
    }
    return false;
}

// "sandbox create" -> is it a sub-command of group "sandbox"?
bool is_sub_of(std::string_view path, std::string_view group) {
    return path.size() > group.size() + 1 && path.starts_with(group) && path[group.size()] == ' ';
}

std::string_view sub_name(const HelpCommand& command) {
    auto space = command.path.find(' ');
    return space == std::string_view::npos ? command.path : command.path.substr(space + 1);
}

std::string option_label(const HelpOption& option) {
    std::string out;
    if (option.short_name != 0) out += std::string("-") + option.short_name + ", ";
    out += "--";
    out += option.flag;
    if (!option.value.empty()) {
        out += ' ';
        out += option.value;
    }
    return out;
}

// Wrapped at spaces outside brackets (so "[--network NAME|none]" stays whole), continuation
// lines indented.
std::string wrap(std::string_view text, std::size_t width, std::string_view indent) {
    std::vector<std::string_view> words;
    int depth = 0;
    std::size_t start = 0;
    for (std::size_t i = 0; i <= text.size(); ++i) {
        char c = i < text.size() ? text[i] : ' ';
        if (c == '[') ++depth;
        if (c == ']') --depth;
        if (c == ' ' && depth <= 0) {
            if (i > start) words.push_back(text.substr(start, i - start));
            start = i + 1;
        }
    }
    std::string out, line;
    for (auto word : words) {
        if (!line.empty() && line != indent && line.size() + 1 + word.size() > width) {
            out += line + "\n";
            line = std::string(indent);
        } else if (!line.empty() && line != indent) {
            line += ' ';
        }
        line += word;
    }
    return out + line;
}

// "  left      right", the right side wrapped within 100 columns.
void append_columns(std::string& out, std::string_view left, std::string_view right,
                    std::size_t column) {
    out += "  ";
    out += left;
    if (left.size() + 2 < column) {
        out.append(column - left.size(), ' ');
    } else {
        out += "\n";
        out.append(column + 2, ' ');
    }
    std::string body = wrap(right, 100 - column - 2, "");
    for (std::size_t nl = 0; (nl = body.find('\n', nl)) != std::string::npos; nl += column + 3)
        body.insert(nl + 1, column + 2, ' ');
    out += body;
    out += "\n";
}

void append_exit_codes(std::string& out, const HelpCommand& command) {
    out += "\nExit codes:\n";
    for (auto line : usual_exit_codes) out += "  " + std::string(line) + "\n";
    std::string_view extra = command.exit_codes;
    while (!extra.empty()) {
        auto nl = extra.find('\n');
        out += "  " + std::string(extra.substr(0, nl)) + "\n";
        if (nl == std::string_view::npos) break;
        extra.remove_prefix(nl + 1);
    }
}

std::vector<const HelpCommand*> subs_of(const HelpCommand& group) {
    std::vector<const HelpCommand*> out;
    for (const auto& c : table)
        if (is_sub_of(c.path, group.path)) out.push_back(&c);
    return out;
}

// Top-level names, in table order.
std::vector<std::string_view> top_level() {
    std::vector<std::string_view> out;
    for (const auto& c : table)
        if (c.path.find(' ') == std::string_view::npos) out.push_back(c.path);
    return out;
}

}  // namespace

std::span<const HelpCommand> help_table() {
    return table;
}

bool is_group(const HelpCommand& command) {
    if (command.path.find(' ') != std::string_view::npos) return false;
    for (const auto& c : table)
        if (is_sub_of(c.path, command.path)) return true;
    return false;
}

const HelpCommand* resolve_words(std::string_view first, std::string_view second, bool has_second,
                                 std::size_t& used) {
    used = 0;
    const HelpCommand* top = nullptr;
    for (const auto& c : table)
        if (c.path == first) top = &c;
    if (top == nullptr) return nullptr;
    used = 1;
    if (!has_second) return top;
    for (const auto& c : table)
        if (is_sub_of(c.path, first) && (sub_name(c) == second || word_in(c.aliases, second))) {
            used = 2;
            return &c;
        }
    return top;
}

const HelpCommand* find_help(std::string_view path) {
    auto space = path.find(' ');
    std::size_t used = 0;
    const HelpCommand* c =
        space == std::string_view::npos
            ? resolve_words(path, {}, false, used)
            : resolve_words(path.substr(0, space), path.substr(space + 1), true, used);
    if (c == nullptr || (space != std::string_view::npos && used != 2)) return nullptr;
    return c;
}

const HelpOption* find_option(const HelpCommand& command, std::string_view arg) {
    if (arg.starts_with("--")) {
        std::string_view name = arg.substr(2);
        name = name.substr(0, name.find('='));
        for (const auto& o : command.options)
            if (o.flag == name) return &o;
    } else if (arg.size() == 2 && arg[0] == '-') {
        for (const auto& o : command.options)
            if (o.short_name == arg[1]) return &o;
    }
    return nullptr;
}

std::string global_usage() {
    std::string out = "usage: " + std::string(global_synopsis) + "\n";
    for (const auto& c : table) {
        if (c.path.find(' ') != std::string_view::npos) continue;
        if (!c.section.empty()) {
            out += '\n';  // appended: "\n" + std::string(...) trips g++ 12 -O3 (GCC 105329)
            out += c.section;
            out += ":\n";
        }
        if (!is_group(c)) {
            append_columns(out, c.path, c.summary, 22);
            continue;
        }
        for (const auto* sub : subs_of(c)) append_columns(out, sub->path, sub->summary, 22);
    }
    out += "\nGlobal options (before the command):\n";
    for (const auto& g : global_options) append_columns(out, g.flags, g.description, 22);
    out +=
        "\nSANDBOX is an id, a unique id prefix, or a name.\n"
        "Run 'podnet help COMMAND [SUB-COMMAND]' or 'podnet COMMAND ... --help' for a "
        "command's options.\n";
    return out;
}

std::string help_page(const HelpCommand& command) {
    std::string out = "usage: " + wrap(command.synopsis, 100, "         ") + "\n\n";
    out += std::string(command.summary) + "\n";
    if (!command.details.empty()) out += "\n" + wrap(command.details, 100, "") + "\n";
    if (is_group(command)) {
        out += "\nCommands:\n";
        for (const auto* sub : subs_of(command))
            append_columns(out, sub_name(*sub), sub->summary, 12);
    }
    out += "\nOptions:\n";
    std::size_t column = 14;
    for (const auto& o : command.options) column = std::max(column, option_label(o).size() + 2);
    column = std::min<std::size_t>(column, 30);
    for (const auto& o : command.options)
        append_columns(out, option_label(o), o.description, column);
    append_columns(out, "-h, --help", "show this help", column);
    out += "\nExample:\n  " + std::string(command.example) + "\n";
    append_exit_codes(out, command);
    if (is_group(command))
        out += "\nRun 'podnet " + std::string(command.path) +
               " COMMAND --help' for a command's options.\n";
    return out;
}

// ---- the man page ----

namespace {

// Text for roff: backslashes and hyphens escaped, a leading dot or quote made harmless.
std::string roff(std::string_view text) {
    std::string out;
    for (char c : text) {
        if (c == '\\')
            out += "\\e";
        else if (c == '-')
            out += "\\-";
        else
            out += c;
    }
    if (!out.empty() && (out[0] == '.' || out[0] == '\'')) out.insert(0, "\\&");
    return out;
}

std::string roff_option(const HelpOption& option) {
    std::string out;
    if (option.short_name != 0) out += "\\fB\\-" + std::string(1, option.short_name) + "\\fR, ";
    out += "\\fB\\-\\-" + roff(option.flag) + "\\fR";
    if (!option.value.empty()) out += " \\fI" + roff(option.value) + "\\fR";
    return out;
}

void man_exit_codes(std::string& out, const HelpCommand& command) {
    if (command.exit_codes.empty()) return;
    out += ".PP\nExit codes: as in EXIT STATUS, and\n";
    std::string_view extra = command.exit_codes;
    while (!extra.empty()) {
        auto nl = extra.find('\n');
        out += ".br\n" + roff(extra.substr(0, nl)) + "\n";
        if (nl == std::string_view::npos) break;
        extra.remove_prefix(nl + 1);
    }
}

}  // namespace

std::string man_page() {
    std::string out =
        ".\\\" Generated by `podnet help --man` from cli/help.cpp; do not edit.\n"
        ".TH PODNET 1 \"\" \"podnet 0.1.0\" \"User Commands\"\n"
        // Left-aligned and unhyphenated: synopses are long lines of options.
        ".ad l\n"
        ".nh\n"
        ".SH NAME\n"
        "podnet \\- pods, bridge networks, CNI, NetworkPolicy and an overlay, in one small "
        "runtime\n"
        ".SH SYNOPSIS\n"
        ".B podnet\n"
        "[\\fB\\-\\-root\\fR \\fIDIR\\fR] [\\fB\\-\\-config\\fR \\fIFILE\\fR] \\fICOMMAND\\fR "
        "[\\fISUB\\-COMMAND\\fR] [\\fIOPTIONS\\fR] [\\fIARGS\\fR]\n"
        ".SH DESCRIPTION\n"
        "A pod is a \\fBpodnet\\-pause\\fR process holding new network, IPC, UTS and PID "
        "namespaces, pinned by bind mounts so that containers join them by path. podnet runs "
        "containers in pods, attaches pods to bridge networks (with IPAM and nftables host "
        "ports) or to CNI networks, enforces Kubernetes NetworkPolicy, and joins nodes with a "
        "flannel\\-like overlay.\n"
        ".PP\n"
        "SANDBOX is a sandbox's 64\\-hex id, any unique prefix of it, or its name. Every command "
        "takes \\fB\\-h\\fR or \\fB\\-\\-help\\fR; \\fBpodnet help\\fR \\fICOMMAND\\fR shows the "
        "same page.\n"
        ".SH GLOBAL OPTIONS\n";
    for (const auto& g : global_options)
        out += ".TP\n\\fB" + roff(g.flags) + "\\fR\n" + roff(g.description) + "\n";
    out += ".SH COMMANDS\n";
    for (const auto& c : table) {
        if (is_group(c)) continue;
        out += ".SS \"" + roff(c.path) + "\"\n";
        out += ".B " + roff(c.synopsis) + "\n.PP\n" + roff(c.summary) + ".\n";
        if (!c.details.empty()) out += roff(c.details) + "\n";
        for (const auto& o : c.options)
            out += ".TP\n" + roff_option(o) + "\n" + roff(o.description) + "\n";
        out += ".PP\nExample:\n.PP\n.RS\n.nf\n" + roff(c.example) + "\n.fi\n.RE\n";
        man_exit_codes(out, c);
    }
    out +=
        ".SH EXIT STATUS\n"
        ".TP\n0\nSuccess.\n"
        ".TP\n1\nFailure: one line on standard error, \\(lqpodnet: ...\\(rq, naming the thing "
        "and why. \\fBpolicy explain\\fR also exits 1 when the connection would be denied.\n"
        ".TP\n2\nUsage error: an unknown option or a wrong argument; the line names it and "
        "gives the command's synopsis.\n"
        ".PP\n\\fBrun\\fR exits with its container's exit code, \\fBlab exec\\fR with its "
        "command's.\n"
        ".SH ENVIRONMENT\n"
        ".TP\n.B PODNET_ROOT\nStands in for \\fB\\-\\-root\\fR when it is not given.\n"
        ".TP\n.B PODNET_CONFIG\nStands in for \\fB\\-\\-config\\fR when it is not given.\n"
        ".TP\n.B NETCONFPATH\nWhere \\fBpodnet cni\\fR finds network configurations.\n"
        ".TP\n.B CNI_PATH\nWhere \\fBpodnet cni\\fR finds plugins.\n"
        ".TP\n.BR CNI_IFNAME \", \" CNI_ARGS \", \" CAP_ARGS\nDefaults for \\fBpodnet cni\\fR's "
        "\\fB\\-\\-ifname\\fR, \\fB\\-\\-args\\fR and \\fB\\-\\-cap\\-args\\fR.\n"
        ".SH FILES\n"
        ".TP\n.I /etc/podnet/podnet.toml\nThe configuration (see \\fBpodnet config show\\fR).\n"
        ".TP\n.I /etc/cni/net.d\nCNI network configurations ([cni] conf_dir).\n"
        ".SH SEE ALSO\n"
        ".BR nsenter (1),\n.BR ip (8),\n.BR nft (8)\n";
    return out;
}

// ---- shell completion ----

namespace {

std::string flags_of(const HelpCommand& c, bool valued_only) {
    std::string out;
    for (const auto& o : c.options) {
        if (valued_only && o.value.empty()) continue;
        if (!out.empty()) out += ' ';
        out += "--" + std::string(o.flag);
        if (o.short_name != 0) out += std::string(" -") + o.short_name;
    }
    if (!valued_only) out += out.empty() ? "--help -h" : " --help -h";
    return out;
}

// Whether every positional completes the same way ("SANDBOX..."), or only the first.
bool positional_repeats(const HelpCommand& c) {
    return c.synopsis.find("SANDBOX...") != std::string_view::npos ||
           c.synopsis.find("NAME...") != std::string_view::npos;
}

std::string join_top_level() {
    std::string out;
    for (auto name : top_level()) {
        if (!out.empty()) out += ' ';
        out += name;
    }
    return out;
}

std::string subs_words(const HelpCommand& group) {
    std::string out;
    for (const auto* s : subs_of(group)) {
        if (!out.empty()) out += ' ';
        out += sub_name(*s);
    }
    return out;
}

// The case arms shared by bash and zsh (their case syntax is the same): per command path, its
// flags, the flags taking a value, the positionals' completion and whether it repeats, and per
// valued option what completes it.
std::string shell_tables() {
    std::string out = "    case \"$cmd_path\" in\n";
    for (const auto& c : table) {
        if (is_group(c)) continue;
        std::string arm = quoted(c.path);
        std::string_view aliases = c.aliases;
        std::string_view group = c.path.substr(0, c.path.find(' '));
        while (!aliases.empty()) {
            auto sp = aliases.find(' ');
            arm += "|\"" + std::string(group) + " " + std::string(aliases.substr(0, sp)) + "\"";
            if (sp == std::string_view::npos) break;
            aliases.remove_prefix(sp + 1);
        }
        out += "        " + arm + ")\n";
        out += "            flags=\"" + flags_of(c, false) + "\"\n";
        out += "            valued=\"" + flags_of(c, true) + "\"\n";
        out += "            positional=\"" + std::string(c.positional) + "\"\n";
        out += "            repeat=" + std::string(positional_repeats(c) ? "1" : "0") + "\n";
        out += "            max=" + std::to_string(c.max_positionals) + "\n";
        bool any = false;
        for (const auto& o : c.options) {
            if (o.value.empty()) continue;
            if (!any) out += "            case \"$prev\" in\n";
            any = true;
            out += "                --" + std::string(o.flag);
            if (o.short_name != 0) out += std::string("|-") + o.short_name;
            out +=
                ") values=\"" + std::string(o.complete.empty() ? "@none" : o.complete) + "\" ;;\n";
        }
        if (any) out += "            esac\n";
        out += "            ;;\n";
    }
    out += "    esac\n";
    return out;
}

std::string subs_case(std::string_view indent) {
    std::string out = std::string(indent) + "case \"$1\" in\n";
    for (const auto& c : table)
        if (is_group(c))
            out += std::string(indent) + "    " + std::string(c.path) + ") echo \"" +
                   subs_words(c) + "\" ;;\n";
    out += std::string(indent) + "esac\n";
    return out;
}

}  // namespace

std::string bash_completion() {
    std::string out =
        "# bash completion for podnet; generated by `podnet completion bash` from the help "
        "table.\n"
        "# Load it with: source <(podnet completion bash)\n\n"
        "_podnet_subs() {\n" +
        subs_case("    ") +
        "}\n\n"
        "# Completes $cur from a list of kinds: @sandbox, @network, @file, @dir, @command, "
        "@none or words.\n"
        "_podnet_values() {\n"
        "    local kind cands=\"\"\n"
        "    for kind in $1; do\n"
        "        case \"$kind\" in\n"
        "            @sandbox) cands+=\" $(\"${_podnet_cmd[@]}\" sandbox ls -q 2>/dev/null)\" ;;\n"
        "            @network) cands+=\" $(\"${_podnet_cmd[@]}\" network ls 2>/dev/null | "
        "awk 'NR > 1 {print $1}') none cni:\" ;;\n"
        "            @file) compopt -o filenames 2>/dev/null; COMPREPLY+=($(compgen -f -- "
        "\"$cur\")) ;;\n"
        "            @dir) compopt -o filenames 2>/dev/null; COMPREPLY+=($(compgen -d -- "
        "\"$cur\")) ;;\n"
        "            @command) cands+=\" " +
        join_top_level() +
        "\" ;;\n"
        "            @none) ;;\n"
        "            *) cands+=\" $kind\" ;;\n"
        "        esac\n"
        "    done\n"
        "    COMPREPLY+=($(compgen -W \"$cands\" -- \"$cur\"))\n"
        "}\n\n"
        "_podnet() {\n"
        "    local cur=\"${COMP_WORDS[COMP_CWORD]}\" prev=\"\" i=1 cmd_path=\"\" subs=\"\"\n"
        "    local flags=\"\" valued=\"\" positional=\"\" repeat=0 max=0 values=\"\"\n"
        "    local -a _podnet_cmd=(\"${COMP_WORDS[0]}\")\n"
        "    COMPREPLY=()\n"
        "    [[ $COMP_CWORD -gt 0 ]] && prev=\"${COMP_WORDS[COMP_CWORD-1]}\"\n"
        "    # Global options come before the command; --root and --config go on to the\n"
        "    # podnet calls that list sandboxes and networks.\n"
        "    while [[ $i -lt $COMP_CWORD ]]; do\n"
        "        case \"${COMP_WORDS[i]}\" in\n"
        "            --root|--config) _podnet_cmd+=(\"${COMP_WORDS[i]}\" "
        "\"${COMP_WORDS[i+1]}\"); i=$((i + 2)); continue ;;\n"
        "            --root=*|--config=*) _podnet_cmd+=(\"${COMP_WORDS[i]}\") ;;\n"
        "            -*) ;;\n"
        "            *) break ;;\n"
        "        esac\n"
        "        i=$((i + 1))\n"
        "    done\n"
        "    if [[ $i -ge $COMP_CWORD ]]; then\n"
        "        case \"$prev\" in\n"
        "            --root) _podnet_values @dir; return ;;\n"
        "            --config) _podnet_values @file; return ;;\n"
        "        esac\n"
        "        if [[ $cur == -* ]]; then\n"
        "            _podnet_values \"--root --config --version --help -h\"\n"
        "        else\n"
        "            _podnet_values @command\n"
        "        fi\n"
        "        return\n"
        "    fi\n"
        "    cmd_path=\"${COMP_WORDS[i]}\"\n"
        "    i=$((i + 1))\n"
        "    subs=\"$(_podnet_subs \"$cmd_path\")\"\n"
        "    if [[ -n $subs ]]; then\n"
        "        if [[ $i -ge $COMP_CWORD ]]; then\n"
        "            _podnet_values \"$subs\"\n"
        "            return\n"
        "        fi\n"
        "        cmd_path=\"$cmd_path ${COMP_WORDS[i]}\"\n"
        "        i=$((i + 1))\n"
        "    fi\n" +
        shell_tables() +
        "    # Positionals so far; after -- (or run's SANDBOX CMD) the words are a command's.\n"
        "    local n=0 skip=0 w\n"
        "    while [[ $i -lt $COMP_CWORD ]]; do\n"
        "        w=\"${COMP_WORDS[i]}\"\n"
        "        i=$((i + 1))\n"
        "        if [[ $skip -eq 1 ]]; then skip=0; continue; fi\n"
        "        if [[ $w == -- ]] || [[ $max -gt 0 && $n -ge $max && $w != -* ]]; then\n"
        "            if [[ $w == -- && $i -ge $COMP_CWORD ]]; then\n"
        "                COMPREPLY=($(compgen -c -- \"$cur\"))\n"
        "            else\n"
        "                compopt -o filenames 2>/dev/null\n"
        "                COMPREPLY=($(compgen -f -- \"$cur\"))\n"
        "            fi\n"
        "            return\n"
        "        fi\n"
        "        if [[ $w == -* ]]; then\n"
        "            [[ $w != *=* && \" $valued \" == *\" $w \"* ]] && skip=1\n"
        "            continue\n"
        "        fi\n"
        "        n=$((n + 1))\n"
        "    done\n"
        "    if [[ -n $values && \" $valued \" == *\" $prev \"* ]]; then\n"
        "        _podnet_values \"$values\"\n"
        "        return\n"
        "    fi\n"
        "    if [[ $cur == -* ]]; then\n"
        "        _podnet_values \"$flags\"\n"
        "        return\n"
        "    fi\n"
        "    if [[ $cmd_path == help* && $n -eq 1 ]]; then\n"
        "        _podnet_values \"$(_podnet_subs \"${COMP_WORDS[COMP_CWORD-1]}\")\"\n"
        "        return\n"
        "    fi\n"
        "    if [[ $max -gt 0 && $n -ge $max ]]; then\n"
        "        COMPREPLY=($(compgen -c -- \"$cur\"))\n"
        "        return\n"
        "    fi\n"
        "    if [[ $n -eq 0 || $repeat -eq 1 ]]; then\n"
        "        _podnet_values \"$positional\"\n"
        "    fi\n"
        "}\n\n"
        "complete -F _podnet podnet\n";
    return out;
}

std::string zsh_completion() {
    // zsh's own machinery for the words, the same table for what they are. zsh arrays count
    // from 1 and words[1] is the command itself.
    std::string commands;
    for (const auto& c : table) {
        if (c.path.find(' ') != std::string_view::npos) continue;
        std::string summary;
        for (char ch : c.summary) summary += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
        commands += "                    '" + std::string(c.path) + ":" + summary + "'\n";
    }
    std::string out =
        "#compdef podnet\n"
        "# zsh completion for podnet; generated by `podnet completion zsh` from the help "
        "table.\n"
        "# Install as _podnet in a directory of $fpath, or: source <(podnet completion zsh)\n\n"
        "_podnet_subs() {\n" +
        subs_case("    ") +
        "}\n\n"
        "_podnet_values() {\n"
        "    local kind\n"
        "    local -a cands\n"
        "    for kind in ${=1}; do\n"
        "        case $kind in\n"
        "            @sandbox) cands+=(${(f)\"$(${_podnet_cmd[@]} sandbox ls -q 2>/dev/null)\"}) "
        ";;\n"
        "            @network) cands+=(${(f)\"$(${_podnet_cmd[@]} network ls 2>/dev/null | "
        "awk 'NR > 1 {print $1}')\"} none cni:) ;;\n"
        "            @file) _files ;;\n"
        "            @dir) _files -/ ;;\n"
        "            @command)\n"
        "                local -a commands=(\n" +
        commands +
        "                )\n"
        "                _describe -t commands 'podnet command' commands ;;\n"
        "            @none) ;;\n"
        "            *) cands+=($kind) ;;\n"
        "        esac\n"
        "    done\n"
        "    (( ${#cands} )) && compadd -a cands\n"
        "    return 0\n"
        "}\n\n"
        "_podnet() {\n"
        "    local cur=${words[CURRENT]} prev=${words[CURRENT-1]} i=2 cmd_path= subs=\n"
        "    local flags= valued= positional= repeat=0 max=0 values=\n"
        "    local -a _podnet_cmd=(${words[1]})\n"
        "    while (( i < CURRENT )); do\n"
        "        case ${words[i]} in\n"
        "            --root|--config) _podnet_cmd+=(${words[i]} ${words[i+1]}); (( i += 2 )); "
        "continue ;;\n"
        "            --root=*|--config=*) _podnet_cmd+=(${words[i]}) ;;\n"
        "            -*) ;;\n"
        "            *) break ;;\n"
        "        esac\n"
        "        (( i++ ))\n"
        "    done\n"
        "    if (( i >= CURRENT )); then\n"
        "        case $prev in\n"
        "            --root) _files -/; return ;;\n"
        "            --config) _files; return ;;\n"
        "        esac\n"
        "        if [[ $cur == -* ]]; then\n"
        "            compadd -- --root --config --version --help -h\n"
        "        else\n"
        "            _podnet_values @command\n"
        "        fi\n"
        "        return\n"
        "    fi\n"
        "    cmd_path=${words[i]}\n"
        "    (( i++ ))\n"
        "    subs=$(_podnet_subs $cmd_path)\n"
        "    if [[ -n $subs ]]; then\n"
        "        if (( i >= CURRENT )); then\n"
        "            _podnet_values $subs\n"
        "            return\n"
        "        fi\n"
        "        cmd_path=\"$cmd_path ${words[i]}\"\n"
        "        (( i++ ))\n"
        "    fi\n" +
        shell_tables() +
        "    local n=0 skip=0 w\n"
        "    while (( i < CURRENT )); do\n"
        "        w=${words[i]}\n"
        "        (( i++ ))\n"
        "        if (( skip )); then skip=0; continue; fi\n"
        "        if [[ $w == -- ]] || { (( max > 0 && n >= max )) && [[ $w != -* ]]; }; then\n"
        "            local start=$(( i - 1 ))\n"
        "            [[ $w == -- ]] && start=$i\n"
        "            words=(\"${(@)words[start,-1]}\")\n"
        "            (( CURRENT -= start - 1 ))\n"
        "            _normal\n"
        "            return\n"
        "        fi\n"
        "        if [[ $w == -* ]]; then\n"
        "            [[ $w != *=* && \" $valued \" == *\" $w \"* ]] && skip=1\n"
        "            continue\n"
        "        fi\n"
        "        (( n++ ))\n"
        "    done\n"
        "    if [[ -n $values && \" $valued \" == *\" $prev \"* ]]; then\n"
        "        _podnet_values $values\n"
        "        return\n"
        "    fi\n"
        "    if [[ $cur == -* ]]; then\n"
        "        _podnet_values $flags\n"
        "        return\n"
        "    fi\n"
        "    if [[ $cmd_path == help* ]] && (( n == 1 )); then\n"
        "        _podnet_values \"$(_podnet_subs ${words[CURRENT-1]})\"\n"
        "        return\n"
        "    fi\n"
        "    if (( max > 0 && n >= max )); then\n"
        "        _command_names -e\n"
        "        return\n"
        "    fi\n"
        "    if (( n == 0 || repeat )); then\n"
        "        _podnet_values $positional\n"
        "    fi\n"
        "}\n\n"
        "if [[ ${zsh_eval_context[-1]} == loadautofunc ]]; then\n"
        "    _podnet \"$@\"\n"
        "else\n"
        "    compdef _podnet podnet\n"
        "fi\n";
    return out;
}

}  // namespace podnet::cli
