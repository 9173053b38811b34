#include "tests/support/isolate.hpp"

#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace podnet::test {

namespace {

constexpr const char* isolated_env = "PODNET_TEST_ISOLATED";
constexpr const char* host_netns_env = "PODNET_TEST_HOST_NETNS";

[[noreturn]] void die(const char* what) {
    std::fprintf(stderr, "isolate: %s: %s\n", what, std::strerror(errno));
    std::_Exit(1);
}

ino_t netns_inode(const char* path) {
    struct stat st {};
    return ::stat(path, &st) == 0 ? st.st_ino : 0;
}

void bring_loopback_up() {
    int sock = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ifreq req{};
    std::strncpy(req.ifr_name, "lo", IFNAMSIZ - 1);
    if (sock >= 0 && ::ioctl(sock, SIOCGIFFLAGS, &req) == 0) {
        req.ifr_flags |= IFF_UP;
        ::ioctl(sock, SIOCSIFFLAGS, &req);
    }
    if (sock >= 0) ::close(sock);
}

// PID 1 of the test's PID namespace: set up the private world, start the test, reap.
[[noreturn]] void namespace_init(char** argv) {
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) die("make / private");
    if (::mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0)
        die("mount /proc");
    // A private /run (not /tmp: the build tree may live there). Temporary files go under
    // /run/tmp through TMPDIR, so they vanish with the namespace as well.
    if (::mount("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=755") != 0)
        die("mount tmpfs on /run");
    if (::mkdir("/run/tmp", 01777) != 0 || ::chmod("/run/tmp", 01777) != 0) die("mkdir /run/tmp");
    ::setenv("TMPDIR", "/run/tmp", 1);
    // crun refuses this machine's v1/v2 hybrid cgroups; hide the v2 part (machine quirk).
    struct stat st {};
    if (::stat("/sys/fs/cgroup/unified", &st) == 0)
        ::mount("tmpfs", "/sys/fs/cgroup/unified", "tmpfs", 0, "size=4k");
    bring_loopback_up();

    pid_t test = ::fork();
    if (test < 0) die("fork test");
    if (test == 0) {
        ::setenv(isolated_env, "1", 1);
        ::execv("/proc/self/exe", argv);
        die("re-exec test");
    }
    int code = 1;
    for (;;) {
        int status = 0;
        pid_t pid = ::wait(&status);
        if (pid < 0 && errno == ECHILD) break;
        if (pid == test) {
            code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            break;  // leaving ends the namespace: the kernel kills whatever is left
        }
    }
    std::_Exit(code);
}

}  // namespace

int run_isolated(int argc, char** argv, int (*body)(int, char**)) {
    const char* isolated = std::getenv(isolated_env);
    if (isolated != nullptr && std::strcmp(isolated, "1") == 0) {
        // The variable lists the inodes of PID 1's network namespace (when readable) and of the
        // one this test was started in; we must be in neither.
        const char* host = std::getenv(host_netns_env);
        // Appended piece by piece: g++ 12 at -O3 warns (-Wrestrict, GCC bug 105329) on
        // `" " + std::string(...) + " "`.
        std::string mine = " ";
        mine += std::to_string(netns_inode("/proc/self/ns/net"));
        mine += ' ';
        std::string hosts = " ";
        if (host != nullptr) hosts += host;
        hosts += ' ';
        if (host == nullptr || hosts.find(mine) != std::string::npos) {
            std::fprintf(stderr, "refusing to run: this process is in PID 1's network namespace\n");
            return 1;
        }
        return body(argc, argv);
    }
    if (::geteuid() != 0) {
        std::fprintf(stderr, "integration tests need root: skipped\n");
        return 77;
    }
    // PID 1's namespace links can be unreadable even to root (PID 1 not dumpable, as on this
    // machine); the namespace we start in is then the reference, and it is checked as well.
    ino_t start = netns_inode("/proc/self/ns/net");
    ino_t init_ns = netns_inode("/proc/1/ns/net");
    if (start == 0) die("read this process's network namespace");
    std::string refs = std::to_string(start);
    if (init_ns != 0 && init_ns != start) {
        refs += ' ';  // not " " + to_string(): g++ 12 -O3 -Wrestrict false positive (GCC 105329)
        refs += std::to_string(init_ns);
    }
    ::setenv(host_netns_env, refs.c_str(), 1);
    if (::unshare(CLONE_NEWNET | CLONE_NEWNS | CLONE_NEWPID) != 0) die("unshare");
    pid_t init = ::fork();
    if (init < 0) die("fork namespace init");
    if (init == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // if the runner dies, the whole namespace goes
        namespace_init(argv);
    }
    int status = 0;
    while (::waitpid(init, &status, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace podnet::test
