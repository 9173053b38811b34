// Links, addresses, routes and sysctls through netlink against the real kernel: a bridge here, a
// veth pair whose peer is created directly inside a second network namespace, and UDP traffic
// both ways across them. Runs inside private namespaces (tests/support/isolate.hpp); the second
// namespaces are made here, on a thread, and live as long as their fd.

#include <doctest/doctest.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netlink/route/link.h>
#include <poll.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/ip.hpp"
#include "common/unique_fd.hpp"
#include "netns/netlink.hpp"
#include "netns/sysctl.hpp"
#include "tests/support/netns_test.hpp"

using namespace podnet;
using namespace podnet::test;

namespace {

std::string error_of(const Result<void>& result) {
    REQUIRE_FALSE(result.has_value());
    return result.error().message;
}

template <class T>
std::string error_of(const Result<T>& result) {
    REQUIRE_FALSE(result.has_value());
    return result.error().message;
}

ino_t inode_of_fd(int fd) {
    struct stat st {};
    return ::fstat(fd, &st) == 0 ? st.st_ino : 0;
}

ino_t inode_of(const char* path) {
    struct stat st {};
    return ::stat(path, &st) == 0 ? st.st_ino : 0;
}

struct LinkFlags {
    unsigned flags = 0;
    int mtu = 0;
};

// Flags and MTU by ioctl, in the calling thread's namespace: independent of the code under test.
Result<LinkFlags> link_flags(const std::string& name) {
    UniqueFd sock(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!sock) return fail_errno("socket", errno);
    ifreq req{};
    std::strncpy(req.ifr_name, name.c_str(), IFNAMSIZ - 1);
    LinkFlags out;
    if (::ioctl(sock.get(), SIOCGIFFLAGS, &req) != 0)
        return fail_errno("SIOCGIFFLAGS " + name, errno);
    out.flags = static_cast<unsigned short>(req.ifr_flags);
    if (::ioctl(sock.get(), SIOCGIFMTU, &req) != 0) return fail_errno("SIOCGIFMTU " + name, errno);
    out.mtu = req.ifr_mtu;
    return out;
}

Result<LinkFlags> link_flags_in(int netns, const std::string& name) {
    return run_in_netns(netns, [&] { return link_flags(name); });
}

// The bridge a link is a port of, read with libnl directly (not through NetlinkSocket).
int master_index(const std::string& name) {
    nl_sock* sock = nl_socket_alloc();
    REQUIRE(sock != nullptr);
    REQUIRE(nl_connect(sock, NETLINK_ROUTE) == 0);
    rtnl_link* link = nullptr;
    int rc = rtnl_link_get_kernel(sock, 0, name.c_str(), &link);
    int master = rc == 0 && link != nullptr ? rtnl_link_get_master(link) : -1;
    if (link != nullptr) rtnl_link_put(link);
    nl_socket_free(sock);
    return master;
}

// Whether the routing table of `netns` has `destination` through `dev` (and via `via`), read
// from /proc/thread-self/net/{route,ipv6_route} on a thread inside it.
bool has_route(int netns, const IpPrefix& destination, const std::string& dev,
               const std::optional<IpAddress>& via) {
    IpAddress net = destination.network().address;
    auto table = run_in_netns(netns, [&] {
        return read_text(net.is_v4() ? "/proc/thread-self/net/route"
                                     : "/proc/thread-self/net/ipv6_route");
    });
    REQUIRE_MESSAGE(table.has_value(), table.error().message);
    std::istringstream lines(*table);
    std::string line;
    while (std::getline(lines, line)) {
        std::istringstream fields(line);
        std::vector<std::string> f;
        for (std::string field; fields >> field;) f.push_back(field);
        if (net.is_v4()) {
            // Iface Destination Gateway Flags RefCnt Use Metric Mask ...: addresses are the raw
            // network-order u32 printed as %08X.
            auto hex4 = [](const IpAddress& a) {
                uint32_t raw = 0;
                std::memcpy(&raw, a.bytes.data(), 4);
                char buf[9];
                std::snprintf(buf, sizeof buf, "%08X", raw);
                return std::string(buf);
            };
            IpPrefix mask_prefix;
            mask_prefix.address.family = AF_INET;
            uint32_t mask = destination.length == 0 ? 0 : ~0u << (32 - destination.length);
            uint32_t mask_be = htonl(mask);
            std::memcpy(mask_prefix.address.bytes.data(), &mask_be, 4);
            if (f.size() >= 8 && f[0] == dev && f[1] == hex4(net) &&
                f[7] == hex4(mask_prefix.address) && (!via || f[2] == hex4(*via)))
                return true;
        } else {
            // dest plen src plen nexthop metric refcnt use flags dev, in lowercase hex.
            auto hex16 = [](const IpAddress& a) {
                std::string out;
                char buf[3];
                for (int i = 0; i < 16; ++i) {
                    std::snprintf(buf, sizeof buf, "%02x", a.bytes[i]);
                    out += buf;
                }
                return out;
            };
            char plen[3];
            std::snprintf(plen, sizeof plen, "%02x", destination.length);
            if (f.size() >= 10 && f[9] == dev && f[0] == hex16(net) && f[1] == plen &&
                (!via || f[4] == hex16(*via)))
                return true;
        }
    }
    return false;
}

struct Echo {
    std::string payload;  // what came back to the sender
    IpAddress seen_from;  // the sender's address as the server saw it
};

// A UDP server bound to `server` in the test's namespace; a client inside `netns` sends to it,
// the server answers to whoever sent. Retries while ARP / neighbour discovery settles.
Result<Echo> udp_echo(int netns, const IpAddress& server) {
    UniqueFd listener(::socket(server.family, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!listener) return fail_errno("server socket", errno);
    socklen_t length = 0;
    sockaddr_storage bind_to = socket_address(server, 0, length);
    if (::bind(listener.get(), reinterpret_cast<sockaddr*>(&bind_to), length) != 0)
        return fail_errno("bind " + server.str(), errno);
    sockaddr_storage bound{};
    socklen_t bound_length = sizeof bound;
    ::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&bound), &bound_length);
    uint16_t port = ntohs(server.is_v4() ? reinterpret_cast<sockaddr_in&>(bound).sin_port
                                         : reinterpret_cast<sockaddr_in6&>(bound).sin6_port);
    sockaddr_storage target = socket_address(server, port, length);

    return run_in_netns(netns, [&]() -> Result<Echo> {
        UniqueFd client(::socket(server.family, SOCK_DGRAM | SOCK_CLOEXEC, 0));
        if (!client) return fail_errno("client socket", errno);
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (std::chrono::steady_clock::now() < deadline) {
            const char hello[] = "hello";
            if (::sendto(client.get(), hello, sizeof hello - 1, 0,
                         reinterpret_cast<sockaddr*>(&target), length) < 0)
                return fail_errno("send to " + server.str(), errno);
            pollfd wait{listener.get(), POLLIN, 0};
            if (::poll(&wait, 1, 300) != 1) continue;
            char buf[64];
            sockaddr_storage from{};
            socklen_t from_length = sizeof from;
            ssize_t n = ::recvfrom(listener.get(), buf, sizeof buf, 0,
                                   reinterpret_cast<sockaddr*>(&from), &from_length);
            if (n <= 0) return fail_errno("server receive", errno);
            if (::sendto(listener.get(), buf, static_cast<size_t>(n), 0,
                         reinterpret_cast<sockaddr*>(&from), from_length) < 0)
                return fail_errno("server reply", errno);
            pollfd back{client.get(), POLLIN, 0};
            if (::poll(&back, 1, 2000) != 1) return fail("no reply reached the client");
            n = ::recv(client.get(), buf, sizeof buf, 0);
            if (n <= 0) return fail_errno("client receive", errno);
            return Echo{std::string(buf, static_cast<size_t>(n)), address_of(from)};
        }
        return fail("nothing reached " + server.str());
    });
}

// "aa:bb:cc:dd:ee:ff", lowercase.
bool is_mac(const std::string& text) {
    if (text.size() != 17) return false;
    for (size_t i = 0; i < text.size(); ++i) {
        bool ok = i % 3 == 2 ? text[i] == ':'
                             : (std::isdigit(static_cast<unsigned char>(text[i])) != 0 ||
                                (text[i] >= 'a' && text[i] <= 'f'));
        if (!ok) return false;
    }
    return true;
}

bool contains(const std::vector<IpPrefix>& list, const IpPrefix& wanted) {
    return std::find(list.begin(), list.end(), wanted) != list.end();
}

}  // namespace

TEST_CASE("a bridge and a veth pair connect a second network namespace") {
    auto host = must(NetlinkSocket::open_current());
    UniqueFd pod_ns = new_netns();
    auto pod = must(NetlinkSocket::open_in(pod_ns.get()));

    must(host.create_bridge("pnbr0", 0));
    must(host.set_up("pnbr0"));
    auto bridge = must(link_flags("pnbr0"));
    CHECK((bridge.flags & IFF_UP) != 0);
    // Setting IFF_UP leaves the other flags alone (IPv6 neighbour discovery needs MULTICAST).
    CHECK((bridge.flags & IFF_MULTICAST) != 0);
    CHECK((bridge.flags & IFF_BROADCAST) != 0);

    // The peer is born inside the pod's namespace under its final name.
    must(host.create_veth("pnv0a", "eth0", pod_ns.get(), 1450));
    CHECK(must(host.link_exists("pnv0a")));
    CHECK_FALSE(must(host.link_exists("eth0")));
    CHECK(must(pod.link_exists("eth0")));
    CHECK_FALSE(must(pod.link_exists("pnv0a")));
    CHECK(must(link_flags("pnv0a")).mtu == 1450);
    CHECK(must(link_flags_in(pod_ns.get(), "eth0")).mtu == 1450);
    int pod_index = must(pod.link_index("eth0"));
    int seen_index = must(run_in_netns(
        pod_ns.get(), [] { return Result<int>(static_cast<int>(if_nametoindex("eth0"))); }));
    CHECK(pod_index == seen_index);
    CHECK(must(host.link_index("pnv0a")) == static_cast<int>(if_nametoindex("pnv0a")));
    std::string host_mac = must(host.link_mac("pnv0a"));
    std::string pod_mac = must(pod.link_mac("eth0"));
    CHECK(is_mac(host_mac));
    CHECK(host_mac != pod_mac);

    must(host.set_master("pnv0a", "pnbr0"));
    CHECK(master_index("pnv0a") == must(host.link_index("pnbr0")));
    must(host.set_up("pnv0a"));
    must(pod.set_up("eth0"));
    must(pod.set_up("lo"));
    auto veth = must(link_flags("pnv0a"));
    CHECK((veth.flags & IFF_UP) != 0);
    CHECK((veth.flags & IFF_MULTICAST) != 0);
    CHECK((must(link_flags_in(pod_ns.get(), "eth0")).flags & IFF_UP) != 0);

    must(host.add_address("pnbr0", prefix("10.99.0.1/24")));
    must(host.add_address("pnbr0", prefix("fd99::1/64")));
    must(pod.add_address("eth0", prefix("10.99.0.2/24")));
    must(pod.add_address("eth0", prefix("fd99::2/64")));
    // Adding again is success, not "File exists".
    must(pod.add_address("eth0", prefix("10.99.0.2/24")));
    must(pod.add_address("eth0", prefix("fd99::2/64")));
    auto on_bridge = must(host.addresses("pnbr0"));
    CHECK(contains(on_bridge, prefix("10.99.0.1/24")));
    CHECK(contains(on_bridge, prefix("fd99::1/64")));
    auto on_eth0 = must(pod.addresses("eth0"));
    CHECK(contains(on_eth0, prefix("10.99.0.2/24")));
    CHECK(contains(on_eth0, prefix("fd99::2/64")));
    CHECK(on_eth0.front().address.is_v4());
    CHECK_FALSE(contains(must(host.addresses("pnv0a")), prefix("10.99.0.2/24")));

    must(pod.add_default_route("eth0", ip("10.99.0.1")));
    must(pod.add_default_route("eth0", ip("fd99::1")));
    must(pod.add_default_route("eth0", ip("10.99.0.1")));
    must(pod.add_default_route("eth0", ip("fd99::1")));
    CHECK(has_route(pod_ns.get(), prefix("0.0.0.0/0"), "eth0", ip("10.99.0.1")));
    CHECK(has_route(pod_ns.get(), prefix("::/0"), "eth0", ip("fd99::1")));
    CHECK_FALSE(has_route(pod_ns.get(), prefix("0.0.0.0/0"), "eth0", ip("10.99.0.7")));

    // Traffic both ways: the reply from the bridge's address only reaches the pod through the
    // bridge port, so this also proves set_master.
    auto v4 = udp_echo(pod_ns.get(), ip("10.99.0.1"));
    REQUIRE_MESSAGE(v4.has_value(), v4.error().message);
    CHECK(v4->payload == "hello");
    CHECK(v4->seen_from == ip("10.99.0.2"));
    auto v6 = udp_echo(pod_ns.get(), ip("fd99::1"));
    REQUIRE_MESSAGE(v6.has_value(), v6.error().message);
    CHECK(v6->payload == "hello");
    CHECK(v6->seen_from == ip("fd99::2"));

    // Deleting the host end takes the peer with it; deleting again is fine.
    must(host.delete_link("pnv0a"));
    must(host.delete_link("pnv0a"));
    CHECK_FALSE(must(host.link_exists("pnv0a")));
    CHECK_FALSE(must(pod.link_exists("eth0")));
    must(host.delete_link("pnbr0"));
    CHECK_FALSE(must(host.link_exists("pnbr0")));
}

TEST_CASE("link errors name the link and the kernel's reason") {
    auto host = must(NetlinkSocket::open_current());
    UniqueFd pod_ns = new_netns();
    auto pod = must(NetlinkSocket::open_in(pod_ns.get()));

    must(host.create_bridge("pnerr0", 1400));
    CHECK(must(link_flags("pnerr0")).mtu == 1400);
    std::string twice = error_of(host.create_bridge("pnerr0", 0));
    CHECK(twice.find("pnerr0") != std::string::npos);
    CHECK(twice.find("File exists") != std::string::npos);
    CHECK(twice.find('\n') == std::string::npos);

    std::string nope = error_of(host.link_index("nope"));
    CHECK(nope == "link nope: No such device");
    CHECK_FALSE(must(host.link_exists("nope")));
    CHECK(error_of(host.link_mac("nope")).find("nope") != std::string::npos);
    CHECK(error_of(host.set_up("nope")).find("set link nope up: No such device") !=
          std::string::npos);
    std::string long_name = error_of(host.create_bridge("a-very-long-link-name", 0));
    CHECK(long_name.find("a-very-long-link-name") != std::string::npos);
    CHECK(error_of(host.link_exists("bad/name")).find("bad/name") != std::string::npos);

    // The peer's name is taken inside the target namespace.
    must(host.create_veth("pnerr1", "eth0", pod_ns.get(), 0));
    std::string clash = error_of(host.create_veth("pnerr2", "eth0", pod_ns.get(), 0));
    CHECK(clash.find("create veth pnerr2 (peer eth0): File exists") != std::string::npos);
    CHECK_FALSE(must(host.link_exists("pnerr2")));  // nothing half-made is left behind
    CHECK(error_of(host.create_veth("pnerr3", "eth1", -1, 0)).find("pnerr3") != std::string::npos);

    std::string no_bridge = error_of(host.set_master("pnerr1", "nobridge"));
    CHECK(no_bridge.find("pnerr1") != std::string::npos);
    CHECK(no_bridge.find("nobridge") != std::string::npos);
    CHECK(no_bridge.find("No such device") != std::string::npos);

    must(host.set_mtu("pnerr0", 1300));
    CHECK(must(link_flags("pnerr0")).mtu == 1300);
    std::string tiny = error_of(host.set_mtu("pnerr0", 10));
    CHECK(tiny.find("pnerr0") != std::string::npos);
    CHECK(tiny.find("Invalid argument") != std::string::npos);

    // Idempotent delete; physical-like links refuse, with the reason.
    must(host.delete_link("nope"));
    std::string lo = error_of(host.delete_link("lo"));
    CHECK(lo.find("delete link lo: Operation not supported") != std::string::npos);

    std::string no_link = error_of(host.add_address("nope", prefix("10.1.0.1/24")));
    CHECK(no_link.find("add address 10.1.0.1/24 to link nope") != std::string::npos);
    CHECK(no_link.find("No such device") != std::string::npos);
    CHECK(error_of(host.addresses("nope")).find("nope") != std::string::npos);

    must(host.delete_link("pnerr0"));
    must(host.delete_link("pnerr1"));
    CHECK_FALSE(must(pod.link_exists("eth0")));
}

TEST_CASE("list_links filters by prefix") {
    auto host = must(NetlinkSocket::open_current());
    UniqueFd pod_ns = new_netns();
    must(host.create_bridge("pnl1", 0));
    must(host.create_bridge("pnl2", 0));
    must(host.create_veth("pnl3", "pnl4", pod_ns.get(), 0));
    must(host.create_bridge("other9", 0));

    auto listed = must(host.list_links("pnl"));
    std::sort(listed.begin(), listed.end());
    CHECK(listed == std::vector<std::string>{"pnl1", "pnl2", "pnl3"});  // pnl4 lives elsewhere
    CHECK(must(host.list_links("zz-none")).empty());
    auto all = must(host.list_links(""));
    CHECK(std::find(all.begin(), all.end(), "lo") != all.end());
    CHECK(std::find(all.begin(), all.end(), "other9") != all.end());
    auto in_pod = must(must(NetlinkSocket::open_in(pod_ns.get())).list_links("pnl"));
    CHECK(in_pod == std::vector<std::string>{"pnl4"});

    for (const char* name : {"pnl1", "pnl2", "pnl3", "other9"}) must(host.delete_link(name));
    CHECK(must(host.list_links("pnl")).empty());
}

TEST_CASE("routes: add is idempotent, delete matches by destination and link") {
    auto host = must(NetlinkSocket::open_current());
    UniqueFd pod_ns = new_netns();
    auto pod = must(NetlinkSocket::open_in(pod_ns.get()));
    must(host.create_veth("pnr0", "eth0", pod_ns.get(), 0));
    must(pod.set_up("eth0"));
    must(pod.add_address("eth0", prefix("10.97.0.2/24")));
    must(pod.add_address("eth0", prefix("fd97::2/64")));

    // Via a gateway (scope universe) and directly on the link (scope link), IPv4 and IPv6.
    must(pod.add_route(prefix("10.98.0.0/24"), ip("10.97.0.1"), "eth0"));
    must(pod.add_route(prefix("10.98.0.0/24"), ip("10.97.0.1"), "eth0"));
    must(pod.add_route(prefix("10.96.0.0/16"), std::nullopt, "eth0"));
    must(pod.add_route(prefix("fd98::/64"), ip("fd97::1"), "eth0"));
    must(pod.add_route(prefix("fd98::/64"), ip("fd97::1"), "eth0"));
    CHECK(has_route(pod_ns.get(), prefix("10.98.0.0/24"), "eth0", ip("10.97.0.1")));
    CHECK(has_route(pod_ns.get(), prefix("10.96.0.0/16"), "eth0", std::nullopt));
    CHECK(has_route(pod_ns.get(), prefix("fd98::/64"), "eth0", ip("fd97::1")));

    must(pod.delete_route(prefix("10.98.0.0/24"), "eth0"));
    must(pod.delete_route(prefix("10.98.0.0/24"), "eth0"));
    must(pod.delete_route(prefix("10.96.0.0/16"), "eth0"));
    must(pod.delete_route(prefix("fd98::/64"), "eth0"));
    must(pod.delete_route(prefix("fd98::/64"), "eth0"));
    CHECK_FALSE(has_route(pod_ns.get(), prefix("10.98.0.0/24"), "eth0", std::nullopt));
    CHECK_FALSE(has_route(pod_ns.get(), prefix("10.96.0.0/16"), "eth0", std::nullopt));
    CHECK_FALSE(has_route(pod_ns.get(), prefix("fd98::/64"), "eth0", std::nullopt));
    // The connected routes the kernel made for the addresses are untouched.
    CHECK(has_route(pod_ns.get(), prefix("10.97.0.0/24"), "eth0", std::nullopt));

    std::string mixed = error_of(pod.add_route(prefix("10.95.0.0/24"), ip("fd97::1"), "eth0"));
    CHECK(mixed.find("add route 10.95.0.0/24 via fd97::1 dev eth0") != std::string::npos);
    CHECK(mixed.find("not IPv4") != std::string::npos);
    std::string unreachable = error_of(pod.add_default_route("eth0", ip("192.0.2.1")));
    CHECK(unreachable.find("add default route via 192.0.2.1 dev eth0") != std::string::npos);
    CHECK(unreachable.find("Network is unreachable") != std::string::npos);
    CHECK(error_of(pod.add_route(prefix("10.95.0.0/24"), std::nullopt, "nope"))
              .find("No such device") != std::string::npos);
    must(pod.delete_route(prefix("10.95.0.0/24"), "nope"));  // no link, no route: done

    must(host.delete_link("pnr0"));
}

TEST_CASE("sysctls are per network namespace") {
    UniqueFd pod_ns = new_netns();
    must(write_sysctl("net.ipv4.ip_forward", "1"));
    must(write_sysctl_in(pod_ns.get(), "net.ipv4.ip_forward", "0"));
    CHECK(must(read_sysctl("net.ipv4.ip_forward")) == "1");
    CHECK(must(read_sysctl_in(pod_ns.get(), "net.ipv4.ip_forward")) == "0");
    must(write_sysctl("net.ipv4.ip_forward", "0"));
    must(write_sysctl_in(pod_ns.get(), "net.ipv4.ip_forward", "1"));
    CHECK(must(read_sysctl("net/ipv4/ip_forward")) == "0");
    CHECK(must(read_sysctl_in(pod_ns.get(), "net.ipv4.ip_forward")) == "1");

    std::string missing = error_of(read_sysctl("net.ipv4.no_such_key"));
    CHECK(missing == "read sysctl net.ipv4.no_such_key: No such file or directory");
    CHECK(error_of(write_sysctl("net.ipv4.no_such_key", "1")).find("net.ipv4.no_such_key") !=
          std::string::npos);
    CHECK(error_of(write_sysctl("net.ipv4.ip_forward", "banana")).find("net.ipv4.ip_forward") !=
          std::string::npos);
    CHECK(error_of(read_sysctl("net/../../etc/passwd")).find("not a valid key") !=
          std::string::npos);
    CHECK(error_of(read_sysctl("")).find("empty") != std::string::npos);
    std::string bad_ns = error_of(write_sysctl_in(-1, "net.ipv4.ip_forward", "1"));
    CHECK(bad_ns ==
          "write sysctl net.ipv4.ip_forward: enter network namespace: Bad file descriptor");
}

TEST_CASE("run_in_netns runs on a thread inside the namespace, the caller stays put") {
    UniqueFd pod_ns = new_netns();
    ino_t before = inode_of("/proc/thread-self/ns/net");
    auto inside = run_in_netns(pod_ns.get(),
                               [] { return Result<ino_t>(inode_of("/proc/thread-self/ns/net")); });
    CHECK(must(std::move(inside)) == inode_of_fd(pod_ns.get()));
    CHECK(inode_of("/proc/thread-self/ns/net") == before);
    CHECK(before != inode_of_fd(pod_ns.get()));

    auto failed = run_in_netns(pod_ns.get(), []() -> Result<int> { return fail("inner"); });
    CHECK(error_of(failed) == "inner");
    CHECK(error_of(run_in_netns(-1, [] { return Result<int>(1); })) ==
          "enter network namespace: Bad file descriptor");
    UniqueFd not_a_namespace(::open("/", O_RDONLY | O_CLOEXEC));
    CHECK(error_of(NetlinkSocket::open_in(not_a_namespace.get())) ==
          "open netlink socket: enter network namespace: Invalid argument");
    CHECK_THROWS_AS(
        (void)run_in_netns(pod_ns.get(), []() -> Result<int> { throw std::runtime_error("boom"); }),
        std::runtime_error);
}
