#pragma once
// Linux capabilities as a bit set: names, Docker's --cap-add/--cap-drop rules, and the raw
// syscalls that apply a set in a forked child before exec.
//
// Order in the child: drop_bounding_capabilities (needs CAP_SETPCAP, so before any setuid),
// then the uid/gid switch (with PR_SET_KEEPCAPS), then set_process_capabilities and
// clear_ambient_capabilities.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace podnet {

// Bit n is capability number n (linux/capability.h).
using CapabilitySet = uint64_t;

[[nodiscard]] constexpr CapabilitySet capability_bit(int cap) {
    return (cap >= 0 && cap < 64) ? CapabilitySet{1} << cap : 0;
}

// "NET_ADMIN", "CAP_NET_ADMIN" and "net_admin" all name CAP_NET_ADMIN; unknown names are errors.
[[nodiscard]] Result<int> capability_from_name(std::string_view name);
// "CAP_NET_ADMIN"; numbers without a name come back as "CAP_<n>".
[[nodiscard]] std::string capability_name(int cap);
// Sorted names of the members of `set`, for display.
[[nodiscard]] std::vector<std::string> capability_names(CapabilitySet set);

// Docker's default 14: CHOWN DAC_OVERRIDE FSETID FOWNER MKNOD NET_RAW SETGID SETUID SETFCAP
// SETPCAP NET_BIND_SERVICE SYS_CHROOT KILL AUDIT_WRITE.
[[nodiscard]] CapabilitySet docker_default_capabilities();
// Every named capability the running kernel knows (what "ALL" and --privileged mean).
[[nodiscard]] CapabilitySet all_capabilities();

// Docker's --cap-add/--cap-drop: "ALL" in `add` means every capability except those dropped;
// otherwise "ALL" in `drop` means only the added ones; otherwise the defaults minus `drop` plus
// `add` (so a capability named in both lists is kept).
[[nodiscard]] Result<CapabilitySet> resolve_capabilities(const std::vector<std::string>& add,
                                                         const std::vector<std::string>& drop);

// Highest capability number the running kernel knows (/proc/sys/kernel/cap_last_cap, probed with
// PR_CAPBSET_READ if that cannot be read). Cached: call it in the parent before forking so the
// child-side functions below use the value without touching the filesystem.
[[nodiscard]] int last_capability();

// The next three run in a forked child between fork and exec: async-signal-safe, raw syscalls
// only, no allocation. They return 0 or -errno.

// PR_CAPBSET_DROP every capability not in `keep`. Capabilities already out of the bounding set
// are skipped, so a call that removes nothing needs no privilege.
[[nodiscard]] int drop_bounding_capabilities(CapabilitySet keep);
// capset: effective = permitted = inheritable = keep. Permitted can only shrink, and inheritable
// must stay within the bounding set, so call it after drop_bounding_capabilities.
[[nodiscard]] int set_process_capabilities(CapabilitySet keep);
// PR_CAP_AMBIENT_CLEAR_ALL; kernels without ambient capabilities have none to clear.
[[nodiscard]] int clear_ambient_capabilities();

}  // namespace podnet
