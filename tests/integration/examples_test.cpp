// The examples run: embedding the C++ API, and crun joining a sandbox by its pinned paths.

#include <doctest/doctest.h>

#include "tests/support/command.hpp"

using namespace podnet::test;

TEST_CASE("examples/embed.cpp creates a pod, runs two containers that meet on localhost") {
    std::string root = make_temp_dir("pn-embed");
    auto r = run_command({bin_dir() + "/podnet-embed", root});
    CHECK_MESSAGE(r.exit_code == 0, r.err);
    CHECK(r.out.find("created sandbox embedded") != std::string::npos);
    CHECK(r.out.find("hello from embedded-pod") != std::string::npos);
    CHECK(r.out.find("client exited with 0") != std::string::npos);
    CHECK(r.out.find("removed sandbox embedded") != std::string::npos);
    CHECK(leftovers(root).empty());
}

TEST_CASE("examples/crun-join: crun runs a busybox container inside a podnet sandbox") {
    std::string root = make_temp_dir("pn-crun");
    auto r = run_command({"/bin/sh", source_dir() + "/examples/crun-join/run.sh"},
                         {"PODNET=" + bin_dir() + "/podnet --root " + root}, 60000);
    CHECK_MESSAGE(r.exit_code == 0, r.err);
    CHECK(r.out.find("hostname: crun-pod") != std::string::npos);
    CHECK(r.out.find("pid 1: podnet-pause") != std::string::npos);
    CHECK(r.out.find("served inside the pod") != std::string::npos);
    CHECK(leftovers(root).empty());
}

namespace {

// The demo's lines "=> CLIENT reached nginx" / "could not reach", in order.
std::vector<std::string> verdict_lines(const std::string& out) {
    std::vector<std::string> lines;
    size_t at = 0;
    while ((at = out.find("=> ", at)) != std::string::npos) {
        size_t end = out.find('\n', at);
        lines.push_back(out.substr(at + 3, end - at - 3));
        at = end;
    }
    return lines;
}

}  // namespace

TEST_CASE("examples/netpol-demo (make demo): the seed's transcript, verdict by verdict") {
    auto r = run_command({source_dir() + "/examples/netpol-demo/run.sh", bin_dir()}, {}, 60000);
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    std::vector<std::string> expected = {
        "busybox reached nginx",                                                  // no policy
        "busybox could not reach nginx", "busybox-access could not reach nginx",  // default deny
        "busybox could not reach nginx", "busybox-access reached nginx"};         // access-nginx
    CHECK(verdict_lines(r.out) == expected);
    CHECK(r.out.find("netpol-demo: done") != std::string::npos);
    // Into a pipe the transcript is plain text: no terminal escapes.
    CHECK(r.out.find('\033') == std::string::npos);
    // policy explain answers denied with exit 1, allowed with 0.
    CHECK(r.out.find("denied: default/busybox -> default/nginx 80/TCP") != std::string::npos);
    CHECK(r.out.find("(exit 1)") != std::string::npos);
}

TEST_CASE("examples/pod-demo (make demo-pod) runs to the end") {
    auto r = run_command({source_dir() + "/examples/pod-demo/run.sh", bin_dir()}, {}, 60000);
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    CHECK(r.out.find("hello from the pod's web server") != std::string::npos);
    CHECK(r.out.find('\033') == std::string::npos);
}
