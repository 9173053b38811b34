#pragma once
// The sandbox state under the run root. Layout:
//   lock                      every mutation holds this (flock), so concurrent podnet
//                             processes are safe; the kernel drops it if podnet dies
//   sandboxes/<id>.json       one record per sandbox, written atomically
//   names/<name> -> <id>      name index: symlink() claims a name atomically, O(1) per create
//   pods/<id>/ns/{net,...}    namespace pins (bind mounts)
//   pods/<id>/exits           pause's log of reaped children
//   pods/<id>/logs/<cid>.log  output of detached containers

#include <string>
#include <string_view>
#include <vector>

#include "common/file_lock.hpp"
#include "common/result.hpp"
#include "netns/namespace.hpp"
#include "sandbox/record.hpp"

namespace podnet {

// A record read under the run root's lock, for a read-modify-write; the lock goes with it.
struct LockedRecord {
    FileLock lock;
    SandboxRecord record;
};

class SandboxStore {
  public:
    explicit SandboxStore(std::string run_root) : root_(std::move(run_root)) {}

    [[nodiscard]] Result<void> ensure_layout() const;
    [[nodiscard]] Result<FileLock> lock() const;

    [[nodiscard]] const std::string& root() const { return root_; }
    [[nodiscard]] std::string records_dir() const { return root_ + "/sandboxes"; }
    [[nodiscard]] std::string names_dir() const { return root_ + "/names"; }
    [[nodiscard]] std::string pods_dir() const { return root_ + "/pods"; }
    [[nodiscard]] std::string record_path(std::string_view id) const;
    [[nodiscard]] std::string pod_dir(std::string_view id) const;
    [[nodiscard]] std::string pin_dir(std::string_view id) const;
    [[nodiscard]] std::string pin_path(std::string_view id, NamespaceKind kind) const;
    [[nodiscard]] std::string exit_log_path(std::string_view id) const;
    [[nodiscard]] std::string logs_dir(std::string_view id) const;

    // Claim `name` for `id`; fails naming the holder when taken.
    [[nodiscard]] Result<void> claim_name(const std::string& name, const std::string& id) const;
    // Release `name` only if `id` holds it.
    void release_name(const std::string& name, const std::string& id) const;
    // The id a name points to, if any.
    [[nodiscard]] std::string name_owner(const std::string& name) const;

    [[nodiscard]] Result<void> save(const SandboxRecord& record) const;
    [[nodiscard]] Result<SandboxRecord> load(const std::string& id) const;
    [[nodiscard]] Result<void> remove_record(const std::string& id) const;
    [[nodiscard]] Result<std::vector<std::string>> list_ids() const;

    // id, name, or a unique prefix of an id → id.
    [[nodiscard]] Result<std::string> resolve(std::string_view ref) const;
    // lock(), resolve(ref), load(): the common start of every change to one sandbox.
    [[nodiscard]] Result<LockedRecord> lock_and_load(std::string_view ref) const;

  private:
    std::string root_;
};

}  // namespace podnet
