#pragma once
// Forgetting the connections of a removed host port. A conntrack entry keeps its NAT binding for
// as long as packets keep it alive, so without this a UDP client that keeps sending to a host
// port goes on being sent to the old pod, or nowhere, after the mapping is removed or moved (the
// CNI portmap black hole, containernetworking/plugins#123).

#include "common/result.hpp"
#include "portmap/portmap.hpp"

namespace podnet {

// Deletes the conntrack entries, in the calling thread's network namespace, whose original
// direction went to the mapping's host port: same protocol and destination port, and a
// destination that is the mapping's host IP (bound mappings; an unspecified one = any address of
// its family) or any of this host's own addresses (mappings on every address). Connections the
// host or its pods opened to that port on other machines are left alone. Returns how many went.
// Call it after removing a mapping, and after adding one to drop entries that predate it.
[[nodiscard]] Result<int> flush_conntrack(const PortMapping& mapping);
// The same in the network namespace `netns_fd` (borrowed), from a short-lived thread that joins
// it; the caller's thread never changes namespace.
[[nodiscard]] Result<int> flush_conntrack_in(int netns_fd, const PortMapping& mapping);

}  // namespace podnet
