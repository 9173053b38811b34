// NetworkPolicy for real: the scenario corpus through the evaluator and through the kernel
// (`policy probe`), enforcement driven by the CLI as a user would (apply, new sandboxes,
// namespace labels, rm, gc), bad input, and live updates with connections running.
// Everything happens inside the test's private namespaces.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/config.hpp"
#include "podnet/runtime.hpp"
#include "tests/support/command.hpp"
#include "tests/support/world.hpp"

using namespace podnet::test;
using nlohmann::json;

namespace {

std::vector<std::string> corpus() {
    std::vector<std::string> files;
    for (const auto& e :
         std::filesystem::directory_iterator(source_dir() + "/tests/scenarios/netpol"))
        if (e.path().extension() == ".yaml") files.push_back(e.path().string());
    std::sort(files.begin(), files.end());
    return files;
}

void write(const std::string& path, const std::string& text) {
    std::ofstream(path) << text;
}

std::string pod_ip(const std::string& root, const std::string& ref) {
    std::string cidr = inspect_sandbox(root, ref)["attachments"][0]["ipv4"];
    return cidr.substr(0, cidr.find('/'));
}

void apply_policy(const std::string& root, const std::string& path) {
    auto r = run_podnet(root, {"policy", "apply", "-f", path});
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
}

// One TCP request from inside `pod` (pn-probe get): the reply, or "" when refused/timed out.
std::string get_from(const std::string& root, const std::string& pod, const std::string& ip,
                     int port, const char* proto = "tcp") {
    auto r = run_podnet(root,
                        {"run", pod, "--", probe(), "get", proto, ip, std::to_string(port), "500"});
    return r.exit_code == 0 ? trim(r.out) : "";
}

// Allowed connections may race the server's start: retry those only (for up to ~5 s: the
// machine is shared and a loaded run starts servers slowly).
bool reaches(const std::string& root, const std::string& pod, const std::string& ip, int port,
             const char* proto = "tcp") {
    for (int i = 0; i < 100; ++i) {
        if (!get_from(root, pod, ip, port, proto).empty()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
}

const char* deny_all_demo = R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny, namespace: demo}
spec: {podSelector: {}, policyTypes: [Ingress]}
)";

const char* access_nginx = R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: access-nginx, namespace: demo}
spec:
  podSelector: {matchLabels: {run: nginx}}
  ingress:
  - from:
    - podSelector: {matchLabels: {access: "true"}}
    - namespaceSelector: {matchLabels: {team: blue}}
    ports: [{port: http}]
)";

}  // namespace

TEST_CASE("the scenario corpus: eval meets every expectation, the kernel agrees on every probe") {
    auto files = corpus();
    CHECK(files.size() >= 40);
    int ran = 0, skipped = 0;
    for (const auto& file : files) {
        INFO(file);
        auto eval = run_command({bin_dir() + "/podnet", "policy", "eval", "--scenario", file});
        CHECK_MESSAGE(eval.exit_code == 0, (eval.out + eval.err));
        auto probe = run_command(
            {bin_dir() + "/podnet", "policy", "probe", "--scenario", file, "--json"}, {}, 60000);
        CHECK_MESSAGE(probe.exit_code == 0, (probe.out + probe.err));
        if (probe.exit_code != 0) continue;
        json doc = json::parse(probe.out);
        for (const auto& p : doc["probes"]) {
            if (p.contains("skipped")) {
                CHECK(p["protocol"] == "SCTP");
                ++skipped;
                continue;
            }
            INFO(p.dump());
            CHECK(p["observed"] == p["allowed"]);
            ++ran;
        }
    }
    MESSAGE(ran << " probes ran for real, " << skipped << " SCTP probes skipped");
    CHECK(ran > 400);
}

TEST_CASE("probe marks a disagreement and exits non-zero when the expectation is wrong") {
    std::string dir = make_temp_dir("pn-pol");
    write(dir + "/s.yaml", R"(
namespaces: {x: {ns: x}}
pods:
  - {namespace: x, name: a, labels: {pod: a}, ip: 10.0.1.1, ports: [{name: web, port: 80, protocol: TCP}]}
  - {namespace: x, name: b, labels: {pod: b}, ip: 10.0.1.2, ports: []}
policies:
  - {apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: deny, namespace: x},
     spec: {podSelector: {matchLabels: {pod: a}}}}
probes:
  - {from: x/b, to: x/a, port: web, protocol: TCP, allowed: true}
  - {from: x/a, to: x/b, port: 80, protocol: SCTP}
)");
    auto r = run_command({bin_dir() + "/podnet", "policy", "probe", "--scenario", dir + "/s.yaml"});
    CHECK(r.exit_code == 1);
    CHECK(r.out.find("MISMATCH x/b -> x/a web/TCP: expected allowed, evaluated denied") !=
          std::string::npos);
    CHECK(r.out.find("1 probes ran, 1 skipped") != std::string::npos);
    auto e = run_command({bin_dir() + "/podnet", "policy", "eval", "--scenario", dir + "/s.yaml"});
    CHECK(e.exit_code == 1);
    CHECK(e.out.find("x/a is isolated for ingress by x/deny; no rule allows x/b") !=
          std::string::npos);
}

TEST_CASE("the seed's demo through the CLI: default deny, access=true, namespaces, rm, gc") {
    std::string root = make_temp_dir("pn-pol");
    std::string dir = make_temp_dir("pn-pol-files");
    create_sandbox(root, {"--name", "web", "--namespace", "demo", "--label", "run=nginx",
                          "--named-port", "http=80/tcp"});
    create_sandbox(root, {"--name", "good", "--namespace", "demo", "--label", "access=true"});
    create_sandbox(root, {"--name", "bad", "--namespace", "demo"});
    create_sandbox(root, {"--name", "far", "--namespace", "other", "--label", "access=true"});
    std::string web = pod_ip(root, "web");
    auto served = run_podnet(root, {"run", "web", "-d", "--", probe(), "serve", "0.0.0.0", "80"});
    REQUIRE_MESSAGE(served.exit_code == 0, served.err);

    CHECK(reaches(root, "bad", web, 80));                           // no policy: everything flows
    CHECK(sh("nft list table inet podnet_policy").exit_code != 0);  // and no table exists

    write(dir + "/deny.yaml", deny_all_demo);
    apply_policy(root, dir + "/deny.yaml");
    CHECK(get_from(root, "good", web, 80).empty());
    CHECK(get_from(root, "bad", web, 80).empty());

    write(dir + "/access.yaml", access_nginx);
    apply_policy(root, dir + "/access.yaml");
    CHECK(reaches(root, "good", web, 80));
    CHECK(get_from(root, "bad", web, 80).empty());
    CHECK(get_from(root, "far", web, 80).empty());  // a podSelector alone is namespace-local
    CHECK(get_from(root, "good", web, 80, "udp").empty());  // http is 80/tcp only

    // A sandbox created after the policies is enforced at once.
    create_sandbox(root, {"--name", "late", "--namespace", "demo", "--label", "access=true"});
    CHECK(reaches(root, "late", web, 80));

    // Namespace labels count: team=blue lets every pod of `other` in.
    auto label = run_podnet(root, {"namespace", "label", "other", "team=blue"});
    REQUIRE_MESSAGE(label.exit_code == 0, label.err);
    CHECK(reaches(root, "far", web, 80));
    label = run_podnet(root, {"namespace", "label", "other", "team-"});
    REQUIRE_MESSAGE(label.exit_code == 0, label.err);
    CHECK(get_from(root, "far", web, 80).empty());

    // Like `kubectl auth can-i`, the verdict is the exit code: 1 denied, 0 allowed, with the
    // reason printed either way.
    auto explain = run_podnet(root, {"policy", "explain", "bad", "web", "http"});
    CHECK_MESSAGE(explain.exit_code == 1, explain.err);
    CHECK(explain.err.empty());
    CHECK(trim(explain.out) ==
          "denied: demo/bad -> demo/web 80/TCP: demo/web is isolated for ingress by "
          "demo/access-nginx, demo/default-deny; no rule allows demo/bad; demo/bad is not "
          "isolated for egress");
    auto allowed = run_podnet(root, {"policy", "explain", "good", "web", "http"});
    CHECK_MESSAGE(allowed.exit_code == 0, allowed.err);
    CHECK(allowed.out.starts_with("allowed: demo/good -> demo/web 80/TCP: "));
    auto unknown = run_podnet(root, {"policy", "explain", "nosuch", "web", "http"});
    CHECK(unknown.exit_code == 1);
    CHECK(unknown.err.starts_with("podnet: "));
    CHECK(run_podnet(root, {"policy", "explain", "good", "web"}).exit_code == 2);
    auto ls = run_podnet(root, {"policy", "ls", "-n", "demo"});
    CHECK(ls.out.find("access-nginx   run=nginx      Ingress") != std::string::npos);

    // The kernel's table was removed behind podnet's back: gc puts it back.
    REQUIRE(sh("nft delete table inet podnet_policy").exit_code == 0);
    CHECK(reaches(root, "bad", web, 80));
    auto gc = run_podnet(root, {"gc"});
    CHECK_MESSAGE(gc.exit_code == 0, gc.err);
    CHECK(get_from(root, "bad", web, 80).empty());

    auto rm = run_podnet(root, {"policy", "rm", "access-nginx", "-n", "demo"});
    REQUIRE_MESSAGE(rm.exit_code == 0, rm.err);
    CHECK(get_from(root, "good", web, 80).empty());  // default-deny still holds
    rm = run_podnet(root, {"policy", "rm", "default-deny", "-n", "demo"});
    REQUIRE_MESSAGE(rm.exit_code == 0, rm.err);
    CHECK(reaches(root, "bad", web, 80));
    CHECK(sh("nft list table inet podnet_policy").exit_code != 0);  // no policy, no table

    for (const char* name : {"web", "good", "bad", "far", "late"})
        CHECK(run_podnet(root, {"sandbox", "rm", "-f", name}).exit_code == 0);
    CHECK(leftovers(root).empty());
}

TEST_CASE("a crash between storing a policy and the kernel, or after the kernel: gc repairs") {
    std::string root = make_temp_dir("pn-pol");
    std::string dir = make_temp_dir("pn-pol-files");
    create_sandbox(root, {"--name", "web", "--namespace", "demo"});
    create_sandbox(root, {"--name", "bad", "--namespace", "demo"});
    std::string web = pod_ip(root, "web");
    auto served = run_podnet(root, {"run", "web", "-d", "--", probe(), "serve", "0.0.0.0", "80"});
    REQUIRE_MESSAGE(served.exit_code == 0, served.err);
    CHECK(reaches(root, "bad", web, 80));
    write(dir + "/deny.yaml", deny_all_demo);

    // Killed after the policy reached the disk, before the kernel.
    auto r = run_podnet(root, {"policy", "apply", "-f", dir + "/deny.yaml"},
                        {"PODNET_FAULT=policy.stored"});
    REQUIRE(r.exit_code == 128 + SIGKILL);
    CHECK(reaches(root, "bad", web, 80));  // not enforced yet...
    CHECK(run_podnet(root, {"gc"}).exit_code == 0);
    CHECK(get_from(root, "bad", web, 80).empty());  // ...gc enforces what is stored

    // Killed after the kernel changed, before podnet noted it: the next command catches up.
    r = run_podnet(root, {"policy", "rm", "default-deny", "-n", "demo"},
                   {"PODNET_FAULT=policy.committed"});
    REQUIRE(r.exit_code == 128 + SIGKILL);
    CHECK(run_podnet(root, {"gc"}).exit_code == 0);
    CHECK(reaches(root, "bad", web, 80));
    CHECK(sh("nft list table inet podnet_policy").exit_code != 0);
    for (const char* name : {"web", "bad"})
        CHECK(run_podnet(root, {"sandbox", "rm", "-f", name}).exit_code == 0);
    CHECK(leftovers(root).empty());
}

TEST_CASE("bad policy input: one line naming the field, non-zero, nothing changed") {
    std::string root = make_temp_dir("pn-pol");
    std::string dir = make_temp_dir("pn-pol-files");
    write(dir + "/good.yaml", deny_all_demo);
    write(dir + "/bad.yaml",
          std::string(deny_all_demo) + "---\n" + R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: broken, namespace: demo}
spec:
  ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/16, except: [10.1.0.0/24]}}]}]
)");
    auto r = run_podnet(root, {"policy", "apply", "-f", dir + "/bad.yaml"});
    CHECK(r.exit_code == 1);
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    CHECK(r.err.find("NetworkPolicy demo/broken: spec.ingress[0].from[0].ipBlock.except[0]") !=
          std::string::npos);
    auto ls = run_podnet(root, {"policy", "ls", "--json"});
    CHECK(json::parse(ls.out).empty());  // the valid first document was not applied either

    write(dir + "/yaml.yaml", "kind: [NetworkPolicy\n");
    r = run_podnet(root, {"policy", "apply", "-f", dir + "/yaml.yaml"});
    CHECK(r.exit_code == 1);
    CHECK(r.err.find(dir + "/yaml.yaml:") != std::string::npos);
    r = run_podnet(root, {"policy", "rm", "nothing", "-n", "demo"});
    CHECK(r.exit_code == 1);
    CHECK(trim(r.err) == "podnet: no NetworkPolicy demo/nothing");
    r = run_podnet(root, {"sandbox", "create", "--named-port", "http=99999"});
    CHECK(r.exit_code != 0);
    CHECK(r.err.find("named port \"http=99999\"") != std::string::npos);
    r = run_podnet(root, {"namespace", "label", "Bad_NS", "a=b"});
    CHECK(r.exit_code != 0);
    CHECK(sh("nft list table inet podnet_policy").exit_code != 0);
    CHECK(leftovers(root).empty());
}

namespace {

// Sockets opened by threads that joined a pod's network namespace.
int open_netns(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    REQUIRE(fd >= 0);
    return fd;
}

// A TCP connection from the calling thread's network namespace; -1 when refused or timed out.
int tcp_connect_here(const std::string& ip, int port, int timeout_ms) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    ::inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
    ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    pollfd p{fd, POLLOUT, 0};
    int err = 1;
    socklen_t len = sizeof err;
    if (::poll(&p, 1, timeout_ms) == 1) ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
        ::close(fd);
        return -1;
    }
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    return fd;
}

// The same from a short-lived thread inside `netns`.
int tcp_connect(int netns, const std::string& ip, int port, int timeout_ms) {
    int result = -1;
    std::thread([&] {
        if (::setns(netns, CLONE_NEWNET) == 0) result = tcp_connect_here(ip, port, timeout_ms);
    }).join();
    return result;
}

}  // namespace

TEST_CASE("live updates: no connection both old and new policy deny gets through") {
    std::string root = make_temp_dir("pn-pol");
    std::string dir = make_temp_dir("pn-pol-files");
    create_sandbox(root, {"--name", "srv", "--namespace", "live", "--label", "role=srv"});
    create_sandbox(root, {"--name", "cli", "--namespace", "live", "--label", "role=cli"});
    std::string srv = pod_ip(root, "srv");
    // An echo server on 80, 81 and 82 (socat from Debian, forking per connection).
    for (int port : {80, 81, 82}) {
        auto r =
            run_podnet(root, {"run", "srv", "-d", "--", "/usr/bin/socat",
                              numbered("TCP-LISTEN:", port) + ",fork,reuseaddr", "EXEC:/bin/cat"});
        REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    }
    int cli_ns = open_netns(inspect_sandbox(root, "cli")["namespaces"]["net"]);
    for (int i = 0; i < 50; ++i) {  // wait for the servers
        int fd = tcp_connect(cli_ns, srv, 82, 200);
        if (fd >= 0) {
            ::close(fd);
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }

    // The stream is opened before any policy and must live through every change.
    int stream = tcp_connect(cli_ns, srv, 80, 1000);
    REQUIRE(stream >= 0);

    // Every version of the policies denies cli -> srv:82; 80 and 81 come and go.
    write(dir + "/deny.yaml", R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny, namespace: live}
spec: {podSelector: {matchLabels: {role: srv}}}
)");
    auto allow = [&](const std::string& ports) {
        write(dir + "/allow.yaml", R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow, namespace: live}
spec:
  podSelector: {matchLabels: {role: srv}}
  ingress: [{from: [{podSelector: {matchLabels: {role: cli}}}], ports: )" +
                                       ports + "}]\n");
        apply_policy(root, dir + "/allow.yaml");
    };
    apply_policy(root, dir + "/deny.yaml");

    std::atomic<bool> stop{false};
    std::atomic<int> leaked{0}, opened80{0}, attempts{0};
    std::thread hammer([&] {
        REQUIRE(::setns(cli_ns, CLONE_NEWNET) == 0);
        while (!stop) {
            for (int port : {80, 82}) {
                int fd = tcp_connect_here(srv, port, 100);
                ++attempts;
                if (fd < 0) continue;
                if (port == 82)
                    ++leaked;
                else
                    ++opened80;
                ::close(fd);
            }
        }
    });
    std::atomic<int> echoes{0};
    std::atomic<bool> stream_broken{false};
    std::thread talker([&] {
        char buf[1];
        while (!stop) {
            timeval tv{1, 0};
            ::setsockopt(stream, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
            if (::write(stream, "x", 1) != 1 || ::read(stream, buf, 1) != 1) {
                stream_broken = true;
                return;
            }
            ++echoes;
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
    });
    for (int round = 0; round < 8; ++round) {
        allow("[{port: 80}]");
        allow("[{port: 80, endPort: 81}]");  // changed in place
        create_sandbox(
            root, {"--name", numbered("x", round), "--namespace", "live", "--label", "role=cli"});
        auto r = run_podnet(root, {"policy", "rm", "allow", "-n", "live"});
        REQUIRE_MESSAGE(r.exit_code == 0, r.err);
        REQUIRE(run_podnet(root, {"sandbox", "rm", "-f", numbered("x", round)}).exit_code == 0);
    }
    stop = true;
    hammer.join();
    talker.join();
    MESSAGE(attempts.load() << " connection attempts, " << opened80.load()
                            << " allowed ones on 80, " << echoes.load() << " stream echoes");
    CHECK(leaked == 0);
    CHECK(opened80 > 0);  // the monitor does see allowed connections
    CHECK_FALSE(stream_broken);
    CHECK(echoes > 10);
    ::close(stream);
    ::close(cli_ns);
    for (const char* name : {"srv", "cli"})
        CHECK(run_podnet(root, {"sandbox", "rm", "-f", name}).exit_code == 0);
    CHECK(leftovers(root).empty());
}

namespace {

// The table's set elements as nft prints them, set by set (names and elements sorted).
std::map<std::string, std::vector<std::string>> kernel_sets() {
    std::map<std::string, std::vector<std::string>> out;
    auto r = sh("nft -j list table inet podnet_policy");
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    json doc = json::parse(r.out);
    for (const auto& item : doc["nftables"]) {
        if (!item.contains("set")) continue;
        auto& elements = out[item["set"]["name"].get<std::string>()];
        if (item["set"].contains("elem"))
            for (const auto& e : item["set"]["elem"]) elements.push_back(e.dump());
        std::sort(elements.begin(), elements.end());
    }
    return out;
}

}  // namespace

TEST_CASE("an embedder's Runtime updates incrementally and ends where a full resync would") {
    std::string root = make_temp_dir("pn-pol-api");
    podnet::Config config;
    podnet::place_under_root(config, root);
    auto rt = podnet::Runtime::open(config);
    REQUIRE_MESSAGE(rt, rt.error().message);
    auto make = [&](const std::string& name, const std::string& ns, podnet::Labels labels) {
        podnet::SandboxSpec spec;
        spec.name = name;
        spec.k8s_namespace = ns;
        spec.labels = std::move(labels);
        spec.named_ports = {"http=" + std::to_string(80 + name.size()) + "/tcp"};
        auto info = rt->create_sandbox(spec);
        REQUIRE_MESSAGE(info, info.error().message);
    };
    make("a", "x", {{"app", "web"}});
    make("b", "x", {{"app", "db"}});
    auto applied = rt->apply_policies({{R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web, namespace: x}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress: [{from: [{podSelector: {}}, {namespaceSelector: {matchLabels: {team: blue}}}], ports: [{port: http}]}]
  egress: [{to: [{ipBlock: {cidr: 10.0.0.0/8, except: [10.77.0.0/16]}}]}, {ports: [{port: http}]}]
)",
                                        "web.yaml"}});
    REQUIRE_MESSAGE(applied, applied.error().message);
    make("c", "x", {{"app", "cache"}});  // a new peer of web
    make("dd", "y", {{"app", "web"}});   // not selected: another namespace
    REQUIRE(rt->label_namespace("y", {{"team", "blue"}}, {}));
    make("eee", "x", {{"app", "web"}});  // newly selected
    REQUIRE(rt->remove_sandbox("b", true));
    auto before = kernel_sets();
    CHECK(before["ing_iso4"].size() == 2);  // a and eee
    auto gc = rt->gc();                     // a full reload rewrites every set from scratch
    REQUIRE(gc);
    CHECK(kernel_sets() == before);
    for (const char* name : {"a", "c", "dd", "eee"}) CHECK(rt->remove_sandbox(name, true));
    REQUIRE(rt->remove_policy("x", "web"));
    CHECK(sh("nft list table inet podnet_policy").exit_code != 0);
    CHECK(leftovers(root).empty());
}
