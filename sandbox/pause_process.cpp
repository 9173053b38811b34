#include "sandbox/pause_process.hpp"

#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <vector>

#include "common/process.hpp"
#include "common/unique_fd.hpp"
#include "netns/namespace.hpp"

namespace podnet {

namespace {

enum SetupStage { setup_ok = 0, setup_hostname, setup_loopback, setup_fds, setup_exec };

struct CloneArgs {
    const char* binary;
    char* const* argv;
    const char* hostname;
    bool disable_ipv6;
    int devnull;
    int exit_log;
    // Written by the child, read after it has exec'd or died: it shares our memory (CLONE_VM).
    int failed_stage;
    int error;
};

[[noreturn]] void setup_failed(CloneArgs* args, int stage) {
    args->failed_stage = stage;
    args->error = errno;
    ::_exit(127);
}

// Runs in the child between clone and exec, already inside the new namespaces, on a borrowed
// stack and sharing our memory: syscalls only. The pod is ready before pause runs, so nothing
// waits for pause to be scheduled.
int pause_child(void* opaque) {
    auto* args = static_cast<CloneArgs*>(opaque);
    ::setsid();
    if (::sethostname(args->hostname, std::strlen(args->hostname)) != 0)
        setup_failed(args, setup_hostname);
    int sock = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ifreq lo{};
    std::memcpy(lo.ifr_name, "lo", 3);
    if (sock < 0 || ::ioctl(sock, SIOCGIFFLAGS, &lo) != 0) setup_failed(args, setup_loopback);
    lo.ifr_flags = static_cast<short>(lo.ifr_flags | IFF_UP);
    if (::ioctl(sock, SIOCSIFFLAGS, &lo) != 0) setup_failed(args, setup_loopback);
    ::close(sock);
    if (args->disable_ipv6) {
        // /proc/sys/net belongs to the opener's network namespace: ours, the pod's. lo keeps ::1.
        int fd = ::open("/proc/sys/net/ipv6/conf/default/disable_ipv6", O_WRONLY | O_CLOEXEC);
        if (fd >= 0) {  // absent when the kernel has no IPv6: nothing to disable
            (void)!::write(fd, "1", 1);
            ::close(fd);
        }
    }
    // Blocked signals are queued even for a namespace init without handlers (unblocked ones
    // at SIG_DFL would be dropped); the mask survives exec, so pause finds them.
    sigset_t blocked;
    sigemptyset(&blocked);
    sigaddset(&blocked, SIGTERM);
    sigaddset(&blocked, SIGINT);
    sigaddset(&blocked, SIGCHLD);
    ::sigprocmask(SIG_SETMASK, &blocked, nullptr);
    // Move the exit log above the target range first (it may itself be fd 0-3); dup2 then
    // clears FD_CLOEXEC on each copy, so exactly fds 0-3 reach podnet-pause.
    int exit_log = args->exit_log >= 0 ? ::fcntl(args->exit_log, F_DUPFD_CLOEXEC, 10) : -1;
    if ((args->exit_log >= 0 && exit_log < 0) || ::dup2(args->devnull, 0) < 0 ||
        ::dup2(args->devnull, 1) < 0 || ::dup2(args->devnull, 2) < 0 ||
        (exit_log >= 0 && ::dup2(exit_log, 3) < 0))
        setup_failed(args, setup_fds);
    static char* const empty_env[] = {nullptr};
    ::execve(args->binary, args->argv, empty_env);
    setup_failed(args, setup_exec);
}

int pidfd_open(pid_t pid) {
    return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
}

const char* setup_text(int stage) {
    switch (stage) {
        case setup_hostname:
            return "set hostname";
        case setup_loopback:
            return "bring lo up";
        case setup_fds:
            return "set up file descriptors";
        default:
            return "exec";
    }
}

}  // namespace

Result<PauseProcess> spawn_pause(const PauseSpec& spec) {
    std::vector<std::string> arg_strings = {"podnet-pause", "--id", spec.sandbox_id, "--run-root",
                                            spec.run_root};
    std::vector<char*> argv;
    for (auto& s : arg_strings) argv.push_back(s.data());
    argv.push_back(nullptr);

    UniqueFd devnull(::open("/dev/null", O_RDWR | O_CLOEXEC));
    if (!devnull) return fail_errno("spawn pause: open /dev/null", errno);
    UniqueFd exit_log;
    if (!spec.exit_log_path.empty()) {
        exit_log.reset(
            ::open(spec.exit_log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
        if (!exit_log) return fail_errno("spawn pause: open " + spec.exit_log_path, errno);
    }

    CloneArgs args{spec.binary.c_str(),
                   argv.data(),
                   spec.hostname.c_str(),
                   spec.disable_ipv6,
                   devnull.get(),
                   exit_log.get(),
                   setup_ok,
                   0};
    // CLONE_VM|CLONE_VFORK: like posix_spawn, no copy of our address space; we resume once
    // the child has exec'd or died. The stack only has to last until then.
    alignas(16) static thread_local std::array<char, 32 * 1024> stack;
    int flags = CLONE_VM | CLONE_VFORK | SIGCHLD;
    for (auto kind : pod_namespace_kinds) flags |= namespace_clone_flag(kind);
    pid_t pid = ::clone(pause_child, stack.data() + stack.size(), flags, &args);
    if (pid < 0) return fail_errno("spawn pause: clone with new namespaces", errno);
    if (args.failed_stage != setup_ok) {
        ::waitpid(pid, nullptr, 0);
        std::string what = setup_text(args.failed_stage);
        if (args.failed_stage == setup_exec) what += " " + spec.binary;
        return fail_errno("spawn pause: " + what, args.error);
    }
    auto stat = read_proc_stat(pid);
    if (!stat) {
        ::waitpid(pid, nullptr, 0);
        return fail("spawn pause: podnet-pause (pid " + std::to_string(pid) + ") exited");
    }
    return PauseProcess{pid, stat->start_time};
}

bool signal_and_wait(pid_t pid, uint64_t start_time, int signal, int timeout_ms) {
    if (!process_running(pid, start_time)) {
        ::waitpid(pid, nullptr, WNOHANG);  // reap if it is our zombie child; harmless otherwise
        return true;
    }
    // A pidfd pins the identity: the signal cannot hit a recycled pid after the check above.
    UniqueFd pidfd(pidfd_open(pid));
    if (!pidfd) return errno == ESRCH;
    if (::syscall(SYS_pidfd_send_signal, pidfd.get(), signal, nullptr, 0) != 0 && errno != ESRCH)
        return false;
    pollfd p{pidfd.get(), POLLIN, 0};
    int rc;
    do {
        rc = ::poll(&p, 1, timeout_ms);
    } while (rc < 0 && errno == EINTR);
    if (rc <= 0) return false;
    ::waitpid(pid, nullptr, WNOHANG);
    return true;
}

}  // namespace podnet
