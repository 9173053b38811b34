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

Result<overlay::OverlayConfig> load_network_config(const std::string& path) {
    auto text = read_file(path);
    if (!text) return std::unexpected(text.error());
    return overlay::parse_flannel_json(*text, path);
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
    if (!parsed->has("network-config") || !parsed->has("store") || !parsed->has("public-ip") ||
        !parsed->has("iface"))
        return usage_error(
            "usage: podnet overlay agent --network-config FILE --store file:PATH --public-ip IP "
            "--iface IF [--node NAME] [--ttl S]");
    auto config = load_network_config(parsed->value("network-config"));
    if (!config) return report(config.error());
    auto store = open_store(parsed->value("store"), *config);
    if (!store) return report(store.error());
    auto public_ip = parse_ip(parsed->value("public-ip"));
    if (!public_ip) return report(public_ip.error().wrap("--public-ip"));
    overlay::AgentOptions options;
    options.config = *config;
    options.local.public_ip = *public_ip;
    options.local.underlay = parsed->value("iface");
    auto mtu = link_mtu(options.local.underlay);
    if (!mtu) return report(mtu.error());
    options.local.underlay_mtu = *mtu;
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    options.node = parsed->value("node", host);
    if (parsed->has("ttl")) options.ttl_seconds = std::atoi(parsed->value("ttl").c_str());
    if (options.ttl_seconds < 3) return usage_error("--ttl: at least 3 seconds");
    options.log = log_line;
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
        return (*nft)->run(overlay::masquerade_script(options.config.network));
    };
    auto netlink = NetlinkSocket::open_current();
    if (!netlink) return report(netlink.error());
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    ::sigaction(SIGTERM, &sa, nullptr);
    ::sigaction(SIGINT, &sa, nullptr);
    log_line("starting: node " + options.node + ", " + options.local.public_ip.str() + " on " +
             options.local.underlay + ", backend " + overlay::backend_name(config->backend) +
             ", network " + config->network.str());
    auto r = overlay::run_agent(options, **store, *netlink, stop_requested);
    if (!r) return report(r.error());
    return exit_ok;
}

int overlay_leases(Args args) {
    static const OptionSpec specs[] = {
        {"network-config", 0, true}, {"store", 0, true}, {"json", 0, false}};
    auto parsed = parse_args(args, specs, "overlay leases");
    if (!parsed) return usage_error(parsed.error().message);
    if (!parsed->has("network-config") || !parsed->has("store"))
        return usage_error(
            "usage: podnet overlay leases --network-config FILE --store file:PATH [--json]");
    auto config = load_network_config(parsed->value("network-config"));
    if (!config) return report(config.error());
    auto store = open_store(parsed->value("store"), *config);
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

int lab_up(Context& ctx, Args args) {
    static const OptionSpec specs[] = {{"nodes", 0, true},
                                       {"backend", 0, true},
                                       {"store", 0, true},
                                       {"cluster-cidr", 0, true},
                                       {"json", 0, false}};
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
    if (parsed->has("cluster-cidr")) {
        auto cidr = parse_prefix(parsed->value("cluster-cidr"), true);
        if (!cidr) return report(cidr.error().wrap("--cluster-cidr"));
        options.cluster = *cidr;
    }
    if (::geteuid() != 0) return report(Error{"podnet lab needs root (namespaces)"});
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
    std::vector<std::vector<std::string>> rows = {{"NODE", "PUBLIC-IP", "SUBNET", "AGENT"}};
    for (const auto& n : status->nodes)
        rows.push_back(
            {n.name, n.public_ip, n.subnet.empty() ? "-" : n.subnet,
             n.agent_running ? "running (" + std::to_string(n.agent_pid) + ")" : "stopped"});
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
    // `podnet` inside sees the node's state: PODNET_ROOT stands in for --root.
    ::setenv("PODNET_ROOT", node->root.c_str(), 1);
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
    if (auto r = overlay::lab_down(ctx.config.run_root, self_binary()); !r)
        return report(r.error());
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
int overlay_release(Args args) {
    static const OptionSpec specs[] = {{"network-config", 0, true}, {"store", 0, true}};
    auto parsed = parse_args(args, specs, "overlay release");
    if (!parsed) return usage_error(parsed.error().message);
    if (parsed->positionals.size() != 1 || !parsed->has("network-config") || !parsed->has("store"))
        return usage_error(
            "usage: podnet overlay release SUBNET --network-config FILE --store file:PATH");
    auto subnet = parse_prefix(parsed->positionals[0], true);
    if (!subnet) return report(subnet.error());
    auto config = load_network_config(parsed->value("network-config"));
    if (!config) return report(config.error());
    auto store = open_store(parsed->value("store"), *config);
    if (!store) return report(store.error());
    if (auto r = (*store)->release(*subnet); !r) return report(r.error());
    return exit_ok;
}

}  // namespace

int cmd_overlay(Context& ctx, Args args) {
    if (!args.empty() && args[0] == "agent") return overlay_agent(ctx, args.subspan(1));
    if (!args.empty() && (args[0] == "leases" || args[0] == "status"))
        return overlay_leases(args.subspan(1));
    if (!args.empty() && args[0] == "release") return overlay_release(args.subspan(1));
    return usage_error("usage: podnet overlay agent|leases|status ...");
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
