#pragma once
// A subnet for `network create NAME` without --subnet, as Docker and podman pick one: the first
// /24 of podnet's pool that overlaps nothing in use.
//
// The pool is 10.78.0.0 - 10.87.255.255 cut into /24s (2,560 networks): next to podnet's default
// network (10.77.0.0/16) and clear of the pools Docker (172.17-31.0.0/16, 192.168.x.0/20) and
// podman (10.88.0.0/16, 10.89.x.0/24) take from, so networks of all three on one host do not
// compete even when some of theirs are down (and so have no route for podnet to see). /24 as
// podman: 253 pods per network, plenty for a user-defined one, and many networks fit.

#include <optional>
#include <vector>

#include "common/ip.hpp"
#include "common/result.hpp"

namespace podnet {

class NetlinkSocket;

// The pool's blocks, in the order they are searched.
[[nodiscard]] const std::vector<IpPrefix>& subnet_pool();
inline constexpr int pool_subnet_length = 24;

// The first /24 of the pool overlapping none of `taken` (either family; IPv6 ones never meet).
[[nodiscard]] std::optional<IpPrefix> pick_free_subnet(const std::vector<IpPrefix>& taken);

// What the network namespace of `nl` uses: every IPv4 address's subnet and every route's
// destination (main table, any link), except default routes, which would cover everything.
[[nodiscard]] Result<std::vector<IpPrefix>> subnets_in_use(NetlinkSocket& nl);

}  // namespace podnet
