#include "policy/evaluate.hpp"

#include <charconv>

namespace podnet::policy {

std::string Endpoint::str() const {
    return pod != nullptr ? pod->key() : address.str();
}

Result<Endpoint> resolve_endpoint(const Cluster& cluster, const std::string& text) {
    if (text.find('/') != std::string::npos) {
        const Pod* pod = cluster.find_pod(text);
        if (pod == nullptr) return fail("unknown pod \"" + text + "\"");
        if (pod->ips.empty()) return fail("pod " + text + " has no IP address");
        return Endpoint{pod, pod->ips.front()};
    }
    auto address = parse_ip(text);
    if (!address) return fail("\"" + text + "\" is neither a pod (ns/name) nor an IP address");
    return Endpoint{cluster.find_pod_by_ip(*address), *address};
}

Result<uint16_t> resolve_probe_port(const Endpoint& to, const std::string& port,
                                    Protocol protocol) {
    if (!port.empty() && port.find_first_not_of("0123456789") == std::string::npos) {
        unsigned value = 0;
        auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
        if (ec != std::errc() || value == 0 || value > 65535)
            return fail("port " + port + " is out of range (1-65535)");
        return static_cast<uint16_t>(value);
    }
    if (to.pod == nullptr) return fail("named port \"" + port + "\" on external host " + to.str());
    auto number = to.pod->resolve_port(port, protocol);
    if (!number)
        return fail(to.str() + " has no " + std::string(protocol_name(protocol)) +
                    " port named \"" + port + "\"");
    return *number;
}

bool rule_ports_match(const Rule& rule, const Pod* destination, uint16_t port, Protocol protocol) {
    if (rule.ports.empty()) return true;
    for (const auto& spec : rule.ports) {
        if (spec.protocol != protocol) continue;
        if (spec.port) {
            uint16_t last = spec.end_port.value_or(*spec.port);
            if (port >= *spec.port && port <= last) return true;
        } else if (!spec.port_name.empty()) {
            if (destination != nullptr &&
                destination->resolve_port(spec.port_name, protocol) == port)
                return true;
        } else {
            return true;  // protocol only: every port
        }
    }
    return false;
}

namespace {

// One side's verdict: `self` is the pod whose policies are consulted, `peer` the other end.
DirectionVerdict judge(const Cluster& cluster, const Pod& self, const Endpoint& peer,
                       const Pod* destination, uint16_t port, Protocol protocol, bool ingress) {
    DirectionVerdict v;
    for (const auto& policy : cluster.policies) {
        if (!(ingress ? policy.affects_ingress : policy.affects_egress) || !selects(policy, self))
            continue;
        v.isolated = true;
        v.policies.push_back(policy.key());
        if (!v.allowed_by.empty()) continue;
        const auto& rules = ingress ? policy.ingress : policy.egress;
        for (size_t i = 0; i < rules.size(); ++i) {
            const Rule& rule = rules[i];
            if (!rule_ports_match(rule, destination, port, protocol)) continue;
            bool peer_ok = rule.peers.empty();
            for (const auto& p : rule.peers)
                if (!peer_ok && peer_matches(cluster, policy.ns, p, peer.pod, peer.address))
                    peer_ok = true;
            if (peer_ok) {
                v.allowed_by = policy.key() + (ingress ? " spec.ingress[" : " spec.egress[") +
                               std::to_string(i) + "]";
                break;
            }
        }
    }
    v.allowed = !v.isolated || !v.allowed_by.empty();
    return v;
}

std::string join(const std::vector<std::string>& items) {
    std::string out;
    for (const auto& s : items) out += (out.empty() ? "" : ", ") + s;
    return out;
}

std::string describe(const DirectionVerdict& v, const std::string& self, const Endpoint& peer,
                     uint16_t port, Protocol protocol, bool ingress) {
    const char* dir = ingress ? "ingress" : "egress";
    if (!v.isolated) return self + " is not isolated for " + dir;
    if (v.allowed) return self + " " + dir + " allowed by " + v.allowed_by;
    return self + " is isolated for " + dir + " by " + join(v.policies) + "; no rule allows " +
           (ingress ? peer.str()
                    : peer.str() + " port " + std::to_string(port) + "/" +
                          std::string(protocol_name(protocol)));
}

}  // namespace

Verdict evaluate(const Cluster& cluster, const Endpoint& from, const Endpoint& to, uint16_t port,
                 Protocol protocol) {
    Verdict verdict;
    if (from.pod != nullptr && from.pod == to.pod) {
        verdict.reason = "traffic of " + from.str() + " to itself is not subject to policy";
        return verdict;
    }
    std::vector<std::string> parts;
    if (from.pod != nullptr) {
        verdict.egress = judge(cluster, *from.pod, to, to.pod, port, protocol, false);
        parts.push_back(describe(verdict.egress, from.str(), to, port, protocol, false));
    }
    if (to.pod != nullptr) {
        verdict.ingress = judge(cluster, *to.pod, from, to.pod, port, protocol, true);
        parts.push_back(describe(verdict.ingress, to.str(), from, port, protocol, true));
    }
    verdict.allowed = verdict.egress.allowed && verdict.ingress.allowed;
    if (from.pod == nullptr && to.pod == nullptr)
        parts.push_back("neither end is a pod: no policy applies");
    // A denial leads with the side that denied.
    if (!verdict.allowed && from.pod != nullptr && verdict.egress.allowed && parts.size() == 2)
        std::swap(parts[0], parts[1]);
    for (const auto& p : parts) verdict.reason += (verdict.reason.empty() ? "" : "; ") + p;
    return verdict;
}

}  // namespace podnet::policy
