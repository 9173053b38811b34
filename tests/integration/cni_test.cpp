// The CNI runner for real: the reference plugins from Debian's containernetworking-plugins
// (/usr/lib/cni), script plugins that record what a plugin is given, hang or fail, and
// podnet-cni; through `podnet cni` (cnitool-style: NETCONFPATH, CNI_PATH) and through sandboxes
// (`--network cni:NAME`). Everything inside the test's private namespaces.

#include <doctest/doctest.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "common/fs.hpp"
#include "common/process.hpp"
#include "tests/support/command.hpp"
#include "tests/support/world.hpp"

using namespace podnet::test;
using nlohmann::json;

namespace {

constexpr const char* reference_plugins = "/usr/lib/cni";

// The recording plugin: saves its stdin and environment per call (numbered, so the order of
// calls shows), fails ADD on request, answers ADD with a result naming itself.
constexpr const char* recording_plugin = R"SH(#!/bin/sh
dir=@DIR@
type=$(basename "$0")
seq=$(printf %03d "$(ls "$dir" | grep -c '\.json$')")
cat > "$dir/$seq-$type-$CNI_COMMAND.json"
env > "$dir/$seq-$type-$CNI_COMMAND.env"
if [ "$CNI_COMMAND" = ADD ] && [ -e "$dir/fail-$type" ]; then
  echo '{"cniVersion":"1.0.0","code":101,"msg":"failed on purpose","details":"'"$type"'"}'
  exit 1
fi
case "$CNI_COMMAND" in
ADD) printf '{"cniVersion":"1.0.0","interfaces":[{"name":"%s"}],"ips":[{"address":"10.9.%d.2/24","interface":0}]}' "$type" "$((1$seq - 1000))" ;;
VERSION) echo '{"cniVersion":"1.0.0","supportedVersions":["0.3.1","0.4.0","1.0.0","1.1.0"]}' ;;
esac
)SH";

struct World {
    std::string root = make_temp_dir("cni");
    std::string conf_dir = root + "/net.d";
    std::string plugin_dir = root + "/plugins";
    std::string record_dir = root + "/calls";
    std::string config_file = root + "/podnet.toml";

    World() {
        REQUIRE(podnet::make_dirs(conf_dir));
        REQUIRE(podnet::make_dirs(plugin_dir));
        REQUIRE(podnet::make_dirs(record_dir));
        std::ofstream(config_file) << "[cni]\nconf_dir = \"" << conf_dir << "\"\nplugin_path = \""
                                   << plugin_path() << "\"\ntimeout_seconds = 20\n";
    }
    ~World() {
        (void)run_podnet(root, {"gc"});
        sh("rm -rf " + root);
    }
    std::string plugin_path() const {
        return plugin_dir + ":" + bin_dir() + ":" + reference_plugins;
    }
    std::vector<std::string> env() const {
        return {"NETCONFPATH=" + conf_dir, "CNI_PATH=" + plugin_path(), "PODNET_LEAK=1"};
    }
    void conflist(const std::string& file, const json& list) const {
        std::ofstream(conf_dir + "/" + file) << list.dump(2);
    }
    void script(const std::string& type, const std::string& body) const {
        std::string path = plugin_dir + "/" + type;
        std::ofstream(path) << body;
        ::chmod(path.c_str(), 0755);
    }
    void recording(const std::string& type) const {
        std::string body = recording_plugin;
        body.replace(body.find("@DIR@"), 5, record_dir);
        script(type, body);
    }
    CommandResult cni(const std::vector<std::string>& args) const {
        std::vector<std::string> all = {"cni"};
        all.insert(all.end(), args.begin(), args.end());
        return run_podnet(root, all, env());
    }
    CommandResult podnet(const std::vector<std::string>& args) const {
        std::vector<std::string> all = {"--config", config_file};
        all.insert(all.end(), args.begin(), args.end());
        return run_podnet(root, all);
    }
    // Recorded calls in order: "rec-a ADD", ...
    std::vector<std::string> calls() const {
        std::vector<std::string> out;
        auto names = podnet::list_dir(record_dir);
        REQUIRE(names);
        std::sort(names->begin(), names->end());
        for (const auto& n : *names) {
            if (!n.ends_with(".json")) continue;
            std::string s = n.substr(4, n.size() - 9);  // "000-" ... ".json"
            auto dash = s.rfind('-');
            out.push_back(s.substr(0, dash) + " " + s.substr(dash + 1));
        }
        return out;
    }
    json call_stdin(size_t index) const {
        auto names = podnet::list_dir(record_dir);
        std::sort(names->begin(), names->end());
        size_t i = 0;
        for (const auto& n : *names)
            if (n.ends_with(".json") && i++ == index)
                return json::parse(*podnet::read_file(record_dir + "/" + n));
        FAIL("no call " << index);
        return {};
    }
    std::string call_env(size_t index) const {
        auto names = podnet::list_dir(record_dir);
        std::sort(names->begin(), names->end());
        size_t i = 0;
        for (const auto& n : *names)
            if (n.ends_with(".env") && i++ == index)
                return *podnet::read_file(record_dir + "/" + n);
        FAIL("no call " << index);
        return {};
    }
    void forget_calls() const { sh("rm -f " + record_dir + "/*"); }
    std::string cache_file(const std::string& net, const std::string& id,
                           const std::string& ifname) const {
        return root + "/state/cni/results/" + net + "-" + id + "-" + ifname;
    }
};

json recording_list(const std::string& name, const std::string& version) {
    return {{"cniVersion", version},
            {"name", name},
            {"plugins",
             {{{"type", "rec-a"}, {"capabilities", {{"portMappings", true}, {"bandwidth", false}}}},
              {{"type", "rec-b"}, {"capabilities", {{"ips", true}}}},
              {{"type", "rec-c"}}}}};
}

json reference_list(const std::string& name, const std::string& root, const std::string& bridge,
                    const std::string& subnet, bool gateway = true) {
    return {{"cniVersion", "1.0.0"},
            {"name", name},
            {"plugins",
             {{{"type", "bridge"},
               {"bridge", bridge},
               {"isGateway", gateway},
               {"isDefaultGateway", gateway},  // host-local alone gives the pod no default route
               {"ipMasq", true},
               {"ipam",
                {{"type", "host-local"},
                 {"ranges", {{{{"subnet", subnet}}}}},
                 {"dataDir", root + "/host-local"}}}},
              {{"type", "portmap"}, {"capabilities", {{"portMappings", true}}}, {"snat", true}},
              {{"type", "firewall"}, {"backend", "iptables"}},
              {{"type", "tuning"}, {"sysctl", {{"net.core.somaxconn", "512"}}}}}}};
}

json podnet_cni_list(const std::string& name, const std::string& root) {
    return {{"cniVersion", "1.0.0"},
            {"name", name},
            {"plugins",
             {{{"type", "podnet-cni"},
               {"bridge", "pncni0"},
               {"subnet", "10.78.0.0/16"},
               {"root", root + "/podnet-cni"},
               {"capabilities", {{"portMappings", true}}}}}}};
}

std::string port_caps(int host_port) {
    return json{
        {"portMappings", {{{"hostPort", host_port}, {"containerPort", 80}, {"protocol", "tcp"}}}}}
        .dump();
}

// A pn-probe server on port 80 inside a named netns, until the test's PID namespace ends.
void serve_in_netns(const std::string& netns) {
    auto r = sh("ip netns exec " + netns + " " + probe() + " serve 0.0.0.0 80 >/dev/null 2>&1 &");
    REQUIRE(r.exit_code == 0);
}

std::string address_of(const json& result) {
    std::string a = result.at("ips").at(0).at("address").get<std::string>();
    return a.substr(0, a.find('/'));
}

// Leases host-local still holds in its data dir (files named by address).
int host_local_leases(const std::string& dir) {
    auto names = podnet::list_dir(dir);
    if (!names) return 0;
    return static_cast<int>(std::count_if(names->begin(), names->end(), [](const std::string& n) {
        return n.find('.') != std::string::npos && !n.starts_with("last_reserved");
    }));
}

}  // namespace

TEST_CASE("the reference chain bridge+host-local+portmap+firewall+tuning through podnet cni") {
    ensure_outside();
    World w;
    w.conflist("10-ref.conflist", reference_list("ref", w.root, "cni0", "10.88.0.0/16"));
    REQUIRE(sh("ip netns add refpod && ip -n refpod link set lo up").exit_code == 0);

    auto add = w.cni({"add", "ref", "/run/netns/refpod", "--cap-args", port_caps(18080)});
    REQUIRE_MESSAGE(add.exit_code == 0, add.err);
    json result = json::parse(add.out);
    CHECK(result["cniVersion"] == "1.0.0");
    std::string ip = address_of(result);
    CHECK(ip.starts_with("10.88."));
    CHECK(sh("ip -n refpod -4 addr show eth0").out.find(ip + "/16") != std::string::npos);
    CHECK(sh("ip netns exec refpod sysctl -n net.core.somaxconn").out == "512\n");
    CHECK(host_local_leases(w.root + "/host-local/ref") == 1);

    // The mapped port from an outside host, through portmap's DNAT.
    serve_in_netns("refpod");
    CHECK(fetch(from_outside(), "tcp", "192.168.200.1", 18080).find(" saw 192.168.200.2") !=
          std::string::npos);
    auto check = w.cni({"check", "ref", "/run/netns/refpod"});
    CHECK_MESSAGE(check.exit_code == 0, check.err);

    auto del = w.cni({"del", "ref", "/run/netns/refpod"});
    REQUIRE_MESSAGE(del.exit_code == 0, del.err);
    CHECK(sh("ip -n refpod link show eth0").exit_code != 0);
    CHECK(host_local_leases(w.root + "/host-local/ref") == 0);
    CHECK(sh("iptables-save -t nat").out.find("CNI-DN-") == std::string::npos);
    CHECK(sh("iptables-save -t filter").out.find(ip) == std::string::npos);
    CHECK(fetch(from_outside(), "tcp", "192.168.200.1", 18080, 2).starts_with("error"));
    CHECK(podnet::list_dir(w.root + "/state/cni/results")->empty());
    auto del2 = w.cni({"del", "ref", "/run/netns/refpod"});
    CHECK_MESSAGE(del2.exit_code == 0, del2.err);
    sh("pkill -f 'pn-probe serve 0.0.0.0 80'; ip netns del refpod");
}

TEST_CASE("a 1.1.0 list against plugins that speak 1.0.0 is refused, naming the versions") {
    World w;
    auto list = reference_list("new", w.root, "cni1", "10.90.0.0/24");
    list["cniVersion"] = "1.1.0";
    w.conflist("10-new.conflist", list);
    auto add = w.cni({"add", "new", "/run/netns/none", "--container-id", "c1"});
    CHECK(add.exit_code != 0);
    CHECK_MESSAGE(
        add.err.find("uses CNI 1.1.0 but plugin bridge supports only") != std::string::npos,
        add.err);
    CHECK(add.err.find("1.0.0") != std::string::npos);
    CHECK(add.err.find('\n') == add.err.size() - 1);  // one line
    CHECK(host_local_leases(w.root + "/host-local/new") == 0);
}

TEST_CASE("STATUS and GC reach plugins only for lists of 1.1.0 and later") {
    World w;
    for (auto t : {"rec-a", "rec-b", "rec-c"}) w.recording(t);
    w.conflist("10-old.conflist", recording_list("old", "1.0.0"));
    w.conflist("20-cur.conflist", recording_list("cur", "1.1.0"));

    CHECK(w.cni({"status", "old"}).exit_code == 0);
    CHECK(w.cni({"gc", "old"}).exit_code == 0);
    CHECK(w.calls().empty());

    auto status = w.cni({"status", "cur"});
    CHECK_MESSAGE(status.exit_code == 0, status.err);
    CHECK(w.calls() == std::vector<std::string>{"rec-a STATUS", "rec-b STATUS", "rec-c STATUS"});
    w.forget_calls();

    // gc: DEL for the cached attachment that is not valid, then GC with the valid list.
    REQUIRE(w.cni({"add", "cur", "/run/netns/x", "--container-id", "keep"}).exit_code == 0);
    REQUIRE(w.cni({"add", "cur", "/run/netns/y", "--container-id", "stale"}).exit_code == 0);
    w.forget_calls();
    auto gc = w.cni({"gc", "cur", "--valid", "keep/eth0"});
    CHECK_MESSAGE(gc.exit_code == 0, gc.err);
    CHECK(w.calls() == std::vector<std::string>{"rec-c DEL", "rec-b DEL", "rec-a DEL", "rec-a GC",
                                                "rec-b GC", "rec-c GC"});
    CHECK(w.call_env(0).find("CNI_CONTAINERID=stale") != std::string::npos);
    json gc_in = w.call_stdin(3);
    CHECK(gc_in["cni.dev/valid-attachments"] ==
          json::array({{{"containerID", "keep"}, {"ifname", "eth0"}}}));
    CHECK(w.call_env(3).find("CNI_CONTAINERID") == std::string::npos);
    CHECK(podnet::path_exists(w.cache_file("cur", "keep", "eth0")));
    CHECK_FALSE(podnet::path_exists(w.cache_file("cur", "stale", "eth0")));
}

TEST_CASE("a hanging plugin is killed at the timeout; a plugin's error shows its code and msg") {
    World w;
    w.script("hang", "#!/bin/sh\nsleep 30 &\nsleep 30\n");
    w.script("broken",
             "#!/bin/sh\necho 'broken: about to fail' >&2\n"
             "echo '{\"cniVersion\":\"1.0.0\",\"code\":7,\"msg\":\"no bridge given\","
             "\"details\":\"key bridge\"}'\nexit 1\n");
    w.conflist("10-hang.conflist",
               {{"cniVersion", "1.0.0"}, {"name", "hang"}, {"plugins", {{{"type", "hang"}}}}});
    std::ofstream(w.conf_dir + "/20-broken.conf")
        << json{{"cniVersion", "1.0.0"}, {"name", "broken"}, {"type", "broken"}}.dump();

    auto start = std::chrono::steady_clock::now();
    auto hang = w.cni({"add", "hang", "/run/netns/x", "--timeout", "0.5"});
    auto took = std::chrono::steady_clock::now() - start;
    CHECK(hang.exit_code != 0);
    CHECK_MESSAGE(hang.err.find("plugin hang ADD timed out after 500 ms") != std::string::npos,
                  hang.err);
    CHECK(took < std::chrono::seconds(5));
    // The whole process group went (SIGKILL is sent at once; on a loaded machine the kernel may
    // take a moment to finish the processes off).
    bool gone = false;
    for (int i = 0; i < 40 && !gone; ++i) {
        gone = sh("pgrep -f 'sleep [3]0'").exit_code != 0;
        if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    CHECK(gone);

    auto broken = w.cni({"add", "broken", "/run/netns/x"});
    CHECK(broken.exit_code != 0);
    CHECK_MESSAGE(broken.err.find("plugin broken") != std::string::npos, broken.err);
    CHECK(broken.err.find("7") != std::string::npos);
    CHECK(broken.err.find("no bridge given") != std::string::npos);
    CHECK(broken.err.find("broken: about to fail") != std::string::npos);  // its stderr, logged
}

TEST_CASE("the recording plugin sees the env, its capabilities, prevResult chains, DEL reverses") {
    World w;
    for (auto t : {"rec-a", "rec-b", "rec-c"}) w.recording(t);
    w.conflist("10-rec.conflist", recording_list("rec", "1.0.0"));
    json caps = {
        {"portMappings", {{{"hostPort", 8080}, {"containerPort", 80}, {"protocol", "tcp"}}}},
        {"ips", {"10.9.9.9/24"}},
        {"bandwidth", {{"ingressRate", 1000}}},
        {"mac", "02:00:00:00:00:01"}};
    auto add = w.cni({"add", "rec", "/run/netns/recpod", "--container-id", "ctr1", "--ifname",
                      "eth3", "--cap-args", caps.dump(), "--args", "K1=V1;K2=V2"});
    REQUIRE_MESSAGE(add.exit_code == 0, add.err);
    CHECK(w.calls() == std::vector<std::string>{"rec-a ADD", "rec-b ADD", "rec-c ADD"});

    std::string env = w.call_env(0);
    for (auto line : {"CNI_COMMAND=ADD", "CNI_CONTAINERID=ctr1", "CNI_NETNS=/run/netns/recpod",
                      "CNI_IFNAME=eth3", "CNI_ARGS=K1=V1;K2=V2", "PATH="})
        CHECK_MESSAGE(env.find(std::string(line)) != std::string::npos, line);
    CHECK(env.find("CNI_PATH=" + w.plugin_path() + "\n") != std::string::npos);
    CHECK(env.find("PODNET_LEAK") == std::string::npos);  // nothing else of podnet's env

    json a = w.call_stdin(0), b = w.call_stdin(1), c = w.call_stdin(2);
    CHECK(a["name"] == "rec");
    CHECK(a["cniVersion"] == "1.0.0");
    CHECK(a["runtimeConfig"] == json{{"portMappings", caps["portMappings"]}});
    CHECK_FALSE(a.contains("prevResult"));
    CHECK(b["runtimeConfig"] == json{{"ips", caps["ips"]}});
    CHECK(b["prevResult"]["interfaces"][0]["name"] == "rec-a");
    CHECK_FALSE(c.contains("runtimeConfig"));
    CHECK(c["prevResult"]["interfaces"][0]["name"] == "rec-b");
    json result = json::parse(add.out);
    CHECK(result["interfaces"][0]["name"] == "rec-c");

    // The cache, in libcni's layout.
    std::string cache = w.cache_file("rec", "ctr1", "eth3");
    struct stat st {};
    REQUIRE(::stat(cache.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    REQUIRE(::stat((w.root + "/state/cni/results").c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0700);
    json cached = json::parse(*podnet::read_file(cache));
    CHECK(cached["kind"] == "cniCacheV1");
    CHECK(cached["result"] == result);

    // DEL from a new process: reverse order, the cached result as prevResult, the same args.
    w.forget_calls();
    auto del = w.cni({"del", "rec", "/run/netns/recpod", "--container-id", "ctr1", "--ifname",
                      "eth3", "--cap-args", caps.dump()});
    REQUIRE_MESSAGE(del.exit_code == 0, del.err);
    CHECK(w.calls() == std::vector<std::string>{"rec-c DEL", "rec-b DEL", "rec-a DEL"});
    for (size_t i = 0; i < 3; ++i) CHECK(w.call_stdin(i)["prevResult"] == result);
    CHECK(w.call_stdin(2)["runtimeConfig"] == json{{"portMappings", caps["portMappings"]}});
    CHECK_FALSE(podnet::path_exists(cache));

    // A failed ADD is followed by DEL of the whole list, in reverse.
    w.forget_calls();
    std::ofstream(w.record_dir + "/fail-rec-b") << "";
    auto failed = w.cni({"add", "rec", "/run/netns/recpod", "--container-id", "ctr2"});
    CHECK(failed.exit_code != 0);
    CHECK_MESSAGE(failed.err.find("failed on purpose") != std::string::npos, failed.err);
    CHECK(failed.err.find("101") != std::string::npos);
    CHECK(w.calls() == std::vector<std::string>{"rec-a ADD", "rec-b ADD", "rec-c DEL", "rec-b DEL",
                                                "rec-a DEL"});
    CHECK(w.call_stdin(2)["prevResult"]["interfaces"][0]["name"] == "rec-a");
    CHECK_FALSE(podnet::path_exists(w.cache_file("rec", "ctr2", "eth0")));
}

TEST_CASE("restart safety: DEL through the cache from a new process, and with the cache corrupt") {
    World w;
    for (auto t : {"rec-a", "rec-b", "rec-c"}) w.recording(t);
    w.conflist("10-rec.conflist", recording_list("rec", "1.0.0"));
    for (std::string broken : {"", "{not json"}) {
        CAPTURE(broken);
        w.forget_calls();
        REQUIRE(w.cni({"add", "rec", "/run/netns/p", "--container-id", "ctr"}).exit_code == 0);
        std::ofstream(w.cache_file("rec", "ctr", "eth0"), std::ios::trunc) << broken;
        w.forget_calls();
        auto del = w.cni({"del", "rec", "/run/netns/p", "--container-id", "ctr"});
        CHECK_MESSAGE(del.exit_code == 0, del.err);
        CHECK(w.calls() == std::vector<std::string>{"rec-c DEL", "rec-b DEL", "rec-a DEL"});
        CHECK_FALSE(w.call_stdin(0).contains("prevResult"));
        CHECK_FALSE(podnet::path_exists(w.cache_file("rec", "ctr", "eth0")));
    }
}

TEST_CASE("the shipped example conflists load, and every plugin in them speaks their version") {
    World w;
    std::vector<std::string> env = {"NETCONFPATH=" + source_dir() + "/examples/cni",
                                    "CNI_PATH=" + w.plugin_path()};
    for (const std::string name : {"podnet", "reference"}) {
        auto r = run_podnet(w.root, {"cni", "version", name}, env);
        REQUIRE_MESSAGE(r.exit_code == 0, r.err);
        json answers = json::parse(r.out)["plugins"];
        CHECK(answers.size() == (name == "podnet" ? 1U : 4U));
        for (const auto& a : answers) CHECK_MESSAGE(a["compatible"] == true, a.dump());
    }
}

TEST_CASE("podnet-cni through podnet's runner: ADD, port from outside, CHECK, DEL twice") {
    ensure_outside();
    World w;
    // The shipped example, with its state under the test's root.
    json example =
        json::parse(*podnet::read_file(source_dir() + "/examples/cni/10-podnet.conflist"));
    example["name"] = "pn";
    example["plugins"][0]["root"] = w.root + "/podnet-cni";
    w.conflist("10-pn.conflist", example);
    REQUIRE(sh("ip netns add pnpod && ip -n pnpod link set lo up").exit_code == 0);
    auto add = w.cni({"add", "pn", "/run/netns/pnpod", "--cap-args", port_caps(18081)});
    REQUIRE_MESSAGE(add.exit_code == 0, add.err);
    json result = json::parse(add.out);
    std::string ip = address_of(result);
    CHECK(ip.starts_with("10.78."));
    CHECK(sh("ip -n pnpod -4 addr show eth0").out.find(ip) != std::string::npos);
    serve_in_netns("pnpod");
    CHECK(fetch(from_outside(), "tcp", "192.168.200.1", 18081).find(" saw 192.168.200.2") !=
          std::string::npos);
    auto check = w.cni({"check", "pn", "/run/netns/pnpod"});
    CHECK_MESSAGE(check.exit_code == 0, check.err);
    auto status = w.cni({"status", "pn"});  // 1.1.0: STATUS reaches podnet-cni
    CHECK_MESSAGE(status.exit_code == 0, status.err);
    auto del = w.cni({"del", "pn", "/run/netns/pnpod"});
    CHECK_MESSAGE(del.exit_code == 0, del.err);
    CHECK(fetch(from_outside(), "tcp", "192.168.200.1", 18081, 2).starts_with("error"));
    CHECK(w.cni({"del", "pn", "/run/netns/pnpod"}).exit_code == 0);
    sh("pkill -f 'pn-probe serve 0.0.0.0 80'; ip netns del pnpod");
}

TEST_CASE("sandboxes on CNI networks: the reference chain and podnet-cni, rm and gc run DEL") {
    ensure_outside();
    World w;
    w.conflist("10-ref.conflist", reference_list("ref", w.root, "cni2", "10.91.0.0/24"));
    w.conflist("20-pn.conflist", podnet_cni_list("pn", w.root));
    w.conflist("30-side.conflist", reference_list("side", w.root, "cni3", "10.92.0.0/24", false));

    auto created = w.podnet(
        {"sandbox", "create", "--name", "web", "--network", "cni:ref", "-p", "18082:80", "--json"});
    REQUIRE_MESSAGE(created.exit_code == 0, created.err);
    json info = json::parse(created.out);
    REQUIRE(info["attachments"].size() == 1);
    CHECK(info["network"] == "cni:ref");
    CHECK(info["attachments"][0]["interface"] == "eth0");
    CHECK(info["attachments"][0]["ipv4"].get<std::string>().starts_with("10.91.0."));
    CHECK(info["attachments"][0]["cni_result"]["cniVersion"] == "1.0.0");
    auto served = w.podnet({"run", "web", "-d", "--", probe(), "serve", "0.0.0.0", "80"});
    REQUIRE_MESSAGE(served.exit_code == 0, served.err);
    CHECK(fetch(from_outside(), "tcp", "192.168.200.1", 18082).find("web saw 192.168.200.2") !=
          std::string::npos);
    auto inspected = w.podnet({"sandbox", "inspect", "web"});
    REQUIRE(inspected.exit_code == 0);
    CHECK(json::parse(inspected.out)["attachments"][0]["cni_result"]["ips"].size() == 1);
    REQUIRE(w.podnet({"sandbox", "rm", "-f", "web"}).exit_code == 0);
    CHECK(host_local_leases(w.root + "/host-local/ref") == 0);
    CHECK(fetch(from_outside(), "tcp", "192.168.200.1", 18082, 2).starts_with("error"));

    // Two networks: podnet-cni as eth0, a second bridge as eth1.
    auto two = w.podnet({"sandbox", "create", "--name", "two", "--network", "cni:pn", "--network",
                         "cni:side", "-p", "18083:80", "--json"});
    REQUIRE_MESSAGE(two.exit_code == 0, two.err);
    json two_info = json::parse(two.out);
    REQUIRE(two_info["attachments"].size() == 2);
    CHECK(two_info["attachments"][0]["ipv4"].get<std::string>().starts_with("10.78."));
    CHECK(two_info["attachments"][1]["interface"] == "eth1");
    CHECK(two_info["attachments"][1]["ipv4"].get<std::string>().starts_with("10.92.0."));
    REQUIRE(w.podnet({"run", "two", "-d", "--", probe(), "serve", "0.0.0.0", "80"}).exit_code == 0);
    {
        std::string got = fetch(from_outside(), "tcp", "192.168.200.1", 18083);
        CHECK_MESSAGE(got.find("two saw 192.168.200.2") != std::string::npos, got);
    }

    // A crash: the pause process killed; gc runs DEL for both attachments.
    int pause = two_info["pause_pid"].get<int>();
    REQUIRE(::kill(pause, SIGKILL) == 0);
    for (int i = 0; i < 100 && podnet::process_running(pause, 0); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));  // SIGKILL is asynchronous
    auto gc = w.podnet({"gc"});
    CHECK_MESSAGE(gc.exit_code == 0, gc.err);
    CHECK_MESSAGE(gc.out.find("DEL pn") != std::string::npos, gc.out);
    CHECK(gc.out.find("DEL side") != std::string::npos);
    CHECK(host_local_leases(w.root + "/host-local/side") == 0);
    CHECK(fetch(from_outside(), "tcp", "192.168.200.1", 18083, 2).starts_with("error"));
    CHECK(podnet::list_dir(w.root + "/state/cni/results")->empty());

    // Bad input: an unknown CNI network changes nothing.
    auto unknown = w.podnet({"sandbox", "create", "--network", "cni:nope"});
    CHECK(unknown.exit_code != 0);
    CHECK(unknown.err.find("nope") != std::string::npos);
    CHECK(leftovers(w.root).empty());
}

TEST_CASE("sandbox create on cni:NAME: found as podnet cni finds it; --ip is the ips capability") {
    World w;
    json pn = podnet_cni_list("pn", w.root);
    pn["plugins"][0]["capabilities"]["ips"] = true;
    w.conflist("20-pn.conflist", pn);
    w.conflist("30-noips.conflist", reference_list("noips", w.root, "cni4", "10.94.0.0/24", false));
    json ref = reference_list("ref", w.root, "cni5", "10.95.0.0/24");
    ref["plugins"][0]["capabilities"] = {{"ips", true}};  // bridge hands it to host-local
    w.conflist("10-ref.conflist", ref);

    // NETCONFPATH and CNI_PATH, no podnet.toml [cni]: as `podnet cni` and cnitool look.
    auto a = run_podnet(
        w.root,
        {"sandbox", "create", "--name", "a", "--network", "cni:pn", "--ip", "10.78.0.50", "--json"},
        w.env());
    REQUIRE_MESSAGE(a.exit_code == 0, a.err);
    CHECK(json::parse(a.out)["attachments"][0]["ipv4"] == "10.78.0.50/16");

    // The reference chain: bridge declares ips, host-local takes the address.
    auto b = w.podnet({"sandbox", "create", "--name", "b", "--network", "cni:ref", "--ip",
                       "10.95.0.50", "--json"});
    REQUIRE_MESSAGE(b.exit_code == 0, b.err);
    CHECK(json::parse(b.out)["attachments"][0]["ipv4"] == "10.95.0.50/24");

    // No plugin declares ips: refused before any plugin runs, nothing left.
    auto c = w.podnet(
        {"sandbox", "create", "--name", "nocap", "--network", "cni:noips", "--ip", "10.94.0.50"});
    CHECK(c.exit_code == 1);
    CHECK_MESSAGE(c.err.find("network cni:noips: static address 10.94.0.50 needs the \"ips\" "
                             "capability, and no plugin of " +
                             w.conf_dir + "/30-noips.conflist declares it") != std::string::npos,
                  c.err);
    CHECK(std::count(c.err.begin(), c.err.end(), '\n') == 1);
    // (a name that is no hex prefix: "c" could match another sandbox's id)
    CHECK(w.podnet({"sandbox", "inspect", "nocap"}).exit_code != 0);
    CHECK(host_local_leases(w.root + "/host-local/noips") == 0);
    CHECK(sh("ip link show cni4").exit_code != 0);  // bridge never ran

    // Not found: the error names the directory it read and what chose it.
    auto missing = run_podnet(w.root, {"sandbox", "create", "--network", "cni:nope"}, w.env());
    CHECK(missing.exit_code == 1);
    CHECK_MESSAGE(missing.err.find("no CNI network \"nope\" in " + w.conf_dir +
                                   " (from NETCONFPATH)") != std::string::npos,
                  missing.err);
    auto by_config = w.podnet({"sandbox", "create", "--network", "cni:nope"});
    CHECK_MESSAGE(
        by_config.err.find("no CNI network \"nope\" in " + w.conf_dir +
                           " (from [cni] conf_dir; NETCONFPATH overrides it)") != std::string::npos,
        by_config.err);
    auto via_cni = run_podnet(w.root, {"cni", "version", "nope"}, w.env());
    CHECK(via_cni.err.find("(from NETCONFPATH)") != std::string::npos);  // one lookup for both

    REQUIRE(run_podnet(w.root, {"sandbox", "rm", "-f", "a"}, w.env()).exit_code == 0);
    REQUIRE(w.podnet({"sandbox", "rm", "-f", "b"}).exit_code == 0);
    CHECK(host_local_leases(w.root + "/host-local/ref") == 0);
    CHECK(leftovers(w.root).empty());
}
