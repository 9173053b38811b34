#include "overlay/lab.hpp"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <future>
#include <optional>
#include <set>
#include <thread>

#include "common/config.hpp"
#include "common/fs.hpp"
#include "common/process.hpp"
#include "netns/namespace.hpp"
#include "netns/netlink.hpp"
#include "overlay/agent.hpp"
#include "overlay/etcd_store.hpp"
#include "overlay/file_store.hpp"

namespace podnet::overlay {

namespace {

constexpr const char* underlay_bridge = "pnlab0";
constexpr const char* lab_side_address = "192.168.100.254/24";

std::string lab_dir(const std::string& root) {
    return root + "/lab";
}
std::string node_dir(const std::string& root, const std::string& node) {
    return lab_dir(root) + "/nodes/" + node;
}
std::string node_ip(int k) {
    return "192.168.100." + std::to_string(k);
}

// A new network namespace pinned at `pin`, made on a thread of its own (the caller never moves).
Result<void> make_pinned_netns(const std::string& pin) {
    std::promise<Result<void>> done;
    std::thread([&] {
        if (::unshare(CLONE_NEWNET) != 0) {
            done.set_value(fail_errno("new network namespace", errno));
            return;
        }
        int fd = ::open(pin.c_str(), O_CREAT | O_RDONLY | O_CLOEXEC, 0444);
        if (fd < 0) {
            done.set_value(fail_errno("create " + pin, errno));
            return;
        }
        ::close(fd);
        if (::mount("/proc/thread-self/ns/net", pin.c_str(), nullptr, MS_BIND, nullptr) != 0)
            done.set_value(fail_errno("pin network namespace at " + pin, errno));
        else
            done.set_value({});
    }).join();
    return done.get_future().get();
}

// Runs argv inside the node's network namespace as a detached process (own session, output to
// `log`); returns its pid.
Result<pid_t> spawn_in_node(const std::string& pin, const std::vector<std::string>& argv,
                            const std::string& log) {
    UniqueFd ns(::open(pin.c_str(), O_RDONLY | O_CLOEXEC));
    if (!ns) return fail_errno("open " + pin, errno);
    pid_t pid = ::fork();
    if (pid < 0) return fail_errno("fork", errno);
    if (pid == 0) {
        if (::setns(ns.get(), CLONE_NEWNET) != 0) ::_exit(126);
        ::setsid();
        int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        int in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (out < 0 || in < 0) ::_exit(126);
        ::dup2(in, 0);
        ::dup2(out, 1);
        ::dup2(out, 2);
        std::vector<char*> args;
        for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        ::execv(args[0], args.data());
        ::_exit(127);
    }
    return pid;
}

constexpr const char* etcd_client_url = "http://192.168.100.254:2379";

// The lease store the lab's agents use, as `--store` spells it.
std::string store_spec(const std::string& root, const std::string& kind) {
    if (kind == "etcd") return std::string("etcd:") + etcd_client_url;
    return "file:" + lab_dir(root) + "/leases.json";
}

// etcd for the lab (`--store etcd`), in the lab's own namespace on the underlay, where every
// node reaches it; data under LAB/etcd, pid in LAB/etcd.json.
Result<void> start_etcd(const std::string& root) {
    std::string lab = lab_dir(root);
    UniqueFd here(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
    if (!here) return fail_errno("lab: open own network namespace", errno);
    pid_t pid = ::fork();
    if (pid < 0) return fail_errno("lab: fork etcd", errno);
    if (pid == 0) {
        ::setsid();
        int out = ::open((lab + "/etcd.log").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
        int in = ::open("/dev/null", O_RDONLY);
        if (out < 0 || in < 0) ::_exit(126);
        ::dup2(in, 0);
        ::dup2(out, 1);
        ::dup2(out, 2);
        std::string data = lab + "/etcd";
        ::execl("/usr/bin/etcd", "etcd", "--name", "lab", "--data-dir", data.c_str(),
                "--listen-client-urls", etcd_client_url, "--advertise-client-urls", etcd_client_url,
                "--listen-peer-urls", "http://127.0.0.1:23800", "--initial-advertise-peer-urls",
                "http://127.0.0.1:23800", "--initial-cluster", "lab=http://127.0.0.1:23800",
                nullptr);
        ::_exit(127);
    }
    auto stat = read_proc_stat(pid);
    nlohmann::json record = {{"pid", pid}, {"start_time", stat ? stat->start_time : 0}};
    return write_file_atomic(lab + "/etcd.json", record.dump() + "\n", 0644);
}

std::optional<std::pair<pid_t, uint64_t>> etcd_process(const std::string& root) {
    auto text = read_file(lab_dir(root) + "/etcd.json");
    if (!text) return std::nullopt;
    auto doc = nlohmann::json::parse(*text, nullptr, false);
    if (doc.is_discarded()) return std::nullopt;
    return std::pair{doc.value("pid", 0), doc.value("start_time", uint64_t{0})};
}

void stop_process(pid_t pid, uint64_t start_time) {
    if (pid <= 0 || !process_running(pid, start_time)) return;
    ::kill(pid, SIGTERM);
    for (int i = 0; i < 300 && process_running(pid, start_time); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (process_running(pid, start_time)) ::kill(pid, SIGKILL);
}

// The node's podnet.toml: its state under root/, and its [overlay] — so the agent, and any
// `lab exec NODE -- podnet overlay ...`, need no flags.
Result<void> write_node_config(const std::string& root, int k, const OverlayConfig& net,
                               const std::string& store) {
    std::string dir = node_dir(root, "node" + std::to_string(k));
    Config config;
    place_under_root(config, dir + "/root");
    OverlaySettings& o = config.overlay;
    o.network = net.network.str();
    o.subnet_len = net.subnet_len;
    o.backend = backend_name(net.backend);
    o.vni = net.vni;
    o.direct_routing = net.direct_routing;
    o.store = store;
    o.public_ip = node_ip(k);
    o.iface = "eth0";
    o.node = "node" + std::to_string(k);
    return write_file_atomic(dir + "/podnet.toml", config_to_toml(config), 0644);
}

// The node's agent, detached, its pid and start time in agent.json.
Result<void> start_agent(const std::string& root, int k, const std::string& podnet) {
    std::string name = "node" + std::to_string(k);
    std::string dir = node_dir(root, name);
    // --root as well as --config: a PODNET_ROOT in the caller's environment must not pull the
    // agent's state out of the node.
    auto pid = spawn_in_node(
        dir + "/net",
        {podnet, "--root", dir + "/root", "--config", dir + "/podnet.toml", "overlay", "agent"},
        dir + "/agent.log");
    if (!pid) return std::unexpected(pid.error());
    auto stat = read_proc_stat(*pid);
    nlohmann::json agent = {{"pid", *pid}, {"start_time", stat ? stat->start_time : 0}};
    return write_file_atomic(dir + "/agent.json", agent.dump() + "\n", 0644);
}

Result<nlohmann::json> read_lab(const std::string& root) {
    auto text = read_file(lab_dir(root) + "/lab.json");
    if (!text) return fail("no lab under " + root + " (podnet lab up first)");
    auto doc = nlohmann::json::parse(*text, nullptr, false);
    if (doc.is_discarded()) return fail(lab_dir(root) + "/lab.json: not valid JSON");
    return doc;
}

Result<OverlayConfig> lab_config(const std::string& root) {
    auto text = read_file(lab_dir(root) + "/net.json");
    if (!text) return std::unexpected(text.error());
    return parse_flannel_json(*text, lab_dir(root) + "/net.json");
}

}  // namespace

namespace {

// The lab's underlay, etcd, nodes and agents, once lab.json is written; ready when it returns.
Result<LabStatus> build_lab(const LabOptions& o, const OverlayConfig& config) {
    auto host = NetlinkSocket::open_current();
    if (!host) return wrap(host.error(), "lab");
    Result<void> r = host->create_bridge(underlay_bridge, 0);
    if (r) r = host->add_address(underlay_bridge, *parse_prefix(lab_side_address, false));
    if (r) r = host->set_up(underlay_bridge);
    if (!r) return wrap(r.error(), "lab: underlay");
    if (o.store == "etcd") {
        if (auto e = start_etcd(o.root); !e) return std::unexpected(e.error());
        EtcdLeaseStore probe({etcd_client_url}, std::string(default_etcd_prefix), config, 500);
        auto etcd = etcd_process(o.root);
        bool ready = false;
        for (int i = 0; i < 200 && !ready; ++i) {
            ready = probe.list().has_value();
            if (ready) break;
            if (!etcd || !process_running(etcd->first, etcd->second)) {
                auto log = read_file(lab_dir(o.root) + "/etcd.log");
                std::string tail = log ? log->substr(log->size() > 200 ? log->size() - 200 : 0)
                                       : std::string("no log");
                while (!tail.empty() && tail.back() == '\n') tail.pop_back();
                return fail("lab: etcd stopped: " + tail.substr(tail.rfind('\n') + 1));
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        if (!ready) return fail("lab: etcd did not answer at " + std::string(etcd_client_url));
    }

    for (int k = 1; k <= o.nodes; ++k) {
        std::string name = "node" + std::to_string(k);
        std::string dir = node_dir(o.root, name);
        std::string context = "lab: " + name;
        if (auto m = make_dirs(dir + "/root", 0755); !m) return wrap(m.error(), context);
        if (auto m = make_pinned_netns(dir + "/net"); !m) return wrap(m.error(), context);
        auto ns = open_namespace(dir + "/net");
        if (!ns) return wrap(ns.error(), context);
        std::string veth = "pnlab" + std::to_string(k);
        r = host->create_veth(veth, "eth0", ns->get(), 0);
        if (r) r = host->set_master(veth, underlay_bridge);
        if (r) r = host->set_up(veth);
        if (!r) return wrap(r.error(), context);
        auto inside = NetlinkSocket::open_in(ns->get());
        if (!inside) return wrap(inside.error(), context);
        r = inside->set_up("lo");
        if (r) r = inside->add_address("eth0", *parse_prefix(node_ip(k) + "/24", false));
        if (r) r = inside->set_up("eth0");
        if (!r) return wrap(r.error(), context);
        if (auto c = write_node_config(o.root, k, config, store_spec(o.root, o.store)); !c)
            return wrap(c.error(), context);
        if (auto a = start_agent(o.root, k, o.podnet_binary); !a) return wrap(a.error(), context);
    }
    auto say = [&](const std::string& line) {
        if (o.progress) o.progress(line);
    };
    say(std::to_string(o.nodes) + (o.nodes == 1 ? " node" : " nodes") + " started (" +
        backend_name(config.backend) + ", " + config.network.str() + ", store " + o.store +
        "); waiting for their leases");
    std::set<std::string> announced;

    // Ready when every node holds a lease, its pod network uses it, and it has reconciled.
    int timeout_ms = o.timeout_ms > 0 ? o.timeout_ms : 15000 + 500 * o.nodes;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
        auto status = lab_status(o.root);
        if (!status) return std::unexpected(status.error());
        size_t ready = 0;
        for (const auto& n : status->nodes) {
            if (!n.agent_running) {
                auto log = read_file(node_dir(o.root, n.name) + "/agent.log");
                return fail("lab: the agent of " + n.name + " stopped: " +
                            (log ? log->substr(log->size() > 300 ? log->size() - 300 : 0)
                                 : std::string("no log")));
            }
            if (n.ready) {
                ++ready;
                if (announced.insert(n.name).second) say(n.name + " up (" + n.subnet + ")");
            }
        }
        if (ready == status->nodes.size()) return status;
        if (std::chrono::steady_clock::now() > deadline)
            return fail("lab: only " + std::to_string(ready) + " of " +
                        std::to_string(status->nodes.size()) +
                        " nodes hold a lease and use it after " + std::to_string(timeout_ms) +
                        " ms");
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
}

}  // namespace

Result<LabStatus> lab_up(const LabOptions& o) {
    if (o.nodes < 1 || o.nodes > 200) return fail("lab: --nodes must be 1-200");
    if (o.store != "file" && o.store != "etcd")
        return fail("lab: unknown store \"" + o.store + "\" (file or etcd)");
    std::string lab = lab_dir(o.root);
    if (path_exists(lab + "/lab.json"))
        return fail("lab: a lab already exists under " + o.root + " (podnet lab down first)");
    if (auto host = NetlinkSocket::open_current();
        host && host->link_exists(underlay_bridge).value_or(false))
        return fail("lab: link " + std::string(underlay_bridge) +
                    " already exists (a lab under another --root?)");
    OverlayConfig config;
    config.network =
        o.cluster.address.family != 0 ? o.cluster : *parse_prefix("10.244.0.0/16", true);
    config.backend = o.backend;
    config.direct_routing = o.direct_routing;
    if (o.direct_routing && o.backend != Backend::vxlan)
        return fail("lab: --direct-routing is a vxlan option");
    auto finished = finish_config(config);
    if (!finished) return wrap(finished.error(), "lab");
    nlohmann::json net = {{"Network", finished->network.str()},
                          {"SubnetLen", finished->subnet_len},
                          {"Backend",
                           {{"Type", backend_name(o.backend)},
                            {"VNI", finished->vni},
                            {"DirectRouting", o.direct_routing}}}};
    if (finished->capacity() < static_cast<uint64_t>(o.nodes))
        return fail("lab: " + finished->network.str() + " has room for " +
                    std::to_string(finished->capacity()) + " nodes, not " +
                    std::to_string(o.nodes));
    if (auto r = make_dirs(lab + "/nodes", 0755); !r) return std::unexpected(r.error());
    nlohmann::json record = {{"nodes", o.nodes},
                             {"backend", backend_name(o.backend)},
                             {"cluster", finished->network.str()},
                             {"underlay", underlay_bridge},
                             {"store", o.store}};
    if (auto r = write_file_atomic(lab + "/net.json", net.dump(2) + "\n", 0644); !r)
        return std::unexpected(r.error());
    if (auto r = write_file_atomic(lab + "/lab.json", record.dump(2) + "\n", 0644); !r)
        return std::unexpected(r.error());

    // From here on the lab exists: a failure takes down what was built, so a failed `lab up`
    // leaves nothing behind (and the error is the one that stopped it).
    auto built = build_lab(o, *finished);
    if (!built)
        if (auto down = lab_down(o.root, o.podnet_binary, nullptr); !down)
            return wrap(built.error(), "lab (and lab down: " + down.error().message + ")");
    return built;
}

Result<LabStatus> lab_status(const std::string& root) {
    auto lab = read_lab(root);
    if (!lab) return std::unexpected(lab.error());
    auto config = lab_config(root);
    if (!config) return std::unexpected(config.error());
    LabStatus status;
    status.backend = lab->value("backend", "");
    status.cluster = lab->value("cluster", "");
    status.store = lab->value("store", "file");
    std::unique_ptr<LeaseStore> store;
    if (status.store == "etcd")
        store = std::make_unique<EtcdLeaseStore>(std::vector<std::string>{etcd_client_url},
                                                 std::string(default_etcd_prefix), *config, 500);
    else
        store = std::make_unique<FileLeaseStore>(lab_dir(root) + "/leases.json", *config);
    auto leases = store->list();
    if (!leases) status.warnings.push_back("leases: " + leases.error().message);
    if (leases)
        for (const auto& w : leases->warnings) status.warnings.push_back(w);
    int nodes = lab->value("nodes", 0);
    for (int k = 1; k <= nodes; ++k) {
        LabNode n;
        n.name = "node" + std::to_string(k);
        n.public_ip = node_ip(k);
        n.netns = node_dir(root, n.name) + "/net";
        n.root = node_dir(root, n.name) + "/root";
        n.config = node_dir(root, n.name) + "/podnet.toml";
        if (auto text = read_file(node_dir(root, n.name) + "/agent.json")) {
            auto agent = nlohmann::json::parse(*text, nullptr, false);
            if (!agent.is_discarded()) {
                n.agent_pid = agent.value("pid", 0);
                n.agent_running =
                    n.agent_pid > 0 &&
                    process_running(n.agent_pid, agent.value("start_time", uint64_t{0}));
            }
        }
        if (leases)
            for (const auto& l : leases->leases)
                if (l.public_ip.str() == n.public_ip) n.subnet = l.subnet.str();
        if (auto record = read_agent_record(agent_record_path(n.root + "/run")))
            n.ready = n.agent_running && record->pid == n.agent_pid && !n.subnet.empty() &&
                      record->subnet == n.subnet && record->peers >= 0;
        status.nodes.push_back(n);
    }
    return status;
}

Result<void> lab_restart_agent(const std::string& root, const std::string& node,
                               const std::string& podnet_binary, bool start) {
    if (node == "etcd") {
        auto lab = read_lab(root);
        if (!lab) return std::unexpected(lab.error());
        if (lab->value("store", "file") != "etcd") return fail("lab: this lab has no etcd");
        if (auto p = etcd_process(root)) stop_process(p->first, p->second);
        if (!start) return {};
        return start_etcd(root);
    }
    auto n = lab_node(root, node);
    if (!n) return std::unexpected(n.error());
    if (n->agent_running) {
        ::kill(n->agent_pid, SIGTERM);
        for (int i = 0; i < 300 && process_running(n->agent_pid, 0); ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        if (process_running(n->agent_pid, 0))
            return fail("lab: the agent of " + node + " ignored SIGTERM");
    }
    if (!start) return {};
    if (auto r = start_agent(root, std::atoi(node.c_str() + 4), podnet_binary); !r)
        return wrap(r.error(), "lab: " + node);
    for (int i = 0; i < 1000; ++i) {
        auto again = lab_node(root, node);
        if (again && again->ready) return {};
        if (again && !again->agent_running) return fail("lab: the agent of " + node + " stopped");
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return fail("lab: " + node +
                " is not ready (lease, pod network, routes) 10 s after its agent started");
}

Result<LabNode> lab_node(const std::string& root, const std::string& node) {
    auto status = lab_status(root);
    if (!status) return std::unexpected(status.error());
    for (const auto& n : status->nodes)
        if (n.name == node) return n;
    return fail("lab: no node \"" + node + "\" (node1 ... node" +
                std::to_string(status->nodes.size()) + ")");
}

Result<bool> lab_down(const std::string& root, const std::string& podnet_binary,
                      const std::function<void(const std::string&)>& progress) {
    // No lab.json: no lab (lab up writes it before it builds anything).
    if (!path_exists(lab_dir(root) + "/lab.json")) return false;
    auto status = lab_status(root);
    if (!status) return std::unexpected(status.error());
    std::vector<std::string> errors;
    for (const auto& n : status->nodes) {
        if (progress) progress(n.name + " down");
        if (n.agent_running) {
            ::kill(n.agent_pid, SIGTERM);
            for (int i = 0; i < 300 && process_running(n.agent_pid, 0); ++i)
                std::this_thread::sleep_for(std::chrono::milliseconds(10));
            if (process_running(n.agent_pid, 0)) ::kill(n.agent_pid, SIGKILL);
        }
        // The node's sandboxes: their pause processes live outside the namespace's life.
        if (path_exists(n.netns) && is_namespace_pin(n.netns)) {
            std::string p = podnet_binary + " --root " + n.root;
            auto pid = spawn_in_node(
                n.netns, {"/bin/sh", "-c", p + " sandbox ls -q | xargs -r " + p + " sandbox rm -f"},
                node_dir(root, n.name) + "/down.log");
            if (pid) {
                int st = 0;
                ::waitpid(*pid, &st, 0);
            } else {
                errors.push_back(pid.error().message);
            }
        }
    }
    if (auto p = etcd_process(root)) stop_process(p->first, p->second);
    auto host = NetlinkSocket::open_current();
    for (size_t k = 1; k <= status->nodes.size(); ++k) {
        if (host)
            if (auto r = host->delete_link("pnlab" + std::to_string(k)); !r)
                errors.push_back(r.error().message);
        // Unpinning ends the namespace, and with it the node's VTEP, bridge and nft tables.
        if (auto r = unpin_namespace(status->nodes[k - 1].netns); !r)
            errors.push_back(r.error().message);
    }
    if (host)
        if (auto r = host->delete_link(underlay_bridge); !r) errors.push_back(r.error().message);
    if (auto r = remove_tree(lab_dir(root)); !r) errors.push_back(r.error().message);
    if (!errors.empty()) {
        std::string all = "lab down:";
        for (const auto& e : errors) all += " " + e + ";";
        return fail(all);
    }
    return true;
}

nlohmann::json lab_status_json(const LabStatus& s) {
    nlohmann::json nodes = nlohmann::json::array();
    for (const auto& n : s.nodes)
        nodes.push_back({{"name", n.name},
                         {"public_ip", n.public_ip},
                         {"subnet", n.subnet},
                         {"agent_pid", n.agent_pid},
                         {"agent_running", n.agent_running},
                         {"ready", n.ready},
                         {"root", n.root},
                         {"config", n.config},
                         {"netns", n.netns}});
    return {{"backend", s.backend},
            {"cluster", s.cluster},
            {"store", s.store},
            {"nodes", nodes},
            {"warnings", s.warnings}};
}

}  // namespace podnet::overlay
