#pragma once
// An flock(2) on a file: held while the object lives, released by the kernel if the process
// dies, so a crashed podnet never leaves a lock behind.

#include <string>

#include "common/result.hpp"
#include "common/unique_fd.hpp"

namespace podnet {

class FileLock {
  public:
    enum class Mode { shared, exclusive };

    // Blocks until the lock is held. Creates the lock file if needed.
    [[nodiscard]] static Result<FileLock> acquire(const std::string& path, Mode mode);

    FileLock(FileLock&&) = default;
    FileLock& operator=(FileLock&&) = default;

  private:
    explicit FileLock(UniqueFd fd) : fd_(std::move(fd)) {}
    UniqueFd fd_;
};

}  // namespace podnet
