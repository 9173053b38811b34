#pragma once
// IP address management for podnet's bridge networks: which sandbox holds which address.
//
// One network's allocations (IPv4 and IPv6 alike) are one JSON file, <dir>/<network>.json,
// replaced with write_file_atomic, and every read-modify-write holds an flock on
// <dir>/<network>.lock, so concurrent podnet processes never hand out one address twice.

#include <set>
#include <string>
#include <vector>

#include "common/ip.hpp"
#include "common/result.hpp"

namespace podnet {

struct IpamRange {
    IpPrefix subnet;    // network, host bits zero, e.g. 10.77.0.0/16 or fd77::/64
    IpAddress gateway;  // reserved (the bridge's address)
};

struct Allocation {
    IpAddress address;
    std::string owner;  // sandbox id
};

class Ipam {
  public:
    // state_dir: e.g. <state_root>/ipam. Nothing is touched until the first call.
    Ipam(std::string state_dir, std::string network);

    // The next free address after the last one handed out in this range (wrapping around), so
    // a just-freed address is not reused at once and stale traffic or ARP caches meant for the
    // old sandbox do not reach the new one. Never handed out: the network address (for IPv6 the
    // subnet-router anycast), the gateway, and for IPv4 the broadcast address.
    // An owner that already holds an address in this range gets the same one back.
    // Full: "subnet 10.77.0.0/24 of network NAME is exhausted".
    [[nodiscard]] Result<IpAddress> allocate(const IpamRange& range, const std::string& owner);
    // A requested address: inside the subnet, not reserved, not held by another sandbox.
    // Idempotent for the owner that already holds it. Does not move the cursor of allocate().
    [[nodiscard]] Result<IpAddress> allocate_static(const IpamRange& range,
                                                    const IpAddress& address,
                                                    const std::string& owner);
    // Release everything `owner` holds; holding nothing is fine.
    [[nodiscard]] Result<void> release(const std::string& owner);
    // Release every allocation whose owner is not in `live` (gc); returns what was freed.
    [[nodiscard]] Result<std::vector<Allocation>> release_all_except(
        const std::set<std::string>& live);
    // All allocations, ordered by address (IPv4 first).
    [[nodiscard]] Result<std::vector<Allocation>> list() const;
    // Remove the network's files (network rm). The caller has checked that no sandbox uses it.
    [[nodiscard]] Result<void> remove_all();

  private:
    [[nodiscard]] std::string state_path() const;
    [[nodiscard]] std::string lock_path() const;
    [[nodiscard]] Result<void> check_network_name() const;

    std::string dir_;
    std::string network_;
};

}  // namespace podnet
