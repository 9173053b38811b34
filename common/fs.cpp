#include "common/fs.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/unique_fd.hpp"

namespace podnet {

namespace {

std::string parent_dir(const std::string& path) {
    auto slash = path.rfind('/');
    if (slash == std::string::npos) return ".";
    if (slash == 0) return "/";
    return path.substr(0, slash);
}

Result<void> write_all(int fd, const std::string& content, const std::string& path) {
    size_t done = 0;
    while (done < content.size()) {
        ssize_t n = ::write(fd, content.data() + done, content.size() - done);
        if (n < 0) {
            if (errno == EINTR) continue;
            return fail_errno("write " + path, errno);
        }
        done += static_cast<size_t>(n);
    }
    return {};
}

}  // namespace

Result<void> write_file_atomic(const std::string& path, const std::string& content, mode_t mode) {
    std::string tmp = path + "." + std::to_string(::getpid()) + ".tmp";
    UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode));
    if (!fd) return fail_errno("create " + tmp, errno);
    if (auto r = write_all(fd.get(), content, tmp); !r) {
        ::unlink(tmp.c_str());
        return r;
    }
    if (::fsync(fd.get()) != 0) {
        int err = errno;
        ::unlink(tmp.c_str());
        return fail_errno("fsync " + tmp, err);
    }
    fd.reset();
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        int err = errno;
        ::unlink(tmp.c_str());
        return fail_errno("rename " + tmp + " to " + path, err);
    }
    // The rename is durable only once the directory entry is.
    UniqueFd dir(::open(parent_dir(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (dir) ::fsync(dir.get());
    return {};
}

Result<std::string> read_file(const std::string& path) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return fail_errno("open " + path, errno);
    std::string out;
    char buf[8192];
    for (;;) {
        ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR) continue;
            return fail_errno("read " + path, errno);
        }
        if (n == 0) break;
        out.append(buf, static_cast<size_t>(n));
    }
    return out;
}

Result<void> make_dirs(const std::string& path, mode_t mode) {
    if (path.empty()) return fail("make directory: empty path");
    std::string partial;
    size_t pos = 0;
    while (pos != std::string::npos) {
        pos = path.find('/', pos + 1);
        partial = path.substr(0, pos);
        if (partial.empty()) continue;
        if (::mkdir(partial.c_str(), mode) != 0 && errno != EEXIST)
            return fail_errno("create directory " + partial, errno);
    }
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return fail_errno("stat " + path, errno);
    if (!S_ISDIR(st.st_mode)) return fail("create directory " + path + ": not a directory");
    return {};
}

Result<std::vector<std::string>> list_dir(const std::string& path) {
    std::vector<std::string> names;
    DIR* dir = ::opendir(path.c_str());
    if (dir == nullptr) {
        if (errno == ENOENT) return names;
        return fail_errno("open directory " + path, errno);
    }
    while (dirent* entry = ::readdir(dir)) {
        std::string name = entry->d_name;
        if (name != "." && name != "..") names.push_back(std::move(name));
    }
    ::closedir(dir);
    return names;
}

Result<void> remove_file(const std::string& path) {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) return fail_errno("remove " + path, errno);
    return {};
}

Result<void> remove_dir(const std::string& path) {
    if (::rmdir(path.c_str()) != 0 && errno != ENOENT) return fail_errno("remove " + path, errno);
    return {};
}

bool path_exists(const std::string& path) {
    return ::access(path.c_str(), F_OK) == 0;
}

}  // namespace podnet

#include <ftw.h>

namespace podnet {

namespace {
int remove_entry(const char* path, const struct stat*, int type, FTW*) {
    int rc = type == FTW_DP ? ::rmdir(path) : ::unlink(path);
    return rc != 0 && errno != ENOENT ? errno : 0;
}
}  // namespace

Result<void> remove_tree(const std::string& path) {
    if (!path_exists(path)) return {};
    int rc = ::nftw(path.c_str(), remove_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
    if (rc != 0) return fail_errno("remove " + path, rc > 0 ? rc : errno);
    return {};
}

}  // namespace podnet
