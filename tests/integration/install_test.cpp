// `make install` (cmake --install with DESTDIR): the layout, and an installed podnet that works
// without the build tree — it finds podnet-pause in <prefix>/libexec/podnet. Runs inside private
// namespaces (tests/support/isolate.hpp); everything goes under a temporary directory.

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "common/fs.hpp"
#include "common/process.hpp"
#include "tests/support/command.hpp"

using namespace podnet::test;

namespace {

bool executable(const std::string& path) {
    return ::access(path.c_str(), X_OK) == 0;
}

std::string exe_of(int pid) {
    char buf[4096];
    std::string link = "/proc/" + std::to_string(pid) + "/exe";
    ssize_t n = ::readlink(link.c_str(), buf, sizeof buf - 1);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

}  // namespace

TEST_CASE("an installed podnet runs sandboxes with the pause binary of its install layout") {
    std::string build = bin_dir() + "/..";
    std::string destdir = make_temp_dir("pn-install");
    REQUIRE(!destdir.empty());
    auto installed =
        run_command({"/bin/sh", "-c", "exec cmake --install \"$1\" --prefix /usr", "sh", build},
                    {"DESTDIR=" + destdir}, 120000);
    REQUIRE_MESSAGE(installed.exit_code == 0, installed.out << installed.err);

    std::string prefix = destdir + "/usr";
    CHECK(executable(prefix + "/bin/podnet"));
    CHECK(executable(prefix + "/libexec/podnet/podnet-pause"));
    CHECK(executable(prefix + "/lib/cni/podnet-cni"));
    CHECK(!podnet::path_exists(prefix + "/bin/podnet-pause"));
    for (const char* file :
         {"/share/man/man1/podnet.1", "/share/bash-completion/completions/podnet",
          "/share/zsh/vendor-completions/_podnet"}) {
        CAPTURE(file);
        auto text = podnet::read_file(prefix + file);
        REQUIRE(text);
        CHECK(!text->empty());
    }
    // The installed files are what the installed binary generates.
    auto man = run_command({prefix + "/bin/podnet", "help", "--man"});
    CHECK(man.exit_code == 0);
    CHECK(podnet::read_file(prefix + "/share/man/man1/podnet.1").value_or("") == man.out);

    // A sandbox from the installed binary; no config names the pause binary.
    std::string root = make_temp_dir("pn-install-root");
    std::string podnet = prefix + "/bin/podnet";
    auto created = run_command(
        {podnet, "--root", root, "sandbox", "create", "--network", "none", "--name", "inst"});
    REQUIRE_MESSAGE(created.exit_code == 0, created.err);
    auto inspected = run_command({podnet, "--root", root, "sandbox", "inspect", "inst"});
    REQUIRE_MESSAGE(inspected.exit_code == 0, inspected.err);
    auto info = nlohmann::json::parse(inspected.out);
    int pause = info["pause_pid"];
    REQUIRE(pause > 0);
    // The pod's PID 1 is the installed podnet-pause, not the build tree's.
    std::string exe = exe_of(pause);
    CHECK(exe.starts_with(destdir));
    CHECK(exe.ends_with("/libexec/podnet/podnet-pause"));

    auto removed = run_command({podnet, "--root", root, "sandbox", "rm", "-f", "inst"});
    CHECK_MESSAGE(removed.exit_code == 0, removed.err);
    CHECK(leftovers(root).empty());
    CHECK(podnet::remove_tree(destdir).has_value());
}
