#include "sandbox/container_launch.hpp"

#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

#include "common/unique_fd.hpp"

namespace podnet {

namespace {

// Where the child failed; the helper relays {pid, stage, errno} to the caller.
enum Stage : int {
    stage_ok = 0,
    stage_setns_net,
    stage_setns_ipc,
    stage_setns_uts,
    stage_setns_pid,
    stage_fork,
    stage_stdio,
    stage_tty,
    stage_unshare_mount,
    stage_private_mounts,
    stage_mount,
    stage_pivot_root,
    stage_workdir,
    stage_groups,
    stage_gid,
    stage_uid,
    stage_bounding_caps,
    stage_caps,
    stage_no_new_privs,
    stage_seccomp,
    stage_exec,
};

const char* stage_text(int stage) {
    switch (stage) {
        case stage_setns_net:
            return "join network namespace";
        case stage_setns_ipc:
            return "join IPC namespace";
        case stage_setns_uts:
            return "join UTS namespace";
        case stage_setns_pid:
            return "join PID namespace";
        case stage_fork:
            return "fork";
        case stage_stdio:
            return "set up stdio";
        case stage_tty:
            return "make the terminal the controlling terminal";
        case stage_unshare_mount:
            return "create mount namespace";
        case stage_private_mounts:
            return "make mounts private";
        case stage_mount:
            return "mount";
        case stage_pivot_root:
            return "pivot_root into rootfs";
        case stage_workdir:
            return "change to working directory";
        case stage_groups:
            return "set supplementary groups";
        case stage_gid:
            return "set gid";
        case stage_uid:
            return "set uid";
        case stage_bounding_caps:
            return "drop bounding capabilities";
        case stage_caps:
            return "set capabilities";
        case stage_no_new_privs:
            return "set no_new_privs";
        case stage_seccomp:
            return "install seccomp filter";
        case stage_exec:
            return "exec";
        default:
            return "start";
    }
}

struct Report {
    pid_t pid;
    int stage;
    int error;
    int step;  // index into the mount steps for stage_mount
};

// One filesystem step of the container's mount setup, prepared before fork.
struct MountStep {
    enum Kind { make_dir, make_file, do_mount, make_symlink } kind;
    std::string source, target, fstype, data;
    unsigned long flags = 0;
    bool optional = false;
};

// `tty_path`: the container's terminal (/dev/pts/N of the caller's devpts), bound into the
// rootfs at the same path and at /dev/console, as runc does, so ttyname() finds it there.
std::vector<MountStep> mount_steps(const std::string& rootfs, const std::string& tty_path) {
    std::vector<MountStep> steps;
    constexpr unsigned long secure = MS_NOSUID | MS_NODEV | MS_NOEXEC;
    if (rootfs.empty()) {
        // The host's tree, private to this container; only /proc (the pod's PID namespace)
        // and the IPC namespace's mqueue instance are new.
        steps.push_back({MountStep::do_mount, "proc", "/proc", "proc", "", secure});
        steps.push_back({MountStep::do_mount, "mqueue", "/dev/mqueue", "mqueue", "", secure, true});
        return steps;
    }
    steps.push_back({MountStep::do_mount, rootfs, rootfs, "", "", MS_BIND | MS_REC});
    steps.push_back({MountStep::make_dir, "", rootfs + "/proc", "", "", 0, true});
    steps.push_back({MountStep::do_mount, "proc", rootfs + "/proc", "proc", "", secure});
    steps.push_back({MountStep::make_dir, "", rootfs + "/dev", "", "", 0, true});
    steps.push_back({MountStep::do_mount, "tmpfs", rootfs + "/dev", "tmpfs", "mode=755,size=64k",
                     MS_NOSUID | MS_NOEXEC});
    for (const char* dev : {"null", "zero", "full", "random", "urandom", "tty"}) {
        std::string target = rootfs + "/dev/" + dev;
        steps.push_back({MountStep::make_file, "", target, "", "", 0});
        steps.push_back(
            {MountStep::do_mount, std::string("/dev/") + dev, target, "", "", MS_BIND, true});
    }
    steps.push_back({MountStep::make_dir, "", rootfs + "/dev/shm", "", "", 0});
    steps.push_back({MountStep::do_mount, "shm", rootfs + "/dev/shm", "tmpfs", "mode=1777",
                     MS_NOSUID | MS_NODEV});
    steps.push_back({MountStep::make_dir, "", rootfs + "/dev/mqueue", "", "", 0});
    steps.push_back(
        {MountStep::do_mount, "mqueue", rootfs + "/dev/mqueue", "mqueue", "", secure, true});
    steps.push_back({MountStep::make_symlink, "/proc/self/fd", rootfs + "/dev/fd", "", "", 0});
    if (!tty_path.empty()) {
        steps.push_back({MountStep::make_dir, "", rootfs + "/dev/pts", "", "", 0});
        for (const std::string& target : {rootfs + tty_path, rootfs + "/dev/console"}) {
            steps.push_back({MountStep::make_file, "", target, "", "", 0});
            steps.push_back({MountStep::do_mount, tty_path, target, "", "", MS_BIND});
        }
    }
    steps.push_back({MountStep::make_dir, "", rootfs + "/sys", "", "", 0, true});
    steps.push_back(
        {MountStep::do_mount, "sysfs", rootfs + "/sys", "sysfs", "", secure | MS_RDONLY, true});
    return steps;
}

struct ChildPlan {
    const LaunchSpec* spec;
    std::vector<MountStep> steps;
    std::vector<char*> argv;
    std::vector<char*> envp;
    std::vector<std::string> exec_candidates;  // argv[0] resolved against the container's PATH
    int devnull;
};

[[noreturn]] void child_fail(int fd, int stage, int error, int step = -1) {
    Report r{::getpid(), stage, error, step};
    (void)!::write(fd, &r, sizeof r);
    ::_exit(127);
}

// The container process: runs in the pod's namespaces; syscalls only.
[[noreturn]] void container_child(const ChildPlan& plan, int report_fd) {
    const LaunchSpec& spec = *plan.spec;
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; ++sig) ::sigaction(sig, &dfl, nullptr);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);

    if (spec.detached) {
        ::setsid();
        if (::dup2(plan.devnull, 0) < 0 || ::dup2(spec.log_fd, 1) < 0 || ::dup2(spec.log_fd, 2) < 0)
            child_fail(report_fd, stage_stdio, errno);
    } else if (spec.tty_fd >= 0) {
        // A session of its own whose controlling terminal is the pty: job control and ^C work
        // inside it, and the caller's terminal is left to the caller.
        if (::setsid() < 0 || ::ioctl(spec.tty_fd, TIOCSCTTY, 0) != 0)
            child_fail(report_fd, stage_tty, errno);
        if (::dup2(spec.tty_fd, 0) < 0 || ::dup2(spec.tty_fd, 1) < 0 || ::dup2(spec.tty_fd, 2) < 0)
            child_fail(report_fd, stage_stdio, errno);
        if (spec.tty_fd > 2) ::close(spec.tty_fd);
    }
    if (::unshare(CLONE_NEWNS) != 0) child_fail(report_fd, stage_unshare_mount, errno);
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
        child_fail(report_fd, stage_private_mounts, errno);
    for (size_t i = 0; i < plan.steps.size(); ++i) {
        const MountStep& s = plan.steps[i];
        int rc = 0;
        switch (s.kind) {
            case MountStep::make_dir:
                rc = ::mkdir(s.target.c_str(), 0755);
                if (rc != 0 && errno == EEXIST) rc = 0;
                break;
            case MountStep::make_file: {
                int fd = ::open(s.target.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
                rc = fd < 0 ? -1 : ::close(fd);
                break;
            }
            case MountStep::do_mount:
                rc = ::mount(s.source.c_str(), s.target.c_str(),
                             s.fstype.empty() ? nullptr : s.fstype.c_str(), s.flags,
                             s.data.empty() ? nullptr : s.data.c_str());
                break;
            case MountStep::make_symlink:
                rc = ::symlink(s.source.c_str(), s.target.c_str());
                if (rc != 0 && errno == EEXIST) rc = 0;
                break;
        }
        if (rc != 0 && !s.optional) child_fail(report_fd, stage_mount, errno, static_cast<int>(i));
    }
    if (!spec.rootfs.empty()) {
        // pivot_root(".", ".") stacks the old root under the new one; detaching "." then
        // removes the old root without needing a directory for it inside the rootfs.
        if (::chdir(spec.rootfs.c_str()) != 0 || ::syscall(SYS_pivot_root, ".", ".") != 0 ||
            ::umount2(".", MNT_DETACH) != 0 || ::chdir("/") != 0)
            child_fail(report_fd, stage_pivot_root, errno);
    }
    if (::chdir(spec.workdir.c_str()) != 0) child_fail(report_fd, stage_workdir, errno);

    if (int rc = drop_bounding_capabilities(spec.capabilities); rc != 0)
        child_fail(report_fd, stage_bounding_caps, -rc);
    if (spec.gid) {
        gid_t gid = *spec.gid;
        if (::setgroups(1, &gid) != 0) child_fail(report_fd, stage_groups, errno);
        if (::setresgid(gid, gid, gid) != 0) child_fail(report_fd, stage_gid, errno);
    }
    if (spec.uid) {
        // Keep the permitted set across the uid change so the capset below can still apply
        // the container's set; exec then recomputes it as for any non-root process.
        ::prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0);
        uid_t uid = *spec.uid;
        if (::setresuid(uid, uid, uid) != 0) child_fail(report_fd, stage_uid, errno);
    }
    if (int rc = clear_ambient_capabilities(); rc != 0) child_fail(report_fd, stage_caps, -rc);
    if (int rc = set_process_capabilities(spec.capabilities); rc != 0)
        child_fail(report_fd, stage_caps, -rc);
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        child_fail(report_fd, stage_no_new_privs, errno);
    if (int rc = install_seccomp_program(spec.seccomp); rc != 0)
        child_fail(report_fd, stage_seccomp, -rc);

    int exec_error = ENOENT;
    for (const auto& candidate : plan.exec_candidates) {
        ::execve(candidate.c_str(), plan.argv.data(), plan.envp.data());
        // Keep the most telling error: EACCES beats a plain "not in this PATH entry".
        if (errno != ENOENT || exec_error == ENOENT) exec_error = errno;
    }
    child_fail(report_fd, stage_exec, exec_error);
}

// Sends the success report from inside the pod. SCM_CREDENTIALS carries the container's pid:
// the kernel translates it into the receiver's PID namespace, which is how the caller learns
// the pid it can signal. (Naming another process needs CAP_SYS_ADMIN; the helpers are root.)
void send_started(int report_fd, pid_t container_pod_pid) {
    Report r{container_pod_pid, stage_ok, 0, -1};
    iovec iov{&r, sizeof r};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(ucred))] = {};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_CREDENTIALS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(ucred));
    ucred cred{container_pod_pid, ::getuid(), ::getgid()};
    std::memcpy(CMSG_DATA(cmsg), &cred, sizeof cred);
    while (::sendmsg(report_fd, &msg, 0) < 0 && errno == EINTR) {
    }
}

int wait_status(pid_t pid) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) return 127;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// Inside the pod's PID namespace: creates the container, reports its pid, and exits. A detached
// container is its plain child: when this exits, the kernel reparents the container to the init
// of *this* namespace — pause — which reaps it. A foreground container is created with
// CLONE_PARENT, making it the child of the outer helper, which waits for it.
[[noreturn]] void pod_side_child(const ChildPlan& plan, int report_fd, int exec_report_fd,
                                 const int gate[2]) {
    unsigned long flags = SIGCHLD | (plan.spec->detached ? 0 : CLONE_PARENT);
    // Raw clone without a new stack behaves as fork (copy-on-write), with CLONE_PARENT allowed.
    pid_t pid = static_cast<pid_t>(::syscall(SYS_clone, flags, nullptr, nullptr, nullptr, 0));
    if (pid < 0) child_fail(report_fd, stage_fork, errno);
    if (pid == 0) {
        // Held until the outer helper has reaped us: until then this process would still be
        // visible in the pod (as a zombie), and the container must find only the pod's own.
        ::close(gate[1]);
        ::close(report_fd);
        char byte;
        while (::read(gate[0], &byte, 1) < 0 && errno == EINTR) {
        }
        ::close(gate[0]);
        container_child(plan, exec_report_fd);
    }
    send_started(report_fd, pid);
    ::_exit(0);
}

// The caller's side: joins the pod's namespaces (setns for PID applies to children only, so
// one more fork is needed to be inside it), reports how the exec went, and passes the exit
// status on.
[[noreturn]] void helper_child(const ChildPlan& plan, int report_fd) {
    const LaunchSpec& spec = *plan.spec;
    static const int setns_flags[4] = {CLONE_NEWNET, CLONE_NEWIPC, CLONE_NEWUTS, CLONE_NEWPID};
    static const int setns_stages[4] = {stage_setns_net, stage_setns_ipc, stage_setns_uts,
                                        stage_setns_pid};
    for (int i = 0; i < 4; ++i)
        if (::setns(spec.namespace_fds[static_cast<size_t>(i)], setns_flags[i]) != 0)
            child_fail(report_fd, setns_stages[i], errno);

    // Terminal signals reach the whole foreground process group; the container handles them
    // itself and the helpers only have to outlive it.
    struct sigaction ign {};
    ign.sa_handler = SIG_IGN;
    for (int sig : {SIGINT, SIGQUIT, SIGTERM, SIGHUP, SIGTSTP}) ::sigaction(sig, &ign, nullptr);

    // The container reports a failure before exec here; EOF means exec happened (close-on-exec).
    // The gate opens (EOF) once every write end is closed: ours after the pod-side helper is
    // reaped.
    int exec_report[2], gate[2];
    if (::pipe2(exec_report, O_CLOEXEC) != 0 || ::pipe2(gate, O_CLOEXEC) != 0)
        child_fail(report_fd, stage_fork, errno);
    pid_t pod_side = ::fork();
    if (pod_side < 0) child_fail(report_fd, stage_fork, errno);
    if (pod_side == 0) {
        ::close(exec_report[0]);
        pod_side_child(plan, report_fd, exec_report[1], gate);
    }
    ::close(exec_report[1]);
    ::close(gate[0]);
    // Only the container keeps the terminal: the caller's relay sees EIO once it is gone.
    if (spec.tty_fd >= 0) ::close(spec.tty_fd);
    int pod_side_status = wait_status(pod_side);
    ::close(gate[1]);
    if (pod_side_status != 0) ::_exit(127);  // it reported why

    Report r{};
    ssize_t n;
    do {
        n = ::read(exec_report[0], &r, sizeof r);
    } while (n < 0 && errno == EINTR);
    bool exec_failed = n == static_cast<ssize_t>(sizeof r);
    if (!exec_failed) r = Report{0, stage_ok, 0, -1};
    (void)!::write(report_fd, &r, sizeof r);
    ::close(report_fd);
    if (spec.detached) ::_exit(exec_failed ? 127 : 0);
    // Foreground: the container is our child (CLONE_PARENT), and our only one.
    int status = 0;
    while (::waitpid(-1, &status, 0) < 0) {
        if (errno != EINTR) ::_exit(127);
    }
    ::_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
}

std::vector<std::string> exec_candidates(const std::string& command,
                                         const std::vector<std::string>& env) {
    if (command.find('/') != std::string::npos) return {command};
    std::string path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    for (const auto& e : env)
        if (e.starts_with("PATH=")) path = e.substr(5);
    std::vector<std::string> out;
    size_t start = 0;
    while (start <= path.size()) {
        size_t end = path.find(':', start);
        if (end == std::string::npos) end = path.size();
        std::string dir = path.substr(start, end - start);
        out.push_back((dir.empty() ? "." : dir) + "/" + command);
        start = end + 1;
    }
    return out;
}

}  // namespace

Result<LaunchedContainer> launch_container(const LaunchSpec& spec) {
    if (spec.argv.empty()) return fail("start container: no command");
    if (spec.detached && spec.log_fd < 0) return fail("start container: detached without a log");
    if (spec.detached && spec.tty_fd >= 0) return fail("start container: detached with a terminal");
    std::string tty_path;
    if (spec.tty_fd >= 0 && !spec.rootfs.empty()) {
        char link[64] = {};
        std::string fd_path = "/proc/self/fd/" + std::to_string(spec.tty_fd);
        ssize_t n = ::readlink(fd_path.c_str(), link, sizeof link - 1);
        tty_path.assign(link, n > 0 ? static_cast<size_t>(n) : 0);
        if (!tty_path.starts_with("/dev/pts/"))
            return fail("start container: the terminal is not a /dev/pts device");
    }

    ChildPlan plan{&spec, mount_steps(spec.rootfs, tty_path), {}, {}, {}, -1};
    for (const auto& a : spec.argv) plan.argv.push_back(const_cast<char*>(a.c_str()));
    plan.argv.push_back(nullptr);
    for (const auto& e : spec.env) plan.envp.push_back(const_cast<char*>(e.c_str()));
    plan.envp.push_back(nullptr);
    plan.exec_candidates = exec_candidates(spec.argv.front(), spec.env);
    UniqueFd devnull(::open("/dev/null", O_RDWR | O_CLOEXEC));
    if (!devnull) return fail_errno("start container: open /dev/null", errno);
    (void)last_capability();  // cached now: the child must not read /proc
    plan.devnull = devnull.get();

    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) != 0)
        return fail_errno("start container: socketpair", errno);
    UniqueFd report_read(fds[0]);
    UniqueFd report_write(fds[1]);
    int one = 1;
    if (::setsockopt(report_read.get(), SOL_SOCKET, SO_PASSCRED, &one, sizeof one) != 0)
        return fail_errno("start container: SO_PASSCRED", errno);
    pid_t helper = ::fork();
    if (helper < 0) return fail_errno("start container: fork", errno);
    if (helper == 0) {
        report_read.reset();
        helper_child(plan, report_write.get());
    }
    report_write.reset();

    // Two reports: the pod-side helper's {pod pid, with the pid in SCM_CREDENTIALS}, then the
    // outer helper's verdict on the exec. Any failure before that comes as the only report.
    pid_t container_pid = 0;
    auto receive = [&](Report& r) {
        iovec iov{&r, sizeof r};
        alignas(cmsghdr) char control[CMSG_SPACE(sizeof(ucred))] = {};
        msghdr msg{};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control;
        msg.msg_controllen = sizeof control;
        ssize_t n;
        do {
            n = ::recvmsg(report_read.get(), &msg, 0);
        } while (n < 0 && errno == EINTR);
        if (container_pid == 0 && r.stage == stage_ok)
            for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c))
                if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
                    ucred cred{};
                    std::memcpy(&cred, CMSG_DATA(c), sizeof cred);
                    container_pid = cred.pid;
                }
        return n == static_cast<ssize_t>(sizeof r);
    };
    Report started{0, stage_ok, 0, -1}, r{0, stage_ok, 0, -1};
    bool complete = receive(started) && started.stage == stage_ok && receive(r);
    if (!complete && started.stage != stage_ok) r = started;
    bool failed = !complete || r.stage != stage_ok;
    if (failed || spec.detached) {
        int status = 0;
        ::waitpid(helper, &status, 0);
    }
    if (r.stage == stage_ok && !complete) return fail("start container: helper died");
    if (r.stage != stage_ok) {
        std::string what = stage_text(r.stage);
        if (r.stage == stage_exec) what += " \"" + spec.argv.front() + "\"";
        if (r.stage == stage_mount && r.step >= 0 &&
            static_cast<size_t>(r.step) < plan.steps.size())
            what += " " + plan.steps[static_cast<size_t>(r.step)].target;
        return fail_errno("start container: " + what, r.error);
    }
    return LaunchedContainer{container_pid, started.pid, spec.detached ? 0 : helper};
}

Result<int> wait_for_exit(const LaunchedContainer& container) {
    int status = 0;
    for (;;) {
        if (::waitpid(container.helper, &status, 0) >= 0) break;
        if (errno != EINTR) return fail_errno("wait for container", errno);
    }
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    return 128 + WTERMSIG(status);
}

}  // namespace podnet
