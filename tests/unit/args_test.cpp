#include <doctest/doctest.h>

#include "cli/args.hpp"

using namespace podnet::cli;

namespace {
const OptionSpec specs[] = {{"name", 0, true}, {"detach", 'd', false}, {"env", 'e', true}};
}

TEST_CASE("options, values and positionals") {
    std::vector<std::string> args = {"sb", "--name", "c1", "-d", "-e", "A=1", "--env=B=2"};
    auto p = parse_args(args, specs, "run");
    REQUIRE(p);
    CHECK(p->positionals == std::vector<std::string>{"sb"});
    CHECK(p->value("name") == "c1");
    CHECK(p->has("detach"));
    CHECK(p->values("env") == std::vector<std::string>{"A=1", "B=2"});
}

TEST_CASE("everything after -- or the last positional is the command") {
    std::vector<std::string> a = {"sb", "-d", "--", "sh", "-c", "echo --name"};
    auto p = parse_args(a, specs, "run", 1);
    REQUIRE(p);
    CHECK(p->rest == std::vector<std::string>{"sh", "-c", "echo --name"});
    std::vector<std::string> b = {"sb", "sh", "--name", "x"};
    auto q = parse_args(b, specs, "run", 1);
    REQUIRE(q);
    CHECK(q->rest == std::vector<std::string>{"sh", "--name", "x"});
    CHECK_FALSE(q->has("name"));
}

TEST_CASE("errors name the option") {
    std::vector<std::string> unknown = {"--bogus"};
    auto p = parse_args(unknown, specs, "run");
    REQUIRE_FALSE(p);
    CHECK(p.error().message == "unknown option --bogus for 'run'");
    std::vector<std::string> missing = {"--name"};
    CHECK(parse_args(missing, specs, "run").error().message == "option --name needs a value");
    std::vector<std::string> flag_value = {"--detach=yes"};
    CHECK_FALSE(parse_args(flag_value, specs, "run"));
}
