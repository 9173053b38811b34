#pragma once
// The lease store of a real cluster, flannel's design on etcd v3: one key per subnet,
//   PREFIX/subnets/10.244.1.0-24 = lease_to_json(lease)
// each attached to an etcd lease granted with the request's TTL, so that a node which stops
// renewing loses its key without anyone cleaning up. Changes are etcd transactions that compare
// the key's revision with the one read, so nodes racing for subnets never get the same one.
// A record that does not parse is skipped with a warning, never applied, and its subnet (from
// its key) is never handed out.
//
// etcd is reached through its v3 JSON gateway (POST /v3/kv/range and friends, keys and values
// base64) with libcurl. Endpoints are tried in order on a connection failure; the one that
// answered is used first next time. Errors are one line naming the endpoint and the operation:
//   "etcd http://127.0.0.1:2379: range /coreos.com/network/subnets/: Couldn't connect to server"
// Calls on one store object are serialized; separate objects (one per thread) run side by side.
//
// wait_for_change watches PREFIX/subnets/ from the revision after the last full read, as
// flannel does, on a connection of its own (so a wait does not hold up the other calls): the
// first event ends the wait. Each wait is one watch request; a compacted start revision is an
// error, which the next list() cures.

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "overlay/lease.hpp"

namespace podnet::overlay {

// flannel's: its etcd keys live under /coreos.com/network (config at PREFIX/config).
inline constexpr std::string_view default_etcd_prefix = "/coreos.com/network";

class EtcdLeaseStore final : public LeaseStore {
  public:
    // endpoints: "http://127.0.0.1:2379", ...; timeout_ms bounds each HTTP request.
    EtcdLeaseStore(std::vector<std::string> endpoints, std::string prefix, OverlayConfig config,
                   int timeout_ms = 2000);
    ~EtcdLeaseStore() override;
    EtcdLeaseStore(const EtcdLeaseStore&) = delete;
    EtcdLeaseStore& operator=(const EtcdLeaseStore&) = delete;

    [[nodiscard]] Result<Lease> acquire(const LeaseRequest& request) override;
    [[nodiscard]] Result<Lease> renew(const Lease& lease, int ttl_seconds) override;
    [[nodiscard]] Result<LeaseList> list() override;
    [[nodiscard]] Result<void> release(const IpPrefix& subnet) override;
    [[nodiscard]] Result<bool> wait_for_change(int timeout_ms) override;

    [[nodiscard]] const std::string& prefix() const { return prefix_; }

  private:
    class Http;            // the libcurl side, in etcd_store.cpp
    struct Record {        // one key under PREFIX/subnets/, as read
        std::string name;  // "10.244.1.0-24"
        int64_t mod_revision = 0;
        int64_t etcd_lease = 0;      // 0: not attached to a lease
        std::optional<Lease> lease;  // nullopt: did not parse
    };
    struct Contents {
        std::vector<Record> records;
        LeaseList parsed;                  // live, parsed ones
        std::vector<IpPrefix> unreadable;  // subnets of records skipped
    };
    struct GrantedLease {
        int64_t id = 0;
        int ttl_seconds = 0;
    };

    [[nodiscard]] std::string subnets_dir() const { return prefix_ + "/subnets/"; }
    // Every key under PREFIX/subnets/, or only PREFIX/subnets/ONLY.
    [[nodiscard]] Result<Contents> read(int64_t now_ms, const std::string& only = "");
    // An etcd transaction on `key` (named in errors); false when a comparison failed.
    [[nodiscard]] Result<bool> transact(nlohmann::json compare, nlohmann::json success,
                                        const std::string& key);
    [[nodiscard]] Result<int64_t> grant(int ttl_seconds);
    [[nodiscard]] Result<bool> keep_alive(int64_t id);  // false: the lease is gone
    [[nodiscard]] Result<void> revoke(int64_t id);      // absent is success
    // Revokes an etcd lease this object granted that no key uses any more; failures only
    // leave it to expire by itself.
    void forget(int64_t id);
    // Notes a write of this object that changed keys (the answer's header names its revision).
    void wrote(const nlohmann::json& answer);

    std::string prefix_;
    OverlayConfig config_;
    std::unique_ptr<Http> http_;
    std::unique_ptr<Http> watch_http_;             // its own connection, for wait_for_change
    std::mutex mutex_;                             // of http_, granted_, seen_revision_
    std::mutex watch_mutex_;                       // of watch_http_
    std::map<std::string, GrantedLease> granted_;  // subnet key -> the etcd lease it was put with
    int64_t seen_revision_ = 0;  // etcd's revision at the last full read; 0: none yet
};

}  // namespace podnet::overlay
