// podnet overlay agent | leases, and podnet lab up | exec | status | down.

#include <net/if.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <iostream>

#include "cli/args.hpp"
#include "cli/cli.hpp"
#include "cli/output.hpp"
#include "common/fs.hpp"
#include "netns/namespace.hpp"
#include "nft/nft.hpp"
#include "overlay/agent.hpp"
#include "overlay/etcd_store.hpp"
#include "overlay/file_store.hpp"
#include "overlay/lab.hpp"
#include "overlay/status.hpp"

namespace podnet::cli {

namespace {

std::atomic<bool> stop_requested{false};

void on_stop_signal(int) {
    stop_requested = true;
}

std::string self_binary() {
    char exe[4096];
    ssize_t n = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
    return n > 0 ? std::string(exe, static_cast<size_t>(n)) : "podnet";
}

// Steps of lab up/down on stderr, so that stdout stays what scripts parse.
void lab_progress(const std::string& line) {
    std::cerr << "lab: " << line << std::endl;
}

// The overlay's network: --network-config FILE (flannel's JSON) or podnet.toml's [overlay].
Result<overlay::OverlayConfig> network_config(const Context& ctx, const ParsedArgs& parsed) {
    if (parsed.has("network-config")) {
        const std::string path = parsed.value("network-config");
        auto text = read_file(path);
        if (!text) return std::unexpected(text.error());
        return overlay::parse_flannel_json(*text, path);
    }
    if (ctx.config.overlay.network.empty() && ctx.config.overlay.ipv6_network.empty())
        return fail(
            "overlay: no network (--network-config FILE, or [overlay] network in podnet.toml)");
    return overlay::overlay_config_from(ctx.config.overlay);
}

// "file:PATH" -> the file store; "etcd:URL[,URL...]" -> etcd (flannel's key prefix).
Result<std::unique_ptr<overlay::LeaseStore>> open_store(const std::string& spec,
                                                        const overlay::OverlayConfig& config) {
    if (spec.starts_with("file:") && spec.size() > 5)
        return std::make_unique<overlay::FileLeaseStore>(spec.substr(5), config);
    if (spec.starts_with("etcd:") && spec.size() > 5) {
        std::vector<std::string> endpoints;
        std::string rest = spec.substr(5);
        for (size_t start = 0; start <= rest.size();) {
            size_t comma = std::min(rest.find(',', start), rest.size());
            if (comma > start) endpoints.push_back(rest.substr(start, comma - start));
            start = comma + 1;
        }
        return std::make_unique<overlay::EtcdLeaseStore>(
            endpoints, std::string(overlay::default_etcd_prefix), config);
    }
    return fail("--store " + spec + ": want file:PATH or etcd:URL[,URL...]");
}

Result<int> link_mtu(const std::string& link) {
    int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return fail_errno("socket", errno);
    ifreq req{};
    std::strncpy(req.ifr_name, link.c_str(), IFNAMSIZ - 1);
    int rc = ::ioctl(fd, SIOCGIFMTU, &req);
    int err = errno;
    ::close(fd);
    if (rc != 0) return fail_errno("MTU of " + link, err);
    return req.ifr_mtu;
}

// The link holding `address` (the node's underlay), for when [overlay] iface is not given.
Result<std::string> link_holding(NetlinkSocket& nl, const IpAddress& address) {
    auto links = nl.list_links("");
    if (!links) return std::unexpected(links.error());
    for (const auto& link : *links) {
        auto addresses = nl.addresses(link);
        if (!addresses) continue;
        for (const auto& a : *addresses)
            if (a.address == address) return link;
    }
    return fail("overlay: no link holds " + address.str() + " (give --iface)");
}

// The node's facts: flags first, then [overlay], then what the machine says.
struct NodeFacts {
    IpAddress public_ip;
    std::string iface;
    std::string node;
};

Result<NodeFacts> node_facts(const Context& ctx, const ParsedArgs& parsed, NetlinkSocket& nl) {
    const OverlaySettings& settings = ctx.config.overlay;
    NodeFacts facts;
    std::string ip = parsed.value("public-ip", settings.public_ip);
    if (ip.empty()) return fail("overlay: no public IP (--public-ip, or [overlay] public_ip)");
    auto public_ip = parse_ip(ip);
    if (!public_ip) return std::unexpected(public_ip.error().wrap("public IP"));
    facts.public_ip = *public_ip;
    facts.iface = parsed.value("iface", settings.iface);
    if (facts.iface.empty()) {
        auto link = link_holding(nl, facts.public_ip);
        if (!link) return std::unexpected(link.error());
        facts.iface = *link;
    }
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    facts.node = parsed.value("node", settings.node.empty() ? host : settings.node);
    return facts;
}

// What `agent` and `status` both start from: the network, its store, this namespace's netlink
// and the node's facts.
struct NodeView {
    overlay::OverlayConfig config;
    std::unique_ptr<overlay::LeaseStore> store;
    NetlinkSocket netlink;
    NodeFacts facts;
};

Result<NodeView> open_node(const Context& ctx, const ParsedArgs& parsed) {
    auto config = network_config(ctx, parsed);
    if (!config) return std::unexpected(config.error());
    auto store = open_store(parsed.value("store", ctx.config.effective_overlay_store()), *config);
    if (!store) return std::unexpected(store.error());
    auto netlink = NetlinkSocket::open_current();
    if (!netlink) return std::unexpected(netlink.error());
    auto facts = node_facts(ctx, parsed, *netlink);
    if (!facts) return std::unexpected(facts.error());
    return NodeView{*config, std::move(*store), std::move(*netlink), *facts};
}

void log_line(const std::string& line) {
    std::time_t t = std::time(nullptr);
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "%H:%M:%S", std::localtime(&t));
    std::cerr << stamp << " podnet overlay agent: " << line << std::endl;
}

int overlay_agent(Context& ctx, Args args) {
    static const OptionSpec specs[] = {{"network-config", 0, true}, {"store", 0, true},
                                       {"public-ip", 0, true},      {"iface", 0, true},
                                       {"node", 0, true},           {"ttl", 0, true}};
    auto parsed = parse_args(args, specs, "overlay agent");
    if (!parsed) return usage_error(parsed.error().message);
    if (!parsed->positionals.empty())
        return usage_error(
            "usage: podnet overlay agent [--network-config FILE] [--store file:PATH|etcd:URL] "
            "[--public-ip IP] [--iface IF] [--node NAME] [--ttl S] (defaults: [overlay])");
    auto node = open_node(ctx, *parsed);
    if (!node) return report(node.error());
    overlay::AgentOptions options;
    options.config = node->config;
    options.local.public_ip = node->facts.public_ip;
    options.local.underlay = node->facts.iface;
    auto mtu = link_mtu(options.local.underlay);
    if (!mtu) return report(mtu.error());
    options.local.underlay_mtu = *mtu;
    options.node = node->facts.node;
    options.ttl_seconds = static_cast<int>(ctx.config.overlay.ttl_seconds);
    if (parsed->has("ttl")) options.ttl_seconds = std::atoi(parsed->value("ttl").c_str());
    if (options.ttl_seconds < 3) return usage_error("--ttl: at least 3 seconds");
    options.log = log_line;
    options.record_path = overlay::agent_record_path(ctx.config.run_root);
    options.subnet_env_path = overlay::subnet_env_path(ctx.config.run_root);
    options.on_lease = [&](const overlay::Lease& own, int pod_mtu) -> Result<void> {
        auto rt = ctx.runtime();
        if (!rt) return std::unexpected(rt.error());
        // The node's default network takes the lease's subnet (pods get addresses from it),
        // without podnet's own masquerade: inside the cluster sources stay the pods'.
        const std::string& name = ctx.config.default_network;
        auto existing = (*rt)->inspect_network(name);
        bool same = existing && existing->subnets.size() == 1 &&
                    existing->subnets[0].first == own.subnet.str() && !existing->masquerade;
        if (existing && !same)
            if (auto r = (*rt)->remove_network(name); !r)
                return wrap(r.error(),
                            "give the lease " + own.subnet.str() + " to network " + name);
        if (!same) {
            NetworkRequest request{name,
                                   {own.subnet.str()},
                                   own.subnet.at(1).str(),
                                   ctx.config.default_bridge,
                                   pod_mtu,
                                   false};
            if (auto r = (*rt)->create_network(request); !r)
                return wrap(r.error(), "network for lease " + own.subnet.str());
        }
        auto nft = NftContext::shared();
        if (!nft) return std::unexpected(nft.error());
        return (*nft)->run(overlay::overlay_nft_script(options.config, options.local.underlay));
    };
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    ::sigaction(SIGTERM, &sa, nullptr);
    ::sigaction(SIGINT, &sa, nullptr);
    log_line("starting: node " + options.node + ", " + options.local.public_ip.str() + " on " +
             options.local.underlay + ", backend " + overlay::backend_name(node->config.backend) +
             ", network " + node->config.network.str());
    for (const auto& note : node->config.notes) log_line(note);
    auto r = overlay::run_agent(options, *node->store, node->netlink, stop_requested);
    if (!r) return report(r.error());
    return exit_ok;
}

int overlay_leases(Context& ctx, Args args) {
    static const OptionSpec specs[] = {
        {"network-config", 0, true}, {"store", 0, true}, {"json", 0, false}};
    auto parsed = parse_args(args, specs, "overlay leases");
    if (!parsed) return usage_error(parsed.error().message);
    if (!parsed->positionals.empty())
        return usage_error(
            "usage: podnet overlay leases [--network-config FILE] [--store SPEC] [--json]");
    auto config = network_config(ctx, *parsed);
    if (!config) return report(config.error());
    auto store = open_store(parsed->value("store", ctx.config.effective_overlay_store()), *config);
    if (!store) return report(store.error());
    auto list = (*store)->list();
    if (!list) return report(list.error());
    for (const auto& w : list->warnings) std::cerr << "podnet: skipped " << w << "\n";
    if (parsed->has("json")) {
        nlohmann::json out = nlohmann::json::array();
        for (const auto& l : list->leases) out.push_back(overlay::lease_to_json(l));
        std::cout << out.dump(2) << "\n";
        return exit_ok;
    }
    std::vector<std::vector<std::string>> rows = {
        {"SUBNET", "NODE", "PUBLIC-IP", "BACKEND", "RENEWED", "EXPIRES-IN"}};
    int64_t now = overlay::now_unix_ms();
    for (const auto& l : list->leases)
        rows.push_back({l.subnet.str(), l.node, l.public_ip.str(), overlay::backend_name(l.backend),
                        std::to_string((now - l.renewed_ms) / 1000) + "s ago",
                        std::to_string((l.expiration_ms - now) / 1000) + "s"});
    std::cout << format_table(rows);
    return exit_ok;
}

std::string ago(int64_t now_ms, int64_t then_ms) {
    return std::to_string((now_ms - then_ms) / 1000) + "s ago";
}

// This node's lease and, per other node, whether the kernel holds what reaches its pods.
int overlay_status(Context& ctx, Args args) {
    static const OptionSpec specs[] = {{"network-config", 0, true},
                                       {"store", 0, true},
                                       {"public-ip", 0, true},
                                       {"iface", 0, true},
                                       {"json", 0, false}};
    auto parsed = parse_args(args, specs, "overlay status");
    if (!parsed) return usage_error(parsed.error().message);
    if (!parsed->positionals.empty())
        return usage_error(
            "usage: podnet overlay status [--network-config FILE] [--store SPEC] "
            "[--public-ip IP] [--iface IF] [--json]");
    auto node = open_node(ctx, *parsed);
    if (!node) return report(node.error());
    auto status = overlay::node_overlay_status(node->config, node->facts.public_ip,
                                               node->facts.iface, *node->store, node->netlink);
    if (!status) return report(status.error());
    for (const auto& w : status->warnings) std::cerr << "podnet: skipped " << w << "\n";
    if (parsed->has("json")) {
        std::cout << overlay::node_overlay_status_json(*status).dump(2) << "\n";
        return exit_ok;
    }
    int64_t now = overlay::now_unix_ms();
    std::cout << "node " << node->facts.node << " " << status->public_ip.str() << " on "
              << status->underlay << ", backend " << overlay::backend_name(status->backend)
              << ", network " << node->config.network.str() << "\n";
    if (status->own)
        std::cout << "lease " << status->own->subnet.str() << ", renewed "
                  << ago(now, status->own->renewed_ms) << ", expires in "
                  << (status->own->expiration_ms - now) / 1000 << "s\n";
    else
        std::cout << "lease: none (is the agent running?)\n";
    std::vector<std::vector<std::string>> rows = {
        {"SUBNET", "NODE", "PUBLIC-IP", "RENEWED", "KERNEL", "READY"}};
    for (const auto& p : status->peers) {
        std::string kernel = p.direct ? "direct route" : "route";
        if (!p.route) kernel = "no " + kernel;
        if (p.neighbour) kernel += *p.neighbour ? ", neighbour" : ", no neighbour";
        if (p.fdb) kernel += *p.fdb ? ", fdb" : ", no fdb";
        rows.push_back({p.lease.subnet.str(), p.lease.node, p.lease.public_ip.str(),
                        ago(now, p.lease.renewed_ms), kernel, p.ready() ? "yes" : "no"});
    }
    std::cout << format_table(rows);
    for (const auto& r : status->stale_routes) std::cout << "stale route: " << r << "\n";
    return exit_ok;
}

int lab_up(Context& ctx, Args args) {
    static const OptionSpec specs[] = {{"nodes", 0, true},           {"backend", 0, true},
                                       {"store", 0, true},           {"cluster-cidr", 0, true},
                                       {"direct-routing", 0, false}, {"json", 0, false}};
    auto parsed = parse_args(args, specs, "lab up");
    if (!parsed) return usage_error(parsed.error().message);
    overlay::LabOptions options;
    options.root = ctx.config.run_root;
    options.podnet_binary = self_binary();
    options.nodes = std::atoi(parsed->value("nodes", "3").c_str());
    auto backend = overlay::parse_backend(parsed->value("backend", "vxlan"));
    if (!backend) return report(backend.error().wrap("--backend"));
    options.backend = *backend;
    options.store = parsed->value("store", "file");
    options.direct_routing = parsed->has("direct-routing");
    if (parsed->has("cluster-cidr")) {
        auto cidr = parse_prefix(parsed->value("cluster-cidr"), true);
        if (!cidr) return report(cidr.error().wrap("--cluster-cidr"));
        options.cluster = *cidr;
    }
    if (::geteuid() != 0) return report(Error{"podnet lab needs root (namespaces)"});
    options.progress = lab_progress;
    auto status = overlay::lab_up(options);
    if (!status) return report(status.error());
    if (parsed->has("json")) {
        std::cout << overlay::lab_status_json(*status).dump(2) << "\n";
    } else {
        for (const auto& n : status->nodes)
            std::cout << n.name << " " << n.public_ip << " " << n.subnet << "\n";
    }
    return exit_ok;
}

int lab_status(Context& ctx, Args args) {
    static const OptionSpec specs[] = {{"json", 0, false}};
    auto parsed = parse_args(args, specs, "lab status");
    if (!parsed) return usage_error(parsed.error().message);
    auto status = overlay::lab_status(ctx.config.run_root);
    if (!status) return report(status.error());
    if (parsed->has("json")) {
        std::cout << overlay::lab_status_json(*status).dump(2) << "\n";
        return exit_ok;
    }
    std::cout << "backend " << status->backend << ", cluster " << status->cluster << ", store "
              << status->store << "\n";
    std::vector<std::vector<std::string>> rows = {
        {"NODE", "PUBLIC-IP", "SUBNET", "AGENT", "READY"}};
    for (const auto& n : status->nodes)
        rows.push_back(
            {n.name, n.public_ip, n.subnet.empty() ? "-" : n.subnet,
             n.agent_running ? "running (" + std::to_string(n.agent_pid) + ")" : "stopped",
             n.ready ? "yes" : "no"});
    std::cout << format_table(rows);
    for (const auto& w : status->warnings) std::cerr << "podnet: skipped " << w << "\n";
    return exit_ok;
}

int lab_exec(Context& ctx, Args args) {
    if (args.size() < 3 || args[1] != "--")
        return usage_error("usage: podnet lab exec NODE -- COMMAND ARGS...");
    auto node = overlay::lab_node(ctx.config.run_root, args[0]);
    if (!node) return report(node.error());
    auto ns = open_namespace(node->netns);
    if (!ns) return report(ns.error());
    if (::setns(ns->get(), CLONE_NEWNET) != 0)
        return report(Error{std::string("enter ") + node->name + ": " + std::strerror(errno)});
    // `podnet` inside sees the node's state and config: PODNET_ROOT and PODNET_CONFIG stand
    // in for --root and --config.
    ::setenv("PODNET_ROOT", node->root.c_str(), 1);
    ::setenv("PODNET_CONFIG", node->config.c_str(), 1);
    std::vector<std::string> argv(args.begin() + 2, args.end());
    if (argv[0] == "podnet") argv[0] = self_binary();
    std::vector<char*> raw;
    for (auto& a : argv) raw.push_back(a.data());
    raw.push_back(nullptr);
    ::execvp(raw[0], raw.data());
    return report(Error{"exec " + argv[0] + ": " + std::strerror(errno)}, 127);
}

int lab_down(Context& ctx, Args args) {
    if (!args.empty()) return usage_error("usage: podnet lab down");
    auto r = overlay::lab_down(ctx.config.run_root, self_binary(), lab_progress);
    if (!r) return report(r.error());
    // Idempotent, as `kind delete cluster`: no lab is success, said on stderr.
    if (!*r) std::cerr << "lab: no lab under " << ctx.config.run_root << "\n";
    return exit_ok;
}

int lab_agent(Context& ctx, Args args, bool stop, bool start) {
    if (args.size() != 1) return usage_error("usage: podnet lab stop|start|restart NODE|etcd");
    if (stop) {
        if (auto r = overlay::lab_restart_agent(ctx.config.run_root, args[0], self_binary(), start);
            !r)
            return report(r.error());
        return exit_ok;
    }
    if (args[0] != "etcd") {
        auto node = overlay::lab_node(ctx.config.run_root, args[0]);
        if (!node) return report(node.error());
        if (node->agent_running) return exit_ok;
    }
    if (auto r = overlay::lab_restart_agent(ctx.config.run_root, args[0], self_binary(), true); !r)
        return report(r.error());
    return exit_ok;
}

// podnet overlay release SUBNET: a node leaving for good (flannel keeps a stopped node's lease
// until it expires; this ends it at once).
int overlay_release(Context& ctx, Args args) {
    static const OptionSpec specs[] = {{"network-config", 0, true}, {"store", 0, true}};
    auto parsed = parse_args(args, specs, "overlay release");
    if (!parsed) return usage_error(parsed.error().message);
    if (parsed->positionals.size() != 1)
        return usage_error(
            "usage: podnet overlay release SUBNET [--network-config FILE] [--store SPEC]");
    auto subnet = parse_prefix(parsed->positionals[0], true);
    if (!subnet) return report(subnet.error());
    auto config = network_config(ctx, *parsed);
    if (!config) return report(config.error());
    auto store = open_store(parsed->value("store", ctx.config.effective_overlay_store()), *config);
    if (!store) return report(store.error());
    if (auto r = (*store)->release(*subnet); !r) return report(r.error());
    return exit_ok;
}

}  // namespace

int cmd_overlay(Context& ctx, Args args) {
    if (!args.empty() && args[0] == "agent") return overlay_agent(ctx, args.subspan(1));
    if (!args.empty() && args[0] == "leases") return overlay_leases(ctx, args.subspan(1));
    if (!args.empty() && args[0] == "status") return overlay_status(ctx, args.subspan(1));
    if (!args.empty() && args[0] == "release") return overlay_release(ctx, args.subspan(1));
    return usage_error("usage: podnet overlay agent|status|leases|release ...");
}

int cmd_lab(Context& ctx, Args args) {
    if (args.empty()) return usage_error("usage: podnet lab up|exec|status|down ...");
    Args rest = args.subspan(1);
    if (args[0] == "up") return lab_up(ctx, rest);
    if (args[0] == "status") return lab_status(ctx, rest);
    if (args[0] == "exec") return lab_exec(ctx, rest);
    if (args[0] == "down") return lab_down(ctx, rest);
    if (args[0] == "stop") return lab_agent(ctx, rest, true, false);
    if (args[0] == "start") return lab_agent(ctx, rest, false, true);
    if (args[0] == "restart") return lab_agent(ctx, rest, true, true);
    return usage_error("usage: podnet lab up|exec|status|down ...");
}

}  // namespace podnet::cli
