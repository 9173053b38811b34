#pragma once
// `podnet overlay agent`, flanneld's loop: make the backend's devices, take (or get back) the
// node's lease, hand its subnet to the node's pod network, then keep the kernel in step with the
// other nodes' leases — reconciling whenever they change — and renew the lease well before it
// expires. Store errors are logged and retried with backoff; the kernel keeps forwarding.
// It never tears anything down on stop, so a restarted agent finds the state it left and traffic
// keeps flowing across the restart.

#include <atomic>
#include <functional>
#include <string>

#include "common/result.hpp"
#include "overlay/backend.hpp"
#include "overlay/config.hpp"
#include "overlay/lease.hpp"

namespace podnet::overlay {

struct AgentOptions {
    OverlayConfig config;
    LocalNode local;
    std::string node;
    int ttl_seconds = 60;
    int poll_ms = 100;  // how often the store is read for changes
    // Called once the lease is known (and again if it changes): the node's pod network takes
    // the subnet; `mtu` is what pod interfaces should use.
    std::function<Result<void>(const Lease& own, int mtu)> on_lease;
    std::function<void(const std::string&)> log;  // one line each
};

// Runs until `stop` becomes true. Fails only for what retrying cannot fix (bad devices).
[[nodiscard]] Result<void> run_agent(const AgentOptions& options, LeaseStore& store,
                                     NetlinkSocket& netlink, const std::atomic<bool>& stop);

// Masquerade for pod traffic leaving the cluster network (and only that), in podnet's own
// `table ip podnet_overlay`. Idempotent.
[[nodiscard]] std::string masquerade_script(const IpPrefix& cluster);

}  // namespace podnet::overlay
