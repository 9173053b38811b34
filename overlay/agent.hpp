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
    // Where the agent says how far it got (see AgentRecord); empty: nowhere.
    std::string record_path;
    // flannel's subnet.env (see subnet_env), rewritten whenever the lease changes; empty: none.
    std::string subnet_env_path;
    bool ip_masq = true;  // FLANNEL_IPMASQ: the agent masquerades traffic leaving the cluster
};

// flanneld's --subnet-file, for tools made for flannel (its CNI plugin, scripts) to read:
//   FLANNEL_NETWORK=10.244.0.0/16    the cluster (FLANNEL_IPV6_NETWORK for an IPv6 cluster)
//   FLANNEL_SUBNET=10.244.1.1/24     the node's gateway address with the subnet's length
//                                    (FLANNEL_IPV6_SUBNET for an IPv6 cluster)
//   FLANNEL_MTU=1450                 what pod interfaces should use
//   FLANNEL_IPMASQ=true
// Under <run_root>/overlay/subnet.env (flannel: /run/flannel/subnet.env).
[[nodiscard]] std::string subnet_env_path(const std::string& run_root);
[[nodiscard]] std::string subnet_env(const OverlayConfig& config, const Lease& own, int mtu,
                                     bool ip_masq);

// What a running agent last did, in a small JSON file, so that a caller that started it (the
// lab, a test, an init script) can wait until the node is usable rather than until it merely
// holds a lease: `subnet` is set once the node's pod network uses it, `peers` after every
// reconcile that succeeded (-1 before the first).
struct AgentRecord {
    int pid = 0;
    std::string subnet;
    int peers = -1;
};
[[nodiscard]] std::string agent_record_path(const std::string& run_root);
[[nodiscard]] Result<AgentRecord> read_agent_record(const std::string& path);

// Runs until `stop` becomes true. Fails only for what retrying cannot fix (bad devices).
[[nodiscard]] Result<void> run_agent(const AgentOptions& options, LeaseStore& store,
                                     NetlinkSocket& netlink, const std::atomic<bool>& stop);

// The node's overlay rules, in podnet's own `table inet podnet_overlay`; idempotent:
// - masquerade for pod traffic leaving the cluster network (and only that);
// - for the encapsulating backends (vxlan, udp), the tunnel's own UDP packets on the underlay
//   skip conntrack: each pod packet is already tracked once as itself, and tracking its
//   outer copy again on both nodes cost ~10% of vxlan throughput in the lab. A host firewall
//   that accepts only `ct state established` must accept the tunnel port by itself (it has to
//   for the first packet anyway).
[[nodiscard]] std::string overlay_nft_script(const OverlayConfig& config,
                                             const std::string& underlay);

}  // namespace podnet::overlay
