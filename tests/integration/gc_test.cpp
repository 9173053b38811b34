// Crash safety: whatever a SIGKILL leaves behind — of the pause process, or of `podnet sandbox
// create` at any step — `podnet gc` removes, and a second gc finds nothing to do.

#include <doctest/doctest.h>
#include <signal.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/process.hpp"
#include "tests/support/command.hpp"

using namespace podnet::test;
using nlohmann::json;

namespace {

json gc(const std::string& root) {
    auto r = run_podnet(root, {"gc", "--json"});
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    return json::parse(r.out);
}

}  // namespace

TEST_CASE("gc after the pause process is SIGKILLed") {
    std::string root = make_temp_dir("pn-gc");
    REQUIRE(run_podnet(root, {"sandbox", "create", "--name", "victim"}).exit_code == 0);
    REQUIRE(run_podnet(root, {"sandbox", "create", "--name", "survivor"}).exit_code == 0);
    REQUIRE(run_podnet(root, {"run", "victim", "-d", "--", "/bin/sleep", "60"}).exit_code == 0);
    json info = json::parse(run_podnet(root, {"sandbox", "inspect", "victim"}).out);
    int pause = info["pause_pid"];
    int sleeper = info["containers"][0]["pid"];
    REQUIRE(::kill(pause, SIGKILL) == 0);
    for (int i = 0; i < 100 && podnet::process_running(pause, 0); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    // The kernel ended the whole pod with its init.
    CHECK_FALSE(podnet::process_running(sleeper, 0));
    CHECK(json::parse(run_podnet(root, {"sandbox", "inspect", "victim"}).out)["state"] == "exited");

    json first = gc(root);
    CHECK(first["actions"].size() >= 1);
    CHECK(first["actions"].dump().find("victim") != std::string::npos);
    CHECK(run_podnet(root, {"sandbox", "inspect", "victim"}).exit_code != 0);
    CHECK(json::parse(run_podnet(root, {"sandbox", "inspect", "survivor"}).out)["state"] ==
          "running");
    CHECK(gc(root)["actions"].empty());

    CHECK(run_podnet(root, {"sandbox", "rm", "-f", "survivor"}).exit_code == 0);
    CHECK(leftovers(root).empty());
}

TEST_CASE("gc after podnet sandbox create is SIGKILLed at each step") {
    const char* steps[] = {"create.name-claimed", "create.pause-started", "create.net-pinned",
                           "create.pinning",      "create.pinned",        "create.saved"};
    for (const char* step : steps) {
        CAPTURE(step);
        std::string root = make_temp_dir("pn-gc-step");
        auto r = run_podnet(root, {"sandbox", "create", "--name", "crashy"},
                            {std::string("PODNET_FAULT=") + step});
        REQUIRE(r.exit_code == 128 + SIGKILL);
        json first = gc(root);
        if (std::string(step) == "create.saved") {
            // The record was written: the sandbox is whole, and gc keeps it.
            CHECK(first["actions"].empty());
            CHECK(json::parse(run_podnet(root, {"sandbox", "inspect", "crashy"}).out)["state"] ==
                  "running");
            CHECK(run_podnet(root, {"sandbox", "rm", "-f", "crashy"}).exit_code == 0);
        } else {
            CHECK(first["actions"].size() >= 1);
            CHECK(run_podnet(root, {"sandbox", "inspect", "crashy"}).exit_code != 0);
        }
        CHECK(leftovers(root).empty());
        CHECK(gc(root)["actions"].empty());
        // The name is free again.
        CHECK(run_podnet(root, {"sandbox", "create", "--name", "crashy"}).exit_code == 0);
        CHECK(run_podnet(root, {"sandbox", "rm", "-f", "crashy"}).exit_code == 0);
        CHECK(leftovers(root).empty());
    }
}

// Names that are not hex: a removed name must not resolve as a prefix of another id.
TEST_CASE("gc removes stopped sandboxes and leaves running ones alone") {
    std::string root = make_temp_dir("pn-gc-stop");
    REQUIRE(run_podnet(root, {"sandbox", "create", "--name", "stopped-one"}).exit_code == 0);
    REQUIRE(run_podnet(root, {"sandbox", "create", "--name", "running-one"}).exit_code == 0);
    REQUIRE(run_podnet(root, {"sandbox", "stop", "stopped-one"}).exit_code == 0);
    json report = gc(root);
    CHECK(report["actions"].size() == 1);
    CHECK(run_podnet(root, {"sandbox", "inspect", "stopped-one"}).exit_code != 0);
    CHECK(run_podnet(root, {"sandbox", "inspect", "running-one"}).exit_code == 0);
    CHECK(gc(root)["actions"].empty());
    CHECK(run_podnet(root, {"sandbox", "rm", "-f", "running-one"}).exit_code == 0);
    CHECK(leftovers(root).empty());
}
