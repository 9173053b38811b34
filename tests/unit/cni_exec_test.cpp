#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <optional>
#include <thread>

#include "cni-runner/plugin_exec.hpp"
#include "common/fs.hpp"
#include "common/process.hpp"
#include "common/unique_fd.hpp"
#include "tests/support/temp_dir.hpp"

using namespace podnet;
using namespace podnet::cni;
using namespace std::chrono_literals;

using podnet::test::TempDir;

namespace {

std::string write_plugin(const std::string& dir, const std::string& name, const std::string& body,
                         mode_t mode = 0755) {
    std::string path = dir + "/" + name;
    REQUIRE(write_file_atomic(path, "#!/bin/sh\n" + body, mode));
    REQUIRE(::chmod(path.c_str(), mode) == 0);  // the umask may have taken bits away
    return path;
}

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> lines;
    size_t start = 0;
    while (start < text.size()) {
        size_t end = text.find('\n', start);
        if (end == std::string::npos) end = text.size();
        lines.push_back(text.substr(start, end - start));
        start = end + 1;
    }
    return lines;
}

std::string file_text(const std::string& path) {
    auto text = read_file(path);
    REQUIRE_MESSAGE(text, path);
    return *text;
}

PluginInvocation add_call(const std::string& plugin_dir) {
    PluginInvocation call;
    call.command = "ADD";
    call.container_id = "ctr1";
    call.netns = "/var/run/netns/ctr1";
    call.ifname = "eth0";
    call.args = {{"IgnoreUnknown", "1"}, {"K8S_POD_NAME", "web"}};
    call.plugin_dirs = {plugin_dir, "/opt/cni/bin"};
    return call;
}

// Restores an environment variable at scope exit.
struct SavedEnv {
    std::string name;
    std::optional<std::string> value;
    explicit SavedEnv(std::string n) : name(std::move(n)) {
        if (const char* v = std::getenv(name.c_str())) value = v;
    }
    ~SavedEnv() {
        if (value)
            ::setenv(name.c_str(), value->c_str(), 1);
        else
            ::unsetenv(name.c_str());
    }
};

// A killed background process may stay a zombie here (PID 1 does not reap orphans), so "gone"
// means not running rather than absent from /proc.
bool gone_within(pid_t pid, std::chrono::milliseconds limit) {
    auto until = std::chrono::steady_clock::now() + limit;
    while (process_running(pid, 0)) {
        if (std::chrono::steady_clock::now() > until) return false;
        std::this_thread::sleep_for(10ms);
    }
    return true;
}

}  // namespace

TEST_CASE("split_path_list drops empty entries") {
    CHECK(split_path_list("/opt/cni/bin::/usr/lib/cni:") ==
          std::vector<std::string>{"/opt/cni/bin", "/usr/lib/cni"});
    CHECK(split_path_list("").empty());
    CHECK(split_path_list(default_plugin_path) ==
          std::vector<std::string>{"/opt/cni/bin", "/usr/lib/cni"});
}

TEST_CASE("find_plugin takes the first executable regular file and refuses paths") {
    TempDir first, second;
    write_plugin(first.path, "noexec", "exit 0\n", 0644);
    REQUIRE(make_dirs(first.path + "/bridge"));
    auto bridge = write_plugin(second.path, "bridge", "exit 0\n");
    write_plugin(second.path, "noexec", "exit 0\n", 0644);

    auto found = find_plugin("bridge", {first.path, second.path});
    REQUIRE(found);
    CHECK(*found == bridge);

    auto not_executable = find_plugin("noexec", {first.path, second.path});
    REQUIRE_FALSE(not_executable);
    CHECK(not_executable.error().message ==
          "CNI plugin \"noexec\" not found in " + first.path + ":" + second.path);

    auto missing = find_plugin("foo", split_path_list(default_plugin_path));
    REQUIRE_FALSE(missing);
    CHECK(missing.error().message == "CNI plugin \"foo\" not found in /opt/cni/bin:/usr/lib/cni");

    for (const char* bad : {"", ".", "..", "../bridge", "a/b", "/bin/sh"}) {
        auto refused = find_plugin(bad, {second.path});
        REQUIRE_FALSE(refused);
        CHECK(refused.error().message.find("invalid CNI plugin type") != std::string::npos);
    }
}

TEST_CASE("plugin_environment holds the CNI variables and PATH, nothing else") {
    SavedEnv saved_path("PATH");
    ::setenv("PATH", "/x/bin:/y/bin", 1);
    ::setenv("PODNET_SECRET_SHOULD_NOT_LEAK", "1", 1);
    auto env = plugin_environment(add_call("/p"));
    ::unsetenv("PODNET_SECRET_SHOULD_NOT_LEAK");
    CHECK(env == std::vector<std::string>{"CNI_COMMAND=ADD", "CNI_CONTAINERID=ctr1",
                                          "CNI_NETNS=/var/run/netns/ctr1", "CNI_IFNAME=eth0",
                                          "CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAME=web",
                                          "CNI_PATH=/p:/opt/cni/bin", "PATH=/x/bin:/y/bin"});

    ::unsetenv("PATH");
    PluginInvocation version;
    version.command = "VERSION";
    version.plugin_dirs = {"/a", "/b"};
    CHECK(plugin_environment(version) ==
          std::vector<std::string>{
              "CNI_COMMAND=VERSION", "CNI_PATH=/a:/b",
              "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"});
}

TEST_CASE("a successful plugin gets exactly its env, its stdin, its own process group") {
    TempDir dir("podnet-exec");
    // A descriptor the runtime forgot to mark close-on-exec must still not reach the plugin.
    UniqueFd devnull(::open("/dev/null", O_RDONLY));
    REQUIRE(devnull);
    UniqueFd leak(::fcntl(devnull.get(), F_DUPFD, 40));
    REQUIRE(leak);
    std::string d = dir.path;
    auto path = write_plugin(
        d, "echoer",
        "tr '\\0' '\\n' < /proc/$$/environ > '" + d + "/env'\n" +  //
            "cat > '" + d + "/stdin'\n" +                          //
            "printf '%s\\n' \"$0\" > '" + d + "/argv0'\n" +        //
            "echo $$ > '" + d + "/pid'\n" +                        //
            "cut -d' ' -f5 /proc/$$/stat > '" + d + "/pgrp'\n" +   //
            "if [ -e /proc/$$/fd/" + std::to_string(leak.get()) + " ]; then touch '" + d +
            "/leaked'; fi\n" +  //
            // grep's own mask (the shell's would be racy: dash blocks every signal around
            // each fork), which the shell passes on as it got it.
            "grep -E '^Sig(Blk|Ign):' /proc/self/status > '" + d + "/signals'\n" +
            "echo 'progress note' >&2\n"
            "printf '%s' '{\"cniVersion\":\"1.0.0\",\"interfaces\":[{\"name\":\"eth0\"}]}'\n");

    // The plugin must not inherit a blocked signal or an ignored SIGPIPE from the runtime.
    sigset_t usr1, old_mask;
    ::sigemptyset(&usr1);
    ::sigaddset(&usr1, SIGUSR1);
    ::pthread_sigmask(SIG_BLOCK, &usr1, &old_mask);
    struct sigaction ignore {
    }, old_pipe{};
    ignore.sa_handler = SIG_IGN;
    ::sigaction(SIGPIPE, &ignore, &old_pipe);

    auto call = add_call(d);
    std::string config = R"({"cniVersion":"1.0.0","name":"podnet","type":"echoer"})";
    auto outcome = exec_plugin(path, call, config, ExecOptions{});

    ::sigaction(SIGPIPE, &old_pipe, nullptr);
    ::pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);

    REQUIRE_MESSAGE(outcome, (outcome ? "" : outcome.error().message));
    CHECK(outcome->exit_status == 0);
    CHECK_FALSE(outcome->error);
    CHECK(outcome->stdout_text == R"({"cniVersion":"1.0.0","interfaces":[{"name":"eth0"}]})");
    CHECK(outcome->stderr_text == "progress note\n");
    CHECK(lines_of(file_text(d + "/env")) == plugin_environment(call));
    CHECK(file_text(d + "/stdin") == config);
    CHECK(file_text(d + "/argv0") == path + "\n");
    CHECK(file_text(d + "/pgrp") == file_text(d + "/pid"));
    CHECK_FALSE(path_exists(d + "/leaked"));
    auto signals = lines_of(file_text(d + "/signals"));
    REQUIRE(signals.size() == 2);
    CHECK(signals[0] == "SigBlk:\t0000000000000000");
    REQUIRE(signals[1].starts_with("SigIgn:\t"));
    unsigned long long ignored = std::stoull(signals[1].substr(8), nullptr, 16);
    CHECK((ignored >> (SIGPIPE - 1) & 1) == 0);
}

TEST_CASE("a CNI error object on stdout becomes the outcome's error") {
    TempDir dir("podnet-exec");
    auto path = write_plugin(dir.path, "bridge",
                             "cat > /dev/null\n"
                             "printf '%s' '{\"cniVersion\":\"1.0.0\",\"code\":7,\"msg\":\"bad "
                             "config\",\"details\":\"x\"}'\n"
                             "exit 1\n");
    auto outcome = exec_plugin(path, add_call(dir.path), "{}", ExecOptions{});
    REQUIRE(outcome);
    CHECK(outcome->exit_status == 1);
    REQUIRE(outcome->error);
    CHECK(outcome->error->code == 7);
    CHECK(outcome->error->msg == "bad config");
    CHECK(outcome->error->details == "x");
    CHECK(describe_plugin_error("bridge", *outcome->error) == "plugin bridge: [7] bad config (x)");
    CHECK(describe_plugin_error("bridge", PluginError{11, "busy", ""}) ==
          "plugin bridge: [11] busy");
    CHECK(describe_plugin_error("bridge", PluginError{7, "", ""}) ==
          "plugin bridge: [7] invalid network config");
}

TEST_CASE("a failure without an error object is code 999 with stderr as msg") {
    TempDir dir("podnet-exec");
    ExecOptions options;

    auto garbage = write_plugin(dir.path, "garbage",
                                "echo 'not json {'\n"
                                "echo '  boom: cannot do it  ' >&2\n"
                                "exit 2\n");
    auto outcome = exec_plugin(garbage, add_call(dir.path), "", options);
    REQUIRE(outcome);
    CHECK(outcome->exit_status == 2);
    REQUIRE(outcome->error);
    CHECK(outcome->error->code == 999);
    CHECK(outcome->error->msg == "boom: cannot do it");
    CHECK(outcome->error->details == "not json {");
    CHECK(outcome->stdout_text == "not json {\n");

    auto silent = write_plugin(dir.path, "silent", "exit 3\n");
    outcome = exec_plugin(silent, add_call(dir.path), "", options);
    REQUIRE(outcome);
    CHECK(outcome->exit_status == 3);
    REQUIRE(outcome->error);
    CHECK(outcome->error->code == 999);
    CHECK(outcome->error->msg == "exit status 3");
    CHECK(outcome->error->details.empty());

    auto killed = write_plugin(dir.path, "killed", "kill -9 $$\n");
    outcome = exec_plugin(killed, add_call(dir.path), "", options);
    REQUIRE(outcome);
    CHECK(outcome->exit_status == 128 + 9);
    REQUIRE(outcome->error);
    CHECK(outcome->error->msg == "killed by signal 9");

    // A result-shaped object is not an error object: no integer "code".
    auto wordy = write_plugin(dir.path, "wordy",
                              "head -c 2000 /dev/zero | tr '\\0' a\n"
                              "exit 1\n");
    outcome = exec_plugin(wordy, add_call(dir.path), "", options);
    REQUIRE(outcome);
    REQUIRE(outcome->error);
    CHECK(outcome->error->details == std::string(512, 'a'));
    CHECK(outcome->stdout_text.size() == 2000);
}

TEST_CASE("a timeout kills the plugin's whole process group") {
    TempDir dir("podnet-exec");
    std::string d = dir.path;
    auto path = write_plugin(d, "sleeper",
                             "sleep 30 &\n"
                             "echo $! > '" +
                                 d + "/child.pid'\n" +  //
                                 "echo $$ > '" + d + "/plugin.pid'\n" + "sleep 30\n");
    ExecOptions options;
    options.timeout = 800ms;
    auto start = std::chrono::steady_clock::now();
    auto outcome = exec_plugin(path, add_call(d), "{}", options);
    auto elapsed = std::chrono::steady_clock::now() - start;

    REQUIRE_FALSE(outcome);
    CHECK(outcome.error().message == "plugin sleeper ADD timed out after 800 ms, killed");
    CHECK(elapsed >= 800ms);
    CHECK(elapsed < 10s);
    pid_t child = std::stoi(file_text(d + "/child.pid"));
    pid_t plugin = std::stoi(file_text(d + "/plugin.pid"));
    CHECK(gone_within(child, 3s));
    CHECK(gone_within(plugin, 3s));
}

TEST_CASE("exec meeting ETXTBSY is retried until the writer closes the binary") {
    TempDir dir("podnet-exec");
    auto path = write_plugin(dir.path, "busy", "echo ok\n");

    SUBCASE("the writer closes in time") {
        int writer = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
        REQUIRE(writer >= 0);
        std::thread closer([writer] {
            std::this_thread::sleep_for(120ms);
            ::close(writer);
        });
        ExecOptions options;
        options.etxtbsy_retries = 5;
        auto outcome = exec_plugin(path, add_call(dir.path), "", options);
        closer.join();
        REQUIRE_MESSAGE(outcome, (outcome ? "" : outcome.error().message));
        CHECK(outcome->exit_status == 0);
        CHECK(outcome->stdout_text == "ok\n");
    }

    SUBCASE("the writer stays") {
        UniqueFd writer(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
        REQUIRE(writer);
        ExecOptions options;
        options.etxtbsy_retries = 0;
        auto outcome = exec_plugin(path, add_call(dir.path), "", options);
        REQUIRE_FALSE(outcome);
        CHECK(outcome.error().message == "exec plugin " + path + ": Text file busy");

        options.etxtbsy_retries = 2;
        outcome = exec_plugin(path, add_call(dir.path), "", options);
        REQUIRE_FALSE(outcome);
        CHECK(outcome.error().message ==
              "exec plugin " + path + " (after 2 retries): Text file busy");
    }
}

TEST_CASE("exec failures name the path and errno") {
    TempDir dir("podnet-exec");
    auto missing = exec_plugin(dir.path + "/missing", add_call(dir.path), "", ExecOptions{});
    REQUIRE_FALSE(missing);
    CHECK(missing.error().message ==
          "exec plugin " + dir.path + "/missing: No such file or directory");

    std::string junk = dir.path + "/junk";
    REQUIRE(write_file_atomic(junk, std::string("\x01\x02\x03 not a program"), 0755));
    REQUIRE(::chmod(junk.c_str(), 0755) == 0);
    auto not_a_program = exec_plugin(junk, add_call(dir.path), "", ExecOptions{});
    REQUIRE_FALSE(not_a_program);
    CHECK(not_a_program.error().message == "exec plugin " + junk + ": Exec format error");
}

TEST_CASE("stdin, stdout and stderr are served together") {
    TempDir dir("podnet-exec");
    std::string big;
    for (int i = 0; big.size() < (1u << 20); ++i) big += std::to_string(i) + ",";

    SUBCASE("stderr fills before stdin is read, stdout echoes stdin") {
        // Each step would block on a full pipe if the runtime served them one after the other.
        auto path = write_plugin(dir.path, "chatty",
                                 "head -c 200000 /dev/zero >&2\n"
                                 "cat\n");
        auto outcome = exec_plugin(path, add_call(dir.path), big, ExecOptions{});
        REQUIRE(outcome);
        CHECK(outcome->exit_status == 0);
        CHECK(outcome->stdout_text == big);
        CHECK(outcome->stderr_text.size() == 200000);
    }

    SUBCASE("a plugin that never reads stdin does not take SIGPIPE to the runtime") {
        auto path = write_plugin(dir.path, "deaf", "echo '{}'\n");
        struct sigaction before {};
        ::sigaction(SIGPIPE, nullptr, &before);
        sigset_t mask_before;
        ::pthread_sigmask(SIG_SETMASK, nullptr, &mask_before);

        auto outcome = exec_plugin(path, add_call(dir.path), big + big + big, ExecOptions{});
        REQUIRE(outcome);
        CHECK(outcome->exit_status == 0);
        CHECK(outcome->stdout_text == "{}\n");

        struct sigaction after {};
        ::sigaction(SIGPIPE, nullptr, &after);
        CHECK((after.sa_handler == before.sa_handler));
        sigset_t mask_after;
        ::pthread_sigmask(SIG_SETMASK, nullptr, &mask_after);
        CHECK(::sigismember(&mask_after, SIGPIPE) == ::sigismember(&mask_before, SIGPIPE));
        sigset_t pending;
        ::sigpending(&pending);
        CHECK(::sigismember(&pending, SIGPIPE) == 0);
    }
}
