// Host ports through podnet's nftables table, for real: a bridge with two pods, an "outside"
// machine behind another veth, real TCP/UDP sockets. Runs inside private namespaces
// (tests/support/isolate.hpp); the test's own network namespace plays the host. The world is
// built with `ip` (tests may; the library may not), the table only through NftContext.

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>
#include <functional>
#include <future>
#include <memory>
#include <thread>

#include "common/unique_fd.hpp"
#include "nft/nft.hpp"
#include "portmap/conntrack.hpp"
#include "portmap/portmap.hpp"
#include "tests/support/command.hpp"

using namespace podnet;
using namespace podnet::test;

namespace {

void sh(const std::vector<std::string>& argv) {
    auto r = run_command(argv, {}, 5000);
    REQUIRE_MESSAGE(r.exit_code == 0, (argv[0] + " " + argv[1] + " ...: " + r.err));
}

void ip(const std::string& args) {
    std::vector<std::string> argv = {"/bin/ip"};
    std::string word;
    for (char c : args + " ") {
        if (c != ' ') {
            word += c;
        } else if (!word.empty()) {
            argv.push_back(word);
            word.clear();
        }
    }
    sh(argv);
}

void write_sysctl(const std::string& path, const std::string& value) {
    std::ofstream f("/proc/sys/net/" + path);
    f << value;
    f.close();
    REQUIRE_MESSAGE(f.good(), ("write /proc/sys/net/" + path));
}

// Runs fn() on a thread that has joined network namespace `fd`.
template <class F>
auto in_netns(int fd, F fn) -> decltype(fn()) {
    decltype(fn()) out{};
    std::thread worker([&] {
        if (::setns(fd, CLONE_NEWNET) == 0) out = fn();
    });
    worker.join();
    return out;
}

void no_dad_in(const std::string& netns_path) {
    UniqueFd fd(::open(netns_path.c_str(), O_RDONLY | O_CLOEXEC));
    REQUIRE(fd);
    // /proc/sys/net shows the network namespace of the thread that opens it.
    bool ok = in_netns(fd.get(), [] {
        std::ofstream all("/proc/sys/net/ipv6/conf/all/accept_dad");
        std::ofstream def("/proc/sys/net/ipv6/conf/default/accept_dad");
        all << "0";
        def << "0";
        all.close();
        def.close();
        return all.good() && def.good();
    });
    REQUIRE_MESSAGE(ok, ("disable DAD in " + netns_path));
}

std::string peer_text(const sockaddr_storage& ss) {
    char buf[INET6_ADDRSTRLEN] = {};
    if (ss.ss_family == AF_INET)
        ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in&>(ss).sin_addr, buf, sizeof buf);
    else
        ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6&>(ss).sin6_addr, buf,
                    sizeof buf);
    return buf;
}

socklen_t make_addr(const std::string& text, uint16_t port, sockaddr_storage& ss) {
    ss = {};
    auto& v4 = reinterpret_cast<sockaddr_in&>(ss);
    auto& v6 = reinterpret_cast<sockaddr_in6&>(ss);
    if (::inet_pton(AF_INET, text.c_str(), &v4.sin_addr) == 1) {
        v4.sin_family = AF_INET;
        v4.sin_port = htons(port);
        return sizeof v4;
    }
    ::inet_pton(AF_INET6, text.c_str(), &v6.sin6_addr);
    v6.sin6_family = AF_INET6;
    v6.sin6_port = htons(port);
    return sizeof v6;
}

// Answers every TCP connection and UDP datagram on its ports, IPv4 and IPv6, with
// "<name> <peer address>": who answered, and whom it saw.
class Server {
  public:
    Server(int netns_fd, std::string name, std::vector<uint16_t> ports)
        : name_(std::move(name)), stop_(::eventfd(0, EFD_CLOEXEC)) {
        std::promise<std::string> ready;
        auto started = ready.get_future();
        thread_ = std::thread([this, netns_fd, ports, &ready] {
            if (::setns(netns_fd, CLONE_NEWNET) != 0) {
                ready.set_value("setns failed");
                return;
            }
            std::vector<UniqueFd> fds;
            for (uint16_t port : ports)
                for (int family : {AF_INET, AF_INET6})
                    for (int type : {SOCK_STREAM, SOCK_DGRAM}) {
                        UniqueFd fd(::socket(family, type | SOCK_CLOEXEC, 0));
                        int one = 1;
                        ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
                        if (family == AF_INET6)
                            ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
                        sockaddr_storage ss;
                        socklen_t len = make_addr(family == AF_INET ? "0.0.0.0" : "::", port, ss);
                        if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0 ||
                            (type == SOCK_STREAM && ::listen(fd.get(), 16) != 0)) {
                            ready.set_value("bind " + std::to_string(port) + ": " +
                                            std::strerror(errno));
                            return;
                        }
                        fds.push_back(std::move(fd));
                    }
            ready.set_value("");
            serve(fds);
        });
        std::string error = started.get();
        REQUIRE_MESSAGE(error.empty(), (name_ + ": " + error));
    }
    ~Server() {
        uint64_t one = 1;
        (void)!::write(stop_.get(), &one, sizeof one);
        thread_.join();
    }

  private:
    void serve(std::vector<UniqueFd>& fds) {
        std::vector<pollfd> polls;
        for (auto& fd : fds) polls.push_back({fd.get(), POLLIN, 0});
        polls.push_back({stop_.get(), POLLIN, 0});
        for (;;) {
            if (::poll(polls.data(), polls.size(), -1) < 0) continue;
            if (polls.back().revents != 0) return;
            for (size_t i = 0; i + 1 < polls.size(); ++i) {
                if (!(polls[i].revents & POLLIN)) continue;
                int type = 0;
                socklen_t tlen = sizeof type;
                ::getsockopt(polls[i].fd, SOL_SOCKET, SO_TYPE, &type, &tlen);
                sockaddr_storage peer{};
                socklen_t plen = sizeof peer;
                if (type == SOCK_STREAM) {
                    UniqueFd conn(::accept4(polls[i].fd, reinterpret_cast<sockaddr*>(&peer), &plen,
                                            SOCK_CLOEXEC));
                    if (!conn) continue;
                    std::string reply = name_ + " " + peer_text(peer) + "\n";
                    (void)!::send(conn.get(), reply.data(), reply.size(), MSG_NOSIGNAL);
                } else {
                    char buf[512];
                    if (::recvfrom(polls[i].fd, buf, sizeof buf, 0,
                                   reinterpret_cast<sockaddr*>(&peer), &plen) < 0)
                        continue;
                    std::string reply = name_ + " " + peer_text(peer);
                    ::sendto(polls[i].fd, reply.data(), reply.size(), 0,
                             reinterpret_cast<sockaddr*>(&peer), plen);
                }
            }
        }
    }

    std::string name_;
    UniqueFd stop_;
    std::thread thread_;
};

std::string errno_word(int err) {
    return err == ECONNREFUSED ? "refused" : err == ETIMEDOUT ? "timeout" : std::strerror(err);
}

// One TCP request from the calling thread's namespace: the server's line, "refused" or
// "timeout".
std::string tcp_get(const std::string& addr, uint16_t port, int timeout_ms = 1000) {
    sockaddr_storage ss;
    socklen_t len = make_addr(addr, port, ss);
    UniqueFd fd(::socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0 && errno != EINPROGRESS)
        return errno_word(errno);
    pollfd p{fd.get(), POLLOUT, 0};
    if (::poll(&p, 1, timeout_ms) != 1) return "timeout";
    int err = 0;
    socklen_t elen = sizeof err;
    ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &elen);
    if (err != 0) return errno_word(err);
    std::string out;
    for (;;) {
        p = {fd.get(), POLLIN, 0};
        if (::poll(&p, 1, timeout_ms) != 1) return "timeout";
        char buf[256];
        ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n <= 0) break;
        out.append(buf, static_cast<size_t>(n));
    }
    return trim(out);
}

// One UDP question from the calling thread's namespace, from `source_port` when non-zero.
std::string udp_ask(const std::string& addr, uint16_t port, uint16_t source_port = 0,
                    int timeout_ms = 700) {
    sockaddr_storage ss;
    socklen_t len = make_addr(addr, port, ss);
    UniqueFd fd(::socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (source_port != 0) {
        int one = 1;
        ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        sockaddr_storage local;
        socklen_t llen = make_addr(ss.ss_family == AF_INET ? "0.0.0.0" : "::", source_port, local);
        if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&local), llen) != 0)
            return "bind: " + errno_word(errno);
    }
    // Connected, so an ICMP port unreachable comes back as ECONNREFUSED.
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0) return errno_word(errno);
    if (::send(fd.get(), "?", 1, 0) != 1) return errno_word(errno);
    pollfd p{fd.get(), POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) != 1) return "timeout";
    char buf[256];
    ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
    if (n < 0) return errno_word(errno);
    return std::string(buf, static_cast<size_t>(n));
}

// Conntrack entries in the calling thread's namespace whose original direction goes to
// `dport` (and `dst`, when given).
int conntrack_count(uint8_t protocol, uint16_t dport, const std::string& dst = "") {
    struct Query {
        uint8_t protocol;
        uint16_t dport;
        std::string dst;
        int count = 0;
    } q{protocol, dport, dst};
    std::unique_ptr<nfct_handle, int (*)(nfct_handle*)> h(nfct_open(CONNTRACK, 0), nfct_close);
    REQUIRE(h);
    nfct_callback_register(
        h.get(), NFCT_T_ALL,
        [](nf_conntrack_msg_type, nf_conntrack* ct, void* data) {
            auto* q = static_cast<Query*>(data);
            if (nfct_get_attr_u8(ct, ATTR_ORIG_L4PROTO) != q->protocol ||
                ntohs(nfct_get_attr_u16(ct, ATTR_ORIG_PORT_DST)) != q->dport)
                return static_cast<int>(NFCT_CB_CONTINUE);
            char buf[INET6_ADDRSTRLEN] = {};
            if (nfct_get_attr_u8(ct, ATTR_ORIG_L3PROTO) == AF_INET)
                ::inet_ntop(AF_INET, nfct_get_attr(ct, ATTR_ORIG_IPV4_DST), buf, sizeof buf);
            else
                ::inet_ntop(AF_INET6, nfct_get_attr(ct, ATTR_ORIG_IPV6_DST), buf, sizeof buf);
            if (q->dst.empty() || q->dst == buf) ++q->count;
            return static_cast<int>(NFCT_CB_CONTINUE);
        },
        &q);
    uint32_t family = AF_UNSPEC;
    REQUIRE(nfct_query(h.get(), NFCT_Q_DUMP, &family) == 0);
    return q.count;
}

void flush_all_conntrack() {
    std::unique_ptr<nfct_handle, int (*)(nfct_handle*)> h(nfct_open(CONNTRACK, 0), nfct_close);
    REQUIRE(h);
    uint32_t family = AF_UNSPEC;
    REQUIRE(nfct_query(h.get(), NFCT_Q_FLUSH, &family) == 0);
}

IpAddress addr(const char* text) {
    auto a = parse_ip(text);
    REQUIRE(a);
    return *a;
}

std::vector<PortMapping> mappings(std::initializer_list<const char*> texts) {
    std::vector<PortMapping> out;
    for (const char* t : texts) {
        auto m = parse_port_mapping(t);
        REQUIRE_MESSAGE(m, m.error().message);
        out.insert(out.end(), m->begin(), m->end());
    }
    return out;
}

// The host (this test's namespace), two pods on bridge podnet0 (10.77.0.0/24, fd77::/64) and
// an outside machine on vout (192.168.77.0/24, fd78::/64). Made once per test process.
struct World {
    UniqueFd pod1, pod2, outside;
    std::unique_ptr<Server> pod1_server, pod2_server, outside_server;

    World() {
        // Duplicate address detection would hold IPv6 back for a couple of seconds.
        write_sysctl("ipv6/conf/all/accept_dad", "0");
        write_sysctl("ipv6/conf/default/accept_dad", "0");
        ip("link add podnet0 type bridge");
        ip("addr add 10.77.0.1/24 dev podnet0");
        ip("-6 addr add fd77::1/64 dev podnet0 nodad");
        ip("link set podnet0 up");
        struct Pod {
            const char* name;
            const char* veth;
            const char* v4;
            const char* v6;
        };
        for (const Pod& p : {Pod{"pod1", "vpod1", "10.77.0.2/24", "fd77::2/64"},
                             Pod{"pod2", "vpod2", "10.77.0.3/24", "fd77::3/64"}}) {
            std::string n = p.name;
            ip("netns add " + n);
            no_dad_in("/run/netns/" + n);
            ip("link add " + std::string(p.veth) + " type veth peer name eth0 netns " + n);
            ip("link set " + std::string(p.veth) + " master podnet0 up");
            // What the bridge driver does for a pod (as Docker without its userland proxy):
            // with br_netfilter, a pod's packet DNATed back to the pod itself is bridged out of
            // the port it came in by, which a bridge port refuses unless in hairpin mode.
            ip("link set " + std::string(p.veth) + " type bridge_slave hairpin on");
            ip("-n " + n + " link set lo up");
            ip("-n " + n + " addr add " + p.v4 + " dev eth0");
            ip("-n " + n + " -6 addr add " + p.v6 + " dev eth0 nodad");
            ip("-n " + n + " link set eth0 up");
            ip("-n " + n + " route add default via 10.77.0.1");
            ip("-n " + n + " -6 route add default via fd77::1");
        }
        // The outside machine knows no route to the pod subnets: only DNAT reaches them.
        ip("netns add outside");
        no_dad_in("/run/netns/outside");
        ip("link add vout type veth peer name eth0 netns outside");
        ip("addr add 192.168.77.1/24 dev vout");
        ip("addr add 192.168.77.100/24 dev vout");  // a second host address on that side
        ip("-6 addr add fd78::1/64 dev vout nodad");
        ip("link set vout up");
        ip("-n outside link set lo up");
        ip("-n outside addr add 192.168.77.2/24 dev eth0");
        ip("-n outside -6 addr add fd78::2/64 dev eth0 nodad");
        ip("-n outside link set eth0 up");
        write_sysctl("ipv4/ip_forward", "1");
        write_sysctl("ipv4/conf/all/route_localnet", "1");
        write_sysctl("ipv6/conf/all/forwarding", "1");

        pod1 = UniqueFd(::open("/run/netns/pod1", O_RDONLY | O_CLOEXEC));
        pod2 = UniqueFd(::open("/run/netns/pod2", O_RDONLY | O_CLOEXEC));
        outside = UniqueFd(::open("/run/netns/outside", O_RDONLY | O_CLOEXEC));
        REQUIRE((pod1 && pod2 && outside));
        pod1_server = std::make_unique<Server>(pod1.get(), "pod1", std::vector<uint16_t>{80, 53});
        pod2_server = std::make_unique<Server>(pod2.get(), "pod2", std::vector<uint16_t>{80, 53});
        outside_server =
            std::make_unique<Server>(outside.get(), "outside", std::vector<uint16_t>{9000, 5353});
    }

    std::string from_outside(const std::function<std::string()>& fn) const {
        return in_netns(outside.get(), fn);
    }
    std::string from_pod1(const std::function<std::string()>& fn) const {
        return in_netns(pod1.get(), fn);
    }
    std::string from_pod2(const std::function<std::string()>& fn) const {
        return in_netns(pod2.get(), fn);
    }
};

World& world() {
    static World w;
    return w;
}

NftContext host_nft() {
    auto nft = NftContext::open();
    REQUIRE_MESSAGE(nft, nft.error().message);
    return std::move(*nft);
}

void run_nft(NftContext& nft, const std::string& script) {
    auto r = nft.run(script);
    REQUIRE_MESSAGE(r, r.error().message);
}

std::string table(NftContext& nft) {
    auto r = nft.run_capture("list table inet podnet");
    REQUIRE_MESSAGE(r, r.error().message);
    return *r;
}

// A fresh table (the test may delete it; podnet itself never does) with the pod network in it,
// and no conntrack entries left by earlier cases.
NftContext fresh_table() {
    world();
    NftContext nft = host_nft();
    run_nft(nft, "add table inet podnet\ndelete table inet podnet\n");
    run_nft(nft, portmap_base_script() +
                     add_network_script(*parse_prefix("10.77.0.0/24", true), true) +
                     add_network_script(*parse_prefix("fd77::/64", true), true));
    flush_all_conntrack();
    return nft;
}

PodPorts pod1_ports(std::vector<PortMapping> m) {
    return PodPorts{"pod1-id", addr("10.77.0.2"), addr("fd77::2"), std::move(m)};
}
PodPorts pod2_ports(std::vector<PortMapping> m) {
    return PodPorts{"pod2-id", addr("10.77.0.3"), addr("fd77::3"), std::move(m)};
}

double median_ms(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

}  // namespace

TEST_CASE("host ports reach the pod from outside, from the host, and from pods (hairpin)") {
    NftContext nft = fresh_table();
    const World& w = world();
    PodPorts pod = pod1_ports(mappings({"8080:80", "5353:53/udp"}));
    run_nft(nft, add_pod_ports_script(pod));

    // From outside: the pod sees the client's own address.
    CHECK(w.from_outside([] { return tcp_get("192.168.77.1", 8080); }) == "pod1 192.168.77.2");
    CHECK(w.from_outside([] { return tcp_get("192.168.77.100", 8080); }) == "pod1 192.168.77.2");
    CHECK(w.from_outside([] { return udp_ask("192.168.77.1", 5353); }) == "pod1 192.168.77.2");
    CHECK(w.from_outside([] { return tcp_get("fd78::1", 8080); }) == "pod1 fd78::2");
    CHECK(w.from_outside([] { return udp_ask("fd78::1", 5353); }) == "pod1 fd78::2");
    // From the host: loopback is masqueraded to the bridge address, others keep theirs.
    CHECK(tcp_get("127.0.0.1", 8080) == "pod1 10.77.0.1");
    CHECK(tcp_get("127.0.0.2", 8080) == "pod1 10.77.0.1");
    CHECK(tcp_get("192.168.77.1", 8080) == "pod1 192.168.77.1");
    CHECK(tcp_get("10.77.0.1", 8080) == "pod1 10.77.0.1");
    CHECK(udp_ask("127.0.0.1", 5353) == "pod1 10.77.0.1");
    CHECK(tcp_get("fd78::1", 8080) == "pod1 fd78::1");
    // Hairpin: the pod through its own host port, a sibling through it; both masqueraded.
    CHECK(w.from_pod1([] { return tcp_get("192.168.77.1", 8080); }) == "pod1 10.77.0.1");
    CHECK(w.from_pod2([] { return tcp_get("192.168.77.1", 8080); }) == "pod1 10.77.0.1");
    CHECK(w.from_pod2([] { return udp_ask("10.77.0.1", 5353); }) == "pod1 10.77.0.1");
    CHECK(w.from_pod1([] { return tcp_get("fd78::1", 8080); }) == "pod1 fd77::1");
    // Pod traffic leaving the pod subnets is masqueraded; pod to pod is not.
    CHECK(w.from_pod1([] { return tcp_get("192.168.77.2", 9000); }) == "outside 192.168.77.1");
    CHECK(w.from_pod1([] { return udp_ask("192.168.77.2", 5353); }) == "outside 192.168.77.1");
    CHECK(w.from_pod1([] { return tcp_get("fd78::2", 9000); }) == "outside fd78::1");
    CHECK(w.from_pod1([] { return tcp_get("10.77.0.3", 80); }) == "pod2 10.77.0.2");
    // Unpublished ports are not forwarded.
    CHECK(w.from_outside([] { return tcp_get("192.168.77.1", 8081); }) == "refused");

    // Removal: unreachable, and nothing of the pod is left in the table.
    run_nft(nft, remove_pod_ports_script(pod));
    CHECK(w.from_outside([] { return tcp_get("192.168.77.1", 8080); }) == "refused");
    CHECK(w.from_outside([] { return udp_ask("192.168.77.1", 5353); }) == "refused");
    CHECK(tcp_get("127.0.0.1", 8080) == "refused");
    CHECK(w.from_outside([] { return tcp_get("fd78::1", 8080); }) == "refused");
    std::string listing = table(nft);
    for (const char* gone : {"pod1-id", "10.77.0.2", "fd77::2", "8080", "5353"}) {
        CAPTURE(gone);
        CHECK(listing.find(gone) == std::string::npos);
    }
    // Removing again is no error (the delete of an absent element is preceded by its add).
    run_nft(nft, remove_pod_ports_script(pod));
    CHECK(table(nft) == listing);
}

TEST_CASE("a UDP client keeps its old NAT binding until the conntrack entry is flushed") {
    // containernetworking/plugins#123: a client that keeps sending keeps its NAT binding.
    NftContext nft = fresh_table();
    const World& w = world();
    auto dns = mappings({"5353:53/udp"});
    auto ask = [&w] { return w.from_outside([] { return udp_ask("192.168.77.1", 5353, 40053); }); };
    // A client that started before the port was published keeps its un-NATed entry too.
    CHECK(ask() == "refused");
    run_nft(nft, add_pod_ports_script(pod1_ports(dns)));
    CHECK(ask() == "refused");
    CHECK(*flush_conntrack(dns.front()) == 1);
    CHECK(ask() == "pod1 192.168.77.2");
    // The host's own flow to port 5353 of another machine, which the flush must leave alone.
    CHECK(udp_ask("192.168.77.2", 5353) == "outside 192.168.77.1");
    CHECK(conntrack_count(IPPROTO_UDP, 5353, "192.168.77.2") == 1);

    run_nft(nft, remove_pod_ports_script(pod1_ports(dns)) + add_pod_ports_script(pod2_ports(dns)));
    CHECK(ask() == "pod1 192.168.77.2");  // stale: the table says pod2
    CHECK(conntrack_count(IPPROTO_UDP, 5353, "192.168.77.1") == 1);

    auto flushed = flush_conntrack(dns.front());
    REQUIRE_MESSAGE(flushed, flushed.error().message);
    CHECK(*flushed == 1);
    CHECK(conntrack_count(IPPROTO_UDP, 5353, "192.168.77.1") == 0);
    CHECK(conntrack_count(IPPROTO_UDP, 5353, "192.168.77.2") == 1);
    CHECK(ask() == "pod2 192.168.77.2");

    // Bound mappings flush only their address; other protocols and ports are untouched.
    CHECK(w.from_outside([] { return udp_ask("192.168.77.100", 5353, 40054); }) ==
          "pod2 192.168.77.2");
    auto bound = mappings({"192.168.77.100:5353:53/udp"});
    CHECK(*flush_conntrack(bound.front()) == 1);
    CHECK(conntrack_count(IPPROTO_UDP, 5353, "192.168.77.1") == 1);
    CHECK(*flush_conntrack(mappings({"5353:53/tcp"}).front()) == 0);
    CHECK(*flush_conntrack(mappings({"5354:53/udp"}).front()) == 0);
    // In another namespace (the outside machine has no entry to the host port: its flow's
    // destination is not one of its own addresses).
    auto elsewhere = flush_conntrack_in(w.outside.get(), dns.front());
    REQUIRE_MESSAGE(elsewhere, elsewhere.error().message);
    CHECK(*elsewhere == 0);
    CHECK(conntrack_count(IPPROTO_UDP, 5353, "192.168.77.1") == 1);
}

TEST_CASE("a mapping bound to a host address answers only on that address") {
    NftContext nft = fresh_table();
    const World& w = world();
    PodPorts pod = pod1_ports(
        mappings({"192.168.77.1:8081:80", "0.0.0.0:8082:80", "[fd78::1]:8083:80", "[::]:8084:80"}));
    run_nft(nft, add_pod_ports_script(pod));

    CHECK(w.from_outside([] { return tcp_get("192.168.77.1", 8081); }) == "pod1 192.168.77.2");
    CHECK(w.from_outside([] { return tcp_get("192.168.77.100", 8081); }) == "refused");
    CHECK(tcp_get("127.0.0.1", 8081) == "refused");
    CHECK(tcp_get("192.168.77.1", 8081) == "pod1 192.168.77.1");
    // 0.0.0.0: every IPv4 address, no IPv6 one.
    CHECK(w.from_outside([] { return tcp_get("192.168.77.100", 8082); }) == "pod1 192.168.77.2");
    CHECK(w.from_outside([] { return tcp_get("fd78::1", 8082); }) == "refused");
    // An IPv6 host address reaches the pod's IPv6 address only.
    CHECK(w.from_outside([] { return tcp_get("fd78::1", 8083); }) == "pod1 fd78::2");
    CHECK(w.from_outside([] { return tcp_get("192.168.77.1", 8083); }) == "refused");
    CHECK(tcp_get("fd77::1", 8083) == "refused");
    // ::, every IPv6 address.
    CHECK(tcp_get("fd77::1", 8084) == "pod1 fd77::1");
    CHECK(w.from_outside([] { return tcp_get("192.168.77.1", 8084); }) == "refused");

    // The same host port published twice towards different pods: the transaction fails whole.
    auto clash =
        nft.run(add_pod_ports_script(pod2_ports(mappings({"8090:80", "0.0.0.0:8082:80"}))));
    REQUIRE_FALSE(clash);
    CHECK(clash.error().message.find("File exists") != std::string::npos);
    CHECK(clash.error().message.find('\n') == std::string::npos);
    CHECK(w.from_outside([] { return tcp_get("192.168.77.1", 8090); }) == "refused");
    CHECK(w.from_outside([] { return tcp_get("192.168.77.1", 8082); }) == "pod1 192.168.77.2");
    // Removing a pod's mapping that now points elsewhere fails rather than deleting it.
    auto wrong = nft.run(remove_pod_ports_script(pod2_ports(mappings({"0.0.0.0:8082:80"}))));
    CHECK_FALSE(wrong);
    CHECK(w.from_outside([] { return tcp_get("192.168.77.1", 8082); }) == "pod1 192.168.77.2");

    run_nft(nft, remove_pod_ports_script(pod));
    CHECK(table(nft).find("pod1-id") == std::string::npos);
}

TEST_CASE("the base script is idempotent and keeps what is published") {
    NftContext nft = fresh_table();
    const World& w = world();
    run_nft(nft, add_pod_ports_script(pod1_ports(mappings({"8080:80"}))));
    std::string before = table(nft);
    for (int i = 0; i < 3; ++i)
        run_nft(nft, portmap_base_script() +
                         add_network_script(*parse_prefix("10.77.0.0/24", true), true));
    CHECK(table(nft) == before);
    CHECK(w.from_outside([] { return tcp_get("192.168.77.1", 8080); }) == "pod1 192.168.77.2");

    // Masquerade off for a network = its subnet not in the masquerade set: pods then leave
    // with their own address (the outside has no route back here, so only its view counts).
    run_nft(nft, remove_network_script(*parse_prefix("10.77.0.0/24", true), true) +
                     add_network_script(*parse_prefix("10.77.0.0/24", true), false));
    ip("-n outside route add 10.77.0.0/24 via 192.168.77.1");
    CHECK(w.from_pod1([] { return tcp_get("192.168.77.2", 9000); }) == "outside 10.77.0.2");
    ip("-n outside route del 10.77.0.0/24 via 192.168.77.1");
    // Removing a network twice is no error.
    run_nft(nft, remove_network_script(*parse_prefix("10.77.0.0/24", true), false));
    run_nft(nft, remove_network_script(*parse_prefix("10.77.0.0/24", true), false));
    CHECK(table(nft).find("10.77.0.0/24") == std::string::npos);
}

TEST_CASE("gc: a sandbox's elements removed by owner, without its addresses") {
    NftContext nft = fresh_table();
    const World& w = world();
    run_nft(nft, add_pod_ports_script(pod1_ports(mappings({"8080:80", "127.0.0.1:9090:90/udp"}))) +
                     add_pod_ports_script(pod2_ports(mappings({"8081:80"}))));
    auto removed = remove_sandbox_ports(nft, "pod1-id");
    REQUIRE_MESSAGE(removed, removed.error().message);
    CHECK(*removed == 3);  // 8080 on IPv4 and IPv6, 9090 on 127.0.0.1
    std::string listing = table(nft);
    CHECK(listing.find("pod1-id") == std::string::npos);
    CHECK(listing.find("pod2-id") != std::string::npos);
    CHECK(w.from_outside([] { return tcp_get("192.168.77.1", 8080); }) == "refused");
    CHECK(w.from_outside([] { return tcp_get("192.168.77.1", 8081); }) == "pod2 192.168.77.2");
    CHECK(*remove_sandbox_ports(nft, "pod1-id") == 0);

    run_nft(nft, "delete table inet podnet\n");
    auto no_table = remove_sandbox_ports(nft, "pod2-id");
    REQUIRE_MESSAGE(no_table, no_table.error().message);
    CHECK(*no_table == 0);
}

TEST_CASE("NftContext: one transaction, one-line errors, in the namespace it was opened in") {
    NftContext nft = fresh_table();
    const World& w = world();
    // Atomic: a failing line takes the good ones before it with it.
    auto bad = nft.run(
        "add element inet podnet ports4 { tcp . 7000 : 10.77.0.2 . 70 }\n"
        "add element inet podnet nosuchmap { tcp . 7001 : 10.77.0.2 . 70 }\n");
    REQUIRE_FALSE(bad);
    CHECK(bad.error().message.starts_with("nftables: "));
    CHECK(bad.error().message.find("nosuchmap") != std::string::npos);
    CHECK(bad.error().message.find('\n') == std::string::npos);
    CHECK(table(nft).find("7000") == std::string::npos);
    auto syntax = nft.run("add element inet podnet ports4 { bogus }\n");
    REQUIRE_FALSE(syntax);
    CHECK(syntax.error().message.find('\n') == std::string::npos);
    CHECK(nft.run("# nothing\n\n"));
    auto missing = nft.run_capture("list table inet nosuchtable");
    REQUIRE_FALSE(missing);
    CHECK(missing.error().message.find("No such file or directory") != std::string::npos);
    auto json = nft.run_capture("list table inet podnet", NftOutput::json);
    REQUIRE(json);
    CHECK(json->starts_with("{\"nftables\""));
    CHECK(table(nft).starts_with("table inet podnet {"));  // back to text

    // A context opened in pod2's namespace works there and only there.
    auto in_pod = NftContext::open_in(w.pod2.get());
    REQUIRE_MESSAGE(in_pod, in_pod.error().message);
    run_nft(*in_pod, "add table inet podnet_probe\n");
    auto listed = in_pod->run_capture("list tables");
    REQUIRE(listed);
    CHECK(listed->find("podnet_probe") != std::string::npos);
    CHECK(listed->find("table inet podnet\n") == std::string::npos);
    CHECK(nft.run_capture("list tables")->find("podnet_probe") == std::string::npos);
    run_nft(*in_pod, "delete table inet podnet_probe\n");
    auto bad_ns = NftContext::open_in(-1);
    REQUIRE_FALSE(bad_ns);
    CHECK(bad_ns.error().message.find("enter network namespace") != std::string::npos);
}

TEST_CASE("publishing is one cheap transaction that does not grow with the table") {
    NftContext nft = fresh_table();
    const World& w = world();
    PodPorts pod = pod1_ports(mappings({"8080:80", "5353:53/udp"}));  // 4 elements, dual stack
    auto elapsed_ms = [](auto&& fn) {
        auto start = std::chrono::steady_clock::now();
        fn();
        return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
            .count();
    };
    // The transaction alone, and as the runtime does it: a context opened for it. A transaction
    // that deleted something leaves the kernel an RCU grace period to wait for, which it does
    // when the netlink socket closes: with a context of its own, removal pays it at close.
    auto on_open = [&](const std::string& script) { run_nft(nft, script); };
    auto on_new = [&](const std::string& script) {
        NftContext fresh = host_nft();
        run_nft(fresh, script);
    };
    struct Medians {
        double add, remove, add_new, remove_new;
    };
    auto measure = [&](const std::string& label) {
        std::vector<double> add, remove, add_new, remove_new;
        for (int i = 0; i < 9; ++i) {
            add.push_back(elapsed_ms([&] { on_open(add_pod_ports_script(pod)); }));
            remove.push_back(elapsed_ms([&] { on_open(remove_pod_ports_script(pod)); }));
        }
        for (int i = 0; i < 9; ++i) {
            add_new.push_back(elapsed_ms([&] { on_new(add_pod_ports_script(pod)); }));
            remove_new.push_back(elapsed_ms([&] { on_new(remove_pod_ports_script(pod)); }));
        }
        Medians m{median_ms(add), median_ms(remove), median_ms(add_new), median_ms(remove_new)};
        MESSAGE(label << ": add_pod_ports " << m.add << " ms, remove_pod_ports " << m.remove
                      << " ms; opening and closing a context for each: " << m.add_new << " / "
                      << m.remove_new << " ms (medians of 9)");
        return m;
    };
    Medians few = measure("table without other mappings");

    // 2000 other pods' mappings, added in one transaction.
    std::string bulk;
    for (int i = 0; i < 2000; ++i) {
        PodPorts other = pod2_ports({});
        other.sandbox_id = "bulk" + std::to_string(i);
        other.mappings.push_back(
            PortMapping{"tcp", std::nullopt, static_cast<uint16_t>(20000 + i), 80});
        bulk += add_pod_ports_script(other);
    }
    double bulk_ms = elapsed_ms([&] { on_open(bulk); });
    MESSAGE("4000 elements in one transaction: " << bulk_ms << " ms");
    Medians many = measure("table with 4000 other elements");
    // Generous bounds (a shared machine is noisy): the point is no growth with the table.
    CHECK(many.add < few.add * 4 + 5);
    CHECK(many.remove < few.remove * 4 + 5);
    run_nft(nft, add_pod_ports_script(pod));
    CHECK(w.from_outside([] { return tcp_get("192.168.77.1", 8080); }) == "pod1 192.168.77.2");
    CHECK(w.from_outside([] { return tcp_get("192.168.77.1", 21999); }) == "pod2 192.168.77.2");
}
