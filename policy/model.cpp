#include "policy/model.hpp"

#include <netinet/in.h>

#include <algorithm>

namespace podnet::policy {

std::string_view protocol_name(Protocol protocol) {
    switch (protocol) {
        case Protocol::tcp:
            return "TCP";
        case Protocol::udp:
            return "UDP";
        case Protocol::sctp:
            return "SCTP";
    }
    return "TCP";
}

Result<Protocol> parse_protocol(std::string_view text) {
    if (text == "TCP") return Protocol::tcp;
    if (text == "UDP") return Protocol::udp;
    if (text == "SCTP") return Protocol::sctp;
    return fail("unknown protocol \"" + std::string(text) + "\" (TCP, UDP or SCTP)");
}

int protocol_number(Protocol protocol) {
    switch (protocol) {
        case Protocol::tcp:
            return IPPROTO_TCP;
        case Protocol::udp:
            return IPPROTO_UDP;
        case Protocol::sctp:
            return IPPROTO_SCTP;
    }
    return IPPROTO_TCP;
}

bool LabelSelector::matches(const Labels& labels) const {
    return matches_found([&](const std::string& key) -> const std::string* {
        auto it = labels.find(key);
        return it == labels.end() ? nullptr : &it->second;
    });
}

std::string LabelSelector::str() const {
    if (empty()) return "{}";
    std::string out;
    auto add = [&](const std::string& part) { out += (out.empty() ? "" : ", ") + part; };
    for (const auto& [key, value] : match_labels) add(key + "=" + value);
    for (const auto& req : match_expressions) {
        std::string values;
        for (const auto& v : req.values) values += (values.empty() ? "" : ",") + v;
        switch (req.op) {
            case SelectorOp::in:
                add(req.key + " in (" + values + ")");
                break;
            case SelectorOp::not_in:
                add(req.key + " notin (" + values + ")");
                break;
            case SelectorOp::exists:
                add(req.key);
                break;
            case SelectorOp::does_not_exist:
                add("!" + req.key);
                break;
        }
    }
    return out;
}

bool IpBlock::contains(const IpAddress& address) const {
    if (address.family != cidr.address.family || !cidr.contains(address)) return false;
    return std::none_of(except.begin(), except.end(),
                        [&](const IpPrefix& e) { return e.contains(address); });
}

std::optional<uint16_t> Pod::resolve_port(std::string_view name, Protocol protocol) const {
    for (const auto& p : ports)
        if (p.name == name && p.protocol == protocol) return p.port;
    return std::nullopt;
}

bool Cluster::namespace_matches(const LabelSelector& selector, const std::string& ns) const {
    static const std::string name_key = "kubernetes.io/metadata.name";
    auto it = namespaces.find(ns);
    const Labels* labels = it == namespaces.end() ? nullptr : &it->second;
    return selector.matches_found([&](const std::string& key) -> const std::string* {
        if (labels != nullptr)
            if (auto found = labels->find(key); found != labels->end()) return &found->second;
        return key == name_key ? &ns : nullptr;
    });
}

const Pod* Cluster::find_pod(std::string_view key) const {
    for (const auto& pod : pods)
        if (pod.key() == key) return &pod;
    return nullptr;
}

const Pod* Cluster::find_pod_by_ip(const IpAddress& address) const {
    for (const auto& pod : pods)
        if (std::find(pod.ips.begin(), pod.ips.end(), address) != pod.ips.end()) return &pod;
    return nullptr;
}

bool selects(const NetworkPolicy& policy, const Pod& pod) {
    return pod.ns == policy.ns && policy.pod_selector.matches(pod.labels);
}

bool peer_matches(const Cluster& cluster, const std::string& policy_ns, const Peer& peer,
                  const Pod* pod, const IpAddress& address) {
    if (peer.ip_block) return peer.ip_block->contains(address);
    if (pod == nullptr) return false;  // selectors, even {}, never match an external host
    if (peer.namespace_selector) {
        if (!cluster.namespace_matches(*peer.namespace_selector, pod->ns)) return false;
    } else if (pod->ns != policy_ns) {
        return false;  // a podSelector alone looks in the policy's own namespace
    }
    return !peer.pod_selector || peer.pod_selector->matches(pod->labels);
}

}  // namespace podnet::policy
