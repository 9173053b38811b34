#pragma once
// Process identity and liveness from /proc. A pid alone is not an identity (pids are reused),
// and kill(pid, 0) reports zombies as alive (some init systems never reap orphans), so podnet
// keeps (pid, start time) and reads the state letter from /proc/PID/stat.

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace podnet {

struct ProcStat {
    char state = '?';  // R, S, D, Z, X, ...
    pid_t parent = 0;
    uint64_t start_time = 0;  // clock ticks since boot (field 22)
};

// nullopt when the process does not exist.
[[nodiscard]] std::optional<ProcStat> read_proc_stat(pid_t pid);

// True when `pid` exists, is not a zombie, and (if start_time != 0) started at `start_time`.
[[nodiscard]] bool process_running(pid_t pid, uint64_t start_time);

// argv of a process, NUL-separated fields split; empty for zombies and kernel threads.
[[nodiscard]] std::optional<std::vector<std::string>> read_proc_cmdline(pid_t pid);

// Random lowercase hex of `bytes` bytes (2*bytes characters), from getrandom(2).
[[nodiscard]] std::string random_hex(size_t bytes);

// Wall-clock time as RFC 3339 with nanoseconds, UTC ("2026-11-28T12:00:00.123456789Z").
[[nodiscard]] std::string now_rfc3339();

}  // namespace podnet
