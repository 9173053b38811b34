#include "sandbox/store.hpp"

#include <unistd.h>

#include "common/fs.hpp"
#include "common/text.hpp"

namespace podnet {

namespace {

constexpr std::string_view record_suffix = ".json";

bool is_hex_id(std::string_view s) {
    if (s.size() != 64) return false;
    for (char c : s)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    return true;
}

}  // namespace

Result<void> SandboxStore::ensure_layout() const {
    for (const auto& dir : {root_, records_dir(), names_dir(), pods_dir()})
        if (auto r = make_dirs(dir, 0700); !r) return wrap(r.error(), "prepare run root");
    return {};
}

Result<FileLock> SandboxStore::lock() const {
    return FileLock::acquire(root_ + "/lock", FileLock::Mode::exclusive);
}

std::string SandboxStore::record_path(std::string_view id) const {
    return records_dir() + "/" + std::string(id) + std::string(record_suffix);
}
std::string SandboxStore::pod_dir(std::string_view id) const {
    return pods_dir() + "/" + std::string(id);
}
std::string SandboxStore::pin_dir(std::string_view id) const {
    return pod_dir(id) + "/ns";
}
std::string SandboxStore::pin_path(std::string_view id, NamespaceKind kind) const {
    return pin_dir(id) + "/" + std::string(namespace_proc_name(kind));
}
std::string SandboxStore::exit_log_path(std::string_view id) const {
    return pod_dir(id) + "/exits";
}
std::string SandboxStore::logs_dir(std::string_view id) const {
    return pod_dir(id) + "/logs";
}

Result<void> SandboxStore::claim_name(const std::string& name, const std::string& id) const {
    std::string link = names_dir() + "/" + name;
    if (::symlink(id.c_str(), link.c_str()) == 0) return {};
    if (errno != EEXIST) return fail_errno("claim sandbox name " + name, errno);
    std::string owner = name_owner(name);
    // A name left by a crashed create points at no record: reclaim it rather than fail.
    if (!owner.empty() && !path_exists(record_path(owner))) {
        ::unlink(link.c_str());
        if (::symlink(id.c_str(), link.c_str()) == 0) return {};
    }
    return fail("sandbox name \"" + name + "\" is already in use by sandbox " +
                owner.substr(0, 12));
}

void SandboxStore::release_name(const std::string& name, const std::string& id) const {
    if (name_owner(name) == id) ::unlink((names_dir() + "/" + name).c_str());
}

std::string SandboxStore::name_owner(const std::string& name) const {
    char target[128];
    ssize_t n = ::readlink((names_dir() + "/" + name).c_str(), target, sizeof target - 1);
    if (n <= 0) return {};
    return std::string(target, static_cast<size_t>(n));
}

Result<void> SandboxStore::save(const SandboxRecord& record) const {
    return write_file_atomic(record_path(record.id), record_to_json(record));
}

Result<SandboxRecord> SandboxStore::load(const std::string& id) const {
    auto text = read_file(record_path(id));
    if (!text) return wrap(text.error(), "load sandbox " + id.substr(0, 12));
    return record_from_json(*text, record_path(id));
}

Result<void> SandboxStore::remove_record(const std::string& id) const {
    return remove_file(record_path(id));
}

Result<std::vector<std::string>> SandboxStore::list_ids() const {
    auto names = list_dir(records_dir());
    if (!names) return std::unexpected(names.error());
    std::vector<std::string> ids;
    for (auto& n : *names) {
        if (n.size() > record_suffix.size() && n.ends_with(record_suffix)) {
            std::string id = n.substr(0, n.size() - record_suffix.size());
            if (is_hex_id(id)) ids.push_back(std::move(id));
        }
    }
    return ids;
}

Result<std::string> SandboxStore::resolve(std::string_view ref) const {
    std::string name = quoted(ref);
    if (ref.empty()) return fail("sandbox \"\": empty reference");
    if (is_hex_id(ref) && path_exists(record_path(ref))) return std::string(ref);
    if (ref.find('/') == std::string_view::npos) {
        std::string owner = name_owner(std::string(ref));
        if (!owner.empty() && path_exists(record_path(owner))) return owner;
    }
    auto ids = list_ids();
    if (!ids) return std::unexpected(ids.error());
    std::string match;
    int count = 0;
    for (const auto& id : *ids) {
        if (id.starts_with(ref)) {
            match = id;
            ++count;
        }
    }
    if (count == 1) return match;
    if (count > 1)
        return fail("sandbox " + name + ": ambiguous, matches " + std::to_string(count) +
                    " sandbox ids");
    return fail("sandbox " + name + ": no such sandbox");
}

Result<LockedRecord> SandboxStore::lock_and_load(std::string_view ref) const {
    auto held = lock();
    if (!held) return std::unexpected(held.error());
    auto id = resolve(ref);
    if (!id) return std::unexpected(id.error());
    auto record = load(*id);
    if (!record) return std::unexpected(record.error());
    return LockedRecord{std::move(*held), std::move(*record)};
}

}  // namespace podnet
