#pragma once
// `podnet policy probe`: a scenario built for real and every probe run as a real connection, so
// the kernel's enforcement can be held against the evaluator's verdicts (as Kubernetes' e2e
// tests do with agnhost pods).
//
// The world is private: enter_private_world() forks a child in new network, mount and PID
// namespaces (tmpfs on /run, its own /proc), so the sandboxes, bridge, nft tables and external
// hosts it builds vanish with it — even if it is killed.
//
// Inside: one network for the scenario's pods (masquerade off, so servers see real sources), a
// sandbox per pod with its namespace, labels, address and named ports, a TCP and UDP server per
// pod for every port it serves or is probed on, and a network namespace per external address
// (a veth to the node, the Calico way: the node side answers as 169.254.1.1, the host route is
// a /32). Then the policies are applied and every probe connects, in parallel, with a short
// timeout. Denied connections are refused at once (ICMP admin-prohibited), not timed out.

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "podnet/runtime.hpp"
#include "policy/scenario.hpp"

namespace podnet {

// Runs `body` in a child in a private world and returns its exit code (or 128+signal).
[[nodiscard]] Result<int> run_in_private_world(const std::function<int()>& body);

struct ProbeObservation {
    std::optional<bool> connected;  // unset when skipped
    std::string skipped;            // why it did not run
    std::string detail;             // how a failed connection failed
};

// Builds `scenario` with `runtime` (whose state must be inside the private world), applies its
// policies and runs every probe. One observation per probe, in order.
[[nodiscard]] Result<std::vector<ProbeObservation>> probe_scenario(
    Runtime& runtime, const policy::Scenario& scenario,
    const std::vector<policy::ProbeVerdict>& verdicts, int timeout_ms = 1000);

}  // namespace podnet
