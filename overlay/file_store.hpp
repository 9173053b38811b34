#pragma once
// The embedded lease store for one VM: one JSON file under a path every node can see, changed
// under an flock so that nodes racing for subnets never get the same one.
//   {"leases": {"10.244.1.0-24": {lease}, ...}}
// Expired leases are dropped when the file is next written. A record that does not parse is
// skipped with a warning, never applied, and its subnet (from its key) is never handed out.
// Changes are noticed by stat()ing the file: every write replaces it (a new inode).

#include <cstdint>
#include <optional>
#include <string>

#include "common/file_lock.hpp"
#include "overlay/lease.hpp"

namespace podnet::overlay {

class FileLeaseStore final : public LeaseStore {
  public:
    FileLeaseStore(std::string path, OverlayConfig config)
        : path_(std::move(path)), config_(std::move(config)) {}

    [[nodiscard]] Result<Lease> acquire(const LeaseRequest& request) override;
    [[nodiscard]] Result<Lease> renew(const Lease& lease, int ttl_seconds) override;
    [[nodiscard]] Result<LeaseList> list() override;
    [[nodiscard]] Result<void> release(const IpPrefix& subnet) override;
    // Compares the file's identity with the last read's every 20 ms.
    [[nodiscard]] Result<bool> wait_for_change(int timeout_ms) override;

    [[nodiscard]] const std::string& path() const { return path_; }

  private:
    struct Contents {
        nlohmann::json records = nlohmann::json::object();  // key -> record, as read
        LeaseList parsed;                                   // live, parsed ones
        std::vector<IpPrefix> unreadable;                   // subnets of records skipped
    };
    [[nodiscard]] Result<Contents> read(int64_t now_ms) const;
    // The store's lock, its directory made first.
    [[nodiscard]] Result<FileLock> lock(bool exclusive) const;
    [[nodiscard]] Result<void> write(const nlohmann::json& records) const;

    // What stat() says of the file; all zero when it does not exist.
    struct Stamp {
        uint64_t device = 0;
        uint64_t inode = 0;
        int64_t size = 0;
        int64_t mtime_ns = 0;
        bool operator==(const Stamp&) const = default;
    };
    [[nodiscard]] Result<Stamp> stamp() const;
    // Records the file as this object last saw it; called with the lock held, so that no
    // writer is between our read and the stat.
    [[nodiscard]] Result<void> remember();

    std::string path_;
    OverlayConfig config_;
    std::optional<Stamp> seen_;  // nullopt: never read
};

}  // namespace podnet::overlay
