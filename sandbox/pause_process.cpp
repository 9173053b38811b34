#include "sandbox/pause_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <vector>

#include "common/process.hpp"
#include "common/unique_fd.hpp"
#include "netns/namespace.hpp"

namespace podnet {

namespace {

struct CloneArgs {
    const char* binary;
    char* const* argv;
    int devnull;
    int ready_write;
    int exit_log;
    int exec_errno;  // written by the child: it shares our memory (CLONE_VM)
};

// Runs in the child between clone and exec, on a borrowed stack and sharing our memory:
// syscalls only.
int pause_child(void* opaque) {
    auto* args = static_cast<CloneArgs*>(opaque);
    ::setsid();
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    // Move the sources above the target range first: a source may itself be fd 3 or 4, and a
    // naive dup2 sequence would overwrite it. dup2 then clears FD_CLOEXEC on each copy, so
    // exactly fds 0-4 reach podnet-pause.
    int ready = ::fcntl(args->ready_write, F_DUPFD_CLOEXEC, 10);
    int exit_log = args->exit_log >= 0 ? ::fcntl(args->exit_log, F_DUPFD_CLOEXEC, 10) : -1;
    if (ready < 0 || (args->exit_log >= 0 && exit_log < 0) || ::dup2(args->devnull, 0) < 0 ||
        ::dup2(args->devnull, 1) < 0 || ::dup2(args->devnull, 2) < 0 || ::dup2(ready, 3) < 0 ||
        (exit_log >= 0 && ::dup2(exit_log, 4) < 0)) {
        args->exec_errno = errno;
        ::_exit(127);
    }
    static char* const empty_env[] = {nullptr};
    ::execve(args->binary, args->argv, empty_env);
    args->exec_errno = errno;
    ::_exit(127);
}

int pidfd_open(pid_t pid) {
    return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
}

}  // namespace

Result<PauseProcess> spawn_pause(const PauseSpec& spec) {
    std::vector<std::string> arg_strings = {"podnet-pause",  "--hostname", spec.hostname, "--id",
                                            spec.sandbox_id, "--run-root", spec.run_root};
    std::vector<char*> argv;
    for (auto& s : arg_strings) argv.push_back(s.data());
    argv.push_back(nullptr);

    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return fail_errno("spawn pause: pipe", errno);
    UniqueFd ready_read(pipe_fds[0]);
    UniqueFd ready_write(pipe_fds[1]);
    UniqueFd devnull(::open("/dev/null", O_RDWR | O_CLOEXEC));
    if (!devnull) return fail_errno("spawn pause: open /dev/null", errno);
    UniqueFd exit_log;
    if (!spec.exit_log_path.empty()) {
        exit_log.reset(
            ::open(spec.exit_log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
        if (!exit_log) return fail_errno("spawn pause: open " + spec.exit_log_path, errno);
    }

    CloneArgs args{spec.binary.c_str(), argv.data(),    devnull.get(),
                   ready_write.get(),   exit_log.get(), 0};
    // CLONE_VM|CLONE_VFORK: like posix_spawn, no copy of our address space; we resume once
    // the child has exec'd. The stack only has to last until then.
    alignas(16) static thread_local std::array<char, 32 * 1024> stack;
    int flags = CLONE_VM | CLONE_VFORK | SIGCHLD;
    for (auto kind : pod_namespace_kinds) flags |= namespace_clone_flag(kind);
    pid_t pid = ::clone(pause_child, stack.data() + stack.size(), flags, &args);
    if (pid < 0) return fail_errno("spawn pause: clone with new namespaces", errno);
    ready_write.reset();
    if (args.exec_errno != 0) {
        ::waitpid(pid, nullptr, 0);
        return fail_errno("spawn pause: exec " + spec.binary, args.exec_errno);
    }

    char reply[256];
    ssize_t n;
    do {
        n = ::read(ready_read.get(), reply, sizeof reply - 1);
    } while (n < 0 && errno == EINTR);
    if (n < 3 || std::string_view(reply, 3) != "ok\n") {
        std::string why = n > 0 ? std::string(reply, static_cast<size_t>(n)) : "exited early";
        while (!why.empty() && why.back() == '\n') why.pop_back();
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
        return fail("spawn pause: podnet-pause " + why);
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
