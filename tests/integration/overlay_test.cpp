// The overlay for real, in a lab of node namespaces inside the test's private world: pods on
// three nodes reach each other by pod IP over TCP and UDP with their source addresses kept, for
// the host-gw, vxlan and udp backends; a TCP stream survives an agent restart; a node that leaves
// vanishes from the others' kernel state and gets its subnet back when it rejoins; a lab comes down
// leaving nothing.

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include <algorithm>
#include <latch>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>

#include "tests/support/command.hpp"
#include "tests/support/world.hpp"

using namespace podnet::test;
using nlohmann::json;

namespace {

CommandResult on_node(const std::string& root, const std::string& node,
                      const std::vector<std::string>& command, int timeout_ms = 30000) {
    std::vector<std::string> argv = {
        bin_dir() + "/podnet", "--root", root, "lab", "exec", node, "--"};
    argv.insert(argv.end(), command.begin(), command.end());
    return run_command(argv, {}, timeout_ms);
}

std::string pod_on(const std::string& root, const std::string& node, const std::string& name) {
    auto r = on_node(root, node, {"podnet", "sandbox", "create", "--name", name});
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    auto i = on_node(root, node, {"podnet", "sandbox", "inspect", name});
    REQUIRE_MESSAGE(i.exit_code == 0, i.err);
    std::string cidr = json::parse(i.out)["attachments"][0]["ipv4"];
    auto s =
        on_node(root, node, {"podnet", "run", name, "-d", "--", probe(), "serve", "0.0.0.0", "80"});
    REQUIRE_MESSAGE(s.exit_code == 0, s.err);
    return cidr.substr(0, cidr.find('/'));
}

// A request from pod `from` on `node` to ip:80; the server answers "<hostname> saw <peer>".
std::string ask(const std::string& root, const std::string& node, const std::string& from,
                const std::string& proto, const std::string& ip) {
    for (int i = 0; i < 40; ++i) {
        auto r = on_node(root, node,
                         {"podnet", "run", from, "--", probe(), "get", proto, ip, "80", "300"});
        if (r.exit_code == 0) return trim(r.out);
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return "";
}

json lab_status(const std::string& root) {
    auto r = run_podnet(root, {"lab", "status", "--json"});
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    return json::parse(r.out);
}

void three_nodes_talk(const std::string& backend, const std::string& store = "file") {
    std::string root = make_temp_dir("pn-lab");
    auto up =
        run_podnet(root, {"lab", "up", "--nodes", "3", "--backend", backend, "--store", store});
    REQUIRE_MESSAGE(up.exit_code == 0, up.err);
    json status = lab_status(root);
    REQUIRE(status["nodes"].size() == 3);
    std::set<std::string> subnets;
    for (const auto& n : status["nodes"]) subnets.insert(n["subnet"].get<std::string>());
    CHECK(subnets.size() == 3);

    std::vector<std::string> ips;
    for (int k = 1; k <= 3; ++k) ips.push_back(pod_on(root, numbered("node", k), numbered("p", k)));
    for (int a = 1; a <= 3; ++a)
        for (int b = 1; b <= 3; ++b) {
            if (a == b) continue;
            for (const char* proto : {"tcp", "udp"}) {
                INFO(backend << " p" << a << " -> p" << b << " " << proto);
                // The source is the pod's own address: no masquerade inside the cluster.
                CHECK(ask(root, numbered("node", a), numbered("p", a), proto, ips[b - 1]) ==
                      numbered("p", b) + " saw " + ips[a - 1]);
            }
        }

    // Conntrack on node1 holds the pods' flows, but not the tunnel's outer packets (notrack).
    auto tracked = on_node(root, "node1", {"cat", "/proc/net/nf_conntrack"}).out;
    CHECK_MESSAGE(tracked.find("dport=80 ") != std::string::npos, tracked);
    if (backend != "host-gw") {
        std::string tunnel_port = backend == "vxlan" ? "dport=8472 " : "dport=8285 ";
        CHECK_MESSAGE(tracked.find(tunnel_port) == std::string::npos, tracked);
    }

    // `overlay status` on a node: its lease, and the kernel holding what reaches each peer.
    auto st = on_node(root, "node1", {"podnet", "overlay", "status", "--json"});
    REQUIRE_MESSAGE(st.exit_code == 0, st.err);
    json node1 = json::parse(st.out);
    CHECK(node1["lease"]["subnet"] == status["nodes"][0]["subnet"]);
    CHECK(node1["peers"].size() == 2);
    for (const auto& p : node1["peers"]) CHECK_MESSAGE(p["ready"] == true, p.dump());
    CHECK(node1["stale_routes"].empty());

    // An agent restart leaves the kernel alone: a TCP stream across it keeps flowing.
    auto echo = on_node(root, "node2",
                        {"podnet", "run", "p2", "-d", "--", "/usr/bin/socat",
                         "TCP-LISTEN:81,fork,reuseaddr", "EXEC:/bin/cat"});
    REQUIRE_MESSAGE(echo.exit_code == 0, echo.err);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    CommandResult stream;
    std::thread client([&] {
        stream = on_node(root, "node1",
                         {"podnet", "run", "p1", "--", "/bin/sh", "-c",
                          "(for i in $(seq 60); do echo line$i; sleep 0.05; done) | "
                          "/usr/bin/socat -t 2 - TCP:" +
                              ips[1] + ":81"});
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    auto restart = run_podnet(root, {"lab", "restart", "node2"});
    CHECK_MESSAGE(restart.exit_code == 0, restart.err);
    client.join();
    CHECK(stream.exit_code == 0);
    CHECK(std::count(stream.out.begin(), stream.out.end(), '\n') == 60);
    CHECK(lab_status(root)["nodes"][1]["subnet"] == status["nodes"][1]["subnet"]);

    // node3 leaves for good: its lease released, it vanishes from node1's kernel.
    std::string subnet3 = status["nodes"][2]["subnet"];
    std::string net = root + "/run/lab/net.json", leases = "file:" + root + "/run/lab/leases.json";
    REQUIRE(run_podnet(root, {"lab", "stop", "node3"}).exit_code == 0);
    // From the lab's host with every flag given (file store), or on the node itself, where
    // its podnet.toml's [overlay] says it all (etcd).
    auto release = store == "file"
                       ? run_podnet(root, {"overlay", "release", subnet3, "--network-config", net,
                                           "--store", leases})
                       : on_node(root, "node3", {"podnet", "overlay", "release", subnet3});
    REQUIRE_MESSAGE(release.exit_code == 0, release.err);
    auto gone = [&] {
        return on_node(root, "node1", {"ip", "route"}).out.find(subnet3) == std::string::npos;
    };
    for (int i = 0; i < 100 && !gone(); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    CHECK(gone());
    CHECK(
        json::parse(on_node(root, "node1", {"podnet", "overlay", "status", "--json"}).out)["peers"]
            .size() == 1);
    if (backend == "udp") {  // one route covers the cluster: the forwarder must drop it
        auto r = on_node(root, "node1",
                         {"podnet", "run", "p1", "--", probe(), "get", "udp", ips[2], "80", "300"});
        CHECK(r.exit_code != 0);
    }
    if (backend == "vxlan") {
        std::string gw3 = subnet3.substr(0, subnet3.find('/'));
        CHECK(on_node(root, "node1", {"ip", "neigh", "show", "dev", "podnet.1"})
                  .out.find(gw3 + " ") == std::string::npos);
        CHECK(on_node(root, "node1", {"bridge", "fdb", "show", "dev", "podnet.1"})
                  .out.find("dst 192.168.100.3") == std::string::npos);
        CHECK(on_node(root, "node1", {"bridge", "fdb", "show", "dev", "podnet.1"})
                  .out.find("dst 192.168.100.2") != std::string::npos);
    }
    // It rejoins and gets its subnet back.
    auto start = run_podnet(root, {"lab", "start", "node3"});
    REQUIRE_MESSAGE(start.exit_code == 0, start.err);
    CHECK(lab_status(root)["nodes"][2]["subnet"] == subnet3);
    CHECK(ask(root, "node1", "p1", "tcp", ips[2]) == "p3 saw " + ips[0]);

    auto down = run_podnet(root, {"lab", "down"});
    CHECK_MESSAGE(down.exit_code == 0, down.err);
    CHECK(sh("ip link show pnlab0").exit_code != 0);
    CHECK(leftovers(root).empty());
}

}  // namespace

TEST_CASE("host-gw: a pod on each of three nodes reaches the others, sources kept") {
    three_nodes_talk("host-gw");
}

TEST_CASE("vxlan: a pod on each of three nodes reaches the others, sources kept") {
    three_nodes_talk("vxlan");
}

TEST_CASE("udp: a pod on each of three nodes reaches the others, sources kept") {
    three_nodes_talk("udp");
}

// The store is the agents' business alone: the same checks with every backend on etcd.
TEST_CASE("host-gw on etcd: the same three nodes") {
    three_nodes_talk("host-gw", "etcd");
}

TEST_CASE("vxlan on etcd: the same three nodes") {
    three_nodes_talk("vxlan", "etcd");
}

TEST_CASE("udp on etcd: the same three nodes") {
    three_nodes_talk("udp", "etcd");
}

TEST_CASE("vxlan with DirectRouting: nodes on one underlay subnet use plain routes") {
    std::string root = make_temp_dir("pn-lab");
    auto up = run_podnet(root, {"lab", "up", "--nodes", "3", "--direct-routing"});
    REQUIRE_MESSAGE(up.exit_code == 0, up.err);
    json status = lab_status(root);
    std::vector<std::string> ips;
    for (int k = 1; k <= 3; ++k) ips.push_back(pod_on(root, numbered("node", k), numbered("p", k)));
    CHECK(ask(root, "node1", "p1", "tcp", ips[1]) == "p2 saw " + ips[0]);
    CHECK(ask(root, "node3", "p3", "udp", ips[0]) == "p1 saw " + ips[2]);
    // flannel's DirectRouting: the route goes via the peer's address on the underlay, and the
    // VTEP holds no neighbour or FDB entry for it.
    std::string subnet2 = status["nodes"][1]["subnet"];
    auto routes = on_node(root, "node1", {"ip", "route", "show", subnet2}).out;
    CHECK_MESSAGE(routes.find("via 192.168.100.2 dev eth0") != std::string::npos, routes);
    CHECK(
        trim(on_node(root, "node1", {"ip", "neigh", "show", "dev", "podnet.1", "nud", "permanent"})
                 .out)
            .empty());
    CHECK(on_node(root, "node1", {"bridge", "fdb", "show", "dev", "podnet.1"}).out.find("dst") ==
          std::string::npos);
    json node1 = json::parse(on_node(root, "node1", {"podnet", "overlay", "status", "--json"}).out);
    REQUIRE(node1["peers"].size() == 2);
    for (const auto& p : node1["peers"]) {
        CHECK(p["kernel"]["direct"] == true);
        CHECK(p["ready"] == true);
    }
    CHECK(run_podnet(root, {"lab", "down"}).exit_code == 0);
    CHECK(leftovers(root).empty());
}

// Two nodes whose leases are gone start their agents at once: both want the lowest free
// subnet, and the store's locking (file) or transaction (etcd) must give them different ones.
void agents_race(const std::string& store) {
    std::string root = make_temp_dir("pn-lab");
    auto up = run_podnet(root, {"lab", "up", "--nodes", "3", "--store", store});
    REQUIRE_MESSAGE(up.exit_code == 0, up.err);
    for (int round = 0; round < 3; ++round) {
        json before = lab_status(root);
        for (int k : {2, 3}) {
            std::string node = numbered("node", k);
            REQUIRE(run_podnet(root, {"lab", "stop", node}).exit_code == 0);
            auto release = on_node(root, node,
                                   {"podnet", "overlay", "release",
                                    before["nodes"][k - 1]["subnet"].get<std::string>()});
            REQUIRE_MESSAGE(release.exit_code == 0, release.err);
        }
        std::latch go(2);
        CommandResult started[2];
        std::vector<std::thread> starters;
        for (int i = 0; i < 2; ++i)
            starters.emplace_back([&, i] {
                go.arrive_and_wait();
                started[i] = run_podnet(root, {"lab", "start", numbered("node", i + 2)});
            });
        for (auto& t : starters) t.join();
        CHECK_MESSAGE(started[0].exit_code == 0, started[0].err);
        CHECK_MESSAGE(started[1].exit_code == 0, started[1].err);
        json after = lab_status(root);  // named: a range-for over a temporary's member dangles
        std::set<std::string> subnets;
        for (const auto& n : after["nodes"]) subnets.insert(n["subnet"].get<std::string>());
        CHECK(subnets.size() == 3);
    }
    // And the nodes that raced reach each other's pods.
    std::string ip2 = pod_on(root, "node2", "p2"), ip3 = pod_on(root, "node3", "p3");
    CHECK(ask(root, "node2", "p2", "tcp", ip3) == "p3 saw " + ip2);
    CHECK(run_podnet(root, {"lab", "down"}).exit_code == 0);
    CHECK(leftovers(root).empty());
}

TEST_CASE("two agents started at the same instant never share a subnet (file store)") {
    agents_race("file");
}

TEST_CASE("two agents started at the same instant never share a subnet (etcd)") {
    agents_race("etcd");
}

TEST_CASE("etcd store: three vxlan nodes; etcd stopped while agents run, then back") {
    std::string root = make_temp_dir("pn-lab");
    auto up =
        run_podnet(root, {"lab", "up", "--nodes", "3", "--backend", "vxlan", "--store", "etcd"});
    REQUIRE_MESSAGE(up.exit_code == 0, up.err);
    json status = lab_status(root);
    CHECK(status["store"] == "etcd");
    std::set<std::string> subnets;
    for (const auto& n : status["nodes"]) subnets.insert(n["subnet"].get<std::string>());
    CHECK(subnets.size() == 3);
    std::vector<std::string> ips;
    for (int k = 1; k <= 3; ++k) ips.push_back(pod_on(root, numbered("node", k), numbered("p", k)));
    CHECK(ask(root, "node1", "p1", "tcp", ips[2]) == "p3 saw " + ips[0]);

    // etcd goes away: the kernel keeps forwarding, the agents keep running (and retrying).
    REQUIRE(run_podnet(root, {"lab", "stop", "etcd"}).exit_code == 0);
    CHECK(ask(root, "node2", "p2", "udp", ips[0]) == "p1 saw " + ips[1]);
    CHECK(ask(root, "node3", "p3", "tcp", ips[1]) == "p2 saw " + ips[2]);
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    for (const auto& n : lab_status(root)["nodes"]) CHECK(n["agent_running"] == true);

    // It comes back: the agents recover; a restarted node gets its subnet from etcd again.
    REQUIRE(run_podnet(root, {"lab", "start", "etcd"}).exit_code == 0);
    auto restart = run_podnet(root, {"lab", "restart", "node3"});
    CHECK_MESSAGE(restart.exit_code == 0, restart.err);
    CHECK(lab_status(root)["nodes"][2]["subnet"] == status["nodes"][2]["subnet"]);
    CHECK(ask(root, "node1", "p1", "tcp", ips[2]) == "p3 saw " + ips[0]);
    auto log = sh("cat " + root + "/run/lab/nodes/node1/agent.log");
    CHECK(log.out.find("Couldn't connect to server") != std::string::npos);  // it noticed

    auto down = run_podnet(root, {"lab", "down"});
    CHECK_MESSAGE(down.exit_code == 0, down.err);
    CHECK(sh("pgrep -x etcd").exit_code != 0);
    CHECK(leftovers(root).empty());
}

TEST_CASE("lab bad input: one line, non-zero, nothing made") {
    std::string root = make_temp_dir("pn-lab");
    auto r = run_podnet(root, {"lab", "up", "--backend", "ipip"});
    CHECK(r.exit_code != 0);
    CHECK(r.err.find("unknown backend \"ipip\"") != std::string::npos);
    // A /24 is cut into /26s (flannel: two bits below a network smaller than /22), the first
    // skipped: room for three nodes.
    r = run_podnet(root, {"lab", "up", "--nodes", "5", "--cluster-cidr", "10.9.0.0/24"});
    CHECK(r.exit_code != 0);
    CHECK(r.err.find("10.9.0.0/24 has room for 3 nodes, not 5") != std::string::npos);
    r = run_podnet(root, {"lab", "up", "--cluster-cidr", "10.9.0.0/33"});
    CHECK(r.exit_code != 0);
    CHECK(r.err.find("--cluster-cidr") != std::string::npos);
    CHECK(run_podnet(root, {"lab", "status"}).exit_code != 0);
    CHECK(sh("ip link show pnlab0").exit_code != 0);
    // No lab to take down is not an error (as `kind delete cluster`): exit 0, nothing on stdout.
    auto down = run_podnet(root, {"lab", "down"});
    CHECK_MESSAGE(down.exit_code == 0, down.err);
    CHECK(down.out.empty());
    CHECK(down.err == "lab: no lab under " + root + "/run\n");
}

TEST_CASE("a lab up that fails half-way takes down what it built; a foreign pnlab0 is refused") {
    std::string root = make_temp_dir("pn-lab");
    // etcd cannot start: its data directory is taken by a file.
    REQUIRE(sh("mkdir -p " + root + "/run/lab && touch " + root + "/run/lab/etcd").exit_code == 0);
    auto r = run_podnet(root, {"lab", "up", "--nodes", "2", "--store", "etcd"});
    CHECK(r.exit_code != 0);
    CHECK_MESSAGE(r.err.find("lab: etcd stopped") != std::string::npos, r.err);
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    CHECK(sh("ip link show pnlab0").exit_code != 0);
    CHECK(sh("ip link show pnlab1").exit_code != 0);
    CHECK(sh("test -e " + root + "/run/lab").exit_code != 0);
    CHECK(sh("pgrep -f '[e]tcd --name lab'").exit_code != 0);
    CHECK(leftovers(root).empty());

    // A link of that name that is not ours: refused before anything is made, and left alone.
    REQUIRE(sh("ip link add pnlab0 type veth peer name pnlab0p").exit_code == 0);
    r = run_podnet(root, {"lab", "up", "--nodes", "2"});
    CHECK(r.exit_code != 0);
    CHECK_MESSAGE(r.err.find("link pnlab0 already exists") != std::string::npos, r.err);
    CHECK(sh("ip link show pnlab0").exit_code == 0);
    CHECK(sh("test -e " + root + "/run/lab/lab.json").exit_code != 0);
    CHECK(sh("ip link del pnlab0").exit_code == 0);
}

TEST_CASE("an IPv6 cluster over an IPv4 underlay: vxlan carries it; host-gw says why it can't") {
    std::string root = make_temp_dir("pn-lab");
    auto up = run_podnet(root, {"lab", "up", "--nodes", "2", "--cluster-cidr", "fd10::/48"});
    REQUIRE_MESSAGE(up.exit_code == 0, up.err);
    // Steps on stderr, one per node as it becomes ready; stdout stays "NODE IP SUBNET" lines.
    // Which node wins which subnet is a race (as with flannel): either way round, consistently.
    json status = lab_status(root);
    std::string s1 = status["nodes"][0]["subnet"], s2 = status["nodes"][1]["subnet"];
    CHECK(std::set<std::string>{s1, s2} ==
          std::set<std::string>{"fd10:0:0:1::/64", "fd10:0:0:2::/64"});
    CHECK_MESSAGE(up.err.find("lab: node1 up (" + s1 + ")\n") != std::string::npos, up.err);
    CHECK(up.err.find("lab: node2 up (" + s2 + ")\n") != std::string::npos);
    CHECK(up.out.find("node1 192.168.100.1 " + s1 + "\n") != std::string::npos);
    std::string ip[2];
    for (int k = 1; k <= 2; ++k) {
        std::string node = numbered("node", k), pod = numbered("p", k);
        REQUIRE(on_node(root, node, {"podnet", "sandbox", "create", "--name", pod}).exit_code == 0);
        json info = json::parse(on_node(root, node, {"podnet", "sandbox", "inspect", pod}).out);
        std::string cidr = info["attachments"][0]["ipv6"];
        ip[k - 1] = cidr.substr(0, cidr.find('/'));
        REQUIRE(
            on_node(root, node, {"podnet", "run", pod, "-d", "--", probe(), "serve", "::", "80"})
                .exit_code == 0);
    }
    CHECK(ip[0].starts_with(s1.substr(0, s1.find("::/") + 2)));
    CHECK(ask(root, "node1", "p1", "tcp", ip[1]) == "p2 saw " + ip[0]);
    CHECK(ask(root, "node2", "p2", "udp", ip[0]) == "p1 saw " + ip[1]);
    auto down = run_podnet(root, {"lab", "down"});
    CHECK(down.exit_code == 0);
    CHECK(down.err.find("lab: node2 down\n") != std::string::npos);
    CHECK(run_podnet(root, {"lab", "down"}).exit_code == 0);  // again: nothing left to do
    CHECK(leftovers(root).empty());

    auto hostgw = run_podnet(
        root, {"lab", "up", "--nodes", "2", "--backend", "host-gw", "--cluster-cidr", "fd10::/48"});
    CHECK(hostgw.exit_code != 0);
    CHECK_MESSAGE(hostgw.err.find("differ in family") != std::string::npos, hostgw.err);
    CHECK(sh("ip link show pnlab0").exit_code != 0);
    CHECK(leftovers(root).empty());
}

namespace {

std::string file_text(const std::string& path) {
    auto r = sh("cat " + path + " 2>/dev/null");
    return r.exit_code == 0 ? r.out : "";
}

// Until `done()` or ~10 s.
template <typename F>
bool eventually(F done) {
    for (int i = 0; i < 500; ++i) {
        if (done()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return done();
}

}  // namespace

TEST_CASE("overlay agent run by hand on a fresh --root: lease, subnet.env, and leases after") {
    // Exactly as a user starts it: the podnet binary, a fresh root (no state/ yet), flannel's
    // JSON for a host-gw network, the node's address on an underlay link of this namespace.
    std::string root = make_temp_dir("pn-agent");
    std::string net = root + ".net.json";
    REQUIRE(sh("printf '%s' '{\"Network\": \"10.244.0.0/16\", \"EnableNFTables\": false, "
               "\"Backend\": {\"Type\": \"host-gw\"}}' > " +
               net)
                .exit_code == 0);
    REQUIRE(sh("ip link add pnu0 type veth peer name pnu1 && "
               "ip addr add 192.168.77.1/24 dev pnu0 && ip link set pnu1 up && "
               "ip link set pnu0 up")
                .exit_code == 0);
    auto leases = run_podnet(root, {"overlay", "leases", "--network-config", net});
    CHECK_MESSAGE(leases.exit_code == 0, leases.err);  // a fresh root has no leases: no error

    // Started as a user would in a shell (`podnet ... overlay agent &`), its log in a file; the
    // guard stops it (SIGTERM, as Ctrl-C) whatever the checks below do.
    std::string log = root + ".agent.log";
    pid_t agent = ::fork();
    REQUIRE(agent >= 0);
    if (agent == 0) {
        int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        ::dup2(fd, 2);
        std::string podnet = bin_dir() + "/podnet";
        ::execl(podnet.c_str(), podnet.c_str(), "--root", root.c_str(), "overlay", "agent",
                "--network-config", net.c_str(), "--public-ip", "192.168.77.1", "--node", "n1",
                "--ttl", "3", static_cast<char*>(nullptr));
        ::_exit(127);
    }
    struct StopAgent {
        pid_t pid;
        int status = -1;
        void stop() {
            if (pid <= 0) return;
            ::kill(pid, SIGTERM);
            ::waitpid(pid, &status, 0);
            pid = 0;
        }
        ~StopAgent() { stop(); }
    } guard{agent};
    std::string env_path = root + "/run/overlay/subnet.env";
    bool written = eventually([&] { return !file_text(env_path).empty(); });
    CHECK(written);
    CHECK(file_text(env_path) ==
          "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1500\n"
          "FLANNEL_IPMASQ=true\n");
    leases = run_podnet(root, {"overlay", "leases", "--network-config", net, "--json"});
    REQUIRE_MESSAGE(leases.exit_code == 0, leases.err);
    json held = json::parse(leases.out);
    REQUIRE(held.size() == 1);
    CHECK(held[0]["subnet"] == "10.244.1.0/24");
    CHECK(held[0]["PublicIP"] == "192.168.77.1");

    // The lease changes (another node took the subnet while this one's record went): at its next
    // renewal the agent takes another subnet, and subnet.env follows.
    std::string store = root + "/state/overlay/leases.json";
    auto doc = json::parse(file_text(store));
    doc["leases"]["10.244.1.0-24"]["PublicIP"] = "192.168.77.9";
    doc["leases"]["10.244.1.0-24"]["expiration_ms"] = 99999999999999;
    REQUIRE(
        sh("printf '%s' '" + doc.dump() + "' > " + store + ".new && mv " + store + ".new " + store)
            .exit_code == 0);
    CHECK(eventually([&] {
        return file_text(env_path).find("FLANNEL_SUBNET=10.244.2.1/24\n") != std::string::npos;
    }));

    guard.stop();
    std::string agent_log = file_text(log);
    CHECK_MESSAGE(WIFEXITED(guard.status), agent_log);
    CHECK_MESSAGE(WEXITSTATUS(guard.status) == 0, agent_log);
    CHECK(agent_log.find("No such file or directory") == std::string::npos);
    CHECK(agent_log.find("EnableNFTables") == std::string::npos);  // false: nothing to say

    CHECK(run_podnet(root, {"network", "rm", "podnet"}).exit_code == 0);
    CHECK(sh("nft delete table inet podnet_overlay && ip link del pnu0").exit_code == 0);
    CHECK(leftovers(root).empty());
}
