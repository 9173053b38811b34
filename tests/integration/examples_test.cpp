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
