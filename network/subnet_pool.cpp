#include "network/subnet_pool.hpp"

#include "netns/netlink.hpp"

namespace podnet {

const std::vector<IpPrefix>& subnet_pool() {
    // 10.78.0.0/15 + 10.80.0.0/13 = 10.78.0.0 - 10.87.255.255, up to podman's 10.88.0.0/16.
    static const std::vector<IpPrefix> pool = {*parse_prefix("10.78.0.0/15", true),
                                               *parse_prefix("10.80.0.0/13", true)};
    return pool;
}

std::optional<IpPrefix> pick_free_subnet(const std::vector<IpPrefix>& taken) {
    for (const auto& block : subnet_pool()) {
        uint64_t count = uint64_t{1} << (pool_subnet_length - block.length);
        for (uint64_t i = 0; i < count; ++i) {
            IpPrefix candidate = block.subnet(pool_subnet_length, i);
            bool free = true;
            for (const auto& t : taken)
                if (t.address.family == candidate.address.family && t.overlaps(candidate)) {
                    free = false;
                    break;
                }
            if (free) return candidate;
        }
    }
    return std::nullopt;
}

Result<std::vector<IpPrefix>> subnets_in_use(NetlinkSocket& nl) {
    auto links = nl.list_links("");
    if (!links) return wrap(links.error(), "subnets in use");
    std::vector<IpPrefix> out;
    for (const auto& link : *links) {
        // A link may go between the listing and these calls: what is gone uses nothing.
        if (auto addresses = nl.addresses(link))
            for (const auto& a : *addresses)
                if (a.address.is_v4()) out.push_back(a.network());
        if (auto routes = nl.routes(link))
            for (const auto& r : *routes)
                if (r.destination.length > 0) out.push_back(r.destination.network());
    }
    return out;
}

}  // namespace podnet
