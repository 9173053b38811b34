#pragma once
// `podnet lab`: many nodes on one VM. Each node is a network namespace (pinned under the lab's
// root) with its own podnet state root, joined to the others by veths on one underlay bridge
// (`pnlab0`, 192.168.100.0/24: node K is .K, the lab's own end .254), running its own
// `podnet overlay agent` against the lab's lease store. How users and our tests run multi-node
// integration tests on one machine.
//
// Layout under LAB = ROOT/lab:  lab.json, net.json (flannel config), leases.json (file store),
//   nodes/nodeK/{net (netns pin), podnet.toml (its [paths] and [overlay]), root/ (its state),
//   agent.json, agent.log}

#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.hpp"
#include "overlay/config.hpp"
#include "overlay/lease.hpp"

namespace podnet::overlay {

struct LabOptions {
    std::string root;           // the lab lives in ROOT/lab
    std::string podnet_binary;  // started as the agent on every node
    int nodes = 3;
    Backend backend = Backend::vxlan;
    bool direct_routing = false;  // vxlan: plain routes between nodes (all share the underlay)
    IpPrefix cluster;             // default 10.244.0.0/16
    std::string store = "file";   // or "etcd": started by the lab, on the underlay
    int timeout_ms = 0;           // for every node to hold its lease; 0: 15 s + 0.5 s per node
    // One line per step a user waits for ("node3 up (10.244.3.0/24)"); empty: silent.
    std::function<void(const std::string&)> progress;
};

struct LabNode {
    std::string name;
    std::string public_ip;
    std::string netns;   // pin path
    std::string root;    // its podnet --root
    std::string config;  // its podnet.toml
    int agent_pid = 0;
    bool agent_running = false;
    std::string subnet;  // from its lease, when it holds one
    // Its agent has given the node's pod network the lease and reconciled with the other
    // nodes at least once: pods can be started and reach the rest.
    bool ready = false;
};

struct LabStatus {
    std::string backend;
    std::string store;
    std::string cluster;
    std::vector<LabNode> nodes;
    std::vector<std::string> warnings;
};

// Builds the lab and returns once every node holds its lease. A lab already there is an error.
[[nodiscard]] Result<LabStatus> lab_up(const LabOptions& options);
[[nodiscard]] Result<LabStatus> lab_status(const std::string& root);
// Stops the agents, removes each node's sandboxes, the namespaces, veths, bridge and files.
// Keeps going after errors and reports them all; running it again finishes the job. No lab is
// no work (false), as `kind delete cluster` succeeds without a cluster; true: one was taken down.
[[nodiscard]] Result<bool> lab_down(
    const std::string& root, const std::string& podnet_binary,
    const std::function<void(const std::string&)>& progress = nullptr);
// The node's network namespace pin and podnet root, for `lab exec` (the CLI joins and execs).
[[nodiscard]] Result<LabNode> lab_node(const std::string& root, const std::string& node);

// Stops the node's agent (SIGTERM: it leaves devices, routes and lease as they are) and, with
// `start`, starts it again and waits for its lease — `lab stop` / `lab start` / `lab restart`.
// NODE "etcd" does the same to the lab's etcd.
[[nodiscard]] Result<void> lab_restart_agent(const std::string& root, const std::string& node,
                                             const std::string& podnet_binary, bool start);

[[nodiscard]] nlohmann::json lab_status_json(const LabStatus& status);

}  // namespace podnet::overlay
