// The subnet `network create NAME` picks without --subnet.

#include <doctest/doctest.h>

#include "network/subnet_pool.hpp"

using namespace podnet;

namespace {

IpPrefix prefix(const char* text) {
    auto p = parse_prefix(text, false);
    REQUIRE(p);
    return p->network();
}

}  // namespace

TEST_CASE("network create without --subnet: the first free /24 of 10.78.0.0-10.87.255.255") {
    CHECK(pick_free_subnet({})->str() == "10.78.0.0/24");
    // Another network's subnet, a host route, an address's subnet: each skipped.
    CHECK(pick_free_subnet({prefix("10.78.0.0/24")})->str() == "10.78.1.0/24");
    CHECK(pick_free_subnet({prefix("10.78.0.0/23"), prefix("10.78.2.7/32")})->str() ==
          "10.78.3.0/24");
    // A wide route covers the whole first block: the search goes on in the second.
    CHECK(pick_free_subnet({prefix("10.78.0.0/15")})->str() == "10.80.0.0/24");
    // IPv6 prefixes never collide with an IPv4 pick, default routes are not passed in.
    CHECK(pick_free_subnet({prefix("fd00::/8")})->str() == "10.78.0.0/24");
    // Clear of Docker's and podman's default pools, and of podnet's default network.
    for (const char* other :
         {"172.16.0.0/12", "192.168.0.0/16", "10.88.0.0/16", "10.89.0.0/16", "10.77.0.0/16"})
        for (const auto& block : subnet_pool()) CHECK_FALSE(block.overlaps(prefix(other)));
    // Everything taken: nothing to give.
    CHECK_FALSE(pick_free_subnet({prefix("10.64.0.0/10")}));
}
