#include <doctest/doctest.h>

#include "common/config.hpp"

using namespace podnet;

TEST_CASE("every key is optional") {
    auto c = parse_config("", "empty.toml");
    REQUIRE(c);
    CHECK(c->run_root == "/run/podnet");
    CHECK(c->state_root == "/var/lib/podnet");
    CHECK(c->stop_timeout_seconds == 10);
    CHECK(c->seccomp == "default");
}

TEST_CASE("keys are read and round-trip through config_to_toml") {
    auto c = parse_config(
        "[paths]\nrun_root = \"/r\"\nstate_root = \"/s\"\n[sandbox]\nstop_timeout_seconds = 4\n"
        "seccomp = \"unconfined\"\npause_binary = \"/p\"\n",
        "x.toml");
    REQUIRE(c);
    CHECK(c->run_root == "/r");
    CHECK(c->stop_timeout_seconds == 4);
    auto again = parse_config(config_to_toml(*c), "again.toml");
    REQUIRE(again);
    CHECK(again->run_root == "/r");
    CHECK(again->state_root == "/s");
    CHECK(again->pause_binary == "/p");
    CHECK(again->seccomp == "unconfined");
    CHECK(again->stop_timeout_seconds == 4);
}

TEST_CASE("errors name the file, line and column") {
    auto syntax = parse_config("[paths]\nrun_root = = 1\n", "bad.toml");
    REQUIRE_FALSE(syntax);
    CHECK(syntax.error().message.starts_with("bad.toml:2:"));
    auto unknown = parse_config("[sandbox]\ntimeout = 1\n", "u.toml");
    REQUIRE_FALSE(unknown);
    CHECK(unknown.error().message.find("unknown key [sandbox] timeout") != std::string::npos);
    CHECK(unknown.error().message.starts_with("u.toml:2:"));
    auto type = parse_config("[paths]\nrun_root = 3\n", "t.toml");
    REQUIRE_FALSE(type);
    CHECK(type.error().message.find("run_root: wrong type") != std::string::npos);
    CHECK_FALSE(parse_config("[paths]\nrun_root = \"relative\"\n", "r.toml"));
    CHECK_FALSE(parse_config("[sandbox]\nstop_timeout_seconds = -1\n", "n.toml"));
    CHECK_FALSE(parse_config("[bogus]\n", "s.toml"));
}

TEST_CASE("--root puts all state under one directory") {
    Config c;
    place_under_root(c, "/tmp/x");
    CHECK(c.run_root == "/tmp/x/run");
    CHECK(c.state_root == "/tmp/x/state");
}
