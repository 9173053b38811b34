#include "netns/namespace.hpp"

#include <fcntl.h>
#include <linux/magic.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

namespace podnet {

std::string_view namespace_proc_name(NamespaceKind kind) {
    switch (kind) {
        case NamespaceKind::net:
            return "net";
        case NamespaceKind::ipc:
            return "ipc";
        case NamespaceKind::uts:
            return "uts";
        case NamespaceKind::pid:
            return "pid";
    }
    return "?";
}

std::string_view namespace_oci_type(NamespaceKind kind) {
    return kind == NamespaceKind::net ? "network" : namespace_proc_name(kind);
}

int namespace_clone_flag(NamespaceKind kind) {
    switch (kind) {
        case NamespaceKind::net:
            return CLONE_NEWNET;
        case NamespaceKind::ipc:
            return CLONE_NEWIPC;
        case NamespaceKind::uts:
            return CLONE_NEWUTS;
        case NamespaceKind::pid:
            return CLONE_NEWPID;
    }
    return 0;
}

Result<void> pin_namespace(pid_t pid, NamespaceKind kind, const std::string& pin_path) {
    std::string source = "/proc/" + std::to_string(pid) + "/ns/";
    source += namespace_proc_name(kind);
    int fd = ::open(pin_path.c_str(), O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
    if (fd < 0) return fail_errno("create pin " + pin_path, errno);
    ::close(fd);
    if (::mount(source.c_str(), pin_path.c_str(), nullptr, MS_BIND, nullptr) != 0) {
        int err = errno;
        ::unlink(pin_path.c_str());
        return fail_errno("pin " + source + " at " + pin_path, err);
    }
    return {};
}

Result<void> unpin_namespace(const std::string& pin_path) {
    // MNT_DETACH: a process that still has the pin open (an nsenter in progress) must not make
    // removal fail; the namespace lives on until its last user goes, as the kernel intends.
    if (::umount2(pin_path.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW) != 0 && errno != EINVAL &&
        errno != ENOENT)
        return fail_errno("unmount pin " + pin_path, errno);
    if (::unlink(pin_path.c_str()) != 0 && errno != ENOENT)
        return fail_errno("remove pin " + pin_path, errno);
    return {};
}

bool is_namespace_pin(const std::string& path) {
    struct statfs fs {};
    return ::statfs(path.c_str(), &fs) == 0 && fs.f_type == NSFS_MAGIC;
}

Result<UniqueFd> open_namespace(const std::string& path) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return fail_errno("open namespace " + path, errno);
    return fd;
}

}  // namespace podnet
