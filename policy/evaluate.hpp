#pragma once
// The NetworkPolicy evaluator: is a connection allowed, and why. Pure: a Cluster in, a verdict
// out. A connection is allowed when the source's egress allows it (or no egress policy selects
// the source) and the destination's ingress allows it (or no ingress policy selects it).
// External endpoints (addresses of no pod) have no policies of their own.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/ip.hpp"
#include "common/result.hpp"
#include "policy/model.hpp"

namespace podnet::policy {

// A pod (with the address in question) or an external address (pod == nullptr).
struct Endpoint {
    const Pod* pod = nullptr;
    IpAddress address;

    [[nodiscard]] std::string str() const;  // "x/a" or "192.168.50.7"
};

// "ns/pod" → that pod (its first address); an address → the pod holding it, else external.
[[nodiscard]] Result<Endpoint> resolve_endpoint(const Cluster& cluster, const std::string& text);
// A probe's destination port: a number, or a named port of `to` (must be a pod).
[[nodiscard]] Result<uint16_t> resolve_probe_port(const Endpoint& to, const std::string& port,
                                                  Protocol protocol);

struct DirectionVerdict {
    bool isolated = false;
    bool allowed = true;
    std::vector<std::string> policies;  // "ns/name" of the policies isolating this side
    std::string allowed_by;             // "ns/name spec.ingress[0]" when a rule allowed it
};

struct Verdict {
    bool allowed = true;
    DirectionVerdict egress;   // of the source
    DirectionVerdict ingress;  // of the destination
    std::string reason;        // one line
};

[[nodiscard]] Verdict evaluate(const Cluster& cluster, const Endpoint& from, const Endpoint& to,
                               uint16_t port, Protocol protocol);

// Whether `rule`'s ports admit `port`/`protocol` towards `destination` (named ports resolve on
// it; an external destination has none).
[[nodiscard]] bool rule_ports_match(const Rule& rule, const Pod* destination, uint16_t port,
                                    Protocol protocol);

}  // namespace podnet::policy
