#pragma once
// Subnet leases, flannel's design: each node holds one subnet of the cluster network, tied to
// its public (underlay) address, with backend data (the VTEP MAC for vxlan), for a TTL it keeps
// renewing. Stores keep leases under keys named like flannel's etcd keys ("10.244.1.0-24").

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/ip.hpp"
#include "common/result.hpp"
#include "overlay/config.hpp"

namespace podnet::overlay {

struct Lease {
    IpPrefix subnet;
    IpAddress public_ip;  // the node's underlay address
    std::string node;     // the node's name, for people
    Backend backend = Backend::vxlan;
    nlohmann::json backend_data = nlohmann::json::object();  // {"VtepMAC": "..."} for vxlan
    int64_t renewed_ms = 0;  // unix time of the last acquire or renew
    int64_t expiration_ms = 0;

    [[nodiscard]] bool expired(int64_t now_ms) const { return expiration_ms <= now_ms; }
};

// "10.244.1.0-24": the store key of a subnet (flannel's), and back.
[[nodiscard]] std::string subnet_key(const IpPrefix& subnet);
[[nodiscard]] Result<IpPrefix> parse_subnet_key(std::string_view key);

[[nodiscard]] nlohmann::json lease_to_json(const Lease& lease);
// `key` names the record in errors; a record whose subnet differs from its key is refused.
[[nodiscard]] Result<Lease> lease_from_json(const nlohmann::json& record, const std::string& key);

// The subnet a node at `public_ip` should hold: its own lease's when it has one (a restarted
// node gets its old subnet back), else the lowest free subnet between min and max. `taken` are
// subnets held by others (live leases, and keys of records that did not parse: never handed
// out while someone may hold them).
[[nodiscard]] Result<IpPrefix> choose_subnet(const OverlayConfig& config,
                                             const std::vector<Lease>& leases,
                                             const std::vector<IpPrefix>& taken,
                                             const IpAddress& public_ip);

struct LeaseRequest {
    IpAddress public_ip;
    std::string node;
    Backend backend = Backend::vxlan;
    nlohmann::json backend_data = nlohmann::json::object();
    int ttl_seconds = 86400;  // flannel's 24 h; the agent renews well before
};

// The lease a store grants for `request` on `subnet` at `now_ms`.
[[nodiscard]] Lease granted_lease(const LeaseRequest& request, const IpPrefix& subnet,
                                  int64_t now_ms);

struct LeaseList {
    std::vector<Lease> leases;          // live ones, by subnet
    std::vector<std::string> warnings;  // records skipped: "lease 10.244.9.0-24: <why>"
};

// Where leases live. Implementations: FileLeaseStore (one locked JSON file, for one VM) and
// EtcdLeaseStore (etcd v3).
class LeaseStore {
  public:
    virtual ~LeaseStore() = default;
    // Takes a subnet for the node, or renews the one it holds (same public IP).
    [[nodiscard]] virtual Result<Lease> acquire(const LeaseRequest& request) = 0;
    // Extends `lease`; fails when it was taken over or removed meanwhile.
    [[nodiscard]] virtual Result<Lease> renew(const Lease& lease, int ttl_seconds) = 0;
    [[nodiscard]] virtual Result<LeaseList> list() = 0;
    // Removes the lease (a node leaving); absent is success.
    [[nodiscard]] virtual Result<void> release(const IpPrefix& subnet) = 0;
    // Blocks until the leases may have changed since this object last read or wrote them
    // (list, acquire, renew, release): true; false once `timeout_ms` passed without a change.
    // "May": a spurious true costs one list(), a missed change a whole timeout. Before the
    // first read it is true at once.
    [[nodiscard]] virtual Result<bool> wait_for_change(int timeout_ms) = 0;
};

[[nodiscard]] int64_t now_unix_ms();

}  // namespace podnet::overlay
