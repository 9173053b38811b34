#include <doctest/doctest.h>

#include "cni-runner/version.hpp"
#include "common/text.hpp"

using namespace podnet;
using namespace podnet::cni;
using nlohmann::json;

namespace {

bool has(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

// A 0.2.0 result with both families, as host-local of that era returned it.
const json result_020 = json::parse(R"({
  "cniVersion": "0.2.0",
  "ip4": {"ip": "10.0.0.5/24", "gateway": "10.0.0.1",
          "routes": [{"dst": "0.0.0.0/0"}, {"dst": "192.168.0.0/16", "gw": "10.0.0.254"}]},
  "ip6": {"ip": "fd00::5/64", "gateway": "fd00::1", "routes": [{"dst": "::/0"}]},
  "dns": {"nameservers": ["10.0.0.53"], "domain": "example.test"}
})");

// A 1.1.0 result using the fields 1.1.0 added.
const json result_110 = json::parse(R"({
  "cniVersion": "1.1.0",
  "interfaces": [
    {"name": "cni0", "mac": "aa:bb:cc:dd:ee:00", "mtu": 1500},
    {"name": "eth0", "mac": "aa:bb:cc:dd:ee:01", "sandbox": "/run/netns/x",
     "socketPath": "/run/vhost.sock", "pciID": "0000:00:1f.6"}
  ],
  "ips": [
    {"address": "10.0.0.5/24", "gateway": "10.0.0.1", "interface": 1},
    {"address": "fd00::5/64", "interface": 1}
  ],
  "routes": [{"dst": "0.0.0.0/0", "gw": "10.0.0.1", "mtu": 1400, "advmss": 1360,
              "priority": 10, "table": 100, "scope": 0}],
  "dns": {"nameservers": ["10.0.0.53"]}
})");

}  // namespace

TEST_CASE("supported versions, oldest first") {
    CHECK(supported_versions() ==
          std::vector<std::string>{"0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"});
    CHECK(std::string(latest_version) == supported_versions().back());
    CHECK(version_supported("0.3.1"));
    CHECK(version_supported("1.1.0"));
    CHECK_FALSE(version_supported("1.0"));  // exact strings, as plugins compare them
    CHECK_FALSE(version_supported("0.5.0"));
    CHECK_FALSE(version_supported("2.0.0"));
    CHECK_FALSE(version_supported(""));
}

TEST_CASE("parse_semver") {
    auto full = parse_semver("1.2.3");
    REQUIRE(full);
    CHECK(*full == Semver{1, 2, 3});
    CHECK(parse_semver("0.3") == Semver{0, 3, 0});
    CHECK(parse_semver("1") == Semver{1, 0, 0});
    CHECK(parse_semver("10.20.30") == Semver{10, 20, 30});
    for (const char* bad : {"", "1.", ".1", "1..0", "1.0.0.0", "v1.0.0", "1.0.0-rc1", "1.-1.0",
                            "a.b.c", "99999999999.0.0", " 1.0.0"}) {
        auto r = parse_semver(bad);
        CHECK_MESSAGE(!r, bad);
        if (!r) CHECK(r.error().message.starts_with(quoted(bad)));
    }
    CHECK(Semver{0, 4, 0} < Semver{1, 0, 0});
    CHECK(Semver{0, 3, 1} > Semver{0, 3, 0});
}

TEST_CASE("version_at_least") {
    CHECK(version_at_least("1.0.0", "0.4.0"));
    CHECK(version_at_least("0.4.0", "0.4.0"));
    CHECK(version_at_least("1.1.0", "1.1.0"));
    CHECK_FALSE(version_at_least("0.3.1", "0.4.0"));
    CHECK_FALSE(version_at_least("1.0.0", "1.1.0"));
    CHECK(version_at_least("0.10.0", "0.4.0"));  // numbers, not strings
    CHECK_FALSE(version_at_least("garbage", "0.1.0"));
    CHECK(version_at_least("0.1.0", "garbage"));
}

TEST_CASE("0.2.0 results convert up to 0.4.0 and 1.0.0") {
    auto v040 = convert_result(result_020, "0.4.0");
    REQUIRE(v040);
    CHECK(*v040 == json::parse(R"({
      "cniVersion": "0.4.0",
      "ips": [{"version": "4", "address": "10.0.0.5/24", "gateway": "10.0.0.1"},
              {"version": "6", "address": "fd00::5/64", "gateway": "fd00::1"}],
      "routes": [{"dst": "0.0.0.0/0"}, {"dst": "192.168.0.0/16", "gw": "10.0.0.254"},
                 {"dst": "::/0"}],
      "dns": {"nameservers": ["10.0.0.53"], "domain": "example.test"}
    })"));

    auto v100 = convert_result(result_020, "1.0.0");
    REQUIRE(v100);
    CHECK((*v100)["cniVersion"] == "1.0.0");
    CHECK((*v100)["ips"] == json::parse(R"([{"address": "10.0.0.5/24", "gateway": "10.0.0.1"},
                                            {"address": "fd00::5/64", "gateway": "fd00::1"}])"));
    CHECK((*v100)["routes"].size() == 3);
    CHECK_FALSE(v100->contains("interfaces"));
    CHECK((*v100)["dns"]["domain"] == "example.test");

    // 0.1.0 and 0.2.0 share a shape: only the version changes.
    auto v010 = convert_result(result_020, "0.1.0");
    REQUIRE(v010);
    json expected = result_020;
    expected["cniVersion"] = "0.1.0";
    CHECK(*v010 == expected);
}

TEST_CASE("a result without cniVersion is 0.1.0, as libcni reads it") {
    json old = {{"ip4", {{"ip", "10.1.0.2/16"}}}};
    auto up = convert_result(old, "1.1.0");
    REQUIRE(up);
    CHECK(*up == json::parse(R"({"cniVersion": "1.1.0", "ips": [{"address": "10.1.0.2/16"}]})"));
}

TEST_CASE("1.x and 0.4.0 differ in the per-IP version") {
    json v100 = json::parse(R"({
      "cniVersion": "1.0.0",
      "interfaces": [{"name": "eth0", "mac": "aa:bb:cc:dd:ee:01", "sandbox": "/run/netns/x"}],
      "ips": [{"address": "10.0.0.5/24", "gateway": "10.0.0.1", "interface": 0},
              {"address": "fd00::5/64", "interface": 0},
              {"address": "::ffff:10.0.0.6/120"}],
      "routes": [{"dst": "0.0.0.0/0", "gw": "10.0.0.1"}]
    })");
    auto down = convert_result(v100, "0.3.1");
    REQUIRE(down);
    CHECK(*down == json::parse(R"({
      "cniVersion": "0.3.1",
      "interfaces": [{"name": "eth0", "mac": "aa:bb:cc:dd:ee:01", "sandbox": "/run/netns/x"}],
      "ips": [{"version": "4", "address": "10.0.0.5/24", "gateway": "10.0.0.1", "interface": 0},
              {"version": "6", "address": "fd00::5/64", "interface": 0},
              {"version": "4", "address": "::ffff:10.0.0.6/120"}],
      "routes": [{"dst": "0.0.0.0/0", "gw": "10.0.0.1"}],
      "dns": {}
    })"));  // an IPv4-mapped address is IPv4 to Go's To4(); 0.x results always carry "dns"

    auto up = convert_result(*down, "1.0.0");
    REQUIRE(up);
    CHECK(*up == v100);  // "version" gone again, and an empty "dns" omitted
}

TEST_CASE("1.1.0 fields going down, as libcni converts them") {
    // To 1.0.0 libcni changes only the version (convertFrom100 copies every field).
    auto v100 = convert_result(result_110, "1.0.0");
    REQUIRE(v100);
    json expected = result_110;
    expected["cniVersion"] = "1.0.0";
    CHECK(*v100 == expected);

    // To 0.4.0 interfaces lose mtu/socketPath/pciID; routes keep their 1.1.0 fields because
    // libcni's Route type is shared by every version from 0.3.0 on.
    auto v040 = convert_result(result_110, "0.4.0");
    REQUIRE(v040);
    CHECK((*v040)["interfaces"] == json::parse(R"([
      {"name": "cni0", "mac": "aa:bb:cc:dd:ee:00"},
      {"name": "eth0", "mac": "aa:bb:cc:dd:ee:01", "sandbox": "/run/netns/x"}])"));
    CHECK((*v040)["ips"][0] == json::parse(R"({"version": "4", "address": "10.0.0.5/24",
                                               "gateway": "10.0.0.1", "interface": 1})"));
    CHECK((*v040)["ips"][1]["version"] == "6");
    CHECK((*v040)["routes"] == result_110["routes"]);

    // Back up to 1.1.0 from 0.4.0 the interface fields stay lost.
    auto again = convert_result(*v040, "1.1.0");
    REQUIRE(again);
    CHECK_FALSE((*again)["interfaces"][0].contains("mtu"));
    CHECK((*again)["routes"] == result_110["routes"]);
}

TEST_CASE("down to 0.2.0: the first address of each family, routes by destination") {
    json many = json::parse(R"({
      "cniVersion": "1.0.0",
      "interfaces": [{"name": "eth0", "sandbox": "/run/netns/x"}],
      "ips": [{"address": "10.0.0.5/24", "gateway": "10.0.0.1", "interface": 0},
              {"address": "10.0.1.5/24", "interface": 0},
              {"address": "fd00::5/64", "interface": 0}],
      "routes": [{"dst": "0.0.0.0/0", "gw": "10.0.0.1", "mtu": 1400},
                 {"dst": "::/0", "gw": "fd00::1"}],
      "dns": {"search": ["svc.test"]}
    })");
    auto v020 = convert_result(many, "0.2.0");
    REQUIRE(v020);
    // libcni's convertTo02x drops the second IPv4 address rather than failing.
    CHECK(*v020 == json::parse(R"({
      "cniVersion": "0.2.0",
      "ip4": {"ip": "10.0.0.5/24", "gateway": "10.0.0.1",
              "routes": [{"dst": "0.0.0.0/0", "gw": "10.0.0.1"}]},
      "ip6": {"ip": "fd00::5/64", "routes": [{"dst": "::/0", "gw": "fd00::1"}]},
      "dns": {"search": ["svc.test"]}
    })"));

    // A route of a family without an address has nowhere to go.
    json v4_only = json::parse(R"({
      "cniVersion": "0.4.0",
      "ips": [{"version": "4", "address": "10.0.0.5/24"}],
      "routes": [{"dst": "::/0"}]
    })");
    auto only = convert_result(v4_only, "0.1.0");
    REQUIRE(only);
    CHECK(*only == json::parse(R"({"cniVersion": "0.1.0", "ip4": {"ip": "10.0.0.5/24"},
                                   "dns": {}})"));

    // A result with no address cannot be a 0.2.0 result at all.
    json empty = {{"cniVersion", "1.1.0"}, {"interfaces", {{{"name", "eth0"}}}}};
    auto none = convert_result(empty, "0.2.0");
    REQUIRE_FALSE(none);
    CHECK(none.error().message.starts_with("convert CNI result 1.1.0 to 0.2.0: "));
    CHECK(has(none.error().message, "no IP address"));
}

TEST_CASE("same version: unchanged") {
    auto same = convert_result(result_110, "1.1.0");
    REQUIRE(same);
    CHECK(*same == result_110);
}

TEST_CASE("conversion errors name the versions and the key") {
    auto to = convert_result(result_110, "0.5.0");
    REQUIRE_FALSE(to);
    CHECK(to.error().message.starts_with("convert CNI result 1.1.0 to 0.5.0: version 0.5.0"));

    json future = result_110;
    future["cniVersion"] = "2.0.0";
    auto from = convert_result(future, "1.0.0");
    REQUIRE_FALSE(from);
    CHECK(from.error().message.starts_with("convert CNI result 2.0.0 to 1.0.0: version 2.0.0"));

    json bad_address = json::parse(R"({"cniVersion": "1.0.0", "ips": [{"address": "10.0.0.5"}]})");
    auto address = convert_result(bad_address, "0.4.0");
    REQUIRE_FALSE(address);
    CHECK(address.error().message.starts_with(
        "convert CNI result 1.0.0 to 0.4.0: \"ips\"[0]: \"address\": "));

    json no_address = json::parse(R"({"cniVersion": "0.4.0", "ips": [{"version": "4"}]})");
    auto missing = convert_result(no_address, "1.0.0");
    REQUIRE_FALSE(missing);
    CHECK(missing.error().message ==
          "convert CNI result 0.4.0 to 1.0.0: \"ips\"[0]: missing \"address\"");

    json ips_object = json::parse(R"({"cniVersion": "1.0.0", "ips": {}})");
    auto shape = convert_result(ips_object, "0.4.0");
    REQUIRE_FALSE(shape);
    CHECK(shape.error().message == "convert CNI result 1.0.0 to 0.4.0: \"ips\": not an array");

    json bad_ip4 = json::parse(R"({"cniVersion": "0.2.0", "ip4": {"gateway": "10.0.0.1"}})");
    auto ip4 = convert_result(bad_ip4, "1.0.0");
    REQUIRE_FALSE(ip4);
    CHECK(ip4.error().message == "convert CNI result 0.2.0 to 1.0.0: \"ip4\": missing \"ip\"");

    auto not_object = convert_result(json::array(), "1.0.0");
    REQUIRE_FALSE(not_object);
    CHECK(has(not_object.error().message, "not a JSON object"));
    auto version_type = convert_result(json{{"cniVersion", 1}}, "1.0.0");
    REQUIRE_FALSE(version_type);
    CHECK(has(version_type.error().message, "\"cniVersion\": not a string"));
}
