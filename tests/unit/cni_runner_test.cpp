// The runner's pure parts: what one plugin reads on stdin, and what is refused before any plugin
// runs. (Plugins executing for real: tests/integration/cni_test.cpp.)

#include <doctest/doctest.h>

#include "cni-runner/conf.hpp"
#include "cni-runner/runner.hpp"

using namespace podnet::cni;
using nlohmann::json;

namespace {

NetworkConfList two_plugins() {
    json list = {{"cniVersion", "1.0.0"},
                 {"name", "net"},
                 {"plugins",
                  {{{"type", "bridge"}, {"bridge", "cni0"}, {"runtimeConfig", {{"stale", 1}}}},
                   {{"type", "portmap"},
                    {"capabilities", {{"portMappings", true}, {"bandwidth", false}}}}}}};
    auto parsed = parse_conf_list(list.dump(), "net.conflist");
    REQUIRE(parsed);
    return *parsed;
}

}  // namespace

TEST_CASE("plugin stdin: name and version injected, runtimeConfig = declared capabilities") {
    auto list = two_plugins();
    json caps = {{"portMappings", json::array({{{"hostPort", 80}}})},
                 {"bandwidth", {{"ingressRate", 1}}},
                 {"ips", {"10.0.0.2"}}};
    json bridge = plugin_stdin(list, list.plugins[0], std::nullopt, caps);
    CHECK(bridge["name"] == "net");
    CHECK(bridge["cniVersion"] == "1.0.0");
    CHECK(bridge["bridge"] == "cni0");
    // Nothing declared: the file's own runtimeConfig is left as it was (libcni does the same).
    CHECK(bridge["runtimeConfig"] == json{{"stale", 1}});
    CHECK_FALSE(bridge.contains("prevResult"));

    json prev = {{"cniVersion", "1.0.0"}, {"ips", json::array()}};
    json portmap = plugin_stdin(list, list.plugins[1], prev, caps);
    CHECK(portmap["runtimeConfig"] == json{{"portMappings", caps["portMappings"]}});
    CHECK(portmap["prevResult"] == prev);
    // A declared capability the runtime does not offer is simply absent.
    json none = plugin_stdin(list, list.plugins[1], prev, json::object());
    CHECK_FALSE(none.contains("runtimeConfig"));
}

TEST_CASE("runtime conf: container id and interface name are checked before any plugin runs") {
    RuntimeConf rt{"abc-1.2_3", "/run/netns/x", "eth0", {}, json::object()};
    CHECK(validate_runtime_conf(rt, true));
    for (std::string bad : {"", "-abc", "a b", "a/b"}) {
        rt.container_id = bad;
        auto r = validate_runtime_conf(rt, true);
        REQUIRE_FALSE(r);
        CHECK(r.error().message.find("container id") != std::string::npos);
    }
    rt.container_id = "abc";
    for (std::string bad : {"", "0123456789abcdef", "a/b", "a:b", "a b", ".."}) {
        rt.ifname = bad;
        CHECK_FALSE(validate_runtime_conf(rt, true));
    }
    rt.ifname = "eth0";
    rt.netns.clear();
    CHECK_FALSE(validate_runtime_conf(rt, true));
    CHECK(validate_runtime_conf(rt, false));  // DEL may come without a netns
}

TEST_CASE("container ids for a netns path are stable and valid") {
    auto a = container_id_for_netns("/run/netns/a");
    CHECK(a == container_id_for_netns("/run/netns/a"));
    CHECK(a != container_id_for_netns("/run/netns/b"));
    RuntimeConf rt{a, "/run/netns/a", "eth0", {}, json::object()};
    CHECK(validate_runtime_conf(rt, true));
}
