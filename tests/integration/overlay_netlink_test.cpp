// What a flannel-style overlay agent asks of netlink, against the real kernel: VXLAN tunnel
// endpoints, permanent neighbours, VXLAN forwarding entries and onlink routes. Two "nodes"
// (network namespaces joined by a veth underlay) each get a VTEP and the flannel triple for the
// other (route via the other VTEP's address onlink, neighbour for that address, FDB entry for
// the other VTEP's MAC), and UDP between addresses on their `lo` crosses the tunnel. What the
// code under test wrote is read back independently: with iproute2 (`ip -j`, `bridge -j`) run
// inside the namespace, and from /proc/thread-self/net. Runs inside private namespaces
// (tests/support/isolate.hpp); the node namespaces are made here, on a thread, and live as long
// as their fd.

#include <doctest/doctest.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "common/ip.hpp"
#include "common/unique_fd.hpp"
#include "netns/netlink.hpp"
#include "overlay/backend.hpp"
#include "overlay/config.hpp"
#include "tests/support/command.hpp"
#include "tests/support/netns_test.hpp"

using namespace podnet;
using namespace podnet::test;
using nlohmann::json;

namespace {

template <class T>
std::string error_of(const Result<T>& result) {
    REQUIRE_FALSE(result.has_value());
    std::string message = result.error().message;
    CHECK(message.find('\n') == std::string::npos);  // one line
    return message;
}

bool has(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

// iproute2's JSON view of something inside `netns` (`ip -j ...`, `bridge -j ...`): forked
// from a thread that joined the namespace, so the child lives there.
json iproute2(int netns, const std::vector<std::string>& argv) {
    auto run =
        run_in_netns(netns, [&] { return Result<test::CommandResult>(test::run_command(argv)); });
    REQUIRE_MESSAGE(run.has_value(), run.error().message);
    REQUIRE_MESSAGE(run->exit_code == 0, (argv[0] + " failed: " + run->err));
    std::string out = test::trim(run->out);
    return out.empty() ? json::array() : json::parse(out);
}

json ip_json(int netns, std::vector<std::string> args) {
    args.insert(args.begin(), {"/usr/sbin/ip", "-d", "-j"});
    return iproute2(netns, args);
}

// Runs `ip ARGS...` inside `netns` for setup the code under test does not offer.
void ip_command(int netns, std::vector<std::string> args) {
    args.insert(args.begin(), "/usr/sbin/ip");
    auto run =
        run_in_netns(netns, [&] { return Result<test::CommandResult>(test::run_command(args)); });
    REQUIRE_MESSAGE(run.has_value(), run.error().message);
    REQUIRE_MESSAGE(run->exit_code == 0, ("ip failed: " + run->err));
}

std::string proc_net(int netns, const std::string& file) {
    auto text = run_in_netns(netns, [&] { return read_text("/proc/thread-self/net/" + file); });
    REQUIRE_MESSAGE(text.has_value(), text.error().message);
    return *text;
}

// Whether a UDP socket (the VXLAN device's own, once it is up) is bound to `port` in `netns`.
bool udp_port_bound(int netns, uint16_t port) {
    char hex[8];
    std::snprintf(hex, sizeof hex, ":%04X ", port);
    return has(proc_net(netns, "udp"), hex) || has(proc_net(netns, "udp6"), hex);
}

struct Counters {
    uint64_t rx_packets = 0;
    uint64_t tx_packets = 0;
};

// From /proc/net/dev: "name: rx_bytes rx_packets (6 more) tx_bytes tx_packets ...".
Counters counters(int netns, const std::string& link) {
    std::istringstream lines(proc_net(netns, "dev"));
    std::string line;
    while (std::getline(lines, line)) {
        auto colon = line.find(':');
        if (colon == std::string::npos) continue;
        std::istringstream name(line.substr(0, colon));
        std::string found;
        if (!(name >> found) || found != link) continue;
        std::istringstream fields(line.substr(colon + 1));
        std::vector<uint64_t> f;
        for (uint64_t v; fields >> v;) f.push_back(v);
        REQUIRE(f.size() >= 10);
        return Counters{f[1], f[9]};
    }
    FAIL("no link " << link << " in /proc/net/dev:\n" << proc_net(netns, "dev"));
    return {};
}

// A UDP socket bound to `address` (port 0 = any), opened inside `netns`.
Result<UniqueFd> udp_socket_in(int netns, const IpAddress& address, uint16_t port) {
    return run_in_netns(netns, [&]() -> Result<UniqueFd> {
        UniqueFd fd(::socket(address.family, SOCK_DGRAM | SOCK_CLOEXEC, 0));
        if (!fd) return fail_errno("socket", errno);
        socklen_t length = 0;
        sockaddr_storage sa = socket_address(address, port, length);
        if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), length) != 0)
            return fail_errno("bind " + address.str(), errno);
        return fd;
    });
}

struct Echo {
    std::string payload;  // what came back to the client
    IpAddress seen_from;  // the client's address as the server saw it
};

// A UDP client bound to `client` inside `client_ns` sends to a server bound to `server` inside
// `server_ns`, which answers whoever sent. Retries until `patience` is over.
Result<Echo> udp_echo(int client_ns, const IpAddress& client, int server_ns,
                      const IpAddress& server, std::chrono::milliseconds patience) {
    constexpr uint16_t port = 5353;
    auto listener = udp_socket_in(server_ns, server, port);
    if (!listener) return wrap(listener.error(), "server");
    auto sender = udp_socket_in(client_ns, client, 0);
    if (!sender) return wrap(sender.error(), "client");
    socklen_t length = 0;
    sockaddr_storage target = socket_address(server, port, length);
    auto deadline = std::chrono::steady_clock::now() + patience;
    while (std::chrono::steady_clock::now() < deadline) {
        const char hello[] = "over the tunnel";
        if (::sendto(sender->get(), hello, sizeof hello - 1, 0,
                     reinterpret_cast<sockaddr*>(&target), length) < 0)
            return fail_errno("send to " + server.str(), errno);
        pollfd wait{listener->get(), POLLIN, 0};
        if (::poll(&wait, 1, 250) != 1) continue;
        char buf[64];
        sockaddr_storage from{};
        socklen_t from_length = sizeof from;
        ssize_t n = ::recvfrom(listener->get(), buf, sizeof buf, 0,
                               reinterpret_cast<sockaddr*>(&from), &from_length);
        if (n <= 0) return fail_errno("server receive", errno);
        if (::sendto(listener->get(), buf, static_cast<size_t>(n), 0,
                     reinterpret_cast<sockaddr*>(&from), from_length) < 0)
            return fail_errno("server reply", errno);
        pollfd back{sender->get(), POLLIN, 0};
        if (::poll(&back, 1, 2000) != 1) return fail("no reply reached " + client.str());
        n = ::recv(sender->get(), buf, sizeof buf, 0);
        if (n <= 0) return fail_errno("client receive", errno);
        return Echo{std::string(buf, static_cast<size_t>(n)), address_of(from)};
    }
    return fail("nothing from " + client.str() + " reached " + server.str());
}

constexpr const char* vtep = "flannel.1";

// One node of the two-node cluster: its namespace, a netlink socket in it, its underlay
// address on `ulN`, and its VTEP's MAC. Pod-side addresses: 10.244.N.0/32 and fd44:N::/128
// on the VTEP (flannel's gateway addresses), 10.244.N.1 and fd44:N::1 on `lo`.
struct Node {
    int n = 0;
    UniqueFd ns;
    NetlinkSocket nl;
    IpAddress underlay;
    std::string mac;

    [[nodiscard]] std::string ul() const { return "ul" + std::to_string(n); }
    [[nodiscard]] IpAddress pod4() const { return addr("10.244.%d.1"); }
    [[nodiscard]] IpAddress pod6() const { return addr("fd44:%d::1"); }
    [[nodiscard]] IpAddress gateway4() const { return addr("10.244.%d.0"); }
    [[nodiscard]] IpAddress gateway6() const { return addr("fd44:%d::"); }
    [[nodiscard]] IpPrefix subnet4() const { return {gateway4(), 24}; }
    [[nodiscard]] IpPrefix subnet6() const { return {gateway6(), 64}; }
    [[nodiscard]] IpAddress addr(const char* format) const {
        char text[64];
        std::snprintf(text, sizeof text, format, n);
        return ip(text);
    }
};

Node make_node(int n) {
    UniqueFd ns = new_netns();
    auto nl = must(NetlinkSocket::open_in(ns.get()));
    char text[32];
    std::snprintf(text, sizeof text, "192.168.100.%d", n);
    return Node{n, std::move(ns), std::move(nl), ip(text), ""};
}

// The VTEP on a node whose underlay is up and addressed: flannel's `prepare` + `activate`.
void make_vtep(Node& node, int underlay_mtu) {
    VxlanSpec spec;
    spec.name = vtep;
    spec.vni = 1;
    spec.local = node.underlay;
    spec.underlay = node.ul();
    spec.port = 8472;
    spec.mtu = underlay_mtu - 50;  // outer IPv4 20 + UDP 8 + VXLAN 8 + inner Ethernet 14
    must(node.nl.create_vxlan(spec));
    must(node.nl.add_address(vtep, IpPrefix{node.gateway4(), 32}));
    must(node.nl.add_address(vtep, IpPrefix{node.gateway6(), 128}));
    must(node.nl.set_up(vtep));
    must(node.nl.set_up("lo"));
    must(node.nl.add_address("lo", IpPrefix{node.pod4(), 32}));
    must(node.nl.add_address("lo", IpPrefix{node.pod6(), 128}));
    node.mac = must(node.nl.link_mac(vtep));
}

// Two nodes joined by the veth underlay ul1 <-> ul2 (192.168.100.1/24, .2/24), each with a VTEP.
std::pair<Node, Node> two_nodes() {
    Node one = make_node(1);
    Node two = make_node(2);
    must(one.nl.create_veth(one.ul(), two.ul(), two.ns.get(), 1500));
    for (Node* node : {&one, &two}) {
        must(node->nl.set_up(node->ul()));
        must(node->nl.add_address(node->ul(), IpPrefix{node->underlay, 24}));
        make_vtep(*node, 1500);
    }
    return {std::move(one), std::move(two)};
}

// flannel's vxlan backend on `from` for the lease of `to`: FDB, neighbours, then routes.
void add_flannel_triple(Node& from, const Node& to) {
    must(from.nl.replace_fdb(vtep, to.mac, to.underlay));
    must(from.nl.replace_neighbour(vtep, to.gateway4(), to.mac));
    must(from.nl.replace_neighbour(vtep, to.gateway6(), to.mac));
    must(from.nl.replace_route(to.subnet4(), to.gateway4(), vtep, true));
    must(from.nl.replace_route(to.subnet6(), to.gateway6(), vtep, true));
}

void check_echo(const Node& client, const IpAddress& from, const Node& server,
                const IpAddress& to) {
    auto echo = udp_echo(client.ns.get(), from, server.ns.get(), to, std::chrono::seconds(10));
    REQUIRE_MESSAGE(echo.has_value(), echo.error().message);
    CHECK(echo->payload == "over the tunnel");
    CHECK(echo->seen_from == from);
}

void check_no_echo(const Node& client, const IpAddress& from, const Node& server,
                   const IpAddress& to) {
    auto echo =
        udp_echo(client.ns.get(), from, server.ns.get(), to, std::chrono::milliseconds(1500));
    CHECK_FALSE(echo.has_value());
}

// A node namespace with an underlay `ul0` (192.168.100.1/24, peer in a namespace of its own)
// and nothing else, for the tests that only need a VTEP.
struct Lone {
    UniqueFd peer_ns;
    Node node;
};

Lone lone_node() {
    UniqueFd ns = new_netns();
    auto nl = must(NetlinkSocket::open_in(ns.get()));
    Lone lone{new_netns(), Node{0, std::move(ns), std::move(nl), ip("192.168.100.1"), ""}};
    must(lone.node.nl.create_veth("ul0", "peer0", lone.peer_ns.get(), 1500));
    must(lone.node.nl.set_up("ul0"));
    must(lone.node.nl.add_address("ul0", prefix("192.168.100.1/24")));
    return lone;
}

VxlanSpec spec_for(const std::string& name, uint32_t vni, const char* local) {
    VxlanSpec spec;
    spec.name = name;
    spec.vni = vni;
    spec.local = ip(local);
    spec.underlay = "ul0";
    spec.mtu = 1450;
    return spec;
}

}  // namespace

TEST_CASE("two nodes reach each other's pod addresses through VXLAN, flannel style") {
    auto [one, two] = two_nodes();
    CHECK(one.mac != two.mac);
    add_flannel_triple(one, two);
    add_flannel_triple(two, one);

    // What flannel would see on an agent restart: exactly the triple, on both sides.
    CHECK(must(one.nl.fdb_entries(vtep)) == std::vector<FdbEntry>{{two.mac, two.underlay}});
    CHECK(must(one.nl.neighbours(vtep)) ==
          std::vector<Neighbour>{{two.gateway4(), two.mac}, {two.gateway6(), two.mac}});
    CHECK(must(two.nl.routes(vtep)) ==
          std::vector<RouteEntry>{{one.subnet4(), one.gateway4(), true},
                                  {one.subnet6(), one.gateway6(), true}});

    Counters tunnel_before = counters(two.ns.get(), vtep);
    Counters underlay_before = counters(two.ns.get(), two.ul());
    check_echo(one, one.pod4(), two, two.pod4());
    check_echo(one, one.pod6(), two, two.pod6());
    check_echo(two, two.pod4(), one, one.pod4());
    // The packets came out of node 2's VTEP, having arrived on its underlay: they were
    // decapsulated there, and answers went back in.
    Counters tunnel_after = counters(two.ns.get(), vtep);
    CHECK(tunnel_after.rx_packets >= tunnel_before.rx_packets + 3);
    CHECK(tunnel_after.tx_packets >= tunnel_before.tx_packets + 3);
    CHECK(counters(two.ns.get(), two.ul()).rx_packets >= underlay_before.rx_packets + 3);
    CHECK(udp_port_bound(one.ns.get(), 8472));

    SUBCASE("without the FDB entry nothing crosses; a wrong destination neither") {
        must(one.nl.delete_fdb(vtep, two.mac, two.underlay));
        CHECK(must(one.nl.fdb_entries(vtep)).empty());
        check_no_echo(one, one.pod4(), two, two.pod4());
        must(one.nl.replace_fdb(vtep, two.mac, ip("192.168.100.9")));
        CHECK(must(one.nl.fdb_entries(vtep)) ==
              std::vector<FdbEntry>{{two.mac, ip("192.168.100.9")}});
        check_no_echo(one, one.pod4(), two, two.pod4());
        must(one.nl.replace_fdb(vtep, two.mac, two.underlay));
        check_echo(one, one.pod4(), two, two.pod4());
    }

    SUBCASE("without the neighbour nothing crosses (ARP has nowhere to go); replacing restores") {
        must(one.nl.delete_neighbour(vtep, two.gateway4()));
        CHECK(must(one.nl.neighbours(vtep)) == std::vector<Neighbour>{{two.gateway6(), two.mac}});
        check_no_echo(one, one.pod4(), two, two.pod4());
        // The kernel has made an entry of its own meanwhile (INCOMPLETE / FAILED): replace
        // overwrites it, and it was never listed as permanent.
        CHECK(must(one.nl.neighbours(vtep)).size() == 1);
        must(one.nl.replace_neighbour(vtep, two.gateway4(), two.mac));
        check_echo(one, one.pod4(), two, two.pod4());
    }

    SUBCASE("the route goes: traffic stops; replace puts it back") {
        must(one.nl.delete_route(two.subnet4(), vtep));
        CHECK(must(one.nl.routes(vtep)) ==
              std::vector<RouteEntry>{{two.subnet6(), two.gateway6(), true}});
        check_no_echo(one, one.pod4(), two, two.pod4());
        must(one.nl.replace_route(two.subnet4(), two.gateway4(), vtep, true));
        check_echo(one, one.pod4(), two, two.pod4());
    }
}

TEST_CASE("create_vxlan makes flannel's VTEP and keeps it on a second call") {
    Lone lone = lone_node();
    Node& node = lone.node;
    int ns = node.ns.get();

    VxlanSpec spec = spec_for("vx0", 1, "192.168.100.1");
    must(node.nl.create_vxlan(spec));
    json shown = ip_json(ns, {"link", "show", "vx0"});
    REQUIRE(shown.size() == 1);
    const json& link = shown[0];
    CHECK(link["mtu"] == 1450);
    CHECK(std::find(link["flags"].begin(), link["flags"].end(), "UP") == link["flags"].end());
    const json& info = link["linkinfo"];
    CHECK(info["info_kind"] == "vxlan");
    CHECK(info["info_data"]["id"] == 1);
    CHECK(info["info_data"]["local"] == "192.168.100.1");
    CHECK(info["info_data"]["link"] == "ul0");
    CHECK(info["info_data"]["port"] == 8472);
    CHECK(info["info_data"]["learning"] == false);
    // The port in network order for real: the kernel's UDP socket is on 8472 once it is up.
    CHECK_FALSE(udp_port_bound(ns, 8472));
    must(node.nl.set_up("vx0"));
    CHECK(udp_port_bound(ns, 8472));
    std::string mac = must(node.nl.link_mac("vx0"));

    // Again (an agent restart): the same device is kept, up, with its MAC; only the MTU is
    // reconciled.
    must(node.nl.create_vxlan(spec));
    spec.mtu = 1400;
    must(node.nl.create_vxlan(spec));
    spec.mtu = 0;  // "the kernel's default": whatever it has is fine
    must(node.nl.create_vxlan(spec));
    shown = ip_json(ns, {"link", "show", "vx0"});
    CHECK(shown[0]["mtu"] == 1400);
    CHECK(std::find(shown[0]["flags"].begin(), shown[0]["flags"].end(), "UP") !=
          shown[0]["flags"].end());
    CHECK(must(node.nl.link_mac("vx0")) == mac);
    // Local address and underlay left open match whatever the device has.
    VxlanSpec loose = spec_for("vx0", 1, "192.168.100.1");
    loose.local.reset();
    loose.underlay.clear();
    must(node.nl.create_vxlan(loose));

    // Another port, learning on, IPv6 local: what was asked is what the kernel has.
    VxlanSpec other = spec_for("vx4789", 7, "192.168.100.1");
    other.port = 4789;
    other.learning = true;
    other.underlay.clear();
    must(node.nl.create_vxlan(other));
    must(node.nl.create_vxlan(other));
    json data4789 = ip_json(ns, {"link", "show", "vx4789"})[0]["linkinfo"]["info_data"];
    CHECK(data4789["port"] == 4789);
    CHECK(data4789["learning"] == true);
    CHECK(data4789["id"] == 7);
    CHECK_FALSE(data4789.contains("link"));
    VxlanSpec v6 = spec_for("vx6", 9, "fd00::1");
    v6.underlay.clear();
    must(node.nl.create_vxlan(v6));
    must(node.nl.create_vxlan(v6));
    CHECK(ip_json(ns, {"link", "show", "vx6"})[0]["linkinfo"]["info_data"]["local6"] == "fd00::1");
    VxlanSpec v6_moved = v6;
    v6_moved.local = ip("fd00::2");
    CHECK(error_of(node.nl.create_vxlan(v6_moved)) ==
          "create vxlan vx6 (vni 9): link vx6 exists with local fd00::1 (want fd00::2)");
}

TEST_CASE("create_vxlan names every difference from an existing link, and the kernel's refusals") {
    Lone lone = lone_node();
    Node& node = lone.node;
    must(node.nl.create_vxlan(spec_for("vx0", 1, "192.168.100.1")));

    VxlanSpec vni = spec_for("vx0", 2, "192.168.100.1");
    CHECK(error_of(node.nl.create_vxlan(vni)) ==
          "create vxlan vx0 (vni 2): link vx0 exists with vni 1 (want 2)");
    VxlanSpec port = spec_for("vx0", 1, "192.168.100.1");
    port.port = 4789;
    CHECK(error_of(node.nl.create_vxlan(port)) ==
          "create vxlan vx0 (vni 1): link vx0 exists with port 8472 (want 4789)");
    VxlanSpec local = spec_for("vx0", 1, "192.168.100.7");
    CHECK(error_of(node.nl.create_vxlan(local)) ==
          "create vxlan vx0 (vni 1): link vx0 exists with local 192.168.100.1 "
          "(want 192.168.100.7)");
    VxlanSpec learning = spec_for("vx0", 1, "192.168.100.1");
    learning.learning = true;
    CHECK(error_of(node.nl.create_vxlan(learning)) ==
          "create vxlan vx0 (vni 1): link vx0 exists with nolearning (want learning)");
    VxlanSpec many = spec_for("vx0", 3, "10.0.0.1");
    many.port = 4789;
    CHECK(error_of(node.nl.create_vxlan(many)) ==
          "create vxlan vx0 (vni 3): link vx0 exists with vni 1 (want 3), port 8472 (want 4789), "
          "local 192.168.100.1 (want 10.0.0.1)");
    // Another underlay: peer0 lives elsewhere, so make a second veth here.
    UniqueFd far = new_netns();
    must(node.nl.create_veth("ul9", "peer9", far.get(), 0));
    VxlanSpec dev = spec_for("vx0", 1, "192.168.100.1");
    dev.underlay = "ul9";
    CHECK(error_of(node.nl.create_vxlan(dev)) ==
          "create vxlan vx0 (vni 1): link vx0 exists with dev ul0 (want ul9)");
    // Nothing was changed by the refusals.
    json data = ip_json(node.ns.get(), {"link", "show", "vx0"})[0]["linkinfo"]["info_data"];
    CHECK(data["id"] == 1);
    CHECK(data["port"] == 8472);

    // A link of that name that is not VXLAN at all.
    CHECK(error_of(node.nl.create_vxlan(spec_for("ul0", 1, "192.168.100.1"))) ==
          "create vxlan ul0 (vni 1): link ul0 exists and is a veth link");
    // The same VNI, port and local address under another name: the kernel's refusal, and no
    // half-made link.
    std::string twin = error_of(node.nl.create_vxlan(spec_for("vx1", 1, "192.168.100.1")));
    CHECK(has(twin, "create vxlan vx1 (vni 1): File exists"));
    CHECK(has(twin, "VNI"));  // extended ack: "A VXLAN device with the specified VNI ..."
    CHECK_FALSE(must(node.nl.link_exists("vx1")));
    // Same VNI on another port is a different tunnel, and fine.
    VxlanSpec twin_port = spec_for("vx1", 1, "192.168.100.1");
    twin_port.port = 4789;
    must(node.nl.create_vxlan(twin_port));

    VxlanSpec no_underlay = spec_for("vx2", 2, "192.168.100.1");
    no_underlay.underlay = "nope";
    CHECK(error_of(node.nl.create_vxlan(no_underlay)) ==
          "create vxlan vx2 (vni 2): underlay: link nope: No such device");
    CHECK(has(error_of(node.nl.create_vxlan(spec_for("vx2", 1u << 24, "192.168.100.1"))),
              "create vxlan vx2 (vni 16777216): vni above 16777215"));
    CHECK(has(error_of(node.nl.create_vxlan(spec_for("a-very-long-vxlan", 2, "192.168.100.1"))),
              "a-very-long-vxlan"));
    CHECK_FALSE(must(node.nl.link_exists("vx2")));

    // Deleting a VTEP is deleting a link; again is fine.
    must(node.nl.delete_link("vx0"));
    must(node.nl.delete_link("vx0"));
    CHECK_FALSE(must(node.nl.link_exists("vx0")));
}

TEST_CASE("neighbours: replace overwrites, the list is exactly the permanent entries") {
    Lone lone = lone_node();
    Node& node = lone.node;
    int ns = node.ns.get();
    must(node.nl.create_vxlan(spec_for("vx0", 1, "192.168.100.1")));
    must(node.nl.set_up("vx0"));
    CHECK(must(node.nl.neighbours("vx0")).empty());

    must(node.nl.replace_neighbour("vx0", ip("10.244.2.0"), "02:00:00:00:02:00"));
    must(node.nl.replace_neighbour("vx0", ip("10.244.3.0"), "02:00:00:00:03:00"));
    must(node.nl.replace_neighbour("vx0", ip("fd44:2::"), "02:00:00:00:02:00"));
    // Upper case is taken, and listed in lower case.
    must(node.nl.replace_neighbour("vx0", ip("10.244.4.0"), "02:AB:CD:EF:04:00"));
    // Replacing with the same is fine; replacing with another MAC changes the entry.
    must(node.nl.replace_neighbour("vx0", ip("10.244.2.0"), "02:00:00:00:02:00"));
    must(node.nl.replace_neighbour("vx0", ip("10.244.3.0"), "02:00:00:00:33:00"));
    // Not permanent, so not listed: one the kernel could age out.
    ip_command(ns, {"neigh", "replace", "10.244.9.9", "lladdr", "02:00:00:00:09:09", "dev", "vx0",
                    "nud", "reachable"});

    std::vector<Neighbour> expected{{ip("10.244.2.0"), "02:00:00:00:02:00"},
                                    {ip("10.244.3.0"), "02:00:00:00:33:00"},
                                    {ip("10.244.4.0"), "02:ab:cd:ef:04:00"},
                                    {ip("fd44:2::"), "02:00:00:00:02:00"}};
    CHECK(must(node.nl.neighbours("vx0")) == expected);
    // iproute2 agrees, and calls them PERMANENT.
    std::vector<Neighbour> seen;
    for (const json& entry : ip_json(ns, {"neigh", "show", "dev", "vx0", "nud", "permanent"}))
        seen.push_back({ip(entry["dst"].get<std::string>().c_str()), entry["lladdr"]});
    std::sort(seen.begin(), seen.end());
    CHECK(seen == expected);
    // Other links' neighbours are not listed.
    must(node.nl.replace_neighbour("ul0", ip("192.168.100.2"), "02:00:00:00:00:02"));
    CHECK(must(node.nl.neighbours("vx0")) == expected);
    CHECK(must(node.nl.neighbours("ul0")) ==
          std::vector<Neighbour>{{ip("192.168.100.2"), "02:00:00:00:00:02"}});

    must(node.nl.delete_neighbour("vx0", ip("10.244.3.0")));
    must(node.nl.delete_neighbour("vx0", ip("10.244.3.0")));  // absent: done
    must(node.nl.delete_neighbour("vx0", ip("fd44:2::")));
    must(node.nl.delete_neighbour("vx0", ip("fd44:99::")));    // never there
    must(node.nl.delete_neighbour("vx0", ip("10.244.9.9")));   // not permanent: deleted too
    must(node.nl.delete_neighbour("nope", ip("10.244.3.0")));  // no link, no neighbour
    CHECK(must(node.nl.neighbours("vx0")) ==
          std::vector<Neighbour>{{ip("10.244.2.0"), "02:00:00:00:02:00"},
                                 {ip("10.244.4.0"), "02:ab:cd:ef:04:00"}});
    CHECK(ip_json(ns, {"neigh", "show", "dev", "vx0"}).size() == 2);

    CHECK(error_of(node.nl.replace_neighbour("nope", ip("10.244.5.0"), "02:00:00:00:05:00")) ==
          "replace neighbour 10.244.5.0 lladdr 02:00:00:00:05:00 dev nope: link nope: No such "
          "device");
    CHECK(error_of(node.nl.replace_neighbour("vx0", ip("10.244.5.0"), "02:00:00:00:05")) ==
          "replace neighbour 10.244.5.0 lladdr 02:00:00:00:05 dev vx0: not a MAC address");
    CHECK(error_of(node.nl.replace_neighbour("vx0", ip("10.244.5.0"), "02-00-00-00-05-00")) ==
          "replace neighbour 10.244.5.0 lladdr 02-00-00-00-05-00 dev vx0: not a MAC address");
    CHECK(error_of(node.nl.neighbours("nope")) ==
          "list neighbours of link nope: link nope: No such device");
    CHECK(has(error_of(node.nl.delete_neighbour("bad/name", ip("10.244.3.0"))), "bad/name"));
}

TEST_CASE("fdb: replace moves a MAC to another endpoint, the list is exactly the entries") {
    Lone lone = lone_node();
    Node& node = lone.node;
    int ns = node.ns.get();
    must(node.nl.create_vxlan(spec_for("vx0", 1, "192.168.100.1")));
    CHECK(must(node.nl.fdb_entries("vx0")).empty());

    must(node.nl.replace_fdb("vx0", "02:00:00:00:02:00", ip("192.168.100.2")));
    must(node.nl.replace_fdb("vx0", "02:00:00:00:03:00", ip("192.168.100.3")));
    must(node.nl.replace_fdb("vx0", "02:00:00:00:02:00", ip("192.168.100.2")));  // same again
    must(node.nl.replace_fdb("vx0", "02:00:00:00:03:00", ip("192.168.100.4")));  // moved
    must(node.nl.replace_fdb("vx0", "02:AB:00:00:05:00", ip("192.168.100.5")));
    std::vector<FdbEntry> expected{{"02:00:00:00:02:00", ip("192.168.100.2")},
                                   {"02:00:00:00:03:00", ip("192.168.100.4")},
                                   {"02:ab:00:00:05:00", ip("192.168.100.5")}};
    CHECK(must(node.nl.fdb_entries("vx0")) == expected);
    // iproute2 agrees: permanent, the device's own ("self") entries.
    std::vector<FdbEntry> seen;
    for (const json& entry :
         iproute2(ns, {"/usr/sbin/bridge", "-j", "fdb", "show", "dev", "vx0"})) {
        if (!entry.contains("dst")) continue;
        CHECK(entry["state"] == "permanent");
        CHECK(std::find(entry["flags"].begin(), entry["flags"].end(), "self") !=
              entry["flags"].end());
        seen.push_back({entry["mac"], ip(entry["dst"].get<std::string>().c_str())});
    }
    std::sort(seen.begin(), seen.end());
    CHECK(seen == expected);
    // Another VTEP's entries are its own.
    must(node.nl.create_vxlan(spec_for("vx9", 9, "192.168.100.1")));
    must(node.nl.replace_fdb("vx9", "02:00:00:00:09:00", ip("192.168.100.9")));
    CHECK(must(node.nl.fdb_entries("vx0")) == expected);
    CHECK(must(node.nl.fdb_entries("vx9")) ==
          std::vector<FdbEntry>{{"02:00:00:00:09:00", ip("192.168.100.9")}});

    // Delete needs the destination too: the wrong one leaves the entry alone.
    must(node.nl.delete_fdb("vx0", "02:00:00:00:03:00", ip("192.168.100.3")));
    CHECK(must(node.nl.fdb_entries("vx0")).size() == 3);
    must(node.nl.delete_fdb("vx0", "02:00:00:00:03:00", ip("192.168.100.4")));
    must(node.nl.delete_fdb("vx0", "02:00:00:00:03:00", ip("192.168.100.4")));   // absent: done
    must(node.nl.delete_fdb("vx0", "02:00:00:00:77:00", ip("192.168.100.7")));   // never there
    must(node.nl.delete_fdb("nope", "02:00:00:00:02:00", ip("192.168.100.2")));  // no link
    CHECK(must(node.nl.fdb_entries("vx0")) ==
          std::vector<FdbEntry>{{"02:00:00:00:02:00", ip("192.168.100.2")},
                                {"02:ab:00:00:05:00", ip("192.168.100.5")}});

    CHECK(error_of(node.nl.replace_fdb("nope", "02:00:00:00:02:00", ip("192.168.100.2"))) ==
          "replace fdb entry 02:00:00:00:02:00 dst 192.168.100.2 dev nope: link nope: No such "
          "device");
    CHECK(error_of(node.nl.replace_fdb("vx0", "zz:00:00:00:02:00", ip("192.168.100.2"))) ==
          "replace fdb entry zz:00:00:00:02:00 dst 192.168.100.2 dev vx0: not a MAC address");
    CHECK(error_of(node.nl.fdb_entries("nope")) ==
          "list fdb entries of link nope: link nope: No such device");
    // A multicast "MAC" is not an endpoint's: the kernel refuses to replace one.
    std::string group =
        error_of(node.nl.replace_fdb("vx0", "01:00:5e:00:00:01", ip("192.168.100.2")));
    CHECK(group ==
          "replace fdb entry 01:00:5e:00:00:01 dst 192.168.100.2 dev vx0: Operation not supported");
}

TEST_CASE("routes: replace changes the route, the list is exactly ours") {
    Lone lone = lone_node();
    Node& node = lone.node;
    int ns = node.ns.get();
    must(node.nl.create_vxlan(spec_for("vx0", 1, "192.168.100.1")));
    must(node.nl.add_address("vx0", prefix("10.244.1.0/32")));
    must(node.nl.add_address("vx0", prefix("fd44:1::/128")));
    must(node.nl.set_up("vx0"));
    // Only kernel-made routes so far (IPv6 fe80::/64): none of ours.
    CHECK(must(node.nl.routes("vx0")).empty());

    must(node.nl.replace_route(prefix("10.244.2.0/24"), ip("10.244.2.0"), "vx0", true));
    must(node.nl.replace_route(prefix("10.244.3.0/24"), ip("10.244.3.0"), "vx0", true));
    must(node.nl.replace_route(prefix("fd44:2::/64"), ip("fd44:2::"), "vx0", true));
    must(node.nl.replace_route(prefix("10.245.0.0/16"), std::nullopt, "vx0", false));
    must(node.nl.add_route(prefix("10.246.0.0/16"), std::nullopt, "vx0"));
    // Same again: still one route each.
    must(node.nl.replace_route(prefix("10.244.2.0/24"), ip("10.244.2.0"), "vx0", true));
    // Another gateway: the route changes instead of a second one appearing.
    must(node.nl.replace_route(prefix("10.244.3.0/24"), ip("10.244.33.0"), "vx0", true));
    must(node.nl.replace_route(prefix("fd44:2::/64"), ip("fd44:22::"), "vx0", true));

    std::vector<RouteEntry> expected{
        {prefix("10.244.2.0/24"), ip("10.244.2.0"), true},
        {prefix("10.244.3.0/24"), ip("10.244.33.0"), true},
        {prefix("10.245.0.0/16"), std::nullopt, false},
        {prefix("10.246.0.0/16"), std::nullopt, false},
        {prefix("fd44:2::/64"), ip("fd44:22::"), true},
    };
    CHECK(must(node.nl.routes("vx0")) == expected);
    // iproute2 agrees (leaving out the kernel's own routes, as routes() does).
    std::vector<RouteEntry> seen;
    for (const char* family : {"-4", "-6"}) {
        for (const json& r : ip_json(ns, {family, "route", "show", "dev", "vx0"})) {
            if (r.value("protocol", "") == "kernel") continue;
            RouteEntry entry;
            entry.destination = prefix(r["dst"].get<std::string>().c_str());
            if (r.contains("gateway")) entry.via = ip(r["gateway"].get<std::string>().c_str());
            json flags = r.value("flags", json::array());
            entry.onlink = std::find(flags.begin(), flags.end(), "onlink") != flags.end();
            seen.push_back(entry);
        }
    }
    std::sort(seen.begin(), seen.end());
    CHECK(seen == expected);

    // Replace takes the route from whatever link it was on.
    must(node.nl.replace_route(prefix("10.244.3.0/24"), ip("192.168.100.3"), "ul0", false));
    CHECK(must(node.nl.routes("ul0")) ==
          std::vector<RouteEntry>{{prefix("10.244.3.0/24"), ip("192.168.100.3"), false}});
    must(node.nl.delete_route(prefix("10.244.2.0/24"), "vx0"));
    CHECK(must(node.nl.routes("vx0")) ==
          std::vector<RouteEntry>{{prefix("10.245.0.0/16"), std::nullopt, false},
                                  {prefix("10.246.0.0/16"), std::nullopt, false},
                                  {prefix("fd44:2::/64"), ip("fd44:22::"), true}});

    // Without onlink the kernel wants the gateway reachable through the link, and it is not.
    std::string unreachable =
        error_of(node.nl.replace_route(prefix("10.244.5.0/24"), ip("10.244.5.0"), "vx0", false));
    CHECK(has(unreachable,
              "replace route 10.244.5.0/24 via 10.244.5.0 dev vx0: Network is unreachable"));
    CHECK(error_of(node.nl.replace_route(prefix("10.244.5.0/24"), std::nullopt, "vx0", true)) ==
          "replace route 10.244.5.0/24 dev vx0 onlink: onlink needs a gateway");
    CHECK(error_of(node.nl.replace_route(prefix("10.244.5.0/24"), ip("fd44:5::"), "vx0", true)) ==
          "replace route 10.244.5.0/24 via fd44:5:: dev vx0 onlink: gateway fd44:5:: is not IPv4");
    CHECK(
        error_of(node.nl.replace_route(prefix("10.244.5.0/24"), ip("10.244.5.0"), "nope", true)) ==
        "replace route 10.244.5.0/24 via 10.244.5.0 dev nope onlink: link nope: No such device");
    CHECK(error_of(node.nl.routes("nope")) ==
          "list routes of link nope: link nope: No such device");
    // A link that is down takes no routes; the kernel says so.
    must(node.nl.set_down("vx0"));
    std::string down =
        error_of(node.nl.replace_route(prefix("10.244.6.0/24"), ip("10.244.6.0"), "vx0", true));
    CHECK(has(down, "replace route 10.244.6.0/24 via 10.244.6.0 dev vx0 onlink: Network is down"));
}

TEST_CASE("delete_address removes exactly one address; one already gone is fine") {
    Lone lone = lone_node();
    NetlinkSocket& nl = lone.node.nl;
    must(nl.add_address("ul0", prefix("10.9.0.1/32")));
    must(nl.delete_address("ul0", prefix("10.9.0.1/32")));
    must(nl.delete_address("ul0", prefix("10.9.0.1/32")));
    auto left = must(nl.addresses("ul0"));
    CHECK(std::count(left.begin(), left.end(), prefix("192.168.100.1/24")) == 1);
    CHECK(std::count(left.begin(), left.end(), prefix("10.9.0.1/32")) == 0);
    auto missing = nl.delete_address("nosuch0", prefix("10.9.0.1/32"));
    REQUIRE_FALSE(missing.has_value());
    CHECK(missing.error().message.find("nosuch0") != std::string::npos);
}

TEST_CASE("the vxlan backend: a node whose lease changes gives up the old VTEP address") {
    // Two nodes whose leases swapped (both released, then raced): the old network address
    // is now the other node's gateway, and a VTEP still holding it refuses routes through it.
    Lone lone = lone_node();
    podnet::overlay::OverlayConfig config;
    config.network = prefix("10.244.0.0/16");
    config.subnet_len = 24;
    config = must(podnet::overlay::finish_config(config));
    podnet::overlay::LocalNode local{ip("192.168.100.1"), "ul0", 1500};
    auto backend = must(podnet::overlay::make_backend(config, local, lone.node.nl));
    auto data = must(backend->prepare());
    podnet::overlay::Lease first{prefix("10.244.2.0/24"), ip("192.168.100.1"), "node1"};
    first.backend_data = data;
    must(backend->activate(first));
    podnet::overlay::Lease second = first;
    second.subnet = prefix("10.244.3.0/24");
    must(backend->activate(second));
    std::string vtep_of = podnet::overlay::vtep_name(1);
    std::vector<IpPrefix> v4;
    for (const auto& a : must(lone.node.nl.addresses(vtep_of)))
        if (a.address.is_v4()) v4.push_back(a);
    CHECK(v4 == std::vector<IpPrefix>{prefix("10.244.3.0/32")});
    // ... and the route to the node that now holds 10.244.2.0/24 goes in.
    podnet::overlay::Lease peer{prefix("10.244.2.0/24"), ip("192.168.100.2"), "node2"};
    peer.backend_data = {{"VtepMAC", "02:00:00:00:00:02"}};
    must(backend->reconcile({peer}));
    CHECK(must(lone.node.nl.routes(vtep_of)) ==
          std::vector<RouteEntry>{{prefix("10.244.2.0/24"), ip("10.244.2.0"), true}});
}
