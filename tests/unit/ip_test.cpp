#include <doctest/doctest.h>
#include <sys/socket.h>

#include <cstdint>
#include <string>

#include "common/ip.hpp"

using namespace podnet;

namespace {
IpAddress ip(const std::string& text) {
    auto a = parse_ip(text);
    REQUIRE_MESSAGE(a, text);
    return *a;
}
IpPrefix net(const std::string& text) {
    auto p = parse_prefix(text, true);
    REQUIRE_MESSAGE(p, text);
    return *p;
}
std::string prefix_error(const std::string& text, bool network_only) {
    auto p = parse_prefix(text, network_only);
    REQUIRE_FALSE_MESSAGE(p, text);
    return p.error().message;
}
}  // namespace

TEST_CASE("IPv4 addresses parse into the first four bytes and print back") {
    auto a = ip("10.77.0.254");
    CHECK(a.family == AF_INET);
    CHECK(a.is_v4());
    CHECK_FALSE(a.is_v6());
    CHECK(a.size() == 4);
    CHECK(a.bytes[0] == 10);
    CHECK(a.bytes[1] == 77);
    CHECK(a.bytes[2] == 0);
    CHECK(a.bytes[3] == 254);
    for (size_t i = 4; i < 16; ++i) CHECK(a.bytes[i] == 0);
    CHECK(a.str() == "10.77.0.254");
    CHECK(ip("0.0.0.0").str() == "0.0.0.0");
    CHECK(ip("255.255.255.255").str() == "255.255.255.255");
}

TEST_CASE("IPv6 addresses parse into sixteen bytes and print canonically") {
    auto a = ip("fd77::1");
    CHECK(a.family == AF_INET6);
    CHECK(a.is_v6());
    CHECK(a.size() == 16);
    CHECK(a.bytes[0] == 0xfd);
    CHECK(a.bytes[1] == 0x77);
    CHECK(a.bytes[15] == 1);
    CHECK(a.str() == "fd77::1");
    CHECK(ip("FD77:0:0:0:0:0:0:1") == a);
    CHECK(ip("::").str() == "::");
    // A v4-mapped address is IPv6, not IPv4.
    CHECK(ip("::ffff:10.0.0.1").is_v6());
    CHECK(IpAddress{}.str() == "<none>");
}

TEST_CASE("invalid address text is refused and quoted") {
    for (const char* text :
         {"", "10.0.0", "10.0.0.256", "1.2.3.4.5", "10.0.0.1 ", " 10.0.0.1", "10.0.0.-1",
          "fd77:::1", "fd77::1::2", "gggg::1", "hello", "10.0.0.1/24", "010.0.0.1"}) {
        auto a = parse_ip(text);
        REQUIRE_FALSE_MESSAGE(a, text);
        CHECK(a.error().message == std::string("invalid IP address \"") + text + "\"");
    }
}

TEST_CASE("prefixes parse and say what is wrong with them") {
    auto p = parse_prefix("10.77.0.0/16", true);
    REQUIRE(p);
    CHECK(p->address == ip("10.77.0.0"));
    CHECK(p->length == 16);
    CHECK(p->str() == "10.77.0.0/16");
    CHECK(net("fd77::/64").str() == "fd77::/64");
    CHECK(net("0.0.0.0/0").length == 0);
    CHECK(net("10.0.0.1/32").length == 32);
    CHECK(net("::/128").length == 128);

    CHECK(prefix_error("10.0.0.0", false) == "invalid CIDR \"10.0.0.0\": expected ADDRESS/LENGTH");
    CHECK(prefix_error("10.0.0.300/24", false) == "invalid CIDR \"10.0.0.300/24\": bad address");
    CHECK(prefix_error("/24", false) == "invalid CIDR \"/24\": bad address");
    for (const char* text : {"10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/", "10.0.0.0/x",
                             "10.0.0.0/24x", "10.0.0.0/+24", "10.0.0.0/ 24"})
        CHECK(prefix_error(text, false) ==
              std::string("invalid CIDR \"") + text + "\": prefix length must be 0..32");
    CHECK(prefix_error("fd77::/129", false) ==
          "invalid CIDR \"fd77::/129\": prefix length must be 0..128");
    // 33..128 is fine for IPv6: the limit follows the family.
    CHECK(net("fd77::/100").length == 100);
}

TEST_CASE("host bits are refused only for networks") {
    CHECK(prefix_error("10.0.0.1/24", true) ==
          "invalid CIDR \"10.0.0.1/24\": host bits are set (network is 10.0.0.0/24)");
    CHECK(prefix_error("fd77::1/64", true) ==
          "invalid CIDR \"fd77::1/64\": host bits are set (network is fd77::/64)");
    auto iface = parse_prefix("10.0.0.1/24", false);
    REQUIRE(iface);
    CHECK(iface->str() == "10.0.0.1/24");
    CHECK(iface->network().str() == "10.0.0.0/24");
    CHECK(net("10.0.0.0/24").network() == net("10.0.0.0/24"));
    // A host bit in the middle of a byte.
    CHECK(net("10.0.0.4/30").str() == "10.0.0.4/30");
    CHECK(prefix_error("10.0.0.5/30", true) ==
          "invalid CIDR \"10.0.0.5/30\": host bits are set (network is 10.0.0.4/30)");
    CHECK(prefix_error("10.0.0.6/30", true) ==
          "invalid CIDR \"10.0.0.6/30\": host bits are set (network is 10.0.0.4/30)");
}

TEST_CASE("contains and overlaps respect boundaries and never cross families") {
    auto p = net("10.77.0.0/24");
    CHECK(p.contains(ip("10.77.0.0")));
    CHECK(p.contains(ip("10.77.0.255")));
    CHECK_FALSE(p.contains(ip("10.77.1.0")));
    CHECK_FALSE(p.contains(ip("10.76.255.255")));
    CHECK(net("10.0.0.0/7").contains(ip("11.255.0.1")));
    CHECK_FALSE(net("10.0.0.0/7").contains(ip("12.0.0.1")));

    CHECK(net("0.0.0.0/0").contains(ip("203.0.113.9")));
    CHECK_FALSE(net("0.0.0.0/0").contains(ip("::1")));
    CHECK_FALSE(net("::/0").contains(ip("10.0.0.1")));
    CHECK(net("::/0").contains(ip("fd77::1")));
    // Same bytes, other family.
    CHECK_FALSE(net("::/96").contains(ip("10.0.0.1")));
    CHECK_FALSE(net("0.0.0.0/0").overlaps(net("::/0")));
    CHECK_FALSE(net("::/0").overlaps(net("0.0.0.0/0")));

    CHECK(net("10.0.0.0/8").overlaps(net("10.77.0.0/16")));
    CHECK(net("10.77.0.0/16").overlaps(net("10.0.0.0/8")));
    CHECK(net("10.77.0.0/16").overlaps(net("10.77.0.0/16")));
    CHECK_FALSE(net("10.77.0.0/24").overlaps(net("10.77.1.0/24")));
    CHECK(net("fd77::/48").overlaps(net("fd77:0:0:5::/64")));
    CHECK_FALSE(net("fd77::/64").overlaps(net("fd77:0:0:1::/64")));
}

TEST_CASE("size counts addresses and saturates for IPv6") {
    CHECK(net("10.0.0.0/24").size() == 256);
    CHECK(net("10.0.0.0/30").size() == 4);
    CHECK(net("10.0.0.1/32").size() == 1);
    CHECK(net("10.0.0.0/16").size() == 65536);
    CHECK(net("0.0.0.0/0").size() == (uint64_t{1} << 32));
    CHECK(net("fd77::/120").size() == 256);
    CHECK(net("fd77::/128").size() == 1);
    CHECK(net("fd77::/65").size() == (uint64_t{1} << 63));
    CHECK(net("fd77::/64").size() == (uint64_t{1} << 63));
    CHECK(net("::/0").size() == (uint64_t{1} << 63));
}

TEST_CASE("at and offset_of round-trip and carry across bytes") {
    auto p = net("10.0.0.0/16");
    CHECK(p.at(0) == ip("10.0.0.0"));
    CHECK(p.at(1) == ip("10.0.0.1"));
    CHECK(p.at(255) == ip("10.0.0.255"));
    CHECK(p.at(256) == ip("10.0.1.0"));  // 10.0.0.255 + 1
    CHECK(p.at(257) == ip("10.0.1.1"));
    CHECK(p.at(65535) == ip("10.0.255.255"));
    CHECK(p.offset_of(ip("10.0.0.255")) + 1 == p.offset_of(ip("10.0.1.0")));
    CHECK(p.offset_of(ip("10.0.255.255")) == 65535);
    for (uint64_t offset = 0; offset < 65536; offset += 97) {
        CHECK(p.offset_of(p.at(offset)) == offset);
        CHECK(p.contains(p.at(offset)));
    }
    // Carry through two bytes at once.
    CHECK(net("10.0.0.0/8").at(65536) == ip("10.1.0.0"));
    CHECK(net("10.0.0.0/8").offset_of(ip("10.1.0.0")) == 65536);
    // Counted from the network, also for a prefix with host bits set.
    auto iface = parse_prefix("10.0.0.7/24", false);
    REQUIRE(iface);
    CHECK(iface->at(1) == ip("10.0.0.1"));
    CHECK(iface->offset_of(ip("10.0.0.7")) == 7);
}

TEST_CASE("last is the broadcast address") {
    CHECK(net("10.0.0.0/24").last() == ip("10.0.0.255"));
    CHECK(net("10.77.0.0/16").last() == ip("10.77.255.255"));
    CHECK(net("10.0.0.4/30").last() == ip("10.0.0.7"));
    CHECK(net("10.0.0.9/32").last() == ip("10.0.0.9"));
    CHECK(net("0.0.0.0/0").last() == ip("255.255.255.255"));
    CHECK(net("fd77::/120").last() == ip("fd77::ff"));
    CHECK(net("fd77::/64").last() == ip("fd77::ffff:ffff:ffff:ffff"));
    auto iface = parse_prefix("10.0.0.7/24", false);
    REQUIRE(iface);
    CHECK(iface->last() == ip("10.0.0.255"));
    auto p = net("10.0.0.0/24");
    CHECK(p.at(p.size() - 1) == p.last());
}

TEST_CASE("IPv6 at adds offsets to the low 64 bits") {
    auto p = net("fd77::/64");
    CHECK(p.at(0) == ip("fd77::"));
    CHECK(p.at(1) == ip("fd77::1"));
    CHECK(p.at(0xff) == ip("fd77::ff"));
    CHECK(p.at(0x100) == ip("fd77::100"));  // fd77::ff + 1
    CHECK(p.at(0x10000) == ip("fd77::1:0"));
    CHECK(p.at((uint64_t{1} << 32) + 5) == ip("fd77::1:0:5"));
    CHECK(p.at(0x0123456789abcdefULL) == ip("fd77::123:4567:89ab:cdef"));
    CHECK(p.offset_of(ip("fd77::123:4567:89ab:cdef")) == 0x0123456789abcdefULL);
    CHECK(p.offset_of(ip("fd77::1:0")) == 0x10000);
    auto small = net("fd77:0:0:5::/120");
    CHECK(small.at(2) == ip("fd77:0:0:5::2"));
    CHECK(small.offset_of(ip("fd77:0:0:5::fe")) == 0xfe);
    // The top bit of the low 64, for a prefix shorter than /64.
    CHECK(net("fd77::/48").at(uint64_t{1} << 63) == ip("fd77::8000:0:0:0"));
}

TEST_CASE("subnet and subnet_index count subnets by their own bits, IPv6 too") {
    auto v4 = *parse_prefix("10.244.0.0/16", true);
    CHECK(v4.subnet(24, 0).str() == "10.244.0.0/24");
    CHECK(v4.subnet(24, 3).str() == "10.244.3.0/24");
    CHECK(v4.subnet(24, 255).str() == "10.244.255.0/24");
    CHECK(v4.subnet(26, 5).str() == "10.244.1.64/26");
    CHECK(v4.subnet_index(*parse_ip("10.244.3.0"), 24) == 3);
    CHECK(v4.subnet_index(*parse_ip("10.244.3.77"), 24) == 3);  // any address inside
    // /64s of a /48: each step is 2^64 addresses, more than at() can add.
    auto v6 = *parse_prefix("fd10::/48", true);
    CHECK(v6.subnet(64, 1).str() == "fd10:0:0:1::/64");
    CHECK(v6.subnet(64, 0xffff).str() == "fd10:0:0:ffff::/64");
    CHECK(v6.subnet_index(*parse_ip("fd10:0:0:ffff::"), 64) == 0xffff);
    auto wide = *parse_prefix("fd00::/8", true);
    uint64_t big = (uint64_t{1} << 56) - 1;
    CHECK(wide.subnet_index(wide.subnet(64, big).address, 64) == big);
}
