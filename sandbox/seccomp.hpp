#pragma once
// Seccomp filters, compiled with libseccomp in the parent and exported as classic BPF, so the
// forked child installs them with one raw syscall and no library calls.

#include <linux/filter.h>

#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "sandbox/capabilities.hpp"

namespace podnet {

struct SeccompProgram {
    std::vector<sock_filter> instructions;  // ready for SECCOMP_SET_MODE_FILTER

    // An empty program means unconfined: install_seccomp_program does nothing.
    [[nodiscard]] bool empty() const { return instructions.empty(); }
};

// Docker's default profile (moby/profiles seccomp/default_linux.go) for a container holding
// `caps`, expressed as a denylist with default action ALLOW: the syscalls that profile does not
// allow fail with EPERM, among them the kernel keyring, module loading, kexec, swap, reboot,
// userfaultfd, io_uring, pivot_root, the mount API, namespace creation (unshare, setns, clone
// with a CLONE_NEW* flag), socket() for the families Docker blocks (AF_ALG, AF_VSOCK, removed
// ones), and personality() other than the values Docker allows. clone3 fails with ENOSYS so libc
// falls back to clone. Capabilities lift the same restrictions Docker's do (CAP_SYS_ADMIN: mount,
// namespaces, clone3, ...; CAP_SYS_PTRACE: kcmp, pidfd_getfd, ...; CAP_SYS_TIME, CAP_SYS_MODULE,
// CAP_SYS_BOOT, ...). Unlike Docker on Linux >= 4.8, ptrace and process_vm_* are denied
// without CAP_SYS_PTRACE (the sandbox issue asks for it).
// Covers the native architecture plus Docker's companions (x86 and x32 on x86_64, arm on
// aarch64, ...), so 32-bit entry points cannot bypass it. Syscalls this libseccomp does not know
// are skipped, and a denylist lets through syscalls newer than its table.
[[nodiscard]] Result<SeccompProgram> compile_default_seccomp(CapabilitySet caps);

// An OCI runtime-spec linux.seccomp object or a Docker profile: defaultAction, defaultErrnoRet,
// architectures or Docker's archMap, syscalls[] with names[] (or Docker's "name"), action,
// errnoRet, args[] {index, value, valueTwo, op}, and Docker's includes/excludes {caps, arches}
// judged against `caps` and the native architecture (minKernel is ignored). Conditions on
// distinct arguments must all hold; several on one argument become separate rules, as runc does.
// Rules whose action equals the default action are dropped and unknown syscall names skipped,
// as runc does. Errors name `source` and the key:
// `seccomp profile /x.json: syscalls[3].action: unknown action "SCMP_ACT_FOO"`.
[[nodiscard]] Result<SeccompProgram> compile_seccomp_profile(const std::string& json_text,
                                                             CapabilitySet caps,
                                                             std::string_view source);

// Reads and compiles a profile file; errors start "seccomp profile PATH: ".
[[nodiscard]] Result<SeccompProgram> load_seccomp_profile_file(const std::string& path,
                                                               CapabilitySet caps);

// In the forked child, after PR_SET_NO_NEW_PRIVS (or with CAP_SYS_ADMIN): async-signal-safe,
// one seccomp(SECCOMP_SET_MODE_FILTER) syscall. Returns 0 or -errno; an empty program is a no-op.
[[nodiscard]] int install_seccomp_program(const SeccompProgram& program);

}  // namespace podnet
