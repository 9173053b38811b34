#pragma once
// Spawning the pause process: the pod's PID 1, in new net, IPC, UTS and PID namespaces.

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "common/result.hpp"

namespace podnet {

struct PauseSpec {
    std::string binary;         // path of podnet-pause
    std::string hostname;       // set in the new UTS namespace
    std::string sandbox_id;     // tags the process so gc can find orphans
    std::string run_root;       // likewise: which podnet root it belongs to
    std::string exit_log_path;  // pause appends "<pid> <status>" per reaped child
    // IPv4-only pods: interfaces created in the pod later get no IPv6. Otherwise each new pod's
    // link-local autoconfiguration (router solicitations, MLD reports, DAD) floods the bridge to
    // every other pod, a per-pod cost that grows with the number of pods.
    bool disable_ipv6 = false;
};

struct PauseProcess {
    pid_t pid = 0;
    uint64_t start_time = 0;  // from /proc/PID/stat: (pid, start_time) identifies it
};

// Clone + exec podnet-pause with CLONE_NEWNET|NEWIPC|NEWUTS|NEWPID; the hostname is set and lo
// is up before exec. The pause process is the caller's child and outlives it; it is in its own
// session with stdio on /dev/null.
[[nodiscard]] Result<PauseProcess> spawn_pause(const PauseSpec& spec);

// Send `signal` and wait up to `timeout_ms` for the process to exit; reaps it when it is the
// caller's child. Returns true when it is gone.
bool signal_and_wait(pid_t pid, uint64_t start_time, int signal, int timeout_ms);

}  // namespace podnet
