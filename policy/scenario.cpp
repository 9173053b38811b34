#include "policy/scenario.hpp"

#include "common/fs.hpp"
#include "policy/parse.hpp"

namespace podnet::policy {

namespace {

using nlohmann::json;

Result<Labels> parse_labels(const json& object, const std::string& field) {
    Labels labels;
    if (object.is_null()) return labels;
    if (!object.is_object()) return fail(field + ": must be a map of labels");
    for (const auto& [key, value] : object.items()) {
        // YAML reads `access: true` as a boolean; a label value is its text.
        std::string text = value.is_string() ? value.get<std::string>() : value.dump();
        if (auto r = validate_label_key(key); !r) return fail(field + ": " + r.error().message);
        if (auto r = validate_label_value(key, text); !r)
            return fail(field + ": " + r.error().message);
        labels[key] = text;
    }
    return labels;
}

// An absent or empty (null) key reads as `fallback`: `policies:` with nothing after it is none.
json field_or(const json& object, const char* key, json fallback) {
    auto it = object.find(key);
    return it == object.end() || it->is_null() ? fallback : *it;
}

std::string text_of(const json& value) {
    return value.is_string() ? value.get<std::string>() : value.is_null() ? "" : value.dump();
}

Result<Pod> parse_pod(const json& object, const std::string& field) {
    if (!object.is_object()) return fail(field + ": must be an object");
    Pod pod;
    pod.ns = text_of(object.value("namespace", json("default")));
    pod.name = text_of(object.value("name", json()));
    if (pod.name.empty()) return fail(field + ".name: required");
    if (auto r = validate_namespace_name(pod.ns); !r)
        return fail(field + ".namespace: " + r.error().message);
    auto labels = parse_labels(object.value("labels", json()), field + ".labels");
    if (!labels) return std::unexpected(labels.error());
    pod.labels = *labels;
    std::vector<std::string> ips;
    if (object.contains("ip")) ips.push_back(text_of(object["ip"]));
    if (object.contains("ips") && object["ips"].is_array())
        for (const auto& ip : object["ips"]) ips.push_back(text_of(ip));
    for (const auto& text : ips) {
        auto ip = parse_ip(text);
        if (!ip) return fail(field + ".ip: " + ip.error().message);
        pod.ips.push_back(*ip);
    }
    if (pod.ips.empty()) return fail(field + ".ip: required");
    const json ports = object.value("ports", json::array());
    if (!ports.is_array()) return fail(field + ".ports: must be a list");
    for (size_t i = 0; i < ports.size(); ++i) {
        std::string at = field + ".ports[" + std::to_string(i) + "]";
        const auto& p = ports[i];
        if (!p.is_object()) return fail(at + ": must be an object");
        NamedPort port;
        port.name = text_of(p.value("name", json()));
        auto number = p.value("port", json());
        if (!number.is_number_integer() || number.get<int>() < 1 || number.get<int>() > 65535)
            return fail(at + ".port: must be a port number (1-65535)");
        port.port = static_cast<uint16_t>(number.get<int>());
        auto protocol = parse_protocol(text_of(p.value("protocol", json("TCP"))));
        if (!protocol) return fail(at + ".protocol: " + protocol.error().message);
        port.protocol = *protocol;
        pod.ports.push_back(port);
    }
    return pod;
}

Result<Probe> parse_probe(const json& object, const std::string& field) {
    if (!object.is_object()) return fail(field + ": must be an object");
    Probe probe;
    probe.from = text_of(object.value("from", json()));
    probe.to = text_of(object.value("to", json()));
    probe.port = text_of(object.value("port", json()));
    if (probe.from.empty()) return fail(field + ".from: required");
    if (probe.to.empty()) return fail(field + ".to: required");
    if (probe.port.empty()) return fail(field + ".port: required");
    auto protocol = parse_protocol(text_of(object.value("protocol", json("TCP"))));
    if (!protocol) return fail(field + ".protocol: " + protocol.error().message);
    probe.protocol = *protocol;
    if (object.contains("allowed")) {
        if (!object["allowed"].is_boolean()) return fail(field + ".allowed: must be true or false");
        probe.expected = object["allowed"].get<bool>();
    }
    return probe;
}

}  // namespace

Result<Scenario> parse_scenario(std::string_view text, const std::string& source) {
    auto docs = load_documents(text, source);
    if (!docs) return std::unexpected(docs.error());
    if (docs->size() != 1 || !(*docs)[0].is_object())
        return fail(source +
                    ": a scenario is one object (description, namespaces, pods, "
                    "policies, probes)");
    const json& doc = (*docs)[0];
    auto bad = [&](const Error& e) { return fail(source + ": " + e.message); };
    Scenario scenario;
    scenario.description = text_of(doc.value("description", json()));

    const json namespaces = field_or(doc, "namespaces", json::object());
    if (!namespaces.is_object()) return bad(Error{"namespaces: must be a map name -> labels"});
    for (const auto& [name, labels] : namespaces.items()) {
        if (auto r = validate_namespace_name(name); !r) return bad(r.error().wrap("namespaces"));
        auto parsed = parse_labels(labels, "namespaces." + name);
        if (!parsed) return bad(parsed.error());
        scenario.cluster.namespaces[name] = *parsed;
    }
    const json pods = field_or(doc, "pods", json::array());
    if (!pods.is_array()) return bad(Error{"pods: must be a list"});
    for (size_t i = 0; i < pods.size(); ++i) {
        auto pod = parse_pod(pods[i], "pods[" + std::to_string(i) + "]");
        if (!pod) return bad(pod.error());
        if (scenario.cluster.find_pod(pod->key()) != nullptr)
            return bad(Error{"pods[" + std::to_string(i) + "]: " + pod->key() + " twice"});
        for (const auto& ip : pod->ips)
            if (const Pod* other = scenario.cluster.find_pod_by_ip(ip))
                return bad(Error{"pods[" + std::to_string(i) + "].ip: " + ip.str() +
                                 " already belongs to " + other->key()});
        scenario.cluster.pods.push_back(*pod);
    }
    const json policies = field_or(doc, "policies", json::array());
    if (!policies.is_array()) return bad(Error{"policies: must be a list"});
    for (size_t i = 0; i < policies.size(); ++i) {
        auto policy = parse_network_policy(policies[i]);
        if (!policy) return bad(policy.error().wrap("policies[" + std::to_string(i) + "]"));
        scenario.cluster.policies.push_back(*policy);
        scenario.policy_objects.push_back(policies[i]);
    }
    const json probes = field_or(doc, "probes", json::array());
    if (!probes.is_array()) return bad(Error{"probes: must be a list"});
    for (size_t i = 0; i < probes.size(); ++i) {
        auto probe = parse_probe(probes[i], "probes[" + std::to_string(i) + "]");
        if (!probe) return bad(probe.error());
        scenario.probes.push_back(*probe);
    }
    return scenario;
}

Result<Scenario> load_scenario(const std::string& path) {
    auto text = read_file(path);
    if (!text) return std::unexpected(text.error());
    return parse_scenario(*text, path);
}

Result<std::vector<ProbeVerdict>> evaluate_scenario(const Scenario& scenario) {
    std::vector<ProbeVerdict> out;
    const Cluster& cluster = scenario.cluster;
    for (size_t i = 0; i < scenario.probes.size(); ++i) {
        const Probe& probe = scenario.probes[i];
        std::string at = "probes[" + std::to_string(i) + "]";
        auto from = resolve_endpoint(cluster, probe.from);
        if (!from) return wrap(from.error(), at + ".from");
        auto to = resolve_endpoint(cluster, probe.to);
        if (!to) return wrap(to.error(), at + ".to");
        auto port = resolve_probe_port(*to, probe.port, probe.protocol);
        if (!port) return wrap(port.error(), at + ".port");
        out.push_back({&probe, *port, evaluate(cluster, *from, *to, *port, probe.protocol)});
    }
    return out;
}

}  // namespace podnet::policy
