// The docker0 model for real: bridge networks, pod addresses, host ports through nftables,
// masquerade, IPv6, bad input and crash repair. Inside the test's private namespaces, an
// "outside" host is another network namespace joined to ours by a veth (192.168.200.0/24,
// fd00:200::/64); nothing is sent anywhere else.

#include <doctest/doctest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "tests/support/command.hpp"
#include "tests/support/world.hpp"

using namespace podnet::test;
using nlohmann::json;

namespace {

std::string address(const std::string& prefix) {
    return prefix.substr(0, prefix.find('/'));
}

void serve_in(const std::string& root, const std::string& pod, const std::string& addr, int port) {
    auto r =
        run_podnet(root, {"run", pod, "-d", "--", probe(), "serve", addr, std::to_string(port)});
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
}

std::vector<std::string> from_host() {
    return {};
}
std::vector<std::string> from_pod(const std::string& root, const std::string& pod) {
    return {bin_dir() + "/podnet", "--root", root, "run", pod, "--"};
}

std::string nft_table() {
    return sh("nft list table inet podnet").out;
}

}  // namespace

TEST_CASE("pods on the default network: pod IPs, host ports, hairpin, UDP, masquerade") {
    ensure_outside();
    std::string root = make_temp_dir("pn-net");
    create_sandbox(root, {"--name", "a", "-p", "8080:80", "-p", "5353:53/udp"});
    create_sandbox(root, {"--name", "b"});
    json a = inspect_sandbox(root, "a"), b = inspect_sandbox(root, "b");
    REQUIRE(a["attachments"].size() == 1);
    CHECK(a["network"] == "podnet");
    CHECK(a["attachments"][0]["interface"] == "eth0");
    std::string ip_a = address(a["attachments"][0]["ipv4"]);
    std::string ip_b = address(b["attachments"][0]["ipv4"]);
    CHECK(ip_a.starts_with("10.77."));
    CHECK(ip_a != ip_b);
    CHECK(a["ports"] == json::array({"8080:80/tcp", "5353:53/udp"}));
    serve_in(root, "a", "0.0.0.0", 80);
    serve_in(root, "a", "0.0.0.0", 53);
    // IPv4-only network: no IPv6 on the pod's eth0 (no link-local floods across the bridge).
    auto v6 = run_podnet(
        root, {"run", "a", "--", "/bin/cat", "/proc/sys/net/ipv6/conf/eth0/disable_ipv6"});
    CHECK(trim(v6.out) == "1");

    // Pod to pod over the bridge, source preserved.
    CHECK(fetch(from_pod(root, "b"), "tcp", ip_a, 80) == "a saw " + ip_b);
    // The outside reaches the host port; the pod sees the client's own address.
    CHECK(fetch(from_outside(), "tcp", "192.168.200.1", 8080) == "a saw 192.168.200.2");
    CHECK(fetch(from_outside(), "udp", "192.168.200.1", 5353) == "a saw 192.168.200.2");
    // The host itself, on loopback and on its own address.
    CHECK(fetch(from_host(), "tcp", "127.0.0.1", 8080).starts_with("a saw "));
    CHECK(fetch(from_host(), "tcp", "192.168.200.1", 8080).starts_with("a saw "));
    // Hairpin: the pod through its own host port, and a sibling through it.
    CHECK(fetch(from_pod(root, "a"), "tcp", "192.168.200.1", 8080).starts_with("a saw "));
    CHECK(fetch(from_pod(root, "b"), "tcp", "192.168.200.1", 8080).starts_with("a saw "));

    // Leaving the node: masqueraded to the host's address.
    auto outside_server =
        sh("ip netns exec outside " + probe() + " serve 0.0.0.0 9000 1 >/dev/null 2>&1 &");
    REQUIRE(outside_server.exit_code == 0);
    CHECK(fetch(from_pod(root, "b"), "tcp", "192.168.200.2", 9000).ends_with("saw 192.168.200.1"));

    // port rm: unreachable, and gone from the table.
    auto rm = run_podnet(root, {"port", "rm", "a", "8080:80"});
    CHECK_MESSAGE(rm.exit_code == 0, rm.err);
    CHECK(fetch(from_outside(), "tcp", "192.168.200.1", 8080, 2).starts_with("error"));
    CHECK(nft_table().find("8080") == std::string::npos);
    CHECK(trim(run_podnet(root, {"port", "ls", "a"}).out) == "5353:53/udp");
    auto add = run_podnet(root, {"port", "add", "a", "8080:80"});
    CHECK_MESSAGE(add.exit_code == 0, add.err);
    CHECK(fetch(from_outside(), "tcp", "192.168.200.1", 8080) == "a saw 192.168.200.2");

    // sandbox rm: nothing of it left in the table.
    CHECK(run_podnet(root, {"sandbox", "rm", "-f", "a", "b"}).exit_code == 0);
    CHECK(fetch(from_outside(), "udp", "192.168.200.1", 5353, 2).starts_with("error"));
    std::string table = nft_table();
    CHECK(table.find(ip_a) == std::string::npos);
    CHECK(table.find("5353") == std::string::npos);
    CHECK(leftovers(root).empty());
    CHECK(json::parse(run_podnet(root, {"gc", "--json"}).out)["actions"].empty());
}

TEST_CASE("IPv6: pod to pod and a v6 host port on a dual-stack network") {
    ensure_outside();
    std::string root = make_temp_dir("pn-net6");
    auto net = run_podnet(
        root, {"network", "create", "dual", "--subnet", "10.78.0.0/24", "--subnet", "fd78::/64"});
    REQUIRE_MESSAGE(net.exit_code == 0, net.err);
    create_sandbox(root, {"--name", "c", "--network", "dual", "-p", "8081:80", "--ip", "10.78.0.50",
                          "--ip6", "fd78::50"});
    create_sandbox(root, {"--name", "d", "--network", "dual"});
    json c = inspect_sandbox(root, "c"), d = inspect_sandbox(root, "d");
    CHECK(c["attachments"][0]["ipv4"] == "10.78.0.50/24");
    CHECK(c["attachments"][0]["ipv6"] == "fd78::50/64");
    auto taken = run_podnet(root, {"sandbox", "create", "--network", "dual", "--ip", "10.78.0.50"});
    CHECK(taken.exit_code != 0);
    CHECK(taken.err.find("already in use by sandbox") != std::string::npos);
    std::string ip6_c = address(c["attachments"][0]["ipv6"]);
    std::string ip6_d = address(d["attachments"][0]["ipv6"]);
    CHECK(ip6_c.starts_with("fd78::"));
    serve_in(root, "c", "::", 80);
    CHECK(fetch(from_pod(root, "d"), "tcp", ip6_c, 80) == "c saw " + ip6_d);
    auto v6 = run_podnet(
        root, {"run", "c", "--", "/bin/cat", "/proc/sys/net/ipv6/conf/eth0/disable_ipv6"});
    CHECK(trim(v6.out) == "0");
    CHECK(fetch(from_pod(root, "d"), "tcp", address(c["attachments"][0]["ipv4"]), 80)
              .starts_with("c saw "));
    CHECK(fetch(from_outside(), "tcp", "fd00:200::1", 8081) == "c saw fd00:200::2");
    CHECK(run_podnet(root, {"sandbox", "rm", "-f", "c", "d"}).exit_code == 0);
    auto rm = run_podnet(root, {"network", "rm", "dual"});
    CHECK_MESSAGE(rm.exit_code == 0, rm.err);
    CHECK(sh("ip link show pn-dual").exit_code != 0);
    CHECK(leftovers(root).empty());
}

TEST_CASE("network and port bad input: one line, non-zero, nothing made") {
    std::string root = make_temp_dir("pn-netbad");
    REQUIRE(
        run_podnet(root, {"network", "create", "small", "--subnet", "10.79.0.0/29"}).exit_code ==
        0);
    create_sandbox(root, {"--name", "holder", "--network", "small", "-p", "9090:90"});
    struct Case {
        std::vector<std::string> args;
        std::string expect;
    };
    const Case cases[] = {
        {{"network", "create", "x", "--subnet", "10.80.0.0/33"}, "invalid CIDR \"10.80.0.0/33\""},
        {{"network", "create", "x", "--subnet", "10.80.0.1/24"}, "host bits are set"},
        {{"network", "create", "x", "--subnet", "banana"}, "invalid CIDR \"banana\""},
        {{"network", "create", "x", "--subnet", "10.80.0.0/24", "--gateway", "10.81.0.1"},
         "gateway 10.81.0.1 is outside subnet 10.80.0.0/24"},
        {{"network", "create", "x", "--subnet", "10.79.0.0/16"}, "overlaps 10.79.0.0/29"},
        {{"network", "create", "small", "--subnet", "10.82.0.0/24"}, "already exists"},
        {{"network", "rm", "small"}, "in use by sandbox"},
        {{"network", "rm", "nope"}, "network \"nope\": no such network"},
        {{"sandbox", "create", "--network", "nope"}, "network \"nope\": no such network"},
        {{"sandbox", "create", "--network", "small", "--ip", "10.1.0.5"},
         "outside subnet 10.79.0.0/29"},
        {{"sandbox", "create", "--network", "small", "--ip", "10.79.0.1"}, "gateway"},
        {{"sandbox", "create", "--network", "small", "-p", "9090:90"}, "already mapped by sandbox"},
        {{"sandbox", "create", "--network", "small", "-p", "0:80"}, "0:80"},
        {{"sandbox", "create", "--network", "small", "-p", "70000:80"}, "70000:80"},
        {{"sandbox", "create", "--network", "small", "-p", "8000-8002:80-81"}, "8000-8002:80-81"},
        {{"sandbox", "create", "--network", "small", "-p", "80:80/sctp"}, "80:80/sctp"},
        {{"sandbox", "create", "--network", "small", "-p", "banana"}, "banana"},
        {{"port", "add", "holder", "9090:91"}, "already mapped"},
        {{"port", "rm", "holder", "1234:80"}, "is not mapped by sandbox holder"},
    };
    // Links of earlier cases may still be going away with their namespaces (the kernel does
    // that asynchronously): the check is that no link appears, not that the count holds.
    auto links = [] {
        std::set<std::string> names;
        std::istringstream in(sh("ip -o link | awk -F': ' '{print $2}'").out);
        for (std::string line; std::getline(in, line);) names.insert(line);
        return names;
    };
    auto links_before = links();
    for (const auto& c : cases) {
        CAPTURE(c.args);
        auto r = run_podnet(root, c.args);
        CHECK(r.exit_code != 0);
        CHECK(r.err.find(c.expect) != std::string::npos);
        CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    }
    CHECK(json::parse(run_podnet(root, {"sandbox", "ls", "--json"}).out).size() == 1);
    for (const auto& name : links()) CHECK_MESSAGE(links_before.count(name) == 1, name);

    // A /29 holds 5 pods besides the gateway: "holder" plus four more, then exhausted.
    for (int i = 0; i < 4; ++i) create_sandbox(root, {"--network", "small"});
    auto full = run_podnet(root, {"sandbox", "create", "--network", "small"});
    CHECK(full.exit_code != 0);
    CHECK(full.err.find("subnet 10.79.0.0/29 of network small is exhausted") != std::string::npos);
    CHECK(json::parse(run_podnet(root, {"sandbox", "ls", "--json"}).out).size() == 5);
    std::string ids = run_podnet(root, {"sandbox", "ls", "-q"}).out;
    std::vector<std::string> args = {"sandbox", "rm", "-f"};
    for (size_t pos = 0; pos < ids.size();) {
        size_t end = ids.find('\n', pos);
        args.push_back(ids.substr(pos, end - pos));
        pos = end + 1;
    }
    CHECK(run_podnet(root, args).exit_code == 0);
    CHECK(leftovers(root).empty());
}

TEST_CASE("50 parallel creates on a /24 get 50 distinct addresses") {
    std::string root = make_temp_dir("pn-net50");
    REQUIRE(
        run_podnet(root, {"network", "create", "fifty", "--subnet", "10.83.0.0/24"}).exit_code ==
        0);
    std::vector<std::thread> threads;
    std::vector<CommandResult> results(50);
    for (int i = 0; i < 50; ++i)
        threads.emplace_back([&, i] {
            results[i] = run_podnet(root, {"sandbox", "create", "--network", "fifty"});
        });
    for (auto& t : threads) t.join();
    std::set<std::string> addresses;
    for (const auto& r : results) {
        CHECK_MESSAGE(r.exit_code == 0, r.err);
        addresses.insert(address(inspect_sandbox(root, trim(r.out))["attachments"][0]["ipv4"]));
    }
    CHECK(addresses.size() == 50);
    std::string ids = run_podnet(root, {"sandbox", "ls", "-q"}).out;
    for (size_t pos = 0; pos < ids.size();) {
        size_t end = ids.find('\n', pos);
        CHECK(run_podnet(root, {"sandbox", "rm", "-f", ids.substr(pos, end - pos)}).exit_code == 0);
        pos = end + 1;
    }
    CHECK(leftovers(root).empty());
}

TEST_CASE("gc after a crash with the veth, address and host port in place") {
    for (const char* step : {"create.network-attached", "create.ports-published"}) {
        CAPTURE(step);
        std::string root = make_temp_dir("pn-netgc");
        auto r = run_podnet(root, {"sandbox", "create", "--name", "crash", "-p", "7070:70"},
                            {std::string("PODNET_FAULT=") + step});
        REQUIRE(r.exit_code == 137);
        CHECK(sh("ip -o link | grep -c pnv").out != "0\n");
        auto gc = run_podnet(root, {"gc", "--json"});
        REQUIRE_MESSAGE(gc.exit_code == 0, gc.err);
        // The veth either went with the pod's namespace or gc deleted it.
        for (int i = 0; i < 100 && sh("ip -o link | grep -c pnv").out != "0\n"; ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        CHECK(sh("ip -o link | grep -c pnv").out == "0\n");
        CHECK(nft_table().find("7070") == std::string::npos);
        auto net = json::parse(run_podnet(root, {"network", "inspect", "podnet"}).out);
        CHECK(net["sandboxes"].empty());
        CHECK(leftovers(root).empty());
        CHECK(json::parse(run_podnet(root, {"gc", "--json"}).out)["actions"].empty());
        // The address and the port are free again.
        CHECK(
            run_podnet(root, {"sandbox", "create", "--name", "again", "-p", "7070:70"}).exit_code ==
            0);
        CHECK(run_podnet(root, {"sandbox", "rm", "-f", "again"}).exit_code == 0);
    }
}
