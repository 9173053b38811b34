#pragma once
// Records (what podnet wrote) → the public view (what is true now: is pause alive, which
// containers are still running and how the others ended).

#include <chrono>

#include "podnet/runtime.hpp"
#include "sandbox/record.hpp"
#include "sandbox/store.hpp"

namespace podnet {

[[nodiscard]] SandboxInfo sandbox_info(const SandboxStore& store, const SandboxRecord& record);

// SIGTERM every running container of the pod and wait up to `timeout` for them to exit.
void stop_containers(const SandboxRecord& record, std::chrono::seconds timeout);

}  // namespace podnet
