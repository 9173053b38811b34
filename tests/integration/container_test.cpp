// Containers joining a sandbox: shared localhost, IPC, PID namespace and hostname; isolation
// from other sandboxes; reaping; security defaults; foreground and detached runs.

#include <doctest/doctest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/fs.hpp"
#include "common/process.hpp"
#include "tests/support/command.hpp"

using namespace podnet::test;
using nlohmann::json;

namespace {

std::string probe() {
    return bin_dir() + "/pn-probe";
}

CommandResult run_in(const std::string& root, const std::string& sandbox,
                     std::vector<std::string> options, std::vector<std::string> command) {
    std::vector<std::string> args = {"run", sandbox};
    args.insert(args.end(), options.begin(), options.end());
    args.push_back("--");
    args.insert(args.end(), command.begin(), command.end());
    return run_podnet(root, args);
}

json container(const std::string& root, const std::string& sandbox, const std::string& name) {
    auto r = run_podnet(root, {"ps", "-a", sandbox, "--json"});
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    for (auto& c : json::parse(r.out))
        if (c["name"] == name) return c;
    FAIL("no container " << name);
    return {};
}

// The names `ps` lists (with -a when `all`).
std::vector<std::string> ps_names(const std::string& root, const std::string& sandbox, bool all) {
    std::vector<std::string> args = {"ps", sandbox, "--json"};
    if (all) args.push_back("--all");
    auto r = run_podnet(root, args);
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    std::vector<std::string> names;
    for (auto& c : json::parse(r.out)) names.push_back(c["name"]);
    return names;
}

bool has(const std::vector<std::string>& names, const std::string& name) {
    return std::find(names.begin(), names.end(), name) != names.end();
}

// Poll until the container has exited (detached runs) or give up after 5 s.
json wait_exited(const std::string& root, const std::string& sandbox, const std::string& name) {
    for (int i = 0; i < 250; ++i) {
        json c = container(root, sandbox, name);
        if (c["status"] == "exited" && !c["exit_code"].is_null()) return c;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return container(root, sandbox, name);
}

std::string create(const std::string& root, const std::string& name,
                   std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"sandbox", "create", "--name", name};
    args.insert(args.end(), extra.begin(), extra.end());
    auto r = run_podnet(root, args);
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    return trim(r.out);
}

}  // namespace

TEST_CASE(
    "two containers in one pod share localhost, IPC, PIDs and hostname; another pod "
    "sees none of it") {
    std::string root = make_temp_dir("pn-pod");
    create(root, "pod", {"--hostname", "podhost"});
    create(root, "other");

    // localhost: a detached server, a foreground client.
    auto server = run_in(root, "pod", {"-d", "--name", "server"},
                         {probe(), "tcp-serve", "8080", "hello-over-localhost"});
    REQUIRE_MESSAGE(server.exit_code == 0, server.err);
    auto client = run_in(root, "pod", {"--name", "client"}, {probe(), "tcp-get", "8080"});
    CHECK(client.exit_code == 0);
    CHECK(trim(client.out) == "hello-over-localhost");
    CHECK(wait_exited(root, "pod", "server")["exit_code"] == 0);

    // The other pod's localhost is its own: nothing listens there.
    auto server2 = run_in(root, "pod", {"-d"}, {probe(), "tcp-serve", "8081", "x"});
    REQUIRE(server2.exit_code == 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    auto elsewhere =
        run_in(root, "other", {}, {"/usr/bin/timeout", "1", probe(), "tcp-get", "8081"});
    CHECK(elsewhere.exit_code != 0);

    // SysV IPC: a message queue and shared memory made by one container, used by another.
    CHECK(trim(run_in(root, "pod", {}, {probe(), "msgq-send", "4242", "queued-msg"}).out) ==
          "sent");
    CHECK(trim(run_in(root, "other", {}, {probe(), "msgq-recv", "4242"}).out).starts_with("error"));
    CHECK(trim(run_in(root, "pod", {}, {probe(), "msgq-recv", "4242"}).out) == "queued-msg");
    CHECK(trim(run_in(root, "pod", {}, {probe(), "shm-write", "4343", "shared-mem"}).out) ==
          "written");
    CHECK(trim(run_in(root, "pod", {}, {probe(), "shm-read", "4343"}).out) == "shared-mem");
    CHECK(trim(run_in(root, "other", {}, {probe(), "shm-read", "4343"}).out).starts_with("error"));

    // PID namespace: pause is PID 1; each container sees the others' processes.
    auto sleeper = run_in(root, "pod", {"-d", "--name", "sleeper"}, {probe(), "sleep", "30000"});
    REQUIRE(sleeper.exit_code == 0);
    int sleeper_pod_pid = container(root, "pod", "sleeper")["pod_pid"];
    CHECK(trim(run_in(root, "pod", {}, {probe(), "pid1"}).out) == "podnet-pause");
    CHECK(trim(run_in(root, "other", {}, {probe(), "pid1"}).out) == "podnet-pause");
    auto pids = run_in(root, "pod", {}, {probe(), "pids"});
    CHECK(pids.out.find(std::to_string(sleeper_pod_pid) + " pn-probe") != std::string::npos);
    CHECK(pids.out.find("1 podnet-pause") != std::string::npos);
    auto other_pids = run_in(root, "other", {}, {probe(), "pids"});
    // Only pause and the lister itself.
    CHECK_MESSAGE(std::count(other_pids.out.begin(), other_pids.out.end(), '\n') == 2,
                  other_pids.out);

    // UTS: the sandbox hostname, and HOSTNAME in the environment.
    CHECK(trim(run_in(root, "pod", {}, {"/bin/hostname"}).out) == "podhost");
    CHECK(trim(run_in(root, "other", {}, {"/bin/hostname"}).out) == "other");
    CHECK(trim(run_in(root, "pod", {}, {"/bin/sh", "-c", "echo $HOSTNAME"}).out) == "podhost");

    CHECK(run_podnet(root, {"sandbox", "rm", "-f", "pod", "other"}).exit_code == 0);
    CHECK(leftovers(root).empty());
}

TEST_CASE("pause reaps orphans reparented to it") {
    std::string root = make_temp_dir("pn-reap");
    create(root, "pod");
    json info = json::parse(run_podnet(root, {"sandbox", "inspect", "pod"}).out);
    int pause = info["pause_pid"];
    // The probe exits at once; its child exits too, leaving a grandchild that pause inherits.
    auto r = run_in(root, "pod", {}, {probe(), "orphan"});
    REQUIRE(r.exit_code == 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(600));
    // No zombie anywhere whose parent is the pause process.
    int zombies = 0, children = 0;
    auto procs = podnet::list_dir("/proc");
    REQUIRE(procs);
    for (const auto& p : *procs) {
        if (p.find_first_not_of("0123456789") != std::string::npos) continue;
        auto st = podnet::read_proc_stat(std::stoi(p));
        if (st && st->parent == pause) {
            ++children;
            if (st->state == 'Z') ++zombies;
        }
    }
    CHECK(zombies == 0);
    CHECK(children == 0);
    CHECK(run_podnet(root, {"sandbox", "rm", "-f", "pod"}).exit_code == 0);
}

TEST_CASE("exit codes pass through; detached output goes to a log") {
    std::string root = make_temp_dir("pn-exit");
    create(root, "pod");
    CHECK(run_in(root, "pod", {}, {"/bin/sh", "-c", "exit 7"}).exit_code == 7);
    auto fg = run_in(root, "pod", {}, {"/bin/sh", "-c", "echo to-stdout; echo to-stderr >&2"});
    CHECK(fg.out == "to-stdout\n");
    CHECK(fg.err == "to-stderr\n");
    CHECK(run_in(root, "pod", {}, {"/bin/sh", "-c", "kill -KILL $$"}).exit_code == 137);

    auto d = run_in(root, "pod", {"-d", "--name", "job"},
                    {"/bin/sh", "-c", "echo out-line; echo err-line >&2; exit 3"});
    REQUIRE(d.exit_code == 0);
    CHECK(trim(d.out).size() == 64);
    json job = wait_exited(root, "pod", "job");
    CHECK(job["exit_code"] == 3);
    auto logs = run_podnet(root, {"logs", "pod", "job"});
    CHECK(logs.exit_code == 0);
    CHECK(logs.out.find("out-line\n") != std::string::npos);
    CHECK(logs.out.find("err-line\n") != std::string::npos);
    auto table = run_podnet(root, {"ps", "-a", "pod"});
    CHECK(table.out.find("exited (3)") != std::string::npos);
    CHECK(run_podnet(root, {"sandbox", "rm", "-f", "pod"}).exit_code == 0);
}

TEST_CASE("env, workdir, user, capabilities") {
    std::string root = make_temp_dir("pn-creds");
    create(root, "pod");
    auto env = run_in(root, "pod", {"--env", "GREETING=hi there", "--workdir", "/tmp"},
                      {"/bin/sh", "-c", "echo \"$GREETING\"; pwd"});
    CHECK(env.out == "hi there\n/tmp\n");
    auto id = run_in(root, "pod", {"--user", "1000:1001"}, {"/usr/bin/id"});
    CHECK(id.out.starts_with("uid=1000"));
    CHECK(id.out.find(" gid=1001") != std::string::npos);
    // Docker's default set is 0x00000000a80425fb; a non-root user gets none effective.
    auto caps = run_in(root, "pod", {},
                       {"/bin/grep", "-E", "CapEff|CapBnd|NoNewPrivs", "/proc/self/status"});
    CHECK(caps.out.find("CapEff:\t00000000a80425fb") != std::string::npos);
    CHECK(caps.out.find("CapBnd:\t00000000a80425fb") != std::string::npos);
    CHECK(caps.out.find("NoNewPrivs:\t1") != std::string::npos);
    auto user_caps =
        run_in(root, "pod", {"--user", "1000"}, {"/bin/grep", "CapEff", "/proc/self/status"});
    CHECK(user_caps.out.find("CapEff:\t0000000000000000") != std::string::npos);
    auto dropped = run_in(root, "pod", {"--cap-drop", "ALL", "--cap-add", "NET_ADMIN"},
                          {"/bin/grep", "CapEff", "/proc/self/status"});
    CHECK(dropped.out.find("CapEff:\t0000000000001000") != std::string::npos);
    CHECK(run_podnet(root, {"sandbox", "rm", "-f", "pod"}).exit_code == 0);
}

TEST_CASE("default seccomp denies unshare, mount, keyctl and ptrace; unconfined does not") {
    std::string root = make_temp_dir("pn-seccomp");
    create(root, "pod");
    auto confined = run_in(root, "pod", {}, {probe(), "syscalls"});
    CHECK(confined.out.find("unshare=EPERM") != std::string::npos);
    CHECK(confined.out.find("mount=EPERM") != std::string::npos);
    CHECK(confined.out.find("keyctl=EPERM") != std::string::npos);
    CHECK(confined.out.find("ptrace=EPERM") != std::string::npos);
    CHECK(confined.out.find("seccomp=2") != std::string::npos);

    // keyctl and ptrace(TRACEME) need no capability: only the filter stops them.
    auto unconfined = run_in(root, "pod", {"--seccomp", "unconfined"}, {probe(), "syscalls"});
    CHECK(unconfined.out.find("keyctl=OK") != std::string::npos);
    CHECK(unconfined.out.find("ptrace=OK") != std::string::npos);
    CHECK(unconfined.out.find("seccomp=0") != std::string::npos);
    // unshare and mount also need CAP_SYS_ADMIN, which Docker's defaults lack.
    auto admin = run_in(root, "pod", {"--seccomp", "unconfined", "--cap-add", "SYS_ADMIN"},
                        {probe(), "syscalls"});
    CHECK(admin.out.find("unshare=OK") != std::string::npos);
    CHECK(admin.out.find("mount=OK") != std::string::npos);

    // A profile file in the OCI/Docker format.
    std::string profile = root + "/profile.json";
    std::ofstream(profile) << R"({"defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["keyctl"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]})";
    auto custom = run_in(root, "pod", {"--seccomp", profile, "--cap-add", "SYS_ADMIN"},
                         {probe(), "syscalls"});
    CHECK(custom.out.find("keyctl=EPERM") != std::string::npos);
    CHECK(custom.out.find("unshare=OK") != std::string::npos);
    CHECK(custom.out.find("seccomp=2") != std::string::npos);
    CHECK(run_podnet(root, {"sandbox", "rm", "-f", "pod"}).exit_code == 0);
}

TEST_CASE("a rootfs container sees its own filesystem and the pod's processes") {
    std::string root = make_temp_dir("pn-rootfs");
    std::string rootfs = root + "/rootfs";
    REQUIRE(podnet::make_dirs(rootfs + "/bin", 0755));
    REQUIRE(run_command({"/bin/cp", "/bin/busybox", rootfs + "/bin/busybox"}).exit_code == 0);
    std::ofstream(rootfs + "/marker") << "inside-rootfs\n";
    create(root, "pod", {"--hostname", "rooted"});
    auto r = run_in(root, "pod", {"--rootfs", rootfs},
                    {"/bin/busybox", "sh", "-c",
                     "cat /marker; cat /proc/1/comm; busybox hostname; ls /dev/null; "
                     "test -e /usr/bin/id || echo no-host-files"});
    CHECK_MESSAGE(r.exit_code == 0, r.err);
    CHECK(r.out == "inside-rootfs\npodnet-pause\nrooted\n/dev/null\nno-host-files\n");
    CHECK(run_podnet(root, {"sandbox", "rm", "-f", "pod"}).exit_code == 0);
    CHECK(leftovers(root).empty());
}

TEST_CASE("kill, stop with grace period, and signal forwarding") {
    std::string root = make_temp_dir("pn-signals");
    create(root, "pod");
    REQUIRE(run_in(root, "pod", {"-d", "--name", "a"}, {probe(), "sleep", "30000"}).exit_code == 0);
    CHECK(run_podnet(root, {"kill", "--signal", "TERM", "pod", "a"}).exit_code == 0);
    CHECK(wait_exited(root, "pod", "a")["exit_code"] == 143);
    CHECK(run_podnet(root, {"kill", "pod", "a"}).exit_code != 0);  // no longer running

    // A signal sent to `podnet run` reaches the container; its status comes back.
    pid_t cli = ::fork();
    if (cli == 0) {
        std::string bin = bin_dir() + "/podnet";
        std::string p = probe();
        ::execl(bin.c_str(), "podnet", "--root", root.c_str(), "run", "pod", "--name", "fg", "--",
                p.c_str(), "sleep", "30000", nullptr);
        ::_exit(127);
    }
    for (int i = 0; i < 250; ++i) {
        auto ps = json::parse(run_podnet(root, {"ps", "pod", "--json"}).out);
        bool up = false;
        for (auto& c : ps) up = up || (c["name"] == "fg" && c["status"] == "running");
        if (up) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ::kill(cli, SIGTERM);
    int status = 0;
    ::waitpid(cli, &status, 0);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 143);

    // stop: containers get SIGTERM and their grace period before the pod goes.
    REQUIRE(run_in(root, "pod", {"-d", "--name", "b"}, {probe(), "sleep", "30000"}).exit_code == 0);
    auto start = std::chrono::steady_clock::now();
    CHECK(run_podnet(root, {"sandbox", "stop", "pod", "--timeout", "10"}).exit_code == 0);
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
    CHECK(container(root, "pod", "b")["exit_code"] == 143);
    CHECK(run_podnet(root, {"sandbox", "rm", "pod"}).exit_code == 0);
    CHECK(leftovers(root).empty());
}

TEST_CASE("ps lists running containers, -a all of them; old exited ones are forgotten") {
    std::string root = make_temp_dir("pn-ps");
    create(root, "pod");
    CHECK(run_in(root, "pod", {"--name", "done"}, {"/bin/sh", "-c", "exit 5"}).exit_code == 5);
    REQUIRE(run_in(root, "pod", {"-d", "--name", "old"}, {"/bin/sh", "-c", "echo x"}).exit_code ==
            0);
    REQUIRE(wait_exited(root, "pod", "old")["exit_code"] == 0);
    std::string old_log = container(root, "pod", "old")["log_path"];
    CHECK(podnet::path_exists(old_log));
    REQUIRE(run_in(root, "pod", {"-d", "--name", "up"}, {probe(), "sleep", "30000"}).exit_code ==
            0);

    auto running = ps_names(root, "pod", false);
    CHECK(has(running, "up"));
    CHECK_FALSE(has(running, "done"));
    CHECK_FALSE(has(running, "old"));
    auto all = ps_names(root, "pod", true);
    CHECK(has(all, "up"));
    CHECK(has(all, "done"));
    CHECK(container(root, "pod", "done")["exit_code"] == 5);
    auto table = run_podnet(root, {"ps", "pod"});
    CHECK(table.out.find("done") == std::string::npos);
    CHECK(table.out.find("up") != std::string::npos);
    CHECK(run_podnet(root, {"ps", "--all", "pod"}).out.find("exited (5)") != std::string::npos);

    // 32 exited containers are kept per sandbox; each run forgets older ones, logs included.
    for (int i = 0; i < 33; ++i)
        REQUIRE(run_in(root, "pod", {"--name", numbered("j", i)}, {"/bin/true"}).exit_code == 0);
    all = ps_names(root, "pod", true);
    CHECK_FALSE(has(all, "done"));
    CHECK_FALSE(has(all, "old"));
    CHECK_FALSE(podnet::path_exists(old_log));
    CHECK(has(all, "j0"));
    CHECK(has(all, "j32"));
    CHECK(has(all, "up"));  // running containers are never forgotten
    CHECK(all.size() == 34);
    CHECK(run_podnet(root, {"sandbox", "rm", "-f", "pod"}).exit_code == 0);
    CHECK(leftovers(root).empty());
}

TEST_CASE("--rm forgets a container and its log once it has exited") {
    std::string root = make_temp_dir("pn-rm");
    std::string id = create(root, "pod");
    std::string record_path = root + "/run/sandboxes/" + id + ".json";
    auto record = [&] {
        auto text = podnet::read_file(record_path);
        REQUIRE_MESSAGE(text, text.error().message);
        return *text;
    };

    // Foreground: the exit code comes back, the record goes, the name is free again.
    CHECK(run_in(root, "pod", {"--rm", "--name", "once"}, {"/bin/sh", "-c", "exit 4"}).exit_code ==
          4);
    CHECK_FALSE(has(ps_names(root, "pod", true), "once"));
    CHECK(record().find("\"once\"") == std::string::npos);
    CHECK(run_in(root, "pod", {"--rm", "--name", "once"}, {"/bin/true"}).exit_code == 0);

    // Detached: podnet returns at once; a watcher forgets the container when it exits.
    auto d = run_in(root, "pod", {"-d", "--rm", "--name", "bg"},
                    {"/bin/sh", "-c", "echo from-bg; sleep 3"});
    REQUIRE_MESSAGE(d.exit_code == 0, d.err);
    CHECK(d.ms < 2500);  // not held by the container (3 s) or its watcher
    json bg = container(root, "pod", "bg");
    CHECK(bg["status"] == "running");
    std::string log = bg["log_path"];
    CHECK(podnet::path_exists(log));
    bool gone = false;
    for (int i = 0; i < 500 && !gone; ++i) {
        gone = record().find("\"bg\"") == std::string::npos;
        if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    CHECK(gone);
    CHECK_FALSE(podnet::path_exists(log));
    CHECK_FALSE(has(ps_names(root, "pod", true), "bg"));

    // A watcher that died: the exited container is hidden, and the next run drops it.
    REQUIRE(run_in(root, "pod", {"-d", "--rm", "--name", "fb"}, {"/bin/sleep", "0.5"}).exit_code ==
            0);
    int watchers = 0;
    auto procs = podnet::list_dir("/proc");
    REQUIRE(procs);
    for (const auto& p : *procs) {
        if (p.find_first_not_of("0123456789") != std::string::npos) continue;
        auto argv = podnet::read_proc_cmdline(std::stoi(p));
        if (argv && argv->size() > 3 && (*argv)[2] == root && has(*argv, "fb")) {
            ::kill(std::stoi(p), SIGKILL);
            ++watchers;
        }
    }
    CHECK(watchers == 1);
    std::this_thread::sleep_for(std::chrono::milliseconds(800));
    CHECK_FALSE(has(ps_names(root, "pod", true), "fb"));
    CHECK(record().find("\"fb\"") != std::string::npos);
    CHECK(run_in(root, "pod", {"--rm"}, {"/bin/true"}).exit_code == 0);
    CHECK(record().find("\"fb\"") == std::string::npos);

    // logs and kill work on a running --rm container; afterwards it is gone.
    REQUIRE(run_in(root, "pod", {"-d", "--rm", "--name", "k"},
                   {"/bin/sh", "-c", "echo k-says-hi; exec " + probe() + " sleep 30000"})
                .exit_code == 0);
    std::string out;
    for (int i = 0; i < 250 && out.find("k-says-hi") == std::string::npos; ++i) {
        out = run_podnet(root, {"logs", "pod", "k"}).out;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    CHECK(out == "k-says-hi\n");
    CHECK(run_podnet(root, {"kill", "pod", "k"}).exit_code == 0);
    gone = false;
    for (int i = 0; i < 250 && !gone; ++i) {
        gone = !has(ps_names(root, "pod", true), "k");
        if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    CHECK(gone);
    auto logs = run_podnet(root, {"logs", "pod", "k"});
    CHECK(logs.exit_code == 1);
    CHECK(logs.err.find("not in sandbox pod") != std::string::npos);

    // Bundled flags (-dit) are run's own only before the command.
    auto echoed =
        run_podnet(root, {"run", "pod", "--rm", "/bin/sh", "-c", "echo \"$1\"", "sh", "-dit"});
    CHECK(echoed.out == "-dit\n");
    echoed = run_podnet(root, {"run", "pod", "--rm", "-e", "-it", "--", "/usr/bin/env"});
    CHECK(echoed.exit_code == 1);  // "-it" is -e's value, and not KEY=VALUE
    CHECK(echoed.err.find("invalid environment variable \"-it\"") != std::string::npos);

    // -t/-i need a foreground container.
    auto bad = run_in(root, "pod", {"-dt"}, {"/bin/true"});
    CHECK(bad.exit_code == 2);
    CHECK(bad.err.find("podnet: run: -t and -i") == 0);
    CHECK(run_podnet(root, {"sandbox", "rm", "-f", "pod"}).exit_code == 0);
    CHECK(leftovers(root).empty());
}
