#include "policy/engine.hpp"

#include <algorithm>

namespace podnet::policy {

namespace {

// Whether `pod` as a peer can change the elements of the pods `policy` selects: a selector peer
// of one of its rules matches it, or an egress rule names a port (resolved on every destination).
bool names_as_peer(const Cluster& cluster, const NetworkPolicy& policy, const Pod& pod) {
    auto rules_match = [&](const std::vector<Rule>& rules, bool egress) {
        for (const auto& rule : rules) {
            if (egress)
                for (const auto& spec : rule.ports)
                    if (!spec.port_name.empty()) return true;
            for (const auto& peer : rule.peers) {
                // An ipBlock compiles to address ranges whoever holds the addresses (only
                // named ports, handled above, look for the pods inside it).
                if (peer.ip_block) continue;
                for (const auto& ip : pod.ips)
                    if (peer_matches(cluster, policy.ns, peer, &pod, ip)) return true;
            }
        }
        return false;
    };
    return (policy.affects_ingress && rules_match(policy.ingress, false)) ||
           (policy.affects_egress && rules_match(policy.egress, true));
}

bool has_namespace_selector(const NetworkPolicy& policy) {
    for (const auto* rules : {&policy.ingress, &policy.egress})
        for (const auto& rule : *rules)
            for (const auto& peer : rule.peers)
                if (peer.namespace_selector) return true;
    return false;
}

}  // namespace

void PolicyEngine::reset(Cluster cluster) {
    // What the kernel holds is what was compiled before: remember it for the next script.
    for (const auto& [key, elements] : by_pod_) applied_.try_emplace(key, elements);
    cluster_ = std::move(cluster);
    by_pod_.clear();
    selected_.clear();
    for (const auto& policy : cluster_.policies) selected_[policy.key()] = selected_by(policy);
    for (const auto& pod : cluster_.pods) {
        applied_.try_emplace(pod.key());  // a pod new to the kernel held nothing
        compile_pod(cluster_, pod, by_pod_[pod.key()]);
    }
}

std::set<std::string> PolicyEngine::selected_by(const NetworkPolicy& policy) const {
    std::set<std::string> out;
    for (const auto& pod : cluster_.pods)
        if (selects(policy, pod)) out.insert(pod.key());
    return out;
}

std::set<std::string> PolicyEngine::peers_of(const Pod& pod) const {
    std::set<std::string> out;
    for (const auto& policy : cluster_.policies)
        if (names_as_peer(cluster_, policy, pod)) {
            const auto& selected = selected_.at(policy.key());
            out.insert(selected.begin(), selected.end());
        }
    return out;
}

void PolicyEngine::remember(const std::string& pod) {
    auto it = by_pod_.find(pod);
    applied_.try_emplace(pod, it == by_pod_.end() ? Elements{} : it->second);
}

void PolicyEngine::recompile(const std::set<std::string>& pods) {
    for (const auto& key : pods) {
        remember(key);
        const Pod* pod = cluster_.find_pod(key);
        if (pod == nullptr) {
            by_pod_.erase(key);
            continue;
        }
        Elements fresh;
        compile_pod(cluster_, *pod, fresh);
        by_pod_[key] = std::move(fresh);
    }
}

void PolicyEngine::upsert_pod(const Pod& pod) {
    std::string key = pod.key();
    std::set<std::string> affected{key};
    auto it = std::find_if(cluster_.pods.begin(), cluster_.pods.end(),
                           [&](const Pod& p) { return p.key() == key; });
    if (it != cluster_.pods.end()) {
        auto before = peers_of(*it);  // the pods that named it as it was
        affected.insert(before.begin(), before.end());
        *it = pod;
    } else {
        cluster_.pods.push_back(pod);
    }
    for (const auto& policy : cluster_.policies) {
        auto& selected = selected_[policy.key()];
        if (selects(policy, pod))
            selected.insert(key);
        else
            selected.erase(key);
    }
    auto after = peers_of(pod);
    affected.insert(after.begin(), after.end());
    recompile(affected);
}

void PolicyEngine::remove_pod(const std::string& key) {
    auto it = std::find_if(cluster_.pods.begin(), cluster_.pods.end(),
                           [&](const Pod& p) { return p.key() == key; });
    if (it == cluster_.pods.end()) return;
    std::set<std::string> affected = peers_of(*it);
    affected.insert(key);
    cluster_.pods.erase(it);
    for (auto& [policy, selected] : selected_) selected.erase(key);
    recompile(affected);
}

void PolicyEngine::upsert_policy(const NetworkPolicy& policy) {
    std::string key = policy.key();
    std::set<std::string> affected = selected_[key];
    auto it = std::find_if(cluster_.policies.begin(), cluster_.policies.end(),
                           [&](const NetworkPolicy& p) { return p.key() == key; });
    if (it != cluster_.policies.end())
        *it = policy;
    else
        cluster_.policies.push_back(policy);
    selected_[key] = selected_by(policy);
    affected.insert(selected_[key].begin(), selected_[key].end());
    recompile(affected);
}

void PolicyEngine::remove_policy(const std::string& key) {
    auto it = std::find_if(cluster_.policies.begin(), cluster_.policies.end(),
                           [&](const NetworkPolicy& p) { return p.key() == key; });
    if (it == cluster_.policies.end()) return;
    cluster_.policies.erase(it);
    std::set<std::string> affected = selected_[key];
    selected_.erase(key);
    recompile(affected);
}

void PolicyEngine::set_namespace_labels(const std::string& ns, const Labels& labels) {
    cluster_.namespaces[ns] = labels;
    std::set<std::string> affected;
    for (const auto& policy : cluster_.policies)
        if (has_namespace_selector(policy)) {
            const auto& selected = selected_[policy.key()];
            affected.insert(selected.begin(), selected.end());
        }
    recompile(affected);
}

Elements PolicyEngine::elements() const {
    Elements out;
    for (const auto& [key, elements] : by_pod_)
        for (const auto& [set, items] : elements.sets)
            out.sets[set].insert(items.begin(), items.end());
    return out;
}

std::string PolicyEngine::take_update_script() {
    Elements before, after;
    for (const auto& [key, old] : applied_) {
        for (const auto& [set, items] : old.sets)
            before.sets[set].insert(items.begin(), items.end());
        if (auto it = by_pod_.find(key); it != by_pod_.end())
            for (const auto& [set, items] : it->second.sets)
                after.sets[set].insert(items.begin(), items.end());
    }
    applied_.clear();
    return update_script(before, after);
}

}  // namespace podnet::policy
