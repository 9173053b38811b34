#pragma once
// Small filesystem helpers whose errors name the path.

#include <sys/types.h>

#include <string>
#include <vector>

#include "common/result.hpp"

namespace podnet {

// Write `content` so readers see either the old file or the whole new one: a temporary file
// beside it, fsync, rename, fsync of the directory. Temporaries end in ".tmp" so gc finds them.
[[nodiscard]] Result<void> write_file_atomic(const std::string& path, const std::string& content,
                                             mode_t mode = 0600);
[[nodiscard]] Result<std::string> read_file(const std::string& path);
// mkdir -p; existing directories are fine.
[[nodiscard]] Result<void> make_dirs(const std::string& path, mode_t mode = 0700);
// Names in a directory (no "." or ".."); a missing directory is empty.
[[nodiscard]] Result<std::vector<std::string>> list_dir(const std::string& path);
// unlink / rmdir that treat "already gone" as success.
[[nodiscard]] Result<void> remove_file(const std::string& path);
[[nodiscard]] Result<void> remove_dir(const std::string& path);
[[nodiscard]] bool path_exists(const std::string& path);

}  // namespace podnet

namespace podnet {
// rm -r that stays on one filesystem: it never descends into a mount (a namespace pin that
// could not be unmounted stays, and the error says so). Missing is fine.
[[nodiscard]] Result<void> remove_tree(const std::string& path);
}  // namespace podnet
