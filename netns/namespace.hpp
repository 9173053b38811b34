#pragma once
// Namespace handles: the pod's namespaces are pinned by bind-mounting /proc/PID/ns/KIND onto a
// file (as CRI-O's pinns and `ip netns` do), so they outlive any one process and can be joined
// by path with setns(2), nsenter or an OCI runtime.

#include <sys/types.h>

#include <array>
#include <string>
#include <string_view>

#include "common/result.hpp"
#include "common/unique_fd.hpp"

namespace podnet {

enum class NamespaceKind { net, ipc, uts, pid };

inline constexpr std::array<NamespaceKind, 4> pod_namespace_kinds = {
    NamespaceKind::net, NamespaceKind::ipc, NamespaceKind::uts, NamespaceKind::pid};

// "net", "ipc", "uts", "pid": the name under /proc/PID/ns/.
[[nodiscard]] std::string_view namespace_proc_name(NamespaceKind kind);
// The OCI runtime-spec type: "network", "ipc", "uts", "pid".
[[nodiscard]] std::string_view namespace_oci_type(NamespaceKind kind);
// CLONE_NEWNET and friends.
[[nodiscard]] int namespace_clone_flag(NamespaceKind kind);

// Bind-mount /proc/PID/ns/KIND onto `pin_path` (created as an empty file).
[[nodiscard]] Result<void> pin_namespace(pid_t pid, NamespaceKind kind,
                                         const std::string& pin_path);
// Detach the bind mount and remove the file; "not mounted" and "not there" count as done.
[[nodiscard]] Result<void> unpin_namespace(const std::string& pin_path);
// True when `path` is an nsfs bind mount (a live pin).
[[nodiscard]] bool is_namespace_pin(const std::string& path);
// Open a pinned or /proc namespace for setns(2).
[[nodiscard]] Result<UniqueFd> open_namespace(const std::string& path);

}  // namespace podnet
