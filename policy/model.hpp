#pragma once
// Kubernetes networking.k8s.io/v1 NetworkPolicy, as podnet holds it after validation, and the
// small cluster model the evaluator and the nftables compiler both read (namespaces with labels,
// pods with labels, addresses and named ports). Pure data and pure functions: no I/O here.

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/ip.hpp"
#include "common/result.hpp"
#include "common/validate.hpp"

namespace podnet::policy {

enum class Protocol { tcp, udp, sctp };

// "TCP", "UDP", "SCTP" — Kubernetes spells them upper case and accepts nothing else.
[[nodiscard]] std::string_view protocol_name(Protocol protocol);
[[nodiscard]] Result<Protocol> parse_protocol(std::string_view text);
// IPPROTO_* for nftables.
[[nodiscard]] int protocol_number(Protocol protocol);

enum class SelectorOp { in, not_in, exists, does_not_exist };

struct Requirement {
    std::string key;
    SelectorOp op = SelectorOp::exists;
    std::vector<std::string> values;
};

// matchLabels AND every matchExpression. The empty selector matches every object.
struct LabelSelector {
    Labels match_labels;
    std::vector<Requirement> match_expressions;

    [[nodiscard]] bool matches(const Labels& labels) const;
    // The same against labels given by a lookup: `find(key)` returns the value or nullptr.
    template <class Find>
    [[nodiscard]] bool matches_found(Find&& find) const;
    [[nodiscard]] bool empty() const { return match_labels.empty() && match_expressions.empty(); }
    // "{}" or "pod=a, env in (x,y), !debug" (kubectl's selector syntax), for explanations.
    [[nodiscard]] std::string str() const;
};

template <class Find>
bool LabelSelector::matches_found(Find&& find) const {
    for (const auto& [key, value] : match_labels) {
        const std::string* have = find(key);
        if (have == nullptr || *have != value) return false;
    }
    for (const auto& req : match_expressions) {
        const std::string* have = find(req.key);
        bool listed = have != nullptr &&
                      std::find(req.values.begin(), req.values.end(), *have) != req.values.end();
        switch (req.op) {
            case SelectorOp::in:
                if (!listed) return false;
                break;
            // apimachinery: NotIn and DoesNotExist match an object that lacks the key.
            case SelectorOp::not_in:
                if (listed) return false;
                break;
            case SelectorOp::exists:
                if (have == nullptr) return false;
                break;
            case SelectorOp::does_not_exist:
                if (have != nullptr) return false;
                break;
        }
    }
    return true;
}

struct IpBlock {
    IpPrefix cidr;
    std::vector<IpPrefix> except;  // each inside cidr (validated)

    [[nodiscard]] bool contains(const IpAddress& address) const;
};

// One element of from/to. Either ip_block, or one or both selectors (both: AND).
struct Peer {
    std::optional<LabelSelector> pod_selector;
    std::optional<LabelSelector> namespace_selector;
    std::optional<IpBlock> ip_block;
};

// One element of ports. Neither port nor port_name: every port of the protocol.
struct PortSpec {
    Protocol protocol = Protocol::tcp;
    std::optional<uint16_t> port;
    std::string port_name;             // a named port, resolved on the destination pod
    std::optional<uint16_t> end_port;  // with a numeric port only
};

// An ingress or egress rule. No peers: any peer. No ports: all traffic.
struct Rule {
    std::vector<Peer> peers;
    std::vector<PortSpec> ports;
};

struct NetworkPolicy {
    std::string name;
    std::string ns;
    LabelSelector pod_selector;
    bool affects_ingress = false;  // policyTypes, defaults applied
    bool affects_egress = false;
    std::vector<Rule> ingress;
    std::vector<Rule> egress;

    [[nodiscard]] std::string key() const { return ns + "/" + name; }
};

struct NamedPort {
    std::string name;
    uint16_t port = 0;
    Protocol protocol = Protocol::tcp;
};

struct Pod {
    std::string ns;
    std::string name;
    Labels labels;
    std::vector<IpAddress> ips;
    std::vector<NamedPort> ports;

    [[nodiscard]] std::string key() const { return ns + "/" + name; }
    // The number of the pod's port called `name` for `protocol`, if it has one.
    [[nodiscard]] std::optional<uint16_t> resolve_port(std::string_view name,
                                                       Protocol protocol) const;
};

struct Cluster {
    std::map<std::string, Labels> namespaces;  // as given; see namespace_matches()
    std::vector<Pod> pods;
    std::vector<NetworkPolicy> policies;

    // Whether a namespace selector matches `ns`: its given labels plus Kubernetes' automatic
    // `kubernetes.io/metadata.name=<ns>` (every namespace has it since 1.21).
    [[nodiscard]] bool namespace_matches(const LabelSelector& selector,
                                         const std::string& ns) const;
    [[nodiscard]] const Pod* find_pod(std::string_view key) const;  // "ns/name"
    [[nodiscard]] const Pod* find_pod_by_ip(const IpAddress& address) const;
};

// Whether `policy` selects `pod` (same namespace, podSelector matches).
[[nodiscard]] bool selects(const NetworkPolicy& policy, const Pod& pod);

// Whether `peer` of a rule in a policy of namespace `policy_ns` matches the endpoint: a pod
// (then `address` is the pod's address in question) or an external address (pod == nullptr).
// Selectors match pods only; ipBlock matches any address of its family.
[[nodiscard]] bool peer_matches(const Cluster& cluster, const std::string& policy_ns,
                                const Peer& peer, const Pod* pod, const IpAddress& address);

}  // namespace podnet::policy
