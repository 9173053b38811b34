// Sandbox lifecycle through the podnet CLI: create / ls / inspect / stop / rm, bad input,
// concurrency. Runs inside private namespaces (tests/support/isolate.hpp).

#include <doctest/doctest.h>
#include <sys/stat.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/process.hpp"
#include "netns/namespace.hpp"
#include "tests/support/command.hpp"

using namespace podnet::test;
using nlohmann::json;

namespace {

ino_t inode_of(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

json inspect(const std::string& root, const std::string& ref) {
    auto r = run_podnet(root, {"sandbox", "inspect", ref});
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    return json::parse(r.out);
}

}  // namespace

TEST_CASE("a sandbox is a pause process holding pinned namespaces") {
    std::string root = make_temp_dir("pn-sandbox");
    auto created = run_podnet(root, {"sandbox", "create", "--network", "none", "--name", "web",
                                     "--hostname", "webhost", "--namespace", "prod", "--label",
                                     "run=nginx", "--label", "app.kubernetes.io/tier=front"});
    REQUIRE_MESSAGE(created.exit_code == 0, created.err);
    std::string id = trim(created.out);
    CHECK(id.size() == 64);

    json info = inspect(root, "web");
    CHECK(info["id"] == id);
    CHECK(info["name"] == "web");
    CHECK(info["namespace"] == "prod");
    CHECK(info["hostname"] == "webhost");
    CHECK(info["labels"]["run"] == "nginx");
    CHECK(info["labels"]["app.kubernetes.io/tier"] == "front");
    CHECK(info["state"] == "running");
    int pause = info["pause_pid"];
    REQUIRE(pause > 0);
    CHECK(podnet::read_proc_stat(pause).has_value());

    // Each pin is a bind mount of the pause process's namespace.
    for (const char* kind : {"net", "ipc", "uts", "pid"}) {
        std::string pin = info["namespaces"][kind];
        CHECK(podnet::is_namespace_pin(pin));
        CHECK(inode_of(pin) == inode_of("/proc/" + std::to_string(pause) + "/ns/" + kind));
        CHECK(inode_of(pin) != inode_of(std::string("/proc/self/ns/") + kind));
    }

    // Joinable by path with nsenter: the pod's network has only lo, and it is up.
    auto links =
        run_command({"/usr/bin/nsenter", "--net=" + info["namespaces"]["net"].get<std::string>(),
                     "/bin/ip", "-o", "link", "show"});
    REQUIRE_MESSAGE(links.exit_code == 0, links.err);
    CHECK(links.out.find("lo:") != std::string::npos);
    CHECK(links.out.find(",UP") != std::string::npos);
    CHECK(std::count(links.out.begin(), links.out.end(), '\n') == 1);
    auto hostname =
        run_command({"/usr/bin/nsenter", "--uts=" + info["namespaces"]["uts"].get<std::string>(),
                     "/bin/hostname"});
    CHECK(trim(hostname.out) == "webhost");

    // The id, a unique prefix, and the name all name it.
    CHECK(inspect(root, id)["name"] == "web");
    CHECK(inspect(root, id.substr(0, 5))["name"] == "web");

    auto ls = run_podnet(root, {"sandbox", "ls", "--json"});
    REQUIRE(ls.exit_code == 0);
    CHECK(json::parse(ls.out).size() == 1);
    auto table = run_podnet(root, {"sandbox", "ls"});
    CHECK(table.out.find("web") != std::string::npos);
    CHECK(table.out.find("running") != std::string::npos);

    auto oci = run_podnet(root, {"sandbox", "inspect", "web", "--oci"});
    REQUIRE(oci.exit_code == 0);
    json entries = json::parse(oci.out);
    CHECK(entries.size() == 5);
    CHECK(entries[0]["type"] == "network");
    CHECK(entries[0]["path"] == info["namespaces"]["net"]);

    auto stop = run_podnet(root, {"sandbox", "stop", "web", "--timeout", "2"});
    REQUIRE_MESSAGE(stop.exit_code == 0, stop.err);
    json stopped = inspect(root, "web");
    CHECK(stopped["state"] == "stopped");
    CHECK(stopped["pause_pid"] == 0);
    CHECK_FALSE(podnet::process_running(pause, 0));
    CHECK_FALSE(podnet::is_namespace_pin(info["namespaces"]["net"]));

    auto rm = run_podnet(root, {"sandbox", "rm", "web"});
    REQUIRE_MESSAGE(rm.exit_code == 0, rm.err);
    CHECK(json::parse(run_podnet(root, {"sandbox", "ls", "--json"}).out).empty());
    CHECK(leftovers(root).empty());
}

TEST_CASE("a sandbox without a name is named by its id prefix and hostname") {
    std::string root = make_temp_dir("pn-sandbox");
    auto created = run_podnet(root, {"sandbox", "create"});
    REQUIRE(created.exit_code == 0);
    std::string id = trim(created.out);
    json info = inspect(root, id);
    CHECK(info["name"] == id.substr(0, 12));
    CHECK(info["hostname"] == id.substr(0, 12));
    CHECK(info["namespace"] == "default");
    CHECK(run_podnet(root, {"sandbox", "rm", "-f", id.substr(0, 12)}).exit_code == 0);
    CHECK(leftovers(root).empty());
}

TEST_CASE("rm refuses a running sandbox unless forced") {
    std::string root = make_temp_dir("pn-sandbox");
    REQUIRE(run_podnet(root, {"sandbox", "create", "--name", "db"}).exit_code == 0);
    int pause = inspect(root, "db")["pause_pid"];
    auto rm = run_podnet(root, {"sandbox", "rm", "db"});
    CHECK(rm.exit_code != 0);
    CHECK(rm.err.find("running") != std::string::npos);
    CHECK(inspect(root, "db")["state"] == "running");
    auto forced = run_podnet(root, {"sandbox", "rm", "-f", "--json", "db"});
    CHECK_MESSAGE(forced.exit_code == 0, forced.err);
    CHECK(json::parse(forced.out) == json::array({"db"}));
    CHECK_FALSE(podnet::process_running(pause, 0));
    CHECK(leftovers(root).empty());
}

TEST_CASE("bad input: one line naming the thing, non-zero exit, nothing changed") {
    std::string root = make_temp_dir("pn-bad");
    REQUIRE(run_podnet(root, {"sandbox", "create", "--name", "taken"}).exit_code == 0);
    std::string before = run_podnet(root, {"sandbox", "ls", "--json"}).out;

    struct Case {
        std::vector<std::string> args;
        std::string expect;  // in the error line
    };
    std::string bad_toml = root + "/bad.toml";
    std::ofstream(bad_toml) << "[paths]\nrun_root = \"/x\"\nbogus = = 1\n";
    std::string unknown_key = root + "/unknown.toml";
    std::ofstream(unknown_key) << "[sandbox]\nstop_timeout = 3\n";
    const Case cases[] = {
        {{"sandbox", "create", "--name", "taken"}, "\"taken\" is already in use"},
        {{"sandbox", "create", "--name", "../x"}, "invalid sandbox name \"../x\""},
        {{"sandbox", "create", "--name", std::string(64, 'a')}, "invalid sandbox name"},
        {{"sandbox", "create", "--label", "bad key=v"}, "invalid label key \"bad key\""},
        {{"sandbox", "create", "--label", "k=-v"}, "invalid value \"-v\" for label \"k\""},
        {{"sandbox", "create", "--label", "novalue"}, "expected key=value"},
        {{"sandbox", "create", "--namespace", "Prod"}, "invalid namespace \"Prod\""},
        {{"sandbox", "create", "--network", "bogus"}, "network \"bogus\": no such network"},
        {{"sandbox", "create", "--network", "none", "-p", "80:80"}, "--network none"},
        {{"sandbox", "create", "--hostname", "bad_host"}, "invalid hostname \"bad_host\""},
        {{"sandbox", "create", "--bogus"}, "unknown option --bogus"},
        {{"sandbox", "inspect", "nosuch"}, "sandbox \"nosuch\": no such sandbox"},
        {{"sandbox", "rm", "nosuch"}, "sandbox \"nosuch\": no such sandbox"},
        {{"sandbox", "stop", "nosuch"}, "sandbox \"nosuch\": no such sandbox"},
        {{"run", "nosuch", "--", "/bin/true"}, "sandbox \"nosuch\": no such sandbox"},
        {{"run", "taken"}, "usage: podnet run"},
        {{"run", "taken", "--seccomp", "/nonexistent.json", "--", "/bin/true"},
         "seccomp profile /nonexistent.json"},
        {{"run", "taken", "--cap-add", "NOT_A_CAP", "--", "/bin/true"}, "NOT_A_CAP"},
        {{"run", "taken", "--user", "bob", "--", "/bin/true"}, "--user bob"},
        {{"run", "taken", "--", "/nonexistent/cmd"}, "exec \"/nonexistent/cmd\""},
        {{"--config", bad_toml, "sandbox", "ls"}, "bad.toml:3:"},
        {{"--config", unknown_key, "sandbox", "ls"}, "unknown key [sandbox] stop_timeout"},
        {{"--config", root + "/missing.toml", "sandbox", "ls"}, "missing.toml"},
        {{"sandbox", "frobnicate"}, "unknown command \"sandbox frobnicate\""},
    };
    for (const auto& c : cases) {
        CAPTURE(c.args);
        auto r = run_podnet(root, c.args);
        CHECK(r.exit_code != 0);
        CHECK(r.err.find(c.expect) != std::string::npos);
        CHECK(r.err.starts_with("podnet: "));
        CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    }
    CHECK(run_podnet(root, {"sandbox", "ls", "--json"}).out == before);
    CHECK(run_podnet(root, {"sandbox", "rm", "-f", "taken"}).exit_code == 0);
    CHECK(leftovers(root).empty());
}

TEST_CASE("podnet refuses to run without root") {
    std::string root = make_temp_dir("pn-noroot");
    ::chmod(root.c_str(), 0777);
    auto r = run_command({"/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                          bin_dir() + "/podnet", "--root", root, "sandbox", "ls"});
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("needs root") != std::string::npos);
}

TEST_CASE("config show prints the effective configuration") {
    std::string root = make_temp_dir("pn-config");
    std::string file = root + "/podnet.toml";
    std::ofstream(file) << "[sandbox]\nstop_timeout_seconds = 3\nseccomp = \"unconfined\"\n";
    auto r = run_command({bin_dir() + "/podnet", "--config", file, "config", "show"});
    REQUIRE(r.exit_code == 0);
    CHECK(r.out.find("stop_timeout_seconds = 3") != std::string::npos);
    CHECK(r.out.find("seccomp = 'unconfined'") != std::string::npos);
    CHECK(r.out.find("run_root = '/run/podnet'") != std::string::npos);
    auto rooted = run_podnet(root, {"config", "show"});
    CHECK(rooted.out.find("run_root = '" + root + "/run'") != std::string::npos);
}

TEST_CASE("20 parallel creates and removes all succeed") {
    std::string root = make_temp_dir("pn-parallel");
    constexpr int n = 20;
    std::vector<CommandResult> creates(n), removes(n);
    std::vector<std::thread> threads;
    for (int i = 0; i < n; ++i)
        threads.emplace_back([&, i] {
            creates[i] = run_podnet(root, {"sandbox", "create", "--name", numbered("p", i)});
        });
    for (auto& t : threads) t.join();
    for (int i = 0; i < n; ++i) CHECK_MESSAGE(creates[i].exit_code == 0, creates[i].err);
    json list = json::parse(run_podnet(root, {"sandbox", "ls", "--json"}).out);
    CHECK(list.size() == n);
    for (const auto& s : list) CHECK(s["state"] == "running");

    threads.clear();
    for (int i = 0; i < n; ++i)
        threads.emplace_back([&, i] {
            removes[i] = run_podnet(root, {"sandbox", "rm", "-f", numbered("p", i)});
        });
    for (auto& t : threads) t.join();
    for (int i = 0; i < n; ++i) CHECK_MESSAGE(removes[i].exit_code == 0, removes[i].err);
    CHECK(json::parse(run_podnet(root, {"sandbox", "ls", "--json"}).out).empty());
    CHECK(leftovers(root).empty());
}
