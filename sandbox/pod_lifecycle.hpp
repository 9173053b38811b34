#pragma once
// Internal steps shared by stop, rm and gc: ending a pod's processes and releasing what it held.

#include <string>
#include <vector>

#include "common/result.hpp"
#include "sandbox/record.hpp"
#include "sandbox/store.hpp"

namespace podnet {

// End the pause process (so the kernel kills the rest of the pod): `first_signal`, then SIGKILL
// if it has not exited within `grace_ms`. Returns an error only if it could not be ended.
[[nodiscard]] Result<void> end_pause(const SandboxRecord& record, int first_signal, int grace_ms);

// Unmount the namespace pins of sandbox `id`; keeps going and collects errors.
void unpin_all(const SandboxStore& store, const std::string& id, std::vector<Error>& errors);

// Remove pins, logs and the pod directory, the record and the name. Collects errors.
void forget_sandbox(const SandboxStore& store, const std::string& id, const std::string& name,
                    std::vector<Error>& errors);

// Pause processes tagged with this run root: (pid, sandbox id) from their argv.
struct TaggedPause {
    pid_t pid;
    std::string sandbox_id;
};
[[nodiscard]] std::vector<TaggedPause> find_pause_processes(const std::string& run_root);

// Exit codes pause logged for reaped children: pod pid → last status.
[[nodiscard]] std::vector<std::pair<pid_t, int>> read_exit_log(const std::string& path);

[[nodiscard]] Error join_errors(const std::string& context, const std::vector<Error>& errors);

}  // namespace podnet
