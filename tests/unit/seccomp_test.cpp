// Seccomp programs are judged by behaviour: a forked child installs the program and makes the
// syscalls, the parent checks the errnos. Probes use arguments the kernel itself rejects with a
// distinctive errno (EINVAL, ENOENT) so that, without root, EPERM can only come from the filter.

#include "sandbox/seccomp.hpp"

#include <asm/unistd.h>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/kcmp.h>
#include <linux/keyctl.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <string>
#include <type_traits>

using podnet::CapabilitySet;
using podnet::SeccompProgram;

namespace {

constexpr const char* kMissingPath = "/nonexistent-podnet-seccomp-test";

// errno of a failed call, 0 on success. Arguments are evaluated first, so errno is fresh.
int errno_of(long rc) {
    return rc < 0 ? errno : 0;
}

// Runs `probe(results)` in a child confined by `program` (after PR_SET_NO_NEW_PRIVS) and hands
// back what it recorded; nullopt when the child did not exit normally.
template <class Results, class Probe>
std::optional<Results> run_confined(const SeccompProgram& program, Probe probe) {
    static_assert(std::is_trivially_copyable_v<Results>);
    struct Message {
        int install;
        Results results;
    };
    int fds[2];
    REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        ::close(fds[0]);
        Message message{};
        if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
            message.install = -errno;
        } else {
            message.install = podnet::install_seccomp_program(program);
        }
        if (message.install == 0) probe(message.results);
        ssize_t n = ::write(fds[1], &message, sizeof message);
        ::_exit(n == static_cast<ssize_t>(sizeof message) ? 0 : 1);
    }
    ::close(fds[1]);
    Message message{};
    size_t got = 0;
    while (got < sizeof message) {
        ssize_t n = ::read(fds[0], reinterpret_cast<char*>(&message) + got, sizeof message - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += static_cast<size_t>(n);
    }
    ::close(fds[0]);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || got != sizeof message) {
        return std::nullopt;
    }
    CHECK_MESSAGE(message.install == 0,
                  "install_seccomp_program: ", std::strerror(-message.install));
    if (message.install != 0) return std::nullopt;
    return message.results;
}

// When this test itself runs under someone else's seccomp filter (a CI container), unconfined
// runs are not a clean control and comparisons against them are skipped.
bool already_confined() {
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line)) {
        if (line.rfind("Seccomp:", 0) == 0) return line.find('0') == std::string::npos;
    }
    return false;
}

bool same_program(const SeccompProgram& a, const SeccompProgram& b) {
    return a.instructions.size() == b.instructions.size() &&
           std::memcmp(a.instructions.data(), b.instructions.data(),
                       a.instructions.size() * sizeof(sock_filter)) == 0;
}

SeccompProgram compile_default(CapabilitySet caps) {
    auto program = podnet::compile_default_seccomp(caps);
    if (!program) FAIL(program.error().message);
    REQUIRE_FALSE(program->empty());
    return *program;
}

SeccompProgram compile_profile(const std::string& json,
                               CapabilitySet caps = podnet::docker_default_capabilities()) {
    auto program = podnet::compile_seccomp_profile(json, caps, "test.json");
    if (!program) FAIL(program.error().message);
    return *program;
}

std::string profile_error(const std::string& json, std::string_view source = "/x.json") {
    auto program =
        podnet::compile_seccomp_profile(json, podnet::docker_default_capabilities(), source);
    REQUIRE_FALSE(program.has_value());
    return program.error().message;
}

struct DefaultProbe {
    int seccomp_mode;
    int getpid;
    int write_devnull;
    int fork_plain;
    int unshare_uts;
    int unshare_bad_flags;
    int clone_newuts_bad_flags;
    int clone3;
    int keyctl;
    int kcmp;
    int ptrace_peek;
    int mount_missing;
    int umount_bad_flags;
    int personality_query;
    int personality_linux;
    int personality_no_randomize;
    int socket_inet;
    int socket_unix;
    int socket_alg;
    int socket_vsock;
    int io_uring_setup;
};

void default_probe(DefaultProbe& r) {
    r.seccomp_mode = static_cast<int>(::prctl(PR_GET_SECCOMP, 0, 0, 0, 0));
    r.getpid = ::syscall(SYS_getpid) > 0 ? 0 : -1;
    int devnull = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
    r.write_devnull = devnull < 0 ? errno : errno_of(::write(devnull, "x", 1));
    if (devnull >= 0) ::close(devnull);

    // glibc's fork is clone without namespace flags, which must keep working.
    pid_t child = ::fork();
    if (child == 0) ::_exit(7);
    int status = 0;
    r.fork_plain =
        child < 0 ? errno
        : ::waitpid(child, &status, 0) == child && WIFEXITED(status) && WEXITSTATUS(status) == 7
            ? 0
            : -1;

    r.unshare_uts = errno_of(::syscall(SYS_unshare, CLONE_NEWUTS));
    // CLONE_VFORK is not an unshare flag: the kernel answers EINVAL before checking privilege.
    r.unshare_bad_flags = errno_of(::syscall(SYS_unshare, CLONE_NEWUTS | CLONE_VFORK));
    // CLONE_THREAD without CLONE_SIGHAND is EINVAL before any process is created.
    r.clone_newuts_bad_flags =
        errno_of(::syscall(SYS_clone, CLONE_NEWUTS | CLONE_THREAD, 0, 0, 0, 0));
    r.clone3 = errno_of(::syscall(SYS_clone3, nullptr, 0));
    r.keyctl = errno_of(::syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0));
    pid_t self = ::getpid();
    r.kcmp = errno_of(::syscall(SYS_kcmp, self, self, KCMP_FILE, 1, 1));
    // Not our tracee: ESRCH unless something refuses ptrace itself.
    r.ptrace_peek = errno_of(::syscall(SYS_ptrace, PTRACE_PEEKDATA, ::getppid(), 0, 0));
    r.mount_missing = errno_of(::syscall(SYS_mount, "none", kMissingPath, "tmpfs", 0, nullptr));
    r.umount_bad_flags = errno_of(::syscall(SYS_umount2, kMissingPath, 0x10000));
    r.personality_query = errno_of(::syscall(SYS_personality, 0xffffffffUL));
    r.personality_linux = errno_of(::syscall(SYS_personality, PER_LINUX));
    r.personality_no_randomize = errno_of(
        ::syscall(SYS_personality, static_cast<unsigned long>(PER_LINUX) | ADDR_NO_RANDOMIZE));
    auto socket_errno = [](int family, int type) {
        int fd = ::socket(family, type | SOCK_CLOEXEC, 0);
        if (fd < 0) return errno;
        ::close(fd);
        return 0;
    };
    r.socket_inet = socket_errno(AF_INET, SOCK_DGRAM);
    r.socket_unix = socket_errno(AF_UNIX, SOCK_STREAM);
    // Unconfined, as root, these could make the kernel load protocol modules on the host.
    if (r.seccomp_mode != 0) {
        r.socket_alg = socket_errno(AF_ALG, SOCK_SEQPACKET);
        r.socket_vsock = socket_errno(AF_VSOCK, SOCK_STREAM);
    }
    r.io_uring_setup = errno_of(::syscall(SYS_io_uring_setup, 0, nullptr));
}

}  // namespace

TEST_CASE("an empty program leaves the process unconfined") {
    SeccompProgram empty;
    CHECK(empty.empty());
    CHECK(podnet::install_seccomp_program(empty) == 0);
    auto r = run_confined<DefaultProbe>(empty, default_probe);
    REQUIRE(r.has_value());
    CHECK(r->seccomp_mode == 0);
}

TEST_CASE("default profile with Docker's default capabilities") {
    const SeccompProgram program = compile_default(podnet::docker_default_capabilities());
    auto confined = run_confined<DefaultProbe>(program, default_probe);
    REQUIRE(confined.has_value());
    auto control = run_confined<DefaultProbe>(SeccompProgram{}, default_probe);
    REQUIRE(control.has_value());
    const DefaultProbe& r = *confined;

    CHECK(r.seccomp_mode == SECCOMP_MODE_FILTER);

    SUBCASE("ordinary syscalls still work") {
        CHECK(r.getpid == 0);
        CHECK(r.write_devnull == 0);
        CHECK(r.fork_plain == 0);
        CHECK(r.personality_query == 0);
        CHECK(r.personality_linux == 0);
        CHECK(r.socket_inet == control->socket_inet);
        CHECK(r.socket_unix == 0);
    }

    SUBCASE("denied syscalls fail with EPERM") {
        // Docker allows ptrace on Linux >= 4.8; podnet denies it without CAP_SYS_PTRACE.
        CHECK(r.ptrace_peek == EPERM);
        CHECK(control->ptrace_peek != EPERM);
        CHECK(r.unshare_uts == EPERM);
        CHECK(r.unshare_bad_flags == EPERM);
        CHECK(r.clone_newuts_bad_flags == EPERM);
        CHECK(r.keyctl == EPERM);
        CHECK(r.kcmp == EPERM);
        CHECK(r.mount_missing == EPERM);
        CHECK(r.umount_bad_flags == EPERM);
        CHECK(r.personality_no_randomize == EPERM);
        CHECK(r.socket_alg == EPERM);
        CHECK(r.socket_vsock == EPERM);
        CHECK(r.io_uring_setup == EPERM);
    }

    SUBCASE("clone3 fails with ENOSYS so libc falls back to clone") {
        CHECK(r.clone3 == ENOSYS);
    }

    SUBCASE("without the filter the kernel answers differently") {
        if (already_confined()) {
            MESSAGE("this process is already under a seccomp filter; no clean control run");
            return;
        }
        CHECK(control->seccomp_mode == 0);
        CHECK(control->unshare_bad_flags == EINVAL);
        CHECK(control->clone_newuts_bad_flags == EINVAL);
        CHECK(control->clone3 == EINVAL);
        CHECK(control->mount_missing == ENOENT);
        CHECK(control->keyctl != EPERM);
        CHECK(control->kcmp != EPERM);
        CHECK(control->io_uring_setup != EPERM);
    }
}

TEST_CASE("default profile: personality() and socket() arguments") {
    struct Probe {
        int personality_checked;
        int personality_wrong;
        unsigned long personality_first_wrong;
        int socket_checked;
        int socket_wrong;
        int socket_first_wrong;
    };
    // personality() itself never fails, so EPERM means the filter refused.
    auto probe = [](Probe& r) {
        const unsigned long allowed[] = {0, 8, 0x20000, 0x20008, 0xffffffff};
        auto check = [&](unsigned long value) {
            bool want_denied =
                std::find(std::begin(allowed), std::end(allowed), value) == std::end(allowed);
            bool denied = ::syscall(SYS_personality, value) < 0 && errno == EPERM;
            ++r.personality_checked;
            if (denied != want_denied && r.personality_wrong++ == 0) {
                r.personality_first_wrong = value;
            }
        };
        for (unsigned long value : allowed) check(value);
        for (int bit = 0; bit < 64; ++bit) {
            unsigned long one = 1UL << bit;
            check(one);
            check(one | 8);
            check(one | 0x20000);
            check(one | 0x20008);
            check(0xffffffffUL ^ one);
            check(one - 1);
        }
        check(0xffffffffffffffffUL);
        check(0x1ffffffffUL);
        ::syscall(SYS_personality, PER_LINUX);

        // Families Docker refuses; socket() with them must not reach the kernel.
        const int denied[] = {AF_DECnet, AF_ECONET, AF_ATMSVC, AF_IRDA, AF_WANPIPE, AF_ISDN,
                              AF_CAIF,   AF_ALG,    AF_VSOCK,  46,      1000};
        for (int family : denied) {
            ++r.socket_checked;
            int fd = ::socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
            bool refused = fd < 0 && errno == EPERM;
            if (fd >= 0) ::close(fd);
            if (!refused && r.socket_wrong++ == 0) r.socket_first_wrong = family;
        }
        for (int family : {AF_UNIX, AF_INET, AF_INET6, AF_NETLINK}) {
            ++r.socket_checked;
            int fd = ::socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
            bool refused = fd < 0 && errno == EPERM;
            if (fd >= 0) ::close(fd);
            if (refused && r.socket_wrong++ == 0) r.socket_first_wrong = family;
        }
    };
    auto r = run_confined<Probe>(compile_default(podnet::docker_default_capabilities()), probe);
    REQUIRE(r.has_value());
    CHECK(r->personality_checked > 300);
    CHECK_MESSAGE(r->personality_wrong == 0, "first wrong value ", r->personality_first_wrong);
    CHECK(r->socket_checked == 15);
    CHECK_MESSAGE(r->socket_wrong == 0, "first wrong family ", r->socket_first_wrong);
}

TEST_CASE("CAP_SYS_ADMIN lifts the namespace and mount restrictions, not the others") {
    const CapabilitySet caps =
        podnet::docker_default_capabilities() | podnet::capability_bit(CAP_SYS_ADMIN);
    auto r = run_confined<DefaultProbe>(compile_default(caps), default_probe);
    REQUIRE(r.has_value());
    CHECK(r->seccomp_mode == SECCOMP_MODE_FILTER);
    // The kernel's EINVAL/ENOENT now comes through instead of the filter's EPERM.
    CHECK(r->unshare_bad_flags == EINVAL);
    CHECK(r->clone_newuts_bad_flags == EINVAL);
    CHECK(r->clone3 == EINVAL);
    CHECK(r->mount_missing == ENOENT);
    CHECK(r->keyctl == EPERM);
    CHECK(r->kcmp == EPERM);
    CHECK(r->personality_no_randomize == EPERM);
    CHECK(r->getpid == 0);
}

TEST_CASE("CAP_SYS_PTRACE allows kcmp") {
    const CapabilitySet caps =
        podnet::docker_default_capabilities() | podnet::capability_bit(CAP_SYS_PTRACE);
    auto r = run_confined<DefaultProbe>(compile_default(caps), default_probe);
    REQUIRE(r.has_value());
    CHECK(r->kcmp != EPERM);
    CHECK(r->keyctl == EPERM);
    CHECK(r->unshare_bad_flags == EPERM);
}

#if defined(__x86_64__)
namespace {

struct CompatProbe {
    long i386_getpid;
    long i386_keyctl;
    long x32_keyctl;
};

// A 32-bit syscall from a 64-bit process: seccomp sees AUDIT_ARCH_I386 and the i386 numbers.
long int80(long nr, long a, long b, long c) {
    long ret;
    asm volatile("int $0x80"
                 : "=a"(ret)
                 : "a"(nr), "b"(a), "c"(b), "d"(c)
                 : "memory", "r8", "r9", "r10", "r11");
    return ret;
}

}  // namespace

TEST_CASE("32-bit and x32 entry points cannot bypass the default profile") {
    // i386 numbers for getpid and keyctl; x32 numbers carry __X32_SYSCALL_BIT.
    const long i386_getpid = 20;
    const long i386_keyctl = 288;
    const long x32_keyctl = __X32_SYSCALL_BIT | SYS_keyctl;
    auto probe = [&](CompatProbe& r) {
        r.i386_getpid = int80(i386_getpid, 0, 0, 0);
        r.i386_keyctl = int80(i386_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0);
        r.x32_keyctl = ::syscall(x32_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0) < 0
                           ? -errno
                           : 0;
    };
    // Kernels built or booted without IA32 emulation kill the probe; then there is no 32-bit
    // entry point to test.
    auto control = run_confined<CompatProbe>(SeccompProgram{}, probe);
    if (!control.has_value() || control->i386_getpid <= 0) {
        MESSAGE("no IA32 emulation in this kernel; skipping");
        return;
    }
    auto r =
        run_confined<CompatProbe>(compile_default(podnet::docker_default_capabilities()), probe);
    REQUIRE(r.has_value());
    CHECK(r->i386_getpid > 0);
    CHECK(r->i386_keyctl == -EPERM);
    CHECK(r->x32_keyctl == -EPERM);
    if (!already_confined()) {
        CHECK(control->i386_keyctl != -EPERM);
        CHECK(control->x32_keyctl != -EPERM);  // works, or ENOSYS where x32 is disabled
    }
}
#endif

namespace {

struct ProfileProbe {
    int getppid;
    int getpid;
    int getpriority_pgrp;
    int getpriority_self;
    int getpgid_masked;
    int getpgid_self;
    int getpgid_unmasked;
    int getsid_first;
    int getsid_second;
    int getsid_self;
    int keyctl;
};

void profile_probe(ProfileProbe& r) {
    r.getppid = errno_of(::syscall(SYS_getppid));
    r.getpid = errno_of(::syscall(SYS_getpid));
    r.getpriority_pgrp = errno_of(::syscall(SYS_getpriority, PRIO_PGRP, 0));
    r.getpriority_self = errno_of(::syscall(SYS_getpriority, PRIO_PROCESS, 0));
    r.getpgid_masked = errno_of(::syscall(SYS_getpgid, 0x1234));
    r.getpgid_self = errno_of(::syscall(SYS_getpgid, 0));
    r.getpgid_unmasked = errno_of(::syscall(SYS_getpgid, 0x1334));
    r.getsid_first = errno_of(::syscall(SYS_getsid, 1111111));
    r.getsid_second = errno_of(::syscall(SYS_getsid, 2222222));
    r.getsid_self = errno_of(::syscall(SYS_getsid, 0));
    r.keyctl = errno_of(::syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0));
}

const char* const kGetppidEnosys = R"({
    "defaultAction": "SCMP_ACT_ALLOW",
    "syscalls": [
        {"names": ["getppid", "no_such_syscall_podnet"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}
    ]
})";

}  // namespace

TEST_CASE("profile: errnoRet and unknown syscall names") {
    auto r = run_confined<ProfileProbe>(compile_profile(kGetppidEnosys), profile_probe);
    REQUIRE(r.has_value());
    CHECK(r->getppid == ENOSYS);
    CHECK(r->getpid == 0);
    CHECK(r->keyctl != EPERM);
}

TEST_CASE("profile: argument conditions") {
    const std::string json = R"({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            {"names": ["getpriority"], "action": "SCMP_ACT_ERRNO", "errnoRet": 95,
             "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}]},
            {"names": ["getpgid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 71,
             "args": [{"index": 0, "value": 65280, "valueTwo": 4608, "op": "SCMP_CMP_MASKED_EQ"}]},
            {"names": ["getsid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 72,
             "args": [{"index": 0, "value": 1111111, "op": "SCMP_CMP_EQ"},
                      {"index": 0, "value": 2222222, "op": "SCMP_CMP_EQ"}]}
        ]
    })";
    auto r = run_confined<ProfileProbe>(compile_profile(json), profile_probe);
    REQUIRE(r.has_value());
    CHECK(r->getpriority_pgrp == 95);  // PRIO_PGRP == 1
    CHECK(r->getpriority_self == 0);
    CHECK(r->getpgid_masked == 71);  // 0x1234 & 0xff00 == 0x1200
    CHECK(r->getpgid_self == 0);
    CHECK(r->getpgid_unmasked != 71);
    // Two conditions on one argument are separate rules (runc's reading): either matches.
    CHECK(r->getsid_first == 72);
    CHECK(r->getsid_second == 72);
    CHECK(r->getsid_self == 0);
}

TEST_CASE("profile: Docker includes and excludes") {
    const std::string includes = R"({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38,
                      "includes": {"caps": ["CAP_SYS_ADMIN"], "minKernel": "4.8"}}]
    })";
    const std::string excludes = R"({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38,
                      "excludes": {"caps": ["NET_ADMIN"]}}]
    })";
    const CapabilitySet defaults = podnet::docker_default_capabilities();
    const CapabilitySet with_admin = defaults | podnet::capability_bit(CAP_SYS_ADMIN);
    const CapabilitySet with_net_admin = defaults | podnet::capability_bit(CAP_NET_ADMIN);

    auto r = run_confined<ProfileProbe>(compile_profile(includes, defaults), profile_probe);
    REQUIRE(r.has_value());
    CHECK(r->getppid == 0);
    r = run_confined<ProfileProbe>(compile_profile(includes, with_admin), profile_probe);
    REQUIRE(r.has_value());
    CHECK(r->getppid == ENOSYS);

    r = run_confined<ProfileProbe>(compile_profile(excludes, defaults), profile_probe);
    REQUIRE(r.has_value());
    CHECK(r->getppid == ENOSYS);
    r = run_confined<ProfileProbe>(compile_profile(excludes, with_net_admin), profile_probe);
    REQUIRE(r.has_value());
    CHECK(r->getppid == 0);
}

TEST_CASE("profile: includes.arches is judged against the native architecture") {
#if defined(__x86_64__) && !defined(__ILP32__)
    const bool native_is_x86_64 = true;
#else
    const bool native_is_x86_64 = false;
#endif
    const std::string native = native_is_x86_64 ? "amd64" : "SCMP_ARCH_X86_64";
    auto with_arch = [](const std::string& arch) {
        return R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38,
             "includes": {"arches": [")" +
               arch + R"("]}}]})";
    };
    const SeccompProgram none = compile_profile(R"({"defaultAction": "SCMP_ACT_ALLOW"})");
    if (native_is_x86_64) {
        CHECK_FALSE(same_program(compile_profile(with_arch("amd64")), none));
        CHECK_FALSE(same_program(compile_profile(with_arch("SCMP_ARCH_X86_64")), none));
        CHECK(same_program(compile_profile(with_arch("s390x")), none));
    } else {
        CHECK(same_program(compile_profile(with_arch(native)), none));
    }
}

TEST_CASE("profile: a Docker-style allowlist with archMap and legacy name") {
    // Only what the probe harness (and a sanitizer runtime) needs after install, plus getppid;
    // everything else is EPERM.
    const std::string json = R"({
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 1,
        "archMap": [
            {"architecture": "SCMP_ARCH_X86_64",
             "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
            {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]},
            {"architecture": "SCMP_ARCH_LOONGARCH64", "subArchitectures": null}
        ],
        "syscalls": [
            {"names": ["write", "exit", "exit_group", "getpid", "mmap", "munmap", "madvise",
                       "sigaltstack", "rt_sigaction", "rt_sigprocmask"],
             "action": "SCMP_ACT_ALLOW",
             "args": null, "comment": "", "includes": {}, "excludes": {}},
            {"name": "getppid", "action": "SCMP_ACT_ALLOW"},
            {"names": ["getsid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}
        ]
    })";
    auto r = run_confined<ProfileProbe>(compile_profile(json), profile_probe);
    REQUIRE(r.has_value());
    CHECK(r->getppid == 0);
    CHECK(r->getpid == 0);
    CHECK(r->keyctl == EPERM);
    CHECK(r->getpriority_self == EPERM);
    CHECK(r->getsid_self == EPERM);
}

TEST_CASE("profile: architectures and actions that compile") {
    compile_profile(R"({"defaultAction": "SCMP_ACT_ERRNO",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32",
                          "SCMP_ARCH_AARCH64"],
        "syscalls": [
            {"names": ["read"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["getppid"], "action": "SCMP_ACT_ERRNO"},
            {"names": ["kill"], "action": "SCMP_ACT_KILL"},
            {"names": ["tkill"], "action": "SCMP_ACT_KILL_THREAD"},
            {"names": ["tgkill"], "action": "SCMP_ACT_KILL_PROCESS"},
            {"names": ["getpgid"], "action": "SCMP_ACT_TRAP"},
            {"names": ["getsid"], "action": "SCMP_ACT_TRACE", "errnoRet": 5},
            {"names": ["getpgrp"], "action": "SCMP_ACT_LOG"},
            {"names": ["getuid"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_NE"},
                      {"index": 1, "value": 2, "op": "SCMP_CMP_LT"},
                      {"index": 2, "value": 3, "op": "SCMP_CMP_LE"},
                      {"index": 3, "value": 4, "op": "SCMP_CMP_GE"},
                      {"index": 4, "value": 5, "op": "SCMP_CMP_GT"}]}
        ]})");
    // A rule repeating the default action changes nothing and is dropped, as runc does.
    CHECK(same_program(compile_profile(R"({"defaultAction": "SCMP_ACT_ALLOW",
                           "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_ALLOW"}]})"),
                       compile_profile(R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": []})")));
}

TEST_CASE("profile errors name the source and the key") {
    CHECK(profile_error(R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
              {"names": ["read"], "action": "SCMP_ACT_ALLOW"},
              {"names": ["write"], "action": "SCMP_ACT_ALLOW"},
              {"names": ["open"], "action": "SCMP_ACT_ALLOW"},
              {"names": ["close"], "action": "SCMP_ACT_FOO"}]})") ==
          R"(seccomp profile /x.json: syscalls[3].action: unknown action "SCMP_ACT_FOO")");
    CHECK(profile_error(R"({"defaultAction": "SCMP_ACT_BAR"})") ==
          R"(seccomp profile /x.json: defaultAction: unknown action "SCMP_ACT_BAR")");
    CHECK(profile_error(R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
              {"names": ["getpid"], "action": "SCMP_ACT_ERRNO",
               "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_APPROX"}]}]})") ==
          R"(seccomp profile /x.json: syscalls[0].args[0].op: unknown operator "SCMP_CMP_APPROX")");
    CHECK(profile_error(R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": {"names": []}})") ==
          "seccomp profile /x.json: syscalls: expected an array");
    CHECK(profile_error(
              R"({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_Z80"]})") ==
          R"(seccomp profile /x.json: architectures[0]: unknown architecture "SCMP_ARCH_Z80")");
    CHECK(profile_error(R"({"syscalls": []})") ==
          "seccomp profile /x.json: defaultAction: missing");
    CHECK(profile_error("[1, 2]") == "seccomp profile /x.json: top level: expected an object");
    CHECK(profile_error(R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
              {"names": ["getpid"], "action": "SCMP_ACT_ERRNO",
               "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]})") ==
          "seccomp profile /x.json: syscalls[0].args[0].index: must be 0 to 5");
    CHECK(profile_error(R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
              {"name": "getpid", "names": ["getppid"], "action": "SCMP_ACT_ERRNO"}]})") ==
          "seccomp profile /x.json: syscalls[0]: use either name or names, not both");
    CHECK(profile_error(R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
              {"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "errnoRet": -1}]})") ==
          "seccomp profile /x.json: syscalls[0].errnoRet: must not be negative");
    CHECK(profile_error(R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
              {"names": ["getpid"], "action": "SCMP_ACT_ERRNO",
               "includes": {"caps": ["CAP_FLY"]}}]})") ==
          R"(seccomp profile /x.json: syscalls[0].includes.caps[0]: unknown capability "CAP_FLY")");
    CHECK(profile_error(R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
              {"names": ["getpid"], "action": "SCMP_ACT_NOTIFY"}]})")
              .starts_with("seccomp profile /x.json: syscalls[0].action: SCMP_ACT_NOTIFY"));
    CHECK(profile_error(R"({"defaultAction": "SCMP_ACT_ALLOW",
              "architectures": ["SCMP_ARCH_X86"],
              "archMap": [{"architecture": "SCMP_ARCH_X86"}]})") ==
          "seccomp profile /x.json: archMap: use either architectures or archMap, not both");

    const std::string bad_json = profile_error(R"({"defaultAction": )", "/etc/podnet/p.json");
    CHECK(bad_json.starts_with("seccomp profile /etc/podnet/p.json: invalid JSON: "));
    CHECK(bad_json.find('\n') == std::string::npos);
}

TEST_CASE("profile files") {
    SUBCASE("a missing file names the path") {
        auto program = podnet::load_seccomp_profile_file(kMissingPath, 0);
        REQUIRE_FALSE(program.has_value());
        CHECK(program.error().message ==
              std::string("seccomp profile ") + kMissingPath + ": No such file or directory");
    }
    SUBCASE("a file compiles like its text, errors name the file") {
        char path[] = "/tmp/podnet-seccomp-test-XXXXXX";
        int fd = ::mkstemp(path);
        REQUIRE(fd >= 0);
        std::string text = kGetppidEnosys;
        REQUIRE(::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()));
        ::close(fd);
        auto from_file = podnet::load_seccomp_profile_file(path, 0);
        auto from_text = podnet::compile_seccomp_profile(text, 0, "inline");
        REQUIRE(from_file.has_value());
        REQUIRE(from_text.has_value());
        CHECK(same_program(*from_file, *from_text));

        std::ofstream(path, std::ios::trunc) << R"({"defaultAction": 7})";
        auto bad = podnet::load_seccomp_profile_file(path, 0);
        REQUIRE_FALSE(bad.has_value());
        CHECK(bad.error().message ==
              std::string("seccomp profile ") + path + ": defaultAction: expected a string");
        ::unlink(path);
    }
}
