#include "sandbox/policy_probe.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "common/unique_fd.hpp"
#include "netns/namespace.hpp"
#include "netns/netlink.hpp"

namespace podnet {

namespace {

using policy::Protocol;

// ---- the world ------------------------------------------------------------------------------

int build_world_and_run(const std::function<int()>& body) {
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return 125;
    if (::mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0)
        return 125;
    if (::mount("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=755") != 0) return 125;
    auto nl = NetlinkSocket::open_current();
    if (!nl || !nl->set_up("lo")) return 125;
    return body();
}

// ---- servers --------------------------------------------------------------------------------

struct ServedPort {
    Protocol protocol;
    uint16_t port;
    auto operator<=>(const ServedPort&) const = default;
};

// TCP and UDP servers inside one network namespace, on a thread of their own: TCP clients get
// "ok" and the connection is closed; UDP datagrams are answered with "ok".
class Server {
  public:
    Result<void> start(int netns_fd, const std::set<ServedPort>& ports) {
        stop_.reset(::eventfd(0, EFD_CLOEXEC));
        if (!stop_) return fail_errno("eventfd", errno);
        std::promise<Result<void>> ready;
        auto started = ready.get_future();
        thread_ = std::thread([this, netns_fd, ports, &ready] { run(netns_fd, ports, ready); });
        return started.get();
    }
    void stop() {
        if (!thread_.joinable()) return;
        uint64_t one = 1;
        (void)!::write(stop_.get(), &one, sizeof one);
        thread_.join();
    }
    ~Server() { stop(); }

  private:
    void run(int netns_fd, const std::set<ServedPort>& ports, std::promise<Result<void>>& ready) {
        if (::setns(netns_fd, CLONE_NEWNET) != 0) {
            ready.set_value(fail_errno("server: enter network namespace", errno));
            return;
        }
        UniqueFd ep(::epoll_create1(EPOLL_CLOEXEC));
        std::vector<UniqueFd> sockets;
        std::set<int> listeners;
        for (const auto& p : ports) {
            if (p.protocol == Protocol::sctp) continue;  // no SCTP sockets here (see probe)
            bool tcp = p.protocol == Protocol::tcp;
            UniqueFd fd(::socket(AF_INET, (tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC, 0));
            int one = 1;
            ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
            sockaddr_in addr{};
            addr.sin_family = AF_INET;
            addr.sin_port = htons(p.port);
            if (!fd || ::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
                (tcp && ::listen(fd.get(), 128) != 0)) {
                ready.set_value(fail_errno("server: bind port " + std::to_string(p.port), errno));
                return;
            }
            epoll_event ev{};
            ev.events = EPOLLIN;
            ev.data.fd = fd.get();
            ::epoll_ctl(ep.get(), EPOLL_CTL_ADD, fd.get(), &ev);
            if (tcp) listeners.insert(fd.get());
            sockets.push_back(std::move(fd));
        }
        epoll_event stop_ev{};
        stop_ev.events = EPOLLIN;
        stop_ev.data.fd = stop_.get();
        ::epoll_ctl(ep.get(), EPOLL_CTL_ADD, stop_.get(), &stop_ev);
        ready.set_value({});
        epoll_event events[32];
        for (;;) {
            int n = ::epoll_wait(ep.get(), events, 32, -1);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) return;
            for (int i = 0; i < n; ++i) {
                int fd = events[i].data.fd;
                if (fd == stop_.get()) return;
                if (listeners.contains(fd)) {
                    UniqueFd client(::accept4(fd, nullptr, nullptr, SOCK_CLOEXEC));
                    if (client) (void)!::write(client.get(), "ok", 2);
                } else {
                    char buf[64];
                    sockaddr_storage from{};
                    socklen_t len = sizeof from;
                    ssize_t got = ::recvfrom(fd, buf, sizeof buf, 0,
                                             reinterpret_cast<sockaddr*>(&from), &len);
                    if (got >= 0) ::sendto(fd, "ok", 2, 0, reinterpret_cast<sockaddr*>(&from), len);
                }
            }
        }
    }

    UniqueFd stop_;
    std::thread thread_;
};

// ---- clients --------------------------------------------------------------------------------

int elapsed_ms(std::chrono::steady_clock::time_point since) {
    return static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::steady_clock::now() - since)
                                .count());
}

// One connection from the calling thread's network namespace.
ProbeObservation connect_once(const IpAddress& to, uint16_t port, Protocol protocol,
                              int timeout_ms) {
    ProbeObservation out;
    bool tcp = protocol == Protocol::tcp;
    UniqueFd fd(
        ::socket(AF_INET, (tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd) {
        out.connected = false;
        out.detail = std::string("socket: ") + std::strerror(errno);
        return out;
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    std::memcpy(&addr.sin_addr, to.bytes.data(), 4);
    auto start = std::chrono::steady_clock::now();
    auto failed = [&](const std::string& why) {
        out.connected = false;
        out.detail = why;
        return out;
    };
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 &&
        errno != EINPROGRESS)
        return failed(std::string("connect: ") + std::strerror(errno));
    if (tcp) {
        pollfd p{fd.get(), POLLOUT, 0};
        if (::poll(&p, 1, timeout_ms) <= 0) return failed("connect: timed out");
        int err = 0;
        socklen_t len = sizeof err;
        ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) return failed(std::string("connect: ") + std::strerror(err));
    }
    // UDP has no handshake: send until an answer, a refusal, or the timeout.
    for (;;) {
        if (!tcp) (void)!::send(fd.get(), "hi", 2, 0);
        int left = timeout_ms - elapsed_ms(start);
        if (left <= 0) return failed(tcp ? "no reply: timed out" : "no answer: timed out");
        pollfd p{fd.get(), POLLIN, 0};
        int ready = ::poll(&p, 1, tcp ? left : std::min(left, 200));
        if (ready == 0 && !tcp) continue;
        if (ready <= 0) return failed("no reply: timed out");
        char buf[8];
        ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
        if (n == 2 && std::memcmp(buf, "ok", 2) == 0) {
            out.connected = true;
            return out;
        }
        return failed(n < 0 ? std::string("reply: ") + std::strerror(errno) : "reply: closed");
    }
}

bool kernel_has_sctp() {
    int fd = ::socket(AF_INET, SOCK_STREAM, IPPROTO_SCTP);
    if (fd < 0) return false;
    ::close(fd);
    return true;
}

// ---- building the scenario ------------------------------------------------------------------

// The smallest prefix holding every pod address with a free first host address (the gateway).
Result<std::pair<IpPrefix, IpAddress>> pod_subnet(const std::vector<IpAddress>& pods) {
    if (pods.empty()) return fail("no pods");
    std::set<IpAddress> used(pods.begin(), pods.end());
    for (int length = 30; length >= 8; --length) {
        IpPrefix candidate{pods.front(), length};
        candidate = candidate.network();
        bool all = true;
        for (const auto& a : pods) all = all && candidate.contains(a);
        if (!all) continue;
        IpAddress gateway = candidate.at(1);
        if (used.contains(gateway) || used.contains(candidate.last()) ||
            used.contains(candidate.network().address))
            continue;
        return std::pair{candidate, gateway};
    }
    return fail("pod addresses are too far apart for one /8 network");
}

std::string sandbox_name(const policy::Pod& pod) {
    return pod.ns + "-" + pod.name;
}

struct ExternalHost {
    IpAddress address;
    UniqueFd netns;
};

// A network namespace of its own for an external address, wired to the node by a veth.
Result<ExternalHost> make_external(const IpAddress& address, int index) {
    ExternalHost host{address, {}};
    std::promise<Result<UniqueFd>> made;
    std::thread([&] {
        if (::unshare(CLONE_NEWNET) != 0) {
            made.set_value(fail_errno("unshare", errno));
            return;
        }
        int fd = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            made.set_value(fail_errno("open netns", errno));
        else
            made.set_value(UniqueFd(fd));
    }).join();
    auto fd = made.get_future().get();
    if (!fd) return wrap(fd.error(), "external host " + address.str());
    host.netns = std::move(*fd);
    std::string link = "pnext" + std::to_string(index);
    std::string context = "external host " + address.str();
    auto node = NetlinkSocket::open_current();
    if (!node) return wrap(node.error(), context);
    auto inside = NetlinkSocket::open_in(host.netns.get());
    if (!inside) return wrap(inside.error(), context);
    auto hop = *parse_ip("169.254.1.1");
    IpPrefix self{address, 32};
    Result<void> r = node->create_veth(link, "eth0", host.netns.get(), 0);
    if (r) r = node->set_up(link);
    if (r) r = node->add_address(link, IpPrefix{hop, 32});
    if (r) r = node->add_route(self, std::nullopt, link);
    if (r) r = inside->set_up("lo");
    if (r) r = inside->set_up("eth0");
    if (r) r = inside->add_address("eth0", self);
    if (r) r = inside->add_route(IpPrefix{hop, 32}, std::nullopt, "eth0");
    if (r) r = inside->add_default_route("eth0", hop);
    if (!r) return wrap(r.error(), context);
    return host;
}

}  // namespace

Result<int> run_in_private_world(const std::function<int()>& body) {
    if (::unshare(CLONE_NEWNET | CLONE_NEWNS | CLONE_NEWPID) != 0)
        return fail_errno("enter a private network, mount and PID namespace", errno);
    pid_t child = ::fork();
    if (child < 0) return fail_errno("fork", errno);
    if (child == 0) {
        // PID 1 of the new PID namespace: when it ends, the kernel ends every pause process.
        int code = build_world_and_run(body);
        std::fflush(nullptr);
        ::_exit(code);
    }
    int status = 0;
    while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(status)) {
        if (WEXITSTATUS(status) == 125) return fail("could not set up the private world");
        return WEXITSTATUS(status);
    }
    return 128 + WTERMSIG(status);
}

Result<std::vector<ProbeObservation>> probe_scenario(
    Runtime& runtime, const policy::Scenario& scenario,
    const std::vector<policy::ProbeVerdict>& verdicts, int timeout_ms) {
    const auto& cluster = scenario.cluster;
    std::vector<IpAddress> pod_addresses;
    for (const auto& pod : cluster.pods)
        for (const auto& ip : pod.ips) {
            if (!ip.is_v4()) return fail("probe: pod " + pod.key() + ": IPv6 is not probed yet");
            pod_addresses.push_back(ip);
        }
    auto subnet = pod_subnet(pod_addresses);
    if (!subnet) return wrap(subnet.error(), "probe");

    NetworkRequest network{"probe", {subnet->first.str()}, subnet->second.str(), "pnprobe0", 0,
                           false};
    if (auto r = runtime.create_network(network); !r) return wrap(r.error(), "probe");
    for (const auto& [ns, labels] : cluster.namespaces)
        if (auto r = runtime.label_namespace(ns, labels, {}); !r) return wrap(r.error(), "probe");

    // What each endpoint serves: its own ports plus whatever a probe aims at it.
    std::map<std::string, std::set<ServedPort>> served;  // pod key or external address
    std::set<IpAddress> externals;
    for (const auto& pod : cluster.pods)
        for (const auto& p : pod.ports) served[pod.key()].insert({p.protocol, p.port});
    for (const auto& v : verdicts) {
        auto to = policy::resolve_endpoint(cluster, v.probe->to);
        auto from = policy::resolve_endpoint(cluster, v.probe->from);
        for (const auto* e : {&to, &from})
            if (*e && (*e)->pod == nullptr) externals.insert((*e)->address);
        if (to) served[to->str()].insert({v.probe->protocol, v.port});
    }
    for (const auto& e : externals)
        if (!e.is_v4()) return fail("probe: external " + e.str() + ": IPv6 is not probed yet");

    std::map<std::string, UniqueFd> netns;  // endpoint → its network namespace
    for (const auto& pod : cluster.pods) {
        SandboxSpec spec;
        spec.name = sandbox_name(pod);
        spec.k8s_namespace = pod.ns;
        spec.labels = pod.labels;
        spec.network = "probe";
        spec.ip = pod.ips.front().str();
        for (const auto& p : pod.ports)
            if (!p.name.empty())
                spec.named_ports.push_back(p.name + "=" + std::to_string(p.port) + "/" +
                                           std::string(policy::protocol_name(p.protocol)));
        auto info = runtime.create_sandbox(spec);
        if (!info) return wrap(info.error(), "probe: pod " + pod.key());
        auto fd = open_namespace(info->namespace_paths.at("net"));
        if (!fd) return wrap(fd.error(), "probe: pod " + pod.key());
        netns[pod.key()] = std::move(*fd);
    }
    std::vector<ExternalHost> hosts;
    for (const auto& address : externals) {
        auto host = make_external(address, static_cast<int>(hosts.size()));
        if (!host) return wrap(host.error(), "probe");
        netns[address.str()] = UniqueFd(::dup(host->netns.get()));
        hosts.push_back(std::move(*host));
    }

    std::map<std::string, Server> servers;
    for (const auto& [endpoint, ports] : served) {
        if (!netns.contains(endpoint)) continue;
        if (auto r = servers[endpoint].start(netns[endpoint].get(), ports); !r)
            return wrap(r.error(), "probe: " + endpoint);
    }

    // The policies last, in one apply, as a user would after the pods exist.
    std::vector<PolicySource> sources;
    for (size_t i = 0; i < scenario.policy_objects.size(); ++i)
        sources.push_back(
            {scenario.policy_objects[i].dump(), "scenario policies[" + std::to_string(i) + "]"});
    if (!sources.empty())
        if (auto r = runtime.apply_policies(sources); !r) return wrap(r.error(), "probe");

    std::vector<ProbeObservation> out(verdicts.size());
    bool sctp = kernel_has_sctp();
    std::atomic<size_t> next{0};
    auto worker = [&] {
        for (size_t i = next++; i < verdicts.size(); i = next++) {
            const auto& v = verdicts[i];
            if (v.probe->protocol == Protocol::sctp && !sctp) {
                out[i].skipped = "this kernel has no SCTP sockets";
                continue;
            }
            auto from = policy::resolve_endpoint(cluster, v.probe->from);
            auto to = policy::resolve_endpoint(cluster, v.probe->to);
            if (!from || !to || !netns.contains(from->str())) {
                out[i].skipped = "endpoint not built";
                continue;
            }
            if (::setns(netns.at(from->str()).get(), CLONE_NEWNET) != 0) {
                out[i].skipped = std::string("enter source namespace: ") + std::strerror(errno);
                continue;
            }
            out[i] = connect_once(to->address, v.port, v.probe->protocol, timeout_ms);
        }
    };
    std::vector<std::thread> pool;
    size_t threads = std::min<size_t>(16, std::max<size_t>(1, verdicts.size()));
    for (size_t t = 0; t < threads; ++t) pool.emplace_back(worker);
    for (auto& t : pool) t.join();

    for (auto& [endpoint, server] : servers) server.stop();
    for (const auto& pod : cluster.pods) (void)runtime.remove_sandbox(sandbox_name(pod), true);
    return out;
}

}  // namespace podnet
