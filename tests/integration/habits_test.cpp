// Habits Docker, podman and kubectl users bring: random host ports (-p 80), network create
// without --subnet, inspect of several sandboxes, ls -q, exit codes scripts can branch on, and
// the hint to run gc when a crashed sandbox holds a port. Inside the test's private namespaces,
// with the "outside" host of tests/support/world.hpp; nothing is sent anywhere else.

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>

#include "common/unique_fd.hpp"
#include "tests/support/command.hpp"
#include "tests/support/world.hpp"

using namespace podnet;
using namespace podnet::test;
using nlohmann::json;

namespace {

constexpr const char* port_range_path = "/proc/sys/net/ipv4/ip_local_port_range";

std::string read_text(const std::string& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

void write_text(const std::string& path, const std::string& text) {
    std::ofstream out(path);
    out << text;
    out.close();
    REQUIRE_MESSAGE(out.good(), path);
}

// The test's namespace plays the host: its ephemeral range is ours to narrow (it is per
// network namespace), and put back at the end.
struct PortRange {
    std::string saved = read_text(port_range_path);
    explicit PortRange(const std::string& range) { write_text(port_range_path, range); }
    ~PortRange() { write_text(port_range_path, saved); }
};

// A TCP listener on the host, as a service the host runs would hold the port.
UniqueFd listen_on(uint16_t port) {
    UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    REQUIRE(fd);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    REQUIRE(::bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0);
    REQUIRE(::listen(fd.get(), 4) == 0);
    return fd;
}

std::vector<std::string> lines(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
}

// "40001:80/tcp" -> 40001
int host_port_of(const std::string& mapping) {
    std::smatch m;
    REQUIRE_MESSAGE(std::regex_search(mapping, m, std::regex("(\\d+):\\d+/(tcp|udp)$")), mapping);
    return std::stoi(m[1]);
}

void serve_in(const std::string& root, const std::string& pod, int port) {
    auto r = run_podnet(
        root, {"run", pod, "-d", "--", probe(), "serve", "0.0.0.0", std::to_string(port)});
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
}

}  // namespace

TEST_CASE("-p 80 picks a free host port of the ephemeral range, skipping claims and listeners") {
    ensure_outside();
    std::string root = make_temp_dir("pn-random");
    PortRange range("40000 40002");
    UniqueFd listener = listen_on(40000);  // the host's own service: never handed out

    create_sandbox(root, {"--name", "r1", "-p", "80"});
    create_sandbox(root, {"--name", "r2", "-p", "80"});
    json r1 = inspect_sandbox(root, "r1"), r2 = inspect_sandbox(root, "r2");
    REQUIRE(r1["ports"].size() == 1);
    REQUIRE(r2["ports"].size() == 1);
    int p1 = host_port_of(r1["ports"][0]), p2 = host_port_of(r2["ports"][0]);
    CHECK(std::set<int>{p1, p2} == std::set<int>{40001, 40002});
    CHECK(r1["ports"][0] == std::to_string(p1) + ":80/tcp");
    // port ls shows the port that was chosen.
    CHECK(trim(run_podnet(root, {"port", "ls", "r1"}).out) == std::to_string(p1) + ":80/tcp");

    // It works: the outside reaches the pod through the chosen port.
    serve_in(root, "r1", 80);
    CHECK(fetch(from_outside(), "tcp", "192.168.200.1", p1) == "r1 saw 192.168.200.2");

    // Every TCP port of the range is taken now (40000 by the listener): a clear refusal,
    // nothing made.
    auto full = run_podnet(root, {"sandbox", "create", "--name", "r3", "-p", "80"});
    CHECK(full.exit_code == 1);
    CHECK(full.err ==
          "podnet: create sandbox r3: no free host port for 80/tcp in 40000-40002 "
          "(net.ipv4.ip_local_port_range): each is mapped by a sandbox or bound by a socket on "
          "the host\n");
    CHECK(run_podnet(root, {"sandbox", "inspect", "r3"}).exit_code == 1);
    // UDP is another space; a bound host address is kept.
    create_sandbox(root, {"--name", "r3", "-p", "127.0.0.1::53/udp"});
    std::string udp = inspect_sandbox(root, "r3")["ports"][0];
    CHECK(std::regex_match(udp, std::regex("127\\.0\\.0\\.1:4000[012]:53/udp")));

    // Removing r2 frees its port for the next one.
    CHECK(run_podnet(root, {"sandbox", "rm", "-f", "r2"}).exit_code == 0);
    create_sandbox(root, {"--name", "r4", "-p", "80"});
    CHECK(inspect_sandbox(root, "r4")["ports"][0] == std::to_string(p2) + ":80/tcp");

    // port add: a container range without host ports gets one random port each; the explicit
    // range form keeps working.
    write_text(port_range_path, "40000 40009");
    auto add = run_podnet(root, {"port", "add", "r1", "8000-8001", "7000-7001:7000-7001"});
    REQUIRE_MESSAGE(add.exit_code == 0, add.err);
    auto held = lines(add.out);
    REQUIRE(held.size() == 5);
    std::set<int> ports = {p1, p2, 40000};
    for (const auto& m : held) ports.insert(host_port_of(m));
    CHECK(ports.size() == 7);  // all distinct, and neither the listener's nor r4's
    CHECK(std::count(held.begin(), held.end(), "7000:7000/tcp") == 1);
    CHECK(std::count(held.begin(), held.end(), "7001:7001/tcp") == 1);
    CHECK(lines(run_podnet(root, {"port", "ls", "r1"}).out) == held);

    // port rm with Docker's -p form: the mapping of container port 8000, whatever its host port.
    int p8000 = 0;
    for (const auto& m : held)
        if (m.ends_with(":8000/tcp")) p8000 = host_port_of(m);
    REQUIRE(p8000 != 0);
    auto rm = run_podnet(root, {"port", "rm", "r1", "8000"});
    CHECK_MESSAGE(rm.exit_code == 0, rm.err);
    CHECK(rm.out.find(":8000/tcp") == std::string::npos);
    CHECK(lines(rm.out).size() == 4);
    CHECK(sh("nft list table inet podnet").out.find(std::to_string(p8000)) == std::string::npos);
    auto again = run_podnet(root, {"port", "rm", "r1", "8000"});
    CHECK(again.exit_code == 1);
    CHECK(again.err.find("port 8000/tcp is not mapped by sandbox r1") != std::string::npos);

    // Docker's host range for one container port: the first free port of that range.
    std::set<int> used = {40000, p2};
    for (const auto& m : lines(run_podnet(root, {"port", "ls", "r1"}).out))
        used.insert(host_port_of(m));
    int first_free = 40003;
    while (used.contains(first_free)) ++first_free;
    auto ranged = run_podnet(root, {"port", "add", "r4", "40003-40009:90"});
    REQUIRE_MESSAGE(ranged.exit_code == 0, ranged.err);
    CHECK(lines(ranged.out) == std::vector<std::string>{std::to_string(p2) + ":80/tcp",
                                                        std::to_string(first_free) + ":90/tcp"});
    auto unranged = run_podnet(root, {"port", "rm", "r4", "40003-40009:90"});
    CHECK_MESSAGE(unranged.exit_code == 0, unranged.err);
    CHECK(unranged.out == std::to_string(p2) + ":80/tcp\n");

    CHECK(run_podnet(root, {"sandbox", "rm", "-f", "r1", "r3", "r4"}).exit_code == 0);
    CHECK(leftovers(root).empty());
    CHECK(json::parse(run_podnet(root, {"gc", "--json"}).out)["actions"].empty());
}

TEST_CASE("a host port held by a crashed sandbox: the error says to run podnet gc") {
    std::string root = make_temp_dir("pn-stale");
    // A create killed after publishing: the claim is there, the record never was.
    auto crash = run_podnet(root, {"sandbox", "create", "--name", "gone", "-p", "7171:71"},
                            {"PODNET_FAULT=create.ports-published"});
    REQUIRE(crash.exit_code == 137);
    auto r = run_podnet(root, {"sandbox", "create", "--name", "next", "-p", "7171:71"});
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("port 7171:71/tcp is claimed by sandbox ") != std::string::npos);
    CHECK(r.err.find("which no longer exists (it crashed?): run `podnet gc` to release it") !=
          std::string::npos);

    // A sandbox whose pause was killed: its record is there, it is not running.
    create_sandbox(root, {"--name", "dead", "-p", "7272:72"});
    int pid = inspect_sandbox(root, "dead")["pause_pid"];
    REQUIRE(::kill(pid, SIGKILL) == 0);
    for (int i = 0; i < 100 && inspect_sandbox(root, "dead")["state"] != "exited"; ++i)
        usleep(10000);
    r = run_podnet(root, {"sandbox", "create", "--name", "next", "-p", "7272:72"});
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("port 7272:72/tcp is held by sandbox dead (") != std::string::npos);
    CHECK(r.err.find("which is not running: run `podnet gc` to release it") != std::string::npos);

    // A live holder is named as before, without the hint.
    create_sandbox(root, {"--name", "live", "-p", "7373:73"});
    r = run_podnet(root, {"sandbox", "create", "-p", "7373:73"});
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("is already mapped by sandbox ") != std::string::npos);
    CHECK(r.err.find("(live)") != std::string::npos);
    CHECK(r.err.find("gc") == std::string::npos);

    // gc releases both; then the ports are free.
    REQUIRE(run_podnet(root, {"gc"}).exit_code == 0);
    create_sandbox(root, {"--name", "next", "-p", "7171:71", "-p", "7272:72"});
    CHECK(run_podnet(root, {"sandbox", "rm", "-f", "next", "live"}).exit_code == 0);
    CHECK(leftovers(root).empty());
}

TEST_CASE("network create without --subnet picks a free /24, skipping what is in use") {
    std::string root = make_temp_dir("pn-autonet");
    // The host already uses 10.78.0.0/24 (an address) and 10.78.1.0/24 (a route).
    REQUIRE(sh("ip link add pnt-used type bridge && ip link set pnt-used up && "
               "ip addr add 10.78.0.9/24 dev pnt-used && "
               "ip route add 10.78.1.0/24 dev pnt-used")
                .exit_code == 0);
    auto a = run_podnet(root, {"network", "create", "auto1", "--json"});
    REQUIRE_MESSAGE(a.exit_code == 0, a.err);
    CHECK(json::parse(a.out)["subnets"][0]["subnet"] == "10.78.2.0/24");
    auto b = run_podnet(root, {"network", "create", "auto2"});
    REQUIRE_MESSAGE(b.exit_code == 0, b.err);
    auto info = json::parse(run_podnet(root, {"network", "inspect", "auto2"}).out);
    CHECK(info["subnets"][0]["subnet"] == "10.78.3.0/24");
    // An explicit --subnet is still taken as given, and counted as used afterwards.
    REQUIRE(
        run_podnet(root, {"network", "create", "manual", "--subnet", "10.78.4.0/24"}).exit_code ==
        0);
    REQUIRE(run_podnet(root, {"network", "create", "auto3"}).exit_code == 0);
    CHECK(json::parse(
              run_podnet(root, {"network", "inspect", "auto3"}).out)["subnets"][0]["subnet"] ==
          "10.78.5.0/24");
    // A sandbox on it gets an address there.
    create_sandbox(root, {"--name", "on-auto", "--network", "auto1"});
    std::string ip = inspect_sandbox(root, "on-auto")["attachments"][0]["ipv4"];
    CHECK(ip.starts_with("10.78.2."));

    // network ls -q: names only, one a line; with --json it is a usage error.
    auto q = run_podnet(root, {"network", "ls", "-q"});
    CHECK(q.exit_code == 0);
    CHECK(q.out == "auto1\nauto2\nauto3\nmanual\n");
    auto qj = run_podnet(root, {"network", "ls", "-q", "--json"});
    CHECK(qj.exit_code == 2);
    CHECK(qj.out.empty());

    CHECK(run_podnet(root, {"sandbox", "rm", "-f", "on-auto"}).exit_code == 0);
    CHECK(run_podnet(root, {"network", "rm", "auto1", "auto2", "auto3", "manual"}).exit_code == 0);
    CHECK(sh("ip link del pnt-used").exit_code == 0);
    CHECK(leftovers(root).empty());
}

TEST_CASE("inspect of several sandboxes, ls -q, and exit codes for scripts") {
    std::string root = make_temp_dir("pn-cli");
    std::string id1 = create_sandbox(root, {"--name", "s1", "--network", "none"});
    std::string id2 = create_sandbox(root, {"--name", "s2", "--network", "none"});

    // One sandbox: the object, as always. Several: an array in the order asked (docker inspect).
    CHECK(inspect_sandbox(root, "s1").is_object());
    auto both = run_podnet(root, {"sandbox", "inspect", "s2", "s1"});
    REQUIRE_MESSAGE(both.exit_code == 0, both.err);
    json list = json::parse(both.out);
    REQUIRE(list.is_array());
    REQUIRE(list.size() == 2);
    CHECK(list[0]["name"] == "s2");
    CHECK(list[1]["id"] == id1);
    // A missing one: the others are printed, the missing one reported, exit 1.
    auto some = run_podnet(root, {"sandbox", "inspect", "s1", "nosuch"});
    CHECK(some.exit_code == 1);
    CHECK(json::parse(some.out).size() == 1);
    CHECK(some.err == "podnet: sandbox \"nosuch\": no such sandbox\n");
    CHECK(run_podnet(root, {"sandbox", "inspect", "s1", "s2", "--oci"}).exit_code == 2);

    // ls -q: full ids only; with --json a usage error instead of ignoring one of them.
    auto q = run_podnet(root, {"sandbox", "ls", "-q"});
    CHECK(q.exit_code == 0);
    auto ids = lines(q.out);
    CHECK(std::set<std::string>(ids.begin(), ids.end()) == std::set<std::string>{id1, id2});
    auto qj = run_podnet(root, {"sandbox", "ls", "-q", "--json"});
    CHECK(qj.exit_code == 2);
    CHECK(qj.out.empty());
    CHECK(qj.err.starts_with("podnet: sandbox ls: -q and --json exclude each other; usage: "));

    // Usage errors are 2 (a stray argument is not silently ignored), failures 1.
    for (const std::vector<std::string>& args :
         std::vector<std::vector<std::string>>{{"sandbox", "ls", "extra"},
                                               {"network", "ls", "extra"},
                                               {"gc", "extra"},
                                               {"policy", "ls", "extra"},
                                               {"namespace", "ls", "extra"},
                                               {"port", "ls", "s1", "extra"},
                                               {"port", "frob", "s1", "80:80"},
                                               {"port", "add", "s1"},
                                               {"sandbox", "inspect"}}) {
        CAPTURE(args);
        auto r = run_podnet(root, args);
        CHECK(r.exit_code == 2);
        CHECK(r.err.starts_with("podnet: "));
    }
    for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
             {"sandbox", "inspect", "nosuch"},
             {"network", "inspect", "nosuch"},
             {"port", "ls", "nosuch"},
             {"port", "add", "s1", "9999:99"},  // no network to publish from
             // CNI's portMappings has no "any port": refused before a plugin runs.
             {"sandbox", "create", "--network", "cni:nosuch", "-p", "80"},
             {"policy", "explain", "nosuch", "s1", "80"}}) {
        CAPTURE(args);
        auto r = run_podnet(root, args);
        CHECK(r.exit_code == 1);
        CHECK(r.err.starts_with("podnet: "));
    }

    // policy rm goes through every name, as sandbox rm does, and exits 1 if one failed.
    std::string file = root + "/p.yaml";
    write_text(file,
               "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: keep}\n"
               "spec: {podSelector: {}}\n---\n"
               "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: drop}\n"
               "spec: {podSelector: {}}\n");
    REQUIRE(run_podnet(root, {"policy", "apply", "-f", file}).exit_code == 0);
    auto rm = run_podnet(root, {"policy", "rm", "nosuch", "drop", "keep"});
    CHECK(rm.exit_code == 1);
    CHECK(rm.out == "networkpolicy default/drop deleted\nnetworkpolicy default/keep deleted\n");
    CHECK(trim(run_podnet(root, {"policy", "ls", "--json"}).out) == "[]");

    CHECK(run_podnet(root, {"sandbox", "rm", "-f", "s1", "s2"}).exit_code == 0);
    CHECK(leftovers(root).empty());
}
