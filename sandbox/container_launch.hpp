#pragma once
// Starting a process inside a pod: it joins the pod's net, IPC, UTS and PID namespaces, gets a
// mount namespace of its own (with /proc of the pod's PID namespace), drops to the container's
// credentials, capabilities and seccomp filter, and execs the command.
//
// Process shape: caller → helper (setns into the pod) → pod-side helper (now inside the pod's PID
// namespace) → container. setns(CLONE_NEWPID) only affects children, and the caller must never
// change namespace, hence the helpers. A detached container's pod-side helper exits at once, so
// the kernel reparents the container to the init of that namespace — pause — which reaps it.
// A foreground container's helpers wait for it and exit with its status.
// Everything between fork and exec is syscalls over data prepared here: no allocation, so this
// is safe from a multi-threaded embedding process.

#include <sys/types.h>

#include <array>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "sandbox/capabilities.hpp"
#include "sandbox/seccomp.hpp"

namespace podnet {

struct LaunchSpec {
    std::vector<std::string> argv;
    std::vector<std::string> env;  // "K=V"; PATH from here is used to find argv[0]
    std::string workdir = "/";
    std::optional<uid_t> uid;
    std::optional<gid_t> gid;
    CapabilitySet capabilities = 0;
    SeccompProgram seccomp;
    std::string rootfs;  // empty: the host's filesystem, with the pod's /proc
    bool detached = false;
    int log_fd = -1;  // detached: stdout and stderr go here (borrowed)
    // Foreground only: a pty slave (borrowed) that becomes the container's controlling
    // terminal (new session, TIOCSCTTY) and its stdin, stdout and stderr.
    int tty_fd = -1;
    std::array<int, 4> namespace_fds;  // net, ipc, uts, pid (borrowed)
};

struct LaunchedContainer {
    pid_t pid = 0;      // the container process, in the caller's PID namespace
    pid_t pod_pid = 0;  // the same process inside the pod
    pid_t helper = 0;   // foreground: wait on it for the exit status; detached: already reaped
};

[[nodiscard]] Result<LaunchedContainer> launch_container(const LaunchSpec& spec);

// Foreground: wait for the helper; returns the container's exit code (128+N when killed by N).
[[nodiscard]] Result<int> wait_for_exit(const LaunchedContainer& container);

}  // namespace podnet
