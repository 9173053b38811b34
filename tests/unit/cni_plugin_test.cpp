// podnet-cni without root: the environment and stdin into a request (libcni's checks and codes),
// configuration validation, attachment ids, and the JSON the plugin prints.

#include "cli/cni_plugin.hpp"

#include <doctest/doctest.h>

#include "common/config.hpp"
#include "network/bridge_driver.hpp"

using namespace podnet;
using namespace podnet::cni_plugin;
using nlohmann::json;

namespace {

Environment env_for(const std::string& command) {
    return {{"CNI_COMMAND", command},
            {"CNI_CONTAINERID", "c0ffee"},
            {"CNI_NETNS", "/run/netns/pod"},
            {"CNI_IFNAME", "eth0"},
            {"CNI_ARGS", "IgnoreUnknown=1;K8S_POD_NAME=web"},
            {"CNI_PATH", "/opt/cni/bin"}};
}

std::string conf(const json& extra = json::object(), const std::string& version = "1.1.0") {
    json j = {{"cniVersion", version}, {"name", "podnet-cni"}, {"type", "podnet-cni"}};
    for (const auto& [k, v] : extra.items()) j[k] = v;
    return j.dump();
}

CniError request_error(const Environment& env, const std::string& stdin_text) {
    auto r = parse_request(env, stdin_text);
    REQUIRE_FALSE(r);
    return r.error();
}

CniError config_error(const json& extra, const std::string& command = "ADD") {
    return request_error(env_for(command), conf(extra));
}

PluginConfig config_of(const json& extra, const std::string& command = "ADD") {
    auto r = parse_request(env_for(command), conf(extra));
    REQUIRE_MESSAGE(r, (r ? "" : r.error().msg));
    return r->config;
}

}  // namespace

TEST_CASE("sha256_hex matches FIPS 180-4 test vectors, across the padding boundaries") {
    CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    CHECK(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
          "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    CHECK(sha256_hex(std::string(55, 'a')) ==
          "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318");
    CHECK(sha256_hex(std::string(56, 'a')) ==
          "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a");
    CHECK(sha256_hex(std::string(64, 'a')) ==
          "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb");
    CHECK(sha256_hex(std::string(1000000, 'a')) ==
          "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_CASE("attachment ids and host interface names") {
    std::string id = attachment_owner("c1", "eth0");
    CHECK(id == sha256_hex("c1/eth0"));
    CHECK(id.size() == 64);
    CHECK(attachment_owner("c1", "eth0") == id);  // deterministic
    CHECK(attachment_owner("c1", "net1") != id);
    // The separator keeps ("c1", "eth0") apart from ("c1e", "th0"); ids never contain '/'.
    CHECK(attachment_owner("c1e", "th0") != id);
    std::string host = host_interface_for(id);
    CHECK(host == "pnc" + id.substr(0, 12));
    CHECK(host.size() == 15);
    CHECK(is_host_interface_name(host));
    // podnet's own veths, this plugin's default bridge and foreign names are not.
    CHECK_FALSE(is_host_interface_name("pnv" + id.substr(0, 12)));
    CHECK_FALSE(is_host_interface_name("pncni0"));
    CHECK_FALSE(is_host_interface_name("pncABCDEF012345"));
    CHECK_FALSE(host.starts_with(host_veth_prefix));
}

TEST_CASE("parse_request: a libcni ADD") {
    auto r = parse_request(
        env_for("ADD"), conf({{"runtimeConfig",
                               {{"portMappings",
                                 {{{"hostPort", 8080}, {"containerPort", 80}, {"protocol", "tcp"}},
                                  {{"hostPort", 5353},
                                   {"containerPort", 53},
                                   {"protocol", "UDP"},
                                   {"hostIP", "127.0.0.1"}}}}}},
                              {"capabilities", {{"portMappings", true}}},
                              {"dns", json::object()}}));
    REQUIRE_MESSAGE(r, (r ? "" : r.error().msg));
    CHECK(r->command == "ADD");
    CHECK(r->container_id == "c0ffee");
    CHECK(r->netns == "/run/netns/pod");
    CHECK(r->ifname == "eth0");
    CHECK(r->config.name == "podnet-cni");
    CHECK(r->config.cni_version == "1.1.0");
    REQUIRE(r->config.port_mappings.size() == 2);
    CHECK(format_port_mapping(r->config.port_mappings[0]) == "8080:80/tcp");
    CHECK(format_port_mapping(r->config.port_mappings[1]) == "127.0.0.1:5353:53/udp");
}

TEST_CASE("parse_request: defaults, and root placed as podnet --root does") {
    PluginConfig c = config_of(json::object());
    CHECK(c.bridge == "pncni0");
    CHECK(c.subnet.str() == "10.78.0.0/16");
    CHECK_FALSE(c.subnet6);
    CHECK(c.ip_masq);
    CHECK(c.mtu == 0);
    CHECK(c.state_root == "/var/lib/podnet-cni");
    CHECK(c.run_root == "/run/podnet-cni");
    CHECK(c.port_mappings.empty());

    PluginConfig rooted = config_of({{"root", "/tmp/pncni/"},
                                     {"subnet", "10.99.0.0/24"},
                                     {"subnet6", "fd99::/64"},
                                     {"ipMasq", false},
                                     {"mtu", 1400},
                                     {"bridge", "cni-br9"}});
    Config podnet_config;
    place_under_root(podnet_config, "/tmp/pncni");
    CHECK(rooted.state_root == podnet_config.state_root);
    CHECK(rooted.run_root == podnet_config.run_root);
    CHECK(rooted.subnet.str() == "10.99.0.0/24");
    REQUIRE(rooted.subnet6);
    CHECK(rooted.subnet6->str() == "fd99::/64");
    CHECK_FALSE(rooted.ip_masq);
    CHECK(rooted.mtu == 1400);
    CHECK(rooted.bridge == "cni-br9");

    NetworkConfig n = network_of(rooted);
    CHECK(n.name == "podnet-cni");
    CHECK(n.bridge == "cni-br9");
    REQUIRE(n.v4());
    CHECK(n.v4()->gateway.str() == "10.99.0.1");
    REQUIRE(n.v6());
    CHECK(n.v6()->gateway.str() == "fd99::1");
    CHECK_FALSE(n.masquerade);
    CHECK(n.mtu == 1400);
}

TEST_CASE("parse_request: environment errors are code 4, named as libcni's skel names them") {
    auto env = env_for("ADD");
    env.erase("CNI_NETNS");
    CniError e = request_error(env, conf());
    CHECK(e.code == 4);
    CHECK(e.msg == "required env variables [CNI_NETNS] missing");

    env.erase("CNI_IFNAME");
    e = request_error(env, conf());
    CHECK(e.msg == "required env variables [CNI_NETNS,CNI_IFNAME] missing");

    e = request_error({}, conf());
    CHECK(e.code == 4);
    CHECK(e.msg == "required env variables [CNI_COMMAND] missing");

    e = request_error(env_for("FROB"), conf());
    CHECK(e.code == 4);
    CHECK(e.msg == "unknown CNI_COMMAND: FROB");

    auto bad_id = env_for("ADD");
    bad_id["CNI_CONTAINERID"] = "../etc";
    e = request_error(bad_id, conf());
    CHECK(e.code == 4);
    CHECK(e.msg == "invalid characters in containerID");

    for (const char* name : {"a/b", "sixteen-chars-xx", "..", "e th0"}) {
        auto bad_if = env_for("ADD");
        bad_if["CNI_IFNAME"] = name;
        CHECK_MESSAGE(request_error(bad_if, conf()).code == 4, name);
    }

    // DEL may come without a namespace (it is gone); GC and STATUS need no attachment.
    auto del = env_for("DEL");
    del.erase("CNI_NETNS");
    CHECK(parse_request(del, conf()));
    CHECK(parse_request({{"CNI_COMMAND", "STATUS"}}, conf()));
    CHECK(parse_request({{"CNI_COMMAND", "GC"}},
                        conf({{"cni.dev/valid-attachments", json::array()}})));
    // VERSION reads no configuration at all.
    auto version = parse_request({{"CNI_COMMAND", "VERSION"}}, "");
    REQUIRE(version);
    CHECK(version->command == "VERSION");
}

TEST_CASE("parse_request: versions; code 1 for anything but 1.0.0 and 1.1.0") {
    CHECK(parse_request(env_for("ADD"), conf(json::object(), "1.0.0")));
    CniError e = request_error(env_for("ADD"), conf(json::object(), "0.4.0"));
    CHECK(e.code == 1);
    CHECK(e.msg == "incompatible CNI versions; config is 0.4.0, plugin supports [1.0.0 1.1.0]");
    CHECK(e.details == "config is \"0.4.0\", plugin supports [\"1.0.0\" \"1.1.0\"]");
    // No cniVersion at all is 0.1.0 to libcni.
    json no_version = {{"name", "n"}, {"type", "podnet-cni"}};
    CHECK(request_error(env_for("ADD"), no_version.dump()).code == 1);
    // GC and STATUS are 1.1.0 verbs.
    e = request_error({{"CNI_COMMAND", "GC"}},
                      conf({{"cni.dev/valid-attachments", json::array()}}, "1.0.0"));
    CHECK(e.code == 1);
    CHECK(e.msg == "config version does not allow GC");
    CHECK(request_error({{"CNI_COMMAND", "STATUS"}}, conf(json::object(), "1.0.0")).code == 1);
}

TEST_CASE("parse_request: bad stdin is 6, a bad network config is 7") {
    CHECK(request_error(env_for("ADD"), "{not json").code == 6);
    CHECK(request_error(env_for("ADD"), "[1,2]").code == 6);
    CHECK(request_error(env_for("ADD"), R"({"cniVersion":"1.1.0"})").code == 7);
    CniError e = request_error(env_for("ADD"), R"({"cniVersion":"1.1.0","name":"a b"})");
    CHECK(e.code == 7);
    CHECK(e.msg == "invalid characters found in network name");

    struct Case {
        json extra;
        std::string wanted;  // part of the message
    };
    std::vector<Case> cases = {
        {{{"subnet", "10.78.0.0/33"}}, "subnet"},
        {{{"subnet", "banana"}}, "subnet"},
        {{{"subnet", "10.78.0.1/16"}}, "subnet"},  // host bits set
        {{{"subnet", 42}}, "\"subnet\" must be a string"},
        {{{"subnet", "10.77.3.0/24"}}, "overlaps 10.77.0.0/16, podnet's own default network"},
        {{{"subnet", "10.0.0.0/8"}}, "overlaps 10.77.0.0/16"},
        {{{"subnet", "10.88.0.0/24"}}, "podman's default network"},
        {{{"subnet", "fd78::/64"}}, "is not an IPv4 subnet"},
        {{{"subnet", "10.78.0.0/31"}}, "too small"},
        {{{"subnet6", "10.78.0.0/16"}}, "is not an IPv6 subnet"},
        {{{"bridge", "this-name-is-too-long"}}, "invalid bridge name"},
        {{{"bridge", "pnv0"}}, "gc deletes"},
        {{{"bridge", "pnc0123456789ab"}}, "gc deletes"},
        {{{"ipMasq", "yes"}}, "\"ipMasq\" must be true or false"},
        {{{"ipmasq", true}}, "unknown key \"ipmasq\" (did you mean \"ipMasq\"?)"},
        {{{"Subnet", "10.78.0.0/16"}}, "did you mean \"subnet\""},
        {{{"mtu", 20}}, "\"mtu\""},
        {{{"root", "relative/dir"}}, "\"root\" must be an absolute directory path"},
        {{{"runtimeConfig", {{"portMappings", {{{"hostPort", 0}, {"containerPort", 80}}}}}}},
         "runtimeConfig.portMappings[0]: hostPort 0 is out of range (1-65535)"},
        {{{"runtimeConfig", {{"portMappings", {{{"hostPort", 8080}, {"containerPort", 70000}}}}}}},
         "containerPort 70000 is out of range"},
        {{{"runtimeConfig", {{"portMappings", {{{"hostPort", "8080"}, {"containerPort", 80}}}}}}},
         "\"hostPort\" must be an integer"},
        {{{"runtimeConfig",
           {{"portMappings",
             {{{"hostPort", 8080}, {"containerPort", 80}, {"protocol", "sctp"}}}}}}},
         "protocol \"sctp\" is not supported"},
        {{{"runtimeConfig",
           {{"portMappings",
             {{{"hostPort", 8080}, {"containerPort", 80}, {"hostIP", "300.1.1.1"}}}}}}},
         "hostIP"},
        {{{"runtimeConfig",
           {{"portMappings",
             {{{"hostPort", 8080}, {"containerPort", 80}},
              {{"hostPort", 8080}, {"containerPort", 81}, {"hostIP", "127.0.0.1"}}}}}}},
         "is mapped twice"},
        {{{"runtimeConfig", {{"portMappings", "8080:80"}}}}, "must be an array"},
    };
    for (const auto& c : cases) {
        CniError err = config_error(c.extra);
        CHECK_MESSAGE(err.code == 7, c.extra.dump());
        CHECK_MESSAGE(err.msg.find(c.wanted) != std::string::npos,
                      (c.extra.dump() + " -> " + err.msg));
    }
    // The same port on different protocols, or on two distinct host addresses, is fine.
    auto ok =
        config_of({{"runtimeConfig",
                    {{"portMappings",
                      {{{"hostPort", 53}, {"containerPort", 53}, {"protocol", "tcp"}},
                       {{"hostPort", 53}, {"containerPort", 53}, {"protocol", "udp"}},
                       {{"hostPort", 80}, {"containerPort", 80}, {"hostIP", "127.0.0.1"}},
                       {{"hostPort", 80}, {"containerPort", 81}, {"hostIP", "127.0.0.2"}}}}}}});
    CHECK(ok.port_mappings.size() == 4);
}

TEST_CASE("parse_request: CHECK needs prevResult, GC needs the valid attachments") {
    CniError e = config_error(json::object(), "CHECK");
    CHECK(e.code == 7);
    CHECK(e.msg.find("prevResult") != std::string::npos);
    auto check =
        config_of({{"prevResult", {{"cniVersion", "1.1.0"}, {"ips", json::array()}}}}, "CHECK");
    CHECK(check.prev_result);

    Environment gc = {{"CNI_COMMAND", "GC"}, {"CNI_PATH", "/opt/cni/bin"}};
    CHECK(request_error(gc, conf()).code == 7);
    auto r = parse_request(gc, conf({{"cni.dev/valid-attachments",
                                      {{{"containerID", "a"}, {"ifname", "eth0"}},
                                       {{"containerID", "b"}, {"ifname", "net1"}}}}}));
    REQUIRE(r);
    REQUIRE(r->config.valid_attachments.size() == 2);
    CHECK(r->config.valid_attachments[1].container_id == "b");
    CHECK(r->config.valid_attachments[1].ifname == "net1");
    // libcni's other spelling, and Go's null for an empty list.
    r = parse_request(gc, conf({{"cni.dev/attachments", nullptr}}));
    REQUIRE(r);
    CHECK(r->config.valid_attachments.empty());
    CHECK(request_error(gc, conf({{"cni.dev/valid-attachments", {{{"containerID", 1}}}}})).code ==
          7);
}

TEST_CASE("error objects: the four keys, the config's version when it is one we speak") {
    CniError e{4, "required env variables [CNI_NETNS] missing", ""};
    json j = json::parse(error_json(e, conf(json::object(), "1.0.0")));
    CHECK(j == json{{"cniVersion", "1.0.0"},
                    {"code", 4},
                    {"msg", "required env variables [CNI_NETNS] missing"},
                    {"details", ""}});
    CHECK(json::parse(error_json(e, conf(json::object(), "0.4.0")))["cniVersion"] == "1.1.0");
    CHECK(json::parse(error_json(e, "garbage"))["cniVersion"] == "1.1.0");
    CHECK(json::parse(error_json(CniError{1, "m", "d"}, ""))["details"] == "d");
}

TEST_CASE("VERSION and ADD results in the 1.0.0 / 1.1.0 shape") {
    CHECK(json::parse(version_json()) ==
          json{{"cniVersion", "1.1.0"}, {"supportedVersions", {"1.0.0", "1.1.0"}}});

    AttachmentState s;
    s.container_id = "c1";
    s.ifname = "eth0";
    s.netns = "/run/netns/pod";
    s.network = "podnet-cni";
    s.host_interface = "pnc0123456789ab";
    s.host_mac = "aa:bb:cc:00:00:01";
    s.mac = "aa:bb:cc:00:00:02";
    s.ipv4 = *parse_prefix("10.78.0.2/16", false);
    s.gateway4 = *parse_ip("10.78.0.1");
    s.ipv6 = *parse_prefix("fd78::2/64", false);
    s.gateway6 = *parse_ip("fd78::1");
    json r = json::parse(add_result_json(s, "1.0.0"));
    CHECK(r["cniVersion"] == "1.0.0");
    CHECK(r["interfaces"] ==
          json::array(
              {{{"name", "pnc0123456789ab"}, {"mac", "aa:bb:cc:00:00:01"}},
               {{"name", "eth0"}, {"mac", "aa:bb:cc:00:00:02"}, {"sandbox", "/run/netns/pod"}}}));
    CHECK(r["ips"] ==
          json::array({{{"address", "10.78.0.2/16"}, {"gateway", "10.78.0.1"}, {"interface", 1}},
                       {{"address", "fd78::2/64"}, {"gateway", "fd78::1"}, {"interface", 1}}}));
    CHECK(r["routes"] == json::array({{{"dst", "0.0.0.0/0"}, {"gw", "10.78.0.1"}},
                                      {{"dst", "::/0"}, {"gw", "fd78::1"}}}));
    CHECK(r["dns"] == json::object());
}

TEST_CASE("attachment state round-trips through its JSON") {
    AttachmentState s;
    s.container_id = "c1";
    s.ifname = "net1";
    s.netns = "/proc/42/ns/net";
    s.network = "n";
    s.host_interface = "pnc0123456789ab";
    s.ipv4 = *parse_prefix("10.78.0.9/16", false);
    s.gateway4 = *parse_ip("10.78.0.1");
    s.port_mappings = *parse_port_mapping("127.0.0.1:8080:80/udp");
    auto back = attachment_from_json(attachment_to_json(s), "x");
    REQUIRE_MESSAGE(back, (back ? "" : back.error().message));
    CHECK(back->container_id == "c1");
    CHECK(back->ifname == "net1");
    CHECK(back->netns == "/proc/42/ns/net");
    CHECK(back->ipv4 == s.ipv4);
    CHECK_FALSE(back->ipv6);
    CHECK(back->gateway4 == s.gateway4);
    CHECK(back->port_mappings == s.port_mappings);
    auto bad = attachment_from_json("{\"ifname\":1}", "/run/x.json");
    REQUIRE_FALSE(bad);
    CHECK(bad.error().message.starts_with("attachment state /run/x.json: "));
}

TEST_CASE("parse_request: runtimeConfig.ips, the ips capability, as static addresses") {
    auto r = parse_request(env_for("ADD"),
                           conf({{"subnet6", "fd78::/64"},
                                 {"runtimeConfig", {{"ips", {"10.78.0.50", "fd78::50/64"}}}}}));
    REQUIRE(r);
    REQUIRE(r->config.ip);
    CHECK(r->config.ip->str() == "10.78.0.50");
    REQUIRE(r->config.ip6);
    CHECK(r->config.ip6->str() == "fd78::50");
    auto cidr =
        parse_request(env_for("ADD"), conf({{"runtimeConfig", {{"ips", {"10.78.1.2/16"}}}}}));
    REQUIRE(cidr);
    CHECK(cidr->config.ip->str() == "10.78.1.2");  // host-local's form, with the length
    CHECK_FALSE(cidr->config.ip6);

    auto outside = config_error({{"runtimeConfig", {{"ips", {"10.79.0.5"}}}}});
    CHECK(outside.code == invalid_network_config);
    CHECK(outside.msg ==
          "runtimeConfig.ips[0]: 10.79.0.5 is outside the network's subnet 10.78.0.0/16");
    CHECK(
        config_error({{"runtimeConfig", {{"ips", {"10.78.0.5", "10.78.0.6"}}}}}).msg ==
        "runtimeConfig.ips[1]: a second IPv4 address (10.78.0.6 after 10.78.0.5); one per family");
    CHECK(config_error({{"runtimeConfig", {{"ips", {"fd78::5"}}}}}).msg ==
          "runtimeConfig.ips[0]: fd78::5 is IPv6, and the network has no \"subnet6\"");
    CHECK(config_error({{"runtimeConfig", {{"ips", "10.78.0.5"}}}}).msg ==
          "runtimeConfig.ips must be an array, not string");
    CHECK(config_error({{"runtimeConfig", {{"ips", {"bogus"}}}}})
              .msg.starts_with("runtimeConfig.ips[0]: "));
}
