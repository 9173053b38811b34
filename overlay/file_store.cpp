#include "overlay/file_store.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <chrono>
#include <thread>

#include "common/file_lock.hpp"
#include "common/fs.hpp"

namespace podnet::overlay {

Result<FileLeaseStore::Contents> FileLeaseStore::read(int64_t now_ms) const {
    Contents c;
    if (!path_exists(path_)) return c;
    auto text = read_file(path_);
    if (!text) return std::unexpected(text.error());
    auto doc = nlohmann::json::parse(*text, nullptr, false);
    if (doc.is_discarded() || !doc.is_object())
        return fail("lease store " + path_ + ": not a JSON object");
    if (doc.contains("leases") && doc["leases"].is_object()) c.records = doc["leases"];
    for (auto it = c.records.begin(); it != c.records.end();) {
        auto lease = lease_from_json(it.value(), it.key());
        if (!lease) {
            c.parsed.warnings.push_back(lease.error().message);
            if (auto subnet = parse_subnet_key(it.key())) c.unreadable.push_back(*subnet);
            ++it;
        } else if (lease->expired(now_ms)) {
            it = c.records.erase(it);  // gone at the next write
        } else {
            c.parsed.leases.push_back(*lease);
            ++it;
        }
    }
    return c;
}

Result<FileLock> FileLeaseStore::lock(bool exclusive) const {
    // The store's directory is made on first use: an agent or `overlay leases` run by hand on a
    // fresh --root must not fail on the lock file's missing parent (and retry that forever).
    auto slash = path_.rfind('/');
    if (slash != std::string::npos && slash > 0)
        if (auto r = make_dirs(path_.substr(0, slash), 0755); !r)
            return wrap(r.error(), "lease store " + path_);
    return FileLock::acquire(path_ + ".lock",
                             exclusive ? FileLock::Mode::exclusive : FileLock::Mode::shared);
}

Result<void> FileLeaseStore::write(const nlohmann::json& records) const {
    nlohmann::json doc = {{"leases", records}};
    return write_file_atomic(path_, doc.dump(2) + "\n", 0644);
}

Result<FileLeaseStore::Stamp> FileLeaseStore::stamp() const {
    struct stat st {};
    if (::stat(path_.c_str(), &st) != 0) {
        if (errno == ENOENT) return Stamp{};
        return fail_errno("stat " + path_, errno);
    }
    return Stamp{static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino),
                 static_cast<int64_t>(st.st_size),
                 int64_t{st.st_mtim.tv_sec} * 1'000'000'000 + st.st_mtim.tv_nsec};
}

Result<void> FileLeaseStore::remember() {
    auto now = stamp();
    if (!now) return std::unexpected(now.error());
    seen_ = *now;
    return {};
}

Result<bool> FileLeaseStore::wait_for_change(int timeout_ms) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
        auto now = stamp();
        if (!now) return std::unexpected(now.error());
        if (!seen_ || !(*now == *seen_)) return true;
        auto left = deadline - std::chrono::steady_clock::now();
        if (left <= std::chrono::steady_clock::duration::zero()) return false;
        std::this_thread::sleep_for(
            std::min<std::chrono::steady_clock::duration>(left, std::chrono::milliseconds(20)));
    }
}

Result<Lease> FileLeaseStore::acquire(const LeaseRequest& request) {
    auto guard = lock(true);
    if (!guard) return std::unexpected(guard.error());
    int64_t now = now_unix_ms();
    auto c = read(now);
    if (!c) return std::unexpected(c.error());
    auto subnet = choose_subnet(config_, c->parsed.leases, c->unreadable, request.public_ip);
    if (!subnet) return std::unexpected(subnet.error());
    // Another lease of this node (an old subnet length, say) goes: one subnet per node.
    for (const auto& old : c->parsed.leases)
        if (old.public_ip == request.public_ip && !(old.subnet == *subnet))
            c->records.erase(subnet_key(old.subnet));
    Lease lease = granted_lease(request, *subnet, now);
    c->records[subnet_key(*subnet)] = lease_to_json(lease);
    if (auto r = write(c->records); !r) return std::unexpected(r.error());
    if (auto r = remember(); !r) return std::unexpected(r.error());
    return lease;
}

Result<Lease> FileLeaseStore::renew(const Lease& lease, int ttl_seconds) {
    auto guard = lock(true);
    if (!guard) return std::unexpected(guard.error());
    int64_t now = now_unix_ms();
    auto c = read(now);
    if (!c) return std::unexpected(c.error());
    std::string key = subnet_key(lease.subnet);
    const Lease* held = nullptr;
    for (const auto& l : c->parsed.leases)
        if (l.subnet == lease.subnet) held = &l;
    if (held == nullptr || !(held->public_ip == lease.public_ip))
        return fail("lease " + key + " is no longer held by " + lease.public_ip.str());
    Lease renewed = *held;
    renewed.backend_data = lease.backend_data;
    renewed.renewed_ms = now;
    renewed.expiration_ms = now + int64_t{ttl_seconds} * 1000;
    c->records[key] = lease_to_json(renewed);
    if (auto r = write(c->records); !r) return std::unexpected(r.error());
    if (auto r = remember(); !r) return std::unexpected(r.error());
    return renewed;
}

Result<LeaseList> FileLeaseStore::list() {
    auto guard = lock(false);
    if (!guard) return std::unexpected(guard.error());
    auto c = read(now_unix_ms());
    if (!c) return std::unexpected(c.error());
    if (auto r = remember(); !r) return std::unexpected(r.error());
    return c->parsed;
}

Result<void> FileLeaseStore::release(const IpPrefix& subnet) {
    auto guard = lock(true);
    if (!guard) return std::unexpected(guard.error());
    auto c = read(now_unix_ms());
    if (!c) return std::unexpected(c.error());
    c->records.erase(subnet_key(subnet));
    if (auto r = write(c->records); !r) return r;
    return remember();
}

}  // namespace podnet::overlay
