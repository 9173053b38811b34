// Runtime's NetworkPolicy calls: apply, remove, list, namespace labels, explain.

#include <algorithm>
#include <set>

#include "common/fault.hpp"
#include "podnet/runtime.hpp"
#include "policy/evaluate.hpp"
#include "policy/parse.hpp"
#include "policy/store.hpp"
#include "sandbox/policy_enforcement.hpp"
#include "sandbox/store.hpp"

namespace podnet {

namespace {

policy::PolicyStore policy_store(const Config& config) {
    return policy::PolicyStore(config.state_root + "/policy");
}

PolicyInfo policy_info(const policy::StoredPolicy& stored) {
    const auto& p = stored.policy;
    PolicyInfo info;
    info.ns = p.ns;
    info.name = p.name;
    info.pod_selector = p.pod_selector.str();
    if (p.affects_ingress) info.types.emplace_back("Ingress");
    if (p.affects_egress) info.types.emplace_back("Egress");
    info.ingress_rules = p.ingress.size();
    info.egress_rules = p.egress.size();
    info.object_json = stored.object.dump();
    return info;
}

// A sandbox name or id, "ns/name", or an address → an evaluator endpoint.
Result<policy::Endpoint> find_endpoint(const policy::Cluster& cluster,
                                       const std::vector<SandboxRecord>& records,
                                       std::string_view text) {
    std::string ref(text);
    if (ref.find('/') == std::string::npos && !parse_ip(ref)) {
        for (const auto& r : records)
            if (r.name == ref || r.id == ref || (ref.size() >= 6 && r.id.starts_with(ref))) {
                ref = r.k8s_namespace + "/" + r.name;
                break;
            }
        if (ref.find('/') == std::string::npos) return fail("no running sandbox \"" + ref + "\"");
    }
    return policy::resolve_endpoint(cluster, ref);
}

}  // namespace

Result<std::vector<PolicyApplied>> Runtime::apply_policies(
    const std::vector<PolicySource>& sources) {
    // Everything parsed and validated before anything is stored.
    std::vector<std::pair<policy::NetworkPolicy, nlohmann::json>> parsed;
    for (const auto& src : sources) {
        auto docs = policy::load_documents(src.text, src.source);
        if (!docs) return std::unexpected(docs.error());
        for (size_t i = 0; i < docs->size(); ++i) {
            auto p = policy::parse_network_policy((*docs)[i]);
            if (!p) return wrap(p.error(), src.source);
            parsed.emplace_back(std::move(*p), (*docs)[i]);
        }
    }
    if (parsed.empty()) return fail("no NetworkPolicy objects in the input");
    std::set<std::string> seen;
    for (const auto& [p, object] : parsed)
        if (!seen.insert(p.key()).second)
            return fail("NetworkPolicy " + p.key() + " is given twice");

    SandboxStore store(config_.run_root);
    auto lock = store.lock();
    if (!lock) return std::unexpected(lock.error());
    auto policies = policy_store(config_);
    std::vector<PolicyApplied> out;
    std::vector<policy::NetworkPolicy> upserted;
    for (auto& [p, object] : parsed) {
        // Stored as Kubernetes would echo it: the namespace filled in.
        object["metadata"]["namespace"] = p.ns;
        auto action = policies.save_policy(p, object);
        if (!action) return std::unexpected(action.error());
        out.push_back({p.key(), *action});
        if (*action != "unchanged") upserted.push_back(p);
    }
    fault_point("policy.stored");  // on disk, not yet in the kernel
    if (auto r = policy_->policies_changed(store, upserted, {}); !r)
        return std::unexpected(r.error());
    return out;
}

Result<void> Runtime::remove_policy(std::string_view ns, std::string_view name) {
    SandboxStore store(config_.run_root);
    auto lock = store.lock();
    if (!lock) return std::unexpected(lock.error());
    if (auto r = policy_store(config_).remove_policy(std::string(ns), std::string(name)); !r)
        return r;
    return policy_->policies_changed(store, {}, {std::string(ns) + "/" + std::string(name)});
}

Result<std::vector<PolicyInfo>> Runtime::list_policies(std::string_view ns) const {
    auto stored = policy_store(config_).load_policies();
    if (!stored) return std::unexpected(stored.error());
    std::vector<PolicyInfo> out;
    for (const auto& s : *stored)
        if (ns.empty() || s.policy.ns == ns) out.push_back(policy_info(s));
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
        return std::tie(a.ns, a.name) < std::tie(b.ns, b.name);
    });
    return out;
}

Result<NamespaceInfo> Runtime::label_namespace(std::string_view ns, const Labels& set,
                                               const std::vector<std::string>& remove) {
    if (auto r = validate_namespace_name(ns); !r) return std::unexpected(r.error());
    for (const auto& [key, value] : set) {
        if (auto r = validate_label_key(key); !r) return std::unexpected(r.error());
        if (auto r = validate_label_value(key, value); !r) return std::unexpected(r.error());
    }
    SandboxStore store(config_.run_root);
    auto lock = store.lock();
    if (!lock) return std::unexpected(lock.error());
    auto policies = policy_store(config_);
    auto namespaces = policies.load_namespaces();
    if (!namespaces) return std::unexpected(namespaces.error());
    Labels& labels = (*namespaces)[std::string(ns)];
    for (const auto& [key, value] : set) labels[key] = value;
    for (const auto& key : remove) labels.erase(key);
    NamespaceInfo info{std::string(ns), labels, 0, 0};
    if (auto r = policies.save_namespaces(*namespaces); !r) return std::unexpected(r.error());
    if (auto r = policy_->namespace_changed(store, std::string(ns)); !r)
        return std::unexpected(r.error());
    return info;
}

Result<std::vector<NamespaceInfo>> Runtime::list_namespaces() const {
    auto policies = policy_store(config_);
    auto namespaces = policies.load_namespaces();
    if (!namespaces) return std::unexpected(namespaces.error());
    std::map<std::string, NamespaceInfo> by_name;
    for (const auto& [name, labels] : *namespaces) by_name[name] = {name, labels, 0, 0};
    auto records = running_records(SandboxStore(config_.run_root));
    if (!records) return std::unexpected(records.error());
    for (const auto& r : *records) {
        auto& info = by_name[r.k8s_namespace];
        info.name = r.k8s_namespace;
        ++info.sandboxes;
    }
    auto stored = policies.load_policies();
    if (!stored) return std::unexpected(stored.error());
    for (const auto& s : *stored) {
        auto& info = by_name[s.policy.ns];
        info.name = s.policy.ns;
        ++info.policies;
    }
    std::vector<NamespaceInfo> out;
    for (auto& [name, info] : by_name) out.push_back(std::move(info));
    return out;
}

Result<PolicyExplanation> Runtime::explain_policy(std::string_view from, std::string_view to,
                                                  std::string_view port) const {
    auto records = running_records(SandboxStore(config_.run_root));
    if (!records) return std::unexpected(records.error());
    auto cluster = node_cluster(config_, *records);
    if (!cluster) return std::unexpected(cluster.error());
    auto src = find_endpoint(*cluster, *records, from);
    if (!src) return wrap(src.error(), "source");
    auto dst = find_endpoint(*cluster, *records, to);
    if (!dst) return wrap(dst.error(), "destination");
    std::string port_text(port);
    std::string protocol = "TCP";
    if (auto slash = port_text.find('/'); slash != std::string::npos) {
        protocol.clear();
        for (char c : port_text.substr(slash + 1))
            protocol += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        port_text.resize(slash);
    }
    auto proto = policy::parse_protocol(protocol);
    if (!proto) return wrap(proto.error(), "port " + std::string(port));
    auto number = policy::resolve_probe_port(*dst, port_text, *proto);
    if (!number) return std::unexpected(number.error());
    auto verdict = policy::evaluate(*cluster, *src, *dst, *number, *proto);
    return PolicyExplanation{src->str(), dst->str(),      *number,
                             protocol,   verdict.allowed, verdict.reason};
}

}  // namespace podnet
