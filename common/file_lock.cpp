#include "common/file_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>

namespace podnet {

Result<FileLock> FileLock::acquire(const std::string& path, Mode mode) {
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    if (!fd) return fail_errno("open lock " + path, errno);
    int op = mode == Mode::exclusive ? LOCK_EX : LOCK_SH;
    while (::flock(fd.get(), op) != 0) {
        if (errno != EINTR) return fail_errno("lock " + path, errno);
    }
    return FileLock(std::move(fd));
}

}  // namespace podnet
