// Host-port mappings without root: Docker's -p syntax, the nft text podnet generates, conflicts.

#include <doctest/doctest.h>

#include <algorithm>
#include <sstream>

#include "nft/nft.hpp"
#include "portmap/host_port.hpp"
#include "portmap/portmap.hpp"

using namespace podnet;

namespace {

IpAddress ip(const char* text) {
    auto a = parse_ip(text);
    REQUIRE(a);
    return *a;
}

PortMapping mapping(const char* text) {
    auto m = parse_port_mapping(text);
    REQUIRE_MESSAGE(m, m.error().message);
    REQUIRE(m->size() == 1);
    return m->front();
}

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
}

bool has_line(const std::string& script, const std::string& line) {
    auto lines = lines_of(script);
    return std::find(lines.begin(), lines.end(), line) != lines.end();
}

}  // namespace

TEST_CASE("-p mappings in Docker's syntax") {
    auto m = mapping("8080:80");
    CHECK(m.protocol == "tcp");
    CHECK_FALSE(m.host_ip);
    CHECK(m.host_port == 8080);
    CHECK(m.container_port == 80);

    CHECK(mapping("5353:53/udp").protocol == "udp");
    CHECK(mapping("5353:53/UDP").protocol == "udp");
    CHECK(mapping("1:65535").container_port == 65535);

    auto bound = mapping("127.0.0.1:9090:90");
    REQUIRE(bound.host_ip);
    CHECK(bound.host_ip->str() == "127.0.0.1");
    CHECK(bound.host_port == 9090);

    auto v6 = mapping("[::1]:8080:80/udp");
    REQUIRE(v6.host_ip);
    CHECK(v6.host_ip->is_v6());
    CHECK(v6.host_ip->str() == "::1");
    CHECK(v6.protocol == "udp");

    CHECK(mapping("0.0.0.0:80:8080").host_ip->str() == "0.0.0.0");
    CHECK(mapping("[fd77::1]:80:80").host_ip->str() == "fd77::1");
}

TEST_CASE("a port range expands to one mapping per port") {
    auto r = parse_port_mapping("10.0.0.1:8080-8082:80-82/udp");
    REQUIRE(r);
    REQUIRE(r->size() == 3);
    for (size_t i = 0; i < 3; ++i) {
        CHECK((*r)[i].host_port == 8080 + i);
        CHECK((*r)[i].container_port == 80 + i);
        CHECK((*r)[i].protocol == "udp");
        CHECK((*r)[i].host_ip->str() == "10.0.0.1");
    }
    auto single = parse_port_mapping("9000-9000:90-90");
    REQUIRE(single);
    CHECK(single->size() == 1);
    auto all = parse_port_mapping("1-65535:1-65535");
    REQUIRE(all);
    CHECK(all->size() == 65535);
    CHECK(all->back().host_port == 65535);
}

TEST_CASE("bad -p mappings: one line naming the text and why") {
    struct Case {
        std::string text;
        std::string why;
    };
    const Case cases[] = {
        {"", "empty, want [HOSTIP:]HOSTPORT[-END]:CONTAINERPORT[-END][/tcp|/udp]"},
        {"0:80", "port 0 is out of range (1-65535)"},
        {"8080:0", "port 0 is out of range (1-65535)"},
        {"70000:80", "port 70000 is out of range (1-65535)"},
        {"8080:65536", "port 65536 is out of range (1-65535)"},
        {"1234567:80", "port 1234567 is out of range (1-65535)"},
        {"8000-8002:80-81",
         "host ports 8000-8002 (3) and container ports 80-81 (2) differ in number"},
        {"80:8000-8001", "host ports 80 (1) and container ports 8000-8001 (2) differ in number"},
        {"8090-8080:80-90", "range 8090-8080 is backwards"},
        {"80-:80", "missing port number"},
        {"80:80/sctp", "unsupported protocol \"sctp\" (tcp or udp)"},
        {"80:80/", "unsupported protocol \"\" (tcp or udp)"},
        {"banana", "\"banana\" is not a port number"},
        {"8080:80x", "\"80x\" is not a port number"},
        {"+80:80", "\"+80\" is not a port number"},
        {"8080:", "CONTAINERPORT missing, want HOSTPORT:CONTAINERPORT"},
        {":", "CONTAINERPORT missing, want HOSTPORT:CONTAINERPORT"},
        {"127.0.0.1::", "CONTAINERPORT missing, want HOSTPORT:CONTAINERPORT"},
        {"0", "port 0 is out of range (1-65535)"},
        {"80-", "missing port number"},
        {"127.0.0.1::0/udp", "port 0 is out of range (1-65535)"},
        {"[127.0.0.1]::80", "\"127.0.0.1\" in brackets is not an IPv6 address"},
        {":8080:80", "empty host IP"},
        {"1.2.3:80:80", "bad host IP: invalid IP address \"1.2.3\""},
        {"::1:8080:80", "an IPv6 host address goes in brackets, as in [::1]:8080:80"},
        {"[::1:8080:80", "missing ']' after the host address"},
        {"[::1]8080:80", "want ':' after the bracketed host address"},
        {"[::1]:80", "malformed, want [HOSTIP:]HOSTPORT[-END]:CONTAINERPORT[-END][/tcp|/udp]"},
        {"[127.0.0.1]:80:80", "\"127.0.0.1\" in brackets is not an IPv6 address"},
        {"1.2.3.4:80:80:80", "malformed, want [HOSTIP:]HOSTPORT"},
    };
    for (const auto& c : cases) {
        CAPTURE(c.text);
        auto r = parse_port_mapping(c.text);
        REQUIRE_FALSE(r);
        const std::string& msg = r.error().message;
        CHECK(msg.starts_with("port mapping \"" + c.text + "\": "));
        CHECK(msg.find(c.why) != std::string::npos);
        CHECK(msg.find('\n') == std::string::npos);
    }
}

TEST_CASE("-p without a host port asks for a random one (Docker's -p 80)") {
    auto plain = parse_port_mapping("80");
    REQUIRE(plain);
    REQUIRE(plain->size() == 1);
    CHECK((*plain)[0].host_port == 0);
    CHECK((*plain)[0].container_port == 80);
    CHECK((*plain)[0].protocol == "tcp");
    CHECK_FALSE((*plain)[0].host_ip);

    CHECK(mapping(":80") == mapping("80"));
    auto bound = mapping("127.0.0.1::53/udp");
    CHECK(bound.host_port == 0);
    CHECK(bound.container_port == 53);
    CHECK(bound.protocol == "udp");
    CHECK(bound.host_ip->str() == "127.0.0.1");
    auto v6 = mapping("[::1]::80");
    CHECK(v6.host_port == 0);
    CHECK(v6.host_ip->str() == "::1");

    // A container range without host ports: one random host port each.
    auto range = parse_port_mapping("8000-8001");
    REQUIRE(range);
    REQUIRE(range->size() == 2);
    CHECK((*range)[0].container_port == 8000);
    CHECK((*range)[1].container_port == 8001);
    CHECK((*range)[0].host_port == 0);
    CHECK((*range)[1].host_port == 0);
    // ...and the explicit range keeps meaning what it did.
    auto explicit_range = parse_port_mapping("8000-8001:8000-8001");
    REQUIRE(explicit_range);
    CHECK((*explicit_range)[1].host_port == 8001);

    // Docker's host range for one container port: one mapping, picking from the range.
    auto pick = parse_port_mapping("127.0.0.1:8000-8010:80");
    REQUIRE(pick);
    REQUIRE(pick->size() == 1);
    CHECK((*pick)[0].host_port == 0);
    CHECK((*pick)[0].pick_first == 8000);
    CHECK((*pick)[0].pick_last == 8010);
    CHECK((*pick)[0].container_port == 80);

    // Written back in the form it was asked for, and parsed back to the same.
    for (const char* text : {"80/tcp", "127.0.0.1::53/udp", "[::1]::80/tcp", "8000-8010:80/tcp"}) {
        CAPTURE(text);
        CHECK(format_port_mapping(mapping(text)) == text);
        CHECK(mapping(format_port_mapping(mapping(text)).c_str()) == mapping(text));
    }
}

TEST_CASE("the ephemeral range is read as the kernel writes it; the walk wraps around") {
    auto r = parse_ephemeral_range("32768\t60999\n");
    REQUIRE(r);
    CHECK(*r == HostPortRange{32768, 60999});
    CHECK(*parse_ephemeral_range("40000 40002") == HostPortRange{40000, 40002});
    for (const char* bad : {"", "32768", "60999 32768", "0 10", "1 70000", "a b", "1 2 3"}) {
        CAPTURE(bad);
        CHECK_FALSE(parse_ephemeral_range(bad));
    }

    HostPortRange range{100, 104};
    std::vector<uint16_t> seen;
    auto none = pick_port(range, 102, [&](uint16_t p) {
        seen.push_back(p);
        return false;
    });
    CHECK_FALSE(none);
    CHECK(seen == std::vector<uint16_t>{102, 103, 104, 100, 101});
    CHECK(pick_port(range, 103, [](uint16_t p) { return p != 103 && p != 104; }) == 100);
    CHECK(pick_port(range, 7, [](uint16_t) { return true; }) == 100);
    CHECK(pick_port(HostPortRange{65535, 65535}, 65535, [](uint16_t) { return true; }) == 65535);
}

TEST_CASE("format_port_mapping is canonical and parses back") {
    for (const char* text : {"8080:80/tcp", "5353:53/udp", "127.0.0.1:9090:90/tcp",
                             "[::1]:8080:80/udp", "0.0.0.0:7070:70/tcp", "[fd77::1]:1:65535/tcp"}) {
        CAPTURE(text);
        auto m = mapping(text);
        CHECK(format_port_mapping(m) == text);
        CHECK(mapping(format_port_mapping(m).c_str()) == m);
    }
    CHECK(format_port_mapping(mapping("8080:80")) == "8080:80/tcp");
    CHECK(format_port_mapping(mapping("[0:0::1]:8080:80/UDP")) == "[::1]:8080:80/udp");
}

namespace {

PodPorts dual_stack_pod() {
    PodPorts pod;
    pod.sandbox_id = "abc123";
    pod.pod_ipv4 = ip("10.77.0.2");
    pod.pod_ipv6 = ip("fd77::2");
    for (const char* text : {"8080:80", "5353:53/udp", "127.0.0.1:9090:90", "[fd77::1]:9091:91",
                             "0.0.0.0:7070:70", "[::]:7071:71"})
        pod.mappings.push_back(mapping(text));
    return pod;
}

}  // namespace

TEST_CASE("publishing a pod's ports adds map elements only") {
    std::string script = add_pod_ports_script(dual_stack_pod());
    const char* expected[] = {
        "add element inet podnet ports4 { tcp . 8080 comment \"podnet:abc123\" : 10.77.0.2 . 80 }",
        "add element inet podnet ports6 { tcp . 8080 comment \"podnet:abc123\" : fd77::2 . 80 }",
        "add element inet podnet ports4 { udp . 5353 comment \"podnet:abc123\" : 10.77.0.2 . 53 }",
        "add element inet podnet ports6 { udp . 5353 comment \"podnet:abc123\" : fd77::2 . 53 }",
        "add element inet podnet bound_ports4"
        " { tcp . 127.0.0.1 . 9090 comment \"podnet:abc123\" : 10.77.0.2 . 90 }",
        "add element inet podnet bound_ports6"
        " { tcp . fd77::1 . 9091 comment \"podnet:abc123\" : fd77::2 . 91 }",
        // The unspecified addresses mean every address of their family only.
        "add element inet podnet ports4 { tcp . 7070 comment \"podnet:abc123\" : 10.77.0.2 . 70 }",
        "add element inet podnet ports6 { tcp . 7071 comment \"podnet:abc123\" : fd77::2 . 71 }",
    };
    for (const char* line : expected) {
        CAPTURE(line);
        CHECK(has_line(script, line));
    }
    auto lines = lines_of(script);
    CHECK(lines.size() == std::size(expected));
    for (const auto& line : lines) CHECK(line.starts_with("add element inet podnet "));
}

TEST_CASE("a pod without an address of a family gets no elements of that family") {
    PodPorts pod = dual_stack_pod();
    pod.pod_ipv6.reset();
    std::string script = add_pod_ports_script(pod);
    CHECK(script.find("ports6") == std::string::npos);
    CHECK(script.find("fd77") == std::string::npos);
    CHECK(lines_of(script).size() == 4);  // 8080, 5353, 127.0.0.1:9090, 0.0.0.0:7070
    pod.pod_ipv4.reset();
    CHECK(add_pod_ports_script(pod).empty());
    CHECK(remove_pod_ports_script(pod).empty());
}

TEST_CASE("removing a pod's ports mirrors publishing them") {
    PodPorts pod = dual_stack_pod();
    auto added = lines_of(add_pod_ports_script(pod));
    auto removed = lines_of(remove_pod_ports_script(pod));
    // Each element: the identical add (a no-op when present, so an absent element is no error),
    // then its delete by key.
    REQUIRE(removed.size() == 2 * added.size());
    for (size_t i = 0; i < added.size(); ++i) {
        CAPTURE(added[i]);
        CHECK(removed[2 * i] == added[i]);
        std::string key = added[i].substr(0, added[i].find(" comment "));
        CHECK(removed[2 * i + 1] == "delete" + key.substr(3) + " }");
    }
    CHECK(
        has_line(remove_pod_ports_script(pod), "delete element inet podnet ports4 { tcp . 8080 }"));
    CHECK(has_line(remove_pod_ports_script(pod),
                   "delete element inet podnet bound_ports4 { tcp . 127.0.0.1 . 9090 }"));
}

TEST_CASE("a sandbox id cannot break out of the nft comment") {
    PodPorts pod;
    pod.sandbox_id = "evil\" }\nflush ruleset\n#";
    pod.pod_ipv4 = ip("10.77.0.2");
    pod.mappings.push_back(mapping("8080:80"));
    std::string script = add_pod_ports_script(pod);
    CHECK(script ==
          "add element inet podnet ports4 { tcp . 8080 comment \"podnet:evilflushruleset\" : "
          "10.77.0.2 . 80 }\n");
    pod.sandbox_id = "";
    CHECK(add_pod_ports_script(pod) ==
          "add element inet podnet ports4 { tcp . 8080 : 10.77.0.2 . 80 }\n");
}

TEST_CASE("the base script touches only table inet podnet and is re-runnable") {
    std::string base = portmap_base_script();
    for (const auto& line : lines_of(base)) {
        CAPTURE(line);
        CHECK((line.starts_with("add ") || line.starts_with("flush chain inet podnet ")));
        CHECK((line.starts_with("add table inet podnet") ||
               line.find(" inet podnet ") != std::string::npos));
        CHECK(line.find("delete") == std::string::npos);
    }
    for (const char* rule : {
             "add rule inet podnet prerouting fib daddr type local jump publish",
             "add rule inet podnet output fib daddr type local jump publish",
             "add rule inet podnet publish dnat ip to meta l4proto . ip daddr . th dport map "
             "@bound_ports4",
             "add rule inet podnet publish dnat ip to meta l4proto . th dport map @ports4",
             "add rule inet podnet publish dnat ip6 to meta l4proto . th dport map @ports6",
             "add rule inet podnet postrouting ct status dnat ip saddr @subnets4 masquerade",
             "add rule inet podnet postrouting ip saddr @masq_subnets4 ip daddr != @subnets4 "
             "masquerade",
         }) {
        CAPTURE(rule);
        CHECK(has_line(base, rule));
    }
    // The bound map is consulted before the one for every address.
    CHECK(base.find("map @bound_ports4") < base.find("map @ports4"));
    CHECK(base.find("map @bound_ports6") < base.find("map @ports6"));
    // Every chain is flushed before its rules are added again.
    for (const char* chain : {"publish", "prerouting", "output", "postrouting"}) {
        CAPTURE(chain);
        auto flush = base.find(std::string("flush chain inet podnet ") + chain + "\n");
        auto first_rule = base.find(std::string("add rule inet podnet ") + chain + " ");
        REQUIRE(flush != std::string::npos);
        CHECK(flush < first_rule);
    }
}

TEST_CASE("network subnets go into the pod and masquerade sets") {
    auto subnet = parse_prefix("10.77.0.9/24", false);
    REQUIRE(subnet);
    CHECK(add_network_script(*subnet, true) ==
          "add element inet podnet subnets4 { 10.77.0.0/24 }\n"
          "add element inet podnet masq_subnets4 { 10.77.0.0/24 }\n");
    CHECK(add_network_script(*subnet, false) ==
          "add element inet podnet subnets4 { 10.77.0.0/24 }\n");
    auto v6 = parse_prefix("fd77::/64", true);
    REQUIRE(v6);
    CHECK(add_network_script(*v6, true) ==
          "add element inet podnet subnets6 { fd77::/64 }\n"
          "add element inet podnet masq_subnets6 { fd77::/64 }\n");
    // Removal clears both sets whatever the flag says; absent elements are no error.
    std::string removed =
        "add element inet podnet subnets4 { 10.77.0.0/24 }\n"
        "delete element inet podnet subnets4 { 10.77.0.0/24 }\n"
        "add element inet podnet masq_subnets4 { 10.77.0.0/24 }\n"
        "delete element inet podnet masq_subnets4 { 10.77.0.0/24 }\n";
    CHECK(remove_network_script(*subnet, true) == removed);
    CHECK(remove_network_script(*subnet, false) == removed);
}

TEST_CASE("find_conflict: same protocol and port on meeting host addresses") {
    auto pod = [](const char* id, std::vector<const char*> texts) {
        PodPorts p;
        p.sandbox_id = id;
        for (const char* t : texts) p.mappings.push_back(mapping(t));
        return p;
    };
    std::vector<PodPorts> existing = {
        pod("every", {"8080:80"}),
        pod("loopback", {"127.0.0.1:9090:90"}),
        pod("dns", {"5353:53/udp"}),
        pod("all-v4", {"0.0.0.0:7070:70"}),
        pod("v6-only", {"[fd77::1]:6060:60"}),
    };
    struct Case {
        const char* wanted;
        std::optional<std::string> holder;
    };
    const Case cases[] = {
        {"8080:81", "every"},
        {"8080:80/udp", std::nullopt},  // tcp vs udp
        {"10.0.0.1:8080:80", "every"},  // bound vs every address
        {"[::1]:8080:80", "every"},
        {"9090:90", "loopback"},  // every address vs bound
        {"127.0.0.1:9090:91", "loopback"},
        {"127.0.0.2:9090:90", std::nullopt},  // another address
        {"[::1]:9090:90", std::nullopt},
        {"9090:90/udp", std::nullopt},
        {"5353:53/udp", "dns"},
        {"5353:53/tcp", std::nullopt},
        {"10.0.0.1:7070:70", "all-v4"},  // 0.0.0.0 covers every IPv4 address
        {"7070:70", "all-v4"},
        {"[::1]:7070:70", std::nullopt},  // ... and no IPv6 one
        {"[::]:6060:60", "v6-only"},
        {"0.0.0.0:6060:60", std::nullopt},
        {"7071:70", std::nullopt},
    };
    for (const auto& c : cases) {
        CAPTURE(c.wanted);
        CHECK(find_conflict(existing, mapping(c.wanted)) == c.holder);
    }
    CHECK_FALSE(find_conflict({}, mapping("80:80")));
}

TEST_CASE("a sandbox's elements are found by their owner comment in a table listing") {
    // As `nft -j list table inet podnet` prints it (nft 1.0.6), trimmed.
    std::string listing = R"({"nftables": [
      {"metainfo": {"version": "1.0.6", "json_schema_version": 1}},
      {"table": {"family": "inet", "name": "podnet", "handle": 1}},
      {"set": {"family": "inet", "name": "subnets4", "table": "podnet", "type": "ipv4_addr",
               "flags": ["interval"], "elem": [{"prefix": {"addr": "10.77.0.0", "len": 24}}]}},
      {"map": {"family": "inet", "name": "ports4", "table": "podnet",
               "type": ["inet_proto", "inet_service"], "map": "ipv4_addr . inet_service",
               "elem": [[{"elem": {"val": {"concat": ["tcp", 8080]}, "comment": "podnet:abc"}},
                         {"concat": ["10.77.0.2", 80]}],
                        [{"elem": {"val": {"concat": ["tcp", 8081]}, "comment": "podnet:other"}},
                         {"concat": ["10.77.0.3", 80]}],
                        [{"concat": ["udp", 53]}, {"concat": ["10.77.0.4", 53]}]]}},
      {"map": {"family": "inet", "name": "bound_ports6", "table": "podnet",
               "type": ["inet_proto", "ipv6_addr", "inet_service"],
               "map": "ipv6_addr . inet_service",
               "elem": [[{"elem": {"val": {"concat": ["udp", "fd77::1", 5353]},
                                   "comment": "podnet:abc"}},
                         {"concat": ["fd77::2", 53]}]]}},
      {"map": {"family": "ip", "name": "ports4", "table": "podnet",
               "type": ["inet_proto", "inet_service"], "map": "ipv4_addr . inet_service",
               "elem": [[{"elem": {"val": {"concat": ["tcp", 1]}, "comment": "podnet:abc"}},
                         {"concat": ["10.0.0.1", 1]}]]}}
    ]})";
    auto script = remove_owned_elements_script(listing, "abc");
    REQUIRE_MESSAGE(script, script.error().message);
    CHECK(*script ==
          "add element inet podnet ports4 { tcp . 8080 comment \"podnet:abc\" : 10.77.0.2 . 80 }\n"
          "delete element inet podnet ports4 { tcp . 8080 }\n"
          "add element inet podnet bound_ports6"
          " { udp . fd77::1 . 5353 comment \"podnet:abc\" : fd77::2 . 53 }\n"
          "delete element inet podnet bound_ports6 { udp . fd77::1 . 5353 }\n");
    auto none = remove_owned_elements_script(listing, "nobody");
    REQUIRE(none);
    CHECK(none->empty());
    auto bad = remove_owned_elements_script("Error: nope", "abc");
    REQUIRE_FALSE(bad);
    CHECK(bad.error().message == "nft listing of table inet podnet: not nft JSON");
    CHECK_FALSE(remove_owned_elements_script(listing, ""));
}

TEST_CASE("nft's error output condenses to one line") {
    CHECK(summarize_nft_error("Error: Could not process rule: File exists\n"
                              "add element inet podnet ports4 { tcp . 8080 : 10.77.0.3 . 80 }\n"
                              "                               ^^^^^^^^^^\n") ==
          "Could not process rule: File exists: "
          "add element inet podnet ports4 { tcp . 8080 : 10.77.0.3 . 80 }");
    CHECK(summarize_nft_error("<cmdline>:2:1-7: Error: syntax error, unexpected junk\n"
                              "junk\n^^^^\n") == "syntax error, unexpected junk: junk");
    CHECK(summarize_nft_error("Error: No such file or directory\n") == "No such file or directory");
    CHECK(summarize_nft_error("something odd\nmore\n") == "something odd");
    CHECK(summarize_nft_error("") == "failed without an error message");
}
