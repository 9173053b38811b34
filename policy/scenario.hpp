#pragma once
// Scenario files (../shared/netpol-scenario.md): a small cluster, its policies and the
// connections to judge. Read by `podnet policy eval` (the evaluator) and `podnet policy probe`
// (the same cluster built for real).

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.hpp"
#include "policy/evaluate.hpp"
#include "policy/model.hpp"

namespace podnet::policy {

struct Probe {
    std::string from;  // "ns/pod" or an external IP
    std::string to;
    std::string port;  // a number or a named port of the destination
    Protocol protocol = Protocol::tcp;
    std::optional<bool> expected;  // `allowed` in the file
};

struct Scenario {
    std::string description;
    Cluster cluster;
    std::vector<nlohmann::json> policy_objects;  // as written, for applying them for real
    std::vector<Probe> probes;
};

// Errors name the file and the entry: `s.yaml: pods[2].ip: "10.0.1" is not an IP address`.
[[nodiscard]] Result<Scenario> parse_scenario(std::string_view text, const std::string& source);
[[nodiscard]] Result<Scenario> load_scenario(const std::string& path);

struct ProbeVerdict {
    const Probe* probe = nullptr;
    uint16_t port = 0;  // resolved
    Verdict verdict;
    [[nodiscard]] bool mismatch() const {
        return probe->expected && *probe->expected != verdict.allowed;
    }
};

// Every probe through the evaluator, in input order. Fails on a probe naming an unknown pod or
// port (the file is wrong, not the verdict).
[[nodiscard]] Result<std::vector<ProbeVerdict>> evaluate_scenario(const Scenario& scenario);

}  // namespace podnet::policy
