// podnet-cni for real, executed the way libcni executes a plugin: CNI_* variables and PATH in
// the environment, the network configuration on stdin (with runtimeConfig.portMappings and, for
// DEL and CHECK, prevResult), the result or an error object on stdout. Runs inside private
// namespaces (tests/support/isolate.hpp): the test's own network namespace plays the host, pods
// are `ip netns add` namespaces (on the private /run), and an "outside" machine sits behind a
// veth (192.168.200.0/24). Nothing is sent anywhere else.

#include <doctest/doctest.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "tests/support/command.hpp"
#include "tests/support/world.hpp"

using namespace podnet::test;
using nlohmann::json;

namespace {

std::string plugin() {
    return bin_dir() + "/podnet-cni";
}
void must(const std::string& command) {
    auto r = sh(command);
    REQUIRE_MESSAGE(r.exit_code == 0, (command + ": " + r.err));
}

struct PluginRun : CommandResult {
    [[nodiscard]] json result() const { return json::parse(out, nullptr, false); }
};

struct Attachment {
    std::string container_id;
    std::string netns;  // path
    std::string ifname = "eth0";
};

// One plugin execution with a clean environment: what containerd gives a plugin.
PluginRun exec_plugin(const std::vector<std::string>& env, const std::string& stdin_text) {
    RunOptions options;
    options.env = env;
    options.only_env = true;
    options.stdin_text = stdin_text;
    return {run_program({plugin()}, options)};
}

std::vector<std::string> cni_env(const std::string& command, const Attachment& a) {
    std::vector<std::string> env = {
        "CNI_COMMAND=" + command,
        "CNI_CONTAINERID=" + a.container_id,
        "CNI_IFNAME=" + a.ifname,
        "CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAMESPACE=default",
        "CNI_PATH=" + bin_dir() + ":/opt/cni/bin",
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"};
    if (!a.netns.empty()) env.push_back("CNI_NETNS=" + a.netns);
    return env;
}

// The plugin's configuration as libcni hands it over: the network's plugin object, with
// runtimeConfig holding the capability arguments and, after ADD, prevResult.
json network_conf(const std::string& root, const std::string& name, const std::string& bridge,
                  const std::string& subnet, const std::string& version = "1.1.0") {
    return {{"cniVersion", version},
            {"name", name},
            {"type", "podnet-cni"},
            {"root", root},
            {"bridge", bridge},
            {"subnet", subnet},
            {"capabilities", {{"portMappings", true}}}};
}

json with_ports(json conf, const json& mappings) {
    conf["runtimeConfig"] = {{"portMappings", mappings}};
    return conf;
}

json with_prev(json conf, const json& prev) {
    conf["prevResult"] = prev;
    return conf;
}

PluginRun cni(const std::string& command, const Attachment& a, const json& conf) {
    return exec_plugin(cni_env(command, a), conf.dump());
}

std::string new_pod(const std::string& name) {
    must("ip netns add " + name);
    must("ip -n " + name + " link set lo up");
    return "/run/netns/" + name;
}

// A pn-probe server inside a pod namespace; returns its pid (killed by the caller).
int serve_in(const std::string& pod, int port) {
    auto r = sh("ip netns exec " + pod + " " + probe() + " serve 0.0.0.0 " + std::to_string(port) +
                " >/dev/null 2>&1 & echo $!");
    REQUIRE(r.exit_code == 0);
    return std::stoi(trim(r.out));
}

void stop(int pid) {
    ::kill(pid, SIGKILL);
}

// A TCP request from inside `netns` ("" for the test's own namespace), retried a while.
std::string fetch(const std::string& netns, const std::string& addr, int port, int attempts = 20) {
    std::vector<std::string> prefix;
    if (!netns.empty()) prefix = {"/bin/ip", "netns", "exec", netns};
    return podnet::test::fetch(prefix, "tcp", addr, port, attempts);
}

std::string read_text(const std::string& path) {
    std::ifstream f(path);
    return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

// Leases of a network in the plugin's IPAM file: address -> owner.
json leases(const std::string& root, const std::string& network) {
    std::string text = read_text(root + "/state/ipam/" + network + ".json");
    if (text.empty()) return json::object();
    return json::parse(text)["allocations"];
}

std::string ports4() {
    return sh("nft list map inet podnet ports4").out;
}

bool link_exists(const std::string& name, const std::string& netns = "") {
    std::string prefix = netns.empty() ? "ip " : "ip -n " + netns + " ";
    return sh(prefix + "link show " + name + " >/dev/null 2>&1").exit_code == 0;
}

// lstat: a claim is a symlink whose target (an attachment id) is no path.
bool path_exists(const std::string& path) {
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0;
}

// A failed run: exit 1 and an error object with the four keys.
json error_object(const PluginRun& r) {
    CHECK_MESSAGE(r.exit_code == 1, (r.out + r.err));
    json j = json::parse(r.out, nullptr, false);
    REQUIRE_MESSAGE(j.is_object(), r.out);
    CHECK(j.contains("cniVersion"));
    CHECK(j["code"].is_number_integer());
    CHECK(j["msg"].is_string());
    CHECK(j["details"].is_string());
    return j;
}

}  // namespace

TEST_CASE("ADD, a host port from outside, CHECK, DEL and DEL again") {
    ensure_outside();
    std::string root = make_temp_dir("pn-cni");
    std::string netns = new_pod("cnipod1");
    Attachment a{"5a1c0ffee5a1", netns};
    json conf = network_conf(root, "cnitest", "pncni1", "10.78.0.0/24");
    json mapped =
        with_ports(conf, {{{"hostPort", 8080}, {"containerPort", 80}, {"protocol", "tcp"}}});

    auto add = cni("ADD", a, mapped);
    REQUIRE_MESSAGE(add.exit_code == 0, (add.out + add.err));
    MESSAGE("ADD with a host port: " << add.ms << " ms");
    json r = add.result();
    // The 1.1.0 result: host end, pod end (with its namespace), address, default route.
    CHECK(r["cniVersion"] == "1.1.0");
    REQUIRE(r["interfaces"].size() == 2);
    std::string host_if = r["interfaces"][0]["name"];
    CHECK(host_if.starts_with("pnc"));
    CHECK(host_if.size() == 15);
    CHECK(r["interfaces"][0]["mac"].get<std::string>().size() == 17);
    CHECK(r["interfaces"][1]["name"] == "eth0");
    CHECK(r["interfaces"][1]["sandbox"] == netns);
    std::string mac = r["interfaces"][1]["mac"];
    REQUIRE(r["ips"].size() == 1);
    std::string address = r["ips"][0]["address"];
    std::string ip = address.substr(0, address.find('/'));
    CHECK(address.starts_with("10.78.0."));
    CHECK(address.ends_with("/24"));
    CHECK(r["ips"][0]["gateway"] == "10.78.0.1");
    CHECK(r["ips"][0]["interface"] == 1);
    CHECK(r["routes"] == json::array({{{"dst", "0.0.0.0/0"}, {"gw", "10.78.0.1"}}}));
    CHECK(r["dns"] == json::object());

    // What the kernel has: eth0 with that address and MAC, the default route, the host end on
    // the bridge, IPv6 off on an IPv4-only network.
    CHECK(sh("ip -n cnipod1 -4 addr show dev eth0").out.find("inet " + address) !=
          std::string::npos);
    CHECK(sh("ip -n cnipod1 link show dev eth0").out.find(mac) != std::string::npos);
    CHECK(sh("ip -n cnipod1 route show default").out.find("default via 10.78.0.1 dev eth0") !=
          std::string::npos);
    CHECK(sh("ip link show dev " + host_if).out.find("master pncni1") != std::string::npos);
    CHECK(trim(sh("ip netns exec cnipod1 cat /proc/sys/net/ipv6/conf/eth0/disable_ipv6").out) ==
          "1");

    // The host port, from the outside machine and from the host itself; the pod sees the
    // client's own address.
    int server = serve_in("cnipod1", 80);
    CHECK(fetch("outside", "192.168.200.1", 8080).ends_with("saw 192.168.200.2"));
    CHECK(fetch("", "127.0.0.1", 8080).find(" saw ") != std::string::npos);
    CHECK(ports4().find("tcp . 8080") != std::string::npos);

    // CHECK against the kernel: passes, then fails once the address is gone.
    auto check = cni("CHECK", a, with_prev(mapped, r));
    CHECK_MESSAGE(check.exit_code == 0, (check.out + check.err));
    CHECK(check.out.empty());
    must("ip -n cnipod1 addr del " + address + " dev eth0");
    json broken = error_object(cni("CHECK", a, with_prev(mapped, r)));
    CHECK(broken["msg"].get<std::string>().find("eth0 in " + netns + " does not have address " +
                                                address) != std::string::npos);
    must("ip -n cnipod1 addr add " + address + " dev eth0");

    // DEL: lease, nft elements, claim and record gone; the port answers no more.
    std::string owner = leases(root, "cnitest").at(ip);
    CHECK(owner.size() == 64);
    auto del = cni("DEL", a, with_prev(mapped, r));
    CHECK_MESSAGE(del.exit_code == 0, (del.out + del.err));
    CHECK(del.out.empty());
    MESSAGE("DEL with a host port: " << del.ms << " ms");
    CHECK(leases(root, "cnitest").empty());
    CHECK(ports4().find("8080") == std::string::npos);
    CHECK_FALSE(path_exists(root + "/run/ports/tcp-8080"));
    CHECK_FALSE(path_exists(root + "/run/attachments/cnitest/" + owner + ".json"));
    CHECK(fetch("outside", "192.168.200.1", 8080, 2).starts_with("error"));
    // The namespace lives on (a process still in it), its veth with it: down, so the address
    // the next ADD may get is not answered for by this pod (no carrier, no ARP).
    CHECK(sh("ip link show dev " + host_if).out.find("state DOWN") != std::string::npos);
    CHECK(sh("ip -n cnipod1 link show dev eth0").out.find("NO-CARRIER") != std::string::npos);
    CHECK(fetch("", ip, 80, 2).starts_with("error"));
    stop(server);

    // DEL again, and DEL without a namespace: nothing left to do, still success.
    auto again = cni("DEL", a, mapped);
    CHECK_MESSAGE(again.exit_code == 0, again.out);
    auto no_netns = cni("DEL", Attachment{a.container_id, ""}, conf);
    CHECK_MESSAGE(no_netns.exit_code == 0, no_netns.out);

    // The namespace goes: its veth with it.
    must("ip netns del cnipod1");
    for (int i = 0; i < 50 && link_exists(host_if); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    CHECK_FALSE(link_exists(host_if));
}

TEST_CASE("CNI 1.0.0, dual stack, and DEL after the namespace is gone") {
    std::string root = make_temp_dir("pn-cni6");
    std::string netns = new_pod("cnipod6");
    Attachment a{"dual0", netns, "net1"};
    json conf = network_conf(root, "dual", "pncni6", "10.78.6.0/24", "1.0.0");
    conf["subnet6"] = "fd78:6::/64";
    auto add = cni("ADD", a, conf);
    REQUIRE_MESSAGE(add.exit_code == 0, (add.out + add.err));
    json r = add.result();
    CHECK(r["cniVersion"] == "1.0.0");
    CHECK(r["interfaces"][1]["name"] == "net1");
    REQUIRE(r["ips"].size() == 2);
    CHECK(r["ips"][1]["address"].get<std::string>().starts_with("fd78:6::"));
    CHECK(r["ips"][1]["gateway"] == "fd78:6::1");
    CHECK(r["routes"][1] == json{{"dst", "::/0"}, {"gw", "fd78:6::1"}});
    CHECK(sh("ip -n cnipod6 -6 addr show dev net1").out.find(r["ips"][1]["address"]) !=
          std::string::npos);
    CHECK(sh("ip -n cnipod6 -6 route show default").out.find("via fd78:6::1 dev net1") !=
          std::string::npos);
    auto check = cni("CHECK", a, with_prev(conf, r));
    CHECK_MESSAGE(check.exit_code == 0, check.out);

    // The runtime lost the namespace before DEL: release by owner, the veth goes with it.
    std::string host_if = r["interfaces"][0]["name"];
    must("ip netns del cnipod6");
    auto del = cni("DEL", a, with_prev(conf, r));
    CHECK_MESSAGE(del.exit_code == 0, (del.out + del.err));
    CHECK(leases(root, "dual").empty());
    CHECK_FALSE(link_exists(host_if));
    CHECK(cni("DEL", a, conf).exit_code == 0);
}

TEST_CASE("VERSION and STATUS") {
    std::string root = make_temp_dir("pn-cniv");
    auto version =
        exec_plugin({"CNI_COMMAND=VERSION", "PATH=/usr/bin:/bin"}, R"({"cniVersion":"1.1.0"})");
    REQUIRE(version.exit_code == 0);
    json v = json::parse(version.out);
    CHECK(v["supportedVersions"] == json::array({"1.0.0", "1.1.0"}));
    CHECK(v["cniVersion"] == "1.1.0");

    auto status = exec_plugin({"CNI_COMMAND=STATUS", "CNI_PATH=" + bin_dir(), "PATH=/usr/bin:/bin"},
                              network_conf(root, "st", "pncnis", "10.78.9.0/24").dump());
    CHECK_MESSAGE(status.exit_code == 0, (status.out + status.err));
    CHECK(status.out.empty());
}

TEST_CASE("GC releases every attachment of the network not listed, keeps the listed ones") {
    std::string root = make_temp_dir("pn-cnigc");
    json conf = network_conf(root, "gcnet", "pncni2", "10.78.2.0/24");
    json other_conf = network_conf(root, "gcother", "pncni3", "10.78.3.0/24");
    Attachment keep{"keep0", new_pod("gckeep")};
    Attachment drop{"drop0", new_pod("gcdrop")};
    Attachment drop2{"drop1", new_pod("gcdrop2")};
    Attachment other{"other0", new_pod("gcother")};  // another network under the same root
    auto add_keep =
        cni("ADD", keep, with_ports(conf, {{{"hostPort", 9090}, {"containerPort", 90}}}));
    auto add_drop =
        cni("ADD", drop, with_ports(conf, {{{"hostPort", 9091}, {"containerPort", 91}}}));
    auto add_drop2 = cni("ADD", drop2, conf);
    auto add_other = cni("ADD", other, other_conf);
    for (const auto* r : {&add_keep, &add_drop, &add_drop2, &add_other})
        REQUIRE_MESSAGE(r->exit_code == 0, (r->out + r->err));
    CHECK(leases(root, "gcnet").size() == 3);
    std::string drop_if = add_drop.result()["interfaces"][0]["name"];
    std::string drop2_if = add_drop2.result()["interfaces"][0]["name"];
    std::string keep_if = add_keep.result()["interfaces"][0]["name"];
    // DEL while the namespace lives: the veth is left to go with it (free); if the runtime
    // keeps the namespace, GC deletes it.
    Attachment left{"left0", new_pod("gcleft")};
    auto add_left = cni("ADD", left, conf);
    REQUIRE_MESSAGE(add_left.exit_code == 0, (add_left.out + add_left.err));
    std::string left_if = add_left.result()["interfaces"][0]["name"];
    CHECK(cni("DEL", left, conf).exit_code == 0);
    CHECK(link_exists(left_if));

    json gc = conf;
    gc["cni.dev/valid-attachments"] = {{{"containerID", "keep0"}, {"ifname", "eth0"}}};
    gc["cni.dev/attachments"] = gc["cni.dev/valid-attachments"];  // libcni sends both
    auto run_gc = [&] {
        return exec_plugin({"CNI_COMMAND=GC", "CNI_PATH=" + bin_dir(), "PATH=/usr/bin:/bin"},
                           gc.dump());
    };
    auto collected = run_gc();
    CHECK_MESSAGE(collected.exit_code == 0, (collected.out + collected.err));
    CHECK(collected.out.empty());

    // The dropped ones: leases, claims, nft elements, records and host veths gone (their
    // namespaces still exist: GC deletes the veths by name).
    json remaining = leases(root, "gcnet");
    std::string keep_address = add_keep.result()["ips"][0]["address"];
    CHECK(remaining.size() == 1);
    CHECK(remaining.begin().key() == keep_address.substr(0, keep_address.find('/')));
    CHECK(ports4().find("9091") == std::string::npos);
    CHECK_FALSE(path_exists(root + "/run/ports/tcp-9091"));
    CHECK_FALSE(link_exists(drop_if));
    CHECK_FALSE(link_exists(drop2_if));
    CHECK_FALSE(link_exists("eth0", "gcdrop"));
    CHECK_FALSE(link_exists(left_if));
    // The kept one, and the other network's, untouched.
    CHECK(ports4().find("9090") != std::string::npos);
    CHECK(path_exists(root + "/run/ports/tcp-9090/any"));
    CHECK(link_exists(keep_if));
    auto check = cni("CHECK", keep, with_prev(conf, add_keep.result()));
    CHECK_MESSAGE(check.exit_code == 0, check.out);
    CHECK(leases(root, "gcother").size() == 1);
    auto check_other = cni("CHECK", other, with_prev(other_conf, add_other.result()));
    CHECK_MESSAGE(check_other.exit_code == 0, check_other.out);

    // Twice changes nothing; a DEL of what GC took is still fine.
    CHECK(run_gc().exit_code == 0);
    CHECK(leases(root, "gcnet").size() == 1);
    CHECK(cni("DEL", drop, conf).exit_code == 0);

    // GC with an empty list releases the rest of this network only.
    gc["cni.dev/valid-attachments"] = json::array();
    gc.erase("cni.dev/attachments");
    CHECK(run_gc().exit_code == 0);
    CHECK(leases(root, "gcnet").empty());
    CHECK(ports4().find("9090") == std::string::npos);
    CHECK(leases(root, "gcother").size() == 1);
    CHECK(cni("DEL", other, other_conf).exit_code == 0);
    for (const char* pod : {"gckeep", "gcdrop", "gcdrop2", "gcother", "gcleft"})
        must(std::string("ip netns del ") + pod);
}

TEST_CASE("a host port held by another attachment: an error naming it, nothing left behind") {
    std::string root = make_temp_dir("pn-cniconf");
    json conf = network_conf(root, "conflict", "pncni4", "10.78.4.0/24");
    json mapped = with_ports(conf, {{{"hostPort", 8181}, {"containerPort", 80}}});
    Attachment first{"first0", new_pod("cfirst")};
    Attachment second{"second0", new_pod("csecond")};
    auto add = cni("ADD", first, mapped);
    REQUIRE_MESSAGE(add.exit_code == 0, (add.out + add.err));
    json e = error_object(cni("ADD", second, mapped));
    CHECK(e["code"] == 999);
    CHECK_MESSAGE(e["msg"].get<std::string>().find(
                      "host port 8181:80/tcp is already mapped by container first0 (interface "
                      "eth0, network conflict)") != std::string::npos,
                  e["msg"]);
    CHECK(leases(root, "conflict").size() == 1);
    CHECK_FALSE(link_exists("eth0", "csecond"));
    CHECK(sh("ip link show master pncni4").out.find("pnc") != std::string::npos);
    CHECK(sh("ip -o link show master pncni4 | wc -l").out == "1\n");
    // The same container again without DEL: refused, the first attachment intact.
    json twice = error_object(cni("ADD", first, mapped));
    CHECK(twice["msg"].get<std::string>().find("already attached") != std::string::npos);
    CHECK(cni("CHECK", first, with_prev(mapped, add.result())).exit_code == 0);
    CHECK(cni("DEL", first, mapped).exit_code == 0);
    for (const char* pod : {"cfirst", "csecond"}) must(std::string("ip netns del ") + pod);
}

TEST_CASE("bad input: error objects with the spec's codes, exit 1") {
    std::string root = make_temp_dir("pn-cnibad");
    std::string netns = new_pod("cnibad");
    Attachment a{"bad0", netns};
    json conf = network_conf(root, "badnet", "pncni5", "10.78.5.0/24");

    json bad_subnet = conf;
    bad_subnet["subnet"] = "10.78.5.0/33";
    json e = error_object(cni("ADD", a, bad_subnet));
    CHECK(e["code"] == 7);
    CHECK(e["msg"].get<std::string>().find("subnet") != std::string::npos);

    json podnets = conf;
    podnets["subnet"] = "10.77.0.0/24";
    e = error_object(cni("ADD", a, podnets));
    CHECK(e["code"] == 7);
    CHECK(e["msg"].get<std::string>().find("podnet's own default network") != std::string::npos);

    json old = conf;
    old["cniVersion"] = "0.4.0";
    e = error_object(cni("ADD", a, old));
    CHECK(e["code"] == 1);
    CHECK(e["msg"] == "incompatible CNI versions; config is 0.4.0, plugin supports [1.0.0 1.1.0]");

    e = error_object(cni("FROB", a, conf));
    CHECK(e["code"] == 4);
    CHECK(e["msg"] == "unknown CNI_COMMAND: FROB");

    e = error_object(cni("ADD", Attachment{"bad0", ""}, conf));
    CHECK(e["code"] == 4);
    CHECK(e["msg"] == "required env variables [CNI_NETNS] missing");
    CHECK(e["cniVersion"] == "1.1.0");

    e = error_object(cni("ADD", Attachment{"bad0", "/run/netns/no-such-pod"}, conf));
    CHECK(e["code"] == 3);
    // The plugin's own namespace (here: the test's host) is refused, not turned into a pod.
    e = error_object(cni("ADD", Attachment{"bad0", "/proc/self/ns/net"}, conf));
    CHECK(e["code"] == 8);

    e = error_object(exec_plugin(cni_env("ADD", a), "{not json"));
    CHECK(e["code"] == 6);

    // None of it touched the kernel or the state.
    CHECK_FALSE(link_exists("pncni5"));
    CHECK_FALSE(link_exists("eth0", "cnibad"));
    CHECK(leases(root, "badnet").empty());
    must("ip netns del cnibad");
}
