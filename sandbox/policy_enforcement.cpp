#include "sandbox/policy_enforcement.hpp"

#include <charconv>

#include "common/fault.hpp"
#include "common/fs.hpp"
#include "common/process.hpp"
#include "common/text.hpp"
#include "netns/sysctl.hpp"
#include "nft/nft.hpp"
#include "policy/compile.hpp"
#include "policy/store.hpp"

namespace podnet {

namespace {

std::string policy_dir(const Config& config) {
    return config.state_root + "/policy";
}

// Renewed by every change to the kernel's policy sets: a process whose engine remembers the
// current token is in step with the kernel. Present while the table is installed. Volatile,
// like the kernel state itself.
std::string token_path(const Config& config) {
    return config.run_root + "/policy-token";
}

// Pods on one bridge talk through it without being routed; the forward hook sees those frames
// only with br_netfilter's bridge-nf-call-iptables (per network namespace since Linux 5.3).
Result<void> enable_bridge_netfilter() {
    if (!path_exists("/proc/sys/net/bridge"))
        return fail(
            "NetworkPolicy between pods on one bridge needs br_netfilter "
            "(modprobe br_netfilter)");
    for (const char* key :
         {"net.bridge.bridge-nf-call-iptables", "net.bridge.bridge-nf-call-ip6tables"})
        if (auto r = write_sysctl(key, "1"); !r) return r;
    return {};
}

std::string strip_prefix_length(const std::string& cidr) {
    return cidr.substr(0, cidr.find('/'));
}

policy::Pod pod_of(const SandboxRecord& record) {
    policy::Pod pod;
    pod.ns = record.k8s_namespace;
    pod.name = record.name;
    pod.labels = record.labels;
    for (const auto& att : record.attachments)
        for (const auto* cidr : {&att.ipv4, &att.ipv6})
            if (!cidr->empty())
                if (auto ip = parse_ip(strip_prefix_length(*cidr))) pod.ips.push_back(*ip);
    for (const auto& text : record.named_ports)
        if (auto port = parse_named_port(text)) pod.ports.push_back(*port);
    return pod;
}

}  // namespace

Result<policy::NamedPort> parse_named_port(std::string_view text) {
    std::string context = "named port \"" + std::string(text) + "\": ";
    auto eq = text.find('=');
    if (eq == std::string_view::npos || eq == 0)
        return fail(context + "want NAME=PORT[/tcp|/udp|/sctp]");
    policy::NamedPort port;
    port.name = std::string(text.substr(0, eq));
    std::string_view rest = text.substr(eq + 1);
    std::string protocol = "TCP";
    if (auto slash = rest.find('/'); slash != std::string_view::npos) {
        protocol.clear();
        for (char c : rest.substr(slash + 1)) protocol += static_cast<char>(std::toupper(c));
        rest = rest.substr(0, slash);
    }
    auto parsed = policy::parse_protocol(protocol);
    if (!parsed) return fail(context + parsed.error().message);
    port.protocol = *parsed;
    unsigned number = 0;
    auto [ptr, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), number);
    if (ec != std::errc() || ptr != rest.data() + rest.size() || number == 0 || number > 65535)
        return fail(context + quoted(rest) + " is not a port number (1-65535)");
    port.port = static_cast<uint16_t>(number);
    bool name_ok = port.name.size() <= 15;
    bool letter = false;
    for (char c : port.name) {
        if (c >= 'a' && c <= 'z')
            letter = true;
        else if (!(c >= '0' && c <= '9') && c != '-')
            name_ok = false;
    }
    if (!name_ok || !letter)
        return fail(context + "a port name is at most 15 of a-z, 0-9 and '-', with a letter");
    return port;
}

std::string format_named_port(const policy::NamedPort& port) {
    std::string protocol(policy::protocol_name(port.protocol));
    for (char& c : protocol) c = static_cast<char>(std::tolower(c));
    return port.name + "=" + std::to_string(port.port) + "/" + protocol;
}

Result<std::vector<SandboxRecord>> running_records(const SandboxStore& store,
                                                   const SandboxRecord* replace,
                                                   std::string_view drop_id) {
    auto ids = store.list_ids();
    if (!ids) return std::unexpected(ids.error());
    std::vector<SandboxRecord> out;
    bool replaced = false;
    for (const auto& id : *ids) {
        if (id == drop_id) continue;
        if (replace != nullptr && id == replace->id) {
            out.push_back(*replace);
            replaced = true;
            continue;
        }
        auto record = store.load(id);
        if (record && record->phase == SandboxPhase::running) out.push_back(std::move(*record));
    }
    if (replace != nullptr && !replaced) out.push_back(*replace);
    return out;
}

Result<policy::Cluster> node_cluster(const Config& config,
                                     const std::vector<SandboxRecord>& records) {
    policy::PolicyStore store(policy_dir(config));
    policy::Cluster cluster;
    auto namespaces = store.load_namespaces();
    if (!namespaces) return std::unexpected(namespaces.error());
    cluster.namespaces = std::move(*namespaces);
    auto policies = store.load_policies();
    if (!policies) return std::unexpected(policies.error());
    for (auto& stored : *policies) cluster.policies.push_back(std::move(stored.policy));
    for (const auto& record : records) cluster.pods.push_back(pod_of(record));
    return cluster;
}

bool PolicyEnforcer::in_step() const {
    if (!engine_) return false;
    auto text = read_file(token_path(config_));
    return text && *text == token_;
}

Result<void> PolicyEnforcer::commit(const std::string& script) {
    auto nft = NftContext::shared();
    if (!nft) return wrap(nft.error(), "NetworkPolicy");
    if (auto r = (*nft)->run(script); !r) return wrap(r.error(), "NetworkPolicy: program nftables");
    fault_point("policy.committed");  // the kernel changed, the token did not
    token_ = random_hex(16);
    return write_file_atomic(token_path(config_), token_);
}

Result<void> PolicyEnforcer::remove_table() {
    engine_.reset();
    if (!path_exists(token_path(config_))) return {};
    auto nft = NftContext::shared();
    if (!nft) return wrap(nft.error(), "NetworkPolicy");
    if (auto r = (*nft)->run(policy::remove_table_script()); !r)
        return wrap(r.error(), "NetworkPolicy: remove table inet podnet_policy");
    fault_point("policy.committed");
    return remove_file(token_path(config_));
}

Result<void> PolicyEnforcer::reload(const SandboxStore& store) {
    engine_.reset();
    policy::PolicyStore policies(policy_dir(config_));
    bool installed = path_exists(token_path(config_));
    if (policies.empty() && !installed) return {};  // never used: not even a table
    auto stored = policies.load_policies();
    if (!stored) return wrap(stored.error(), "NetworkPolicy");
    if (stored->empty()) return remove_table();  // nothing to enforce, as before the first
    auto records = running_records(store);
    if (!records) return std::unexpected(records.error());
    auto cluster = node_cluster(config_, *records);
    if (!cluster) return wrap(cluster.error(), "NetworkPolicy");
    policy::PolicyEngine engine;
    engine.reset(std::move(*cluster));
    (void)engine.take_update_script();  // the full rewrite below replaces it
    if (auto r = enable_bridge_netfilter(); !r) return wrap(r.error(), "NetworkPolicy");
    // One transaction: the table made or refreshed, every set flushed and refilled.
    if (auto r = commit(policy::policy_base_script() + policy::full_sync_script(engine.elements()));
        !r)
        return r;
    engine_ = std::move(engine);
    return {};
}

template <class F>
Result<void> PolicyEnforcer::update(const SandboxStore& store, F&& change) {
    if (!in_step()) return reload(store);
    change(*engine_);
    if (engine_->cluster().policies.empty()) return remove_table();
    std::string script = engine_->take_update_script();
    if (script.empty()) return {};
    if (auto r = commit(script); !r) {
        // The kernel is not what the engine believed (someone edited the table): rewrite it.
        return reload(store);
    }
    return {};
}

Result<void> PolicyEnforcer::pod_changed(const SandboxStore& store, const SandboxRecord& record) {
    return update(store, [&](policy::PolicyEngine& e) { e.upsert_pod(pod_of(record)); });
}

Result<void> PolicyEnforcer::pod_removed(const SandboxStore& store, const SandboxRecord& record) {
    return update(store, [&](policy::PolicyEngine& e) {
        e.remove_pod(record.k8s_namespace + "/" + record.name);
    });
}

Result<void> PolicyEnforcer::policies_changed(const SandboxStore& store,
                                              const std::vector<policy::NetworkPolicy>& upserted,
                                              const std::vector<std::string>& removed) {
    return update(store, [&](policy::PolicyEngine& e) {
        for (const auto& p : upserted) e.upsert_policy(p);
        for (const auto& key : removed) e.remove_policy(key);
    });
}

Result<void> PolicyEnforcer::namespace_changed(const SandboxStore& store, const std::string& ns) {
    auto namespaces = policy::PolicyStore(policy_dir(config_)).load_namespaces();
    if (!namespaces) return std::unexpected(namespaces.error());
    Labels labels = (*namespaces)[ns];
    return update(store, [&](policy::PolicyEngine& e) { e.set_namespace_labels(ns, labels); });
}

}  // namespace podnet
