#include "policy/parse.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <set>

namespace podnet::policy {

namespace {

using nlohmann::json;

// YAML 1.2 core schema for plain (unquoted) scalars: null, booleans, integers and floats become
// JSON values of those types; everything else, and every quoted scalar, stays a string. So
// `port: 80` is a number and `port: "80"` a string, as Kubernetes reads them.
json plain_scalar(const std::string& text) {
    if (text.empty() || text == "~" || text == "null" || text == "Null" || text == "NULL")
        return nullptr;
    if (text == "true" || text == "True" || text == "TRUE") return true;
    if (text == "false" || text == "False" || text == "FALSE") return false;
    std::string_view digits = text;
    bool negative = false;
    if (digits.front() == '-' || digits.front() == '+') {
        negative = digits.front() == '-';
        digits.remove_prefix(1);
    }
    if (!digits.empty() && digits.size() < 19 &&
        digits.find_first_not_of("0123456789") == std::string_view::npos) {
        int64_t value = 0;
        std::from_chars(digits.data(), digits.data() + digits.size(), value);
        return negative ? -value : value;
    }
    if (!digits.empty() && digits.find_first_not_of("0123456789.eE+-") == std::string_view::npos &&
        digits.find_first_of("0123456789") != std::string_view::npos) {
        char* end = nullptr;
        double value = std::strtod(text.c_str(), &end);
        if (end != nullptr && *end == '\0') return value;
    }
    return text;
}

Result<json> yaml_to_json(const YAML::Node& node, const std::string& source) {
    switch (node.Type()) {
        case YAML::NodeType::Null:
        case YAML::NodeType::Undefined:
            return json(nullptr);
        case YAML::NodeType::Scalar:
            // "!" is the tag yaml-cpp gives quoted scalars; plain ones carry "?".
            if (node.Tag() == "!" || node.Tag() == "tag:yaml.org,2002:str")
                return json(node.Scalar());
            return plain_scalar(node.Scalar());
        case YAML::NodeType::Sequence: {
            json out = json::array();
            for (const auto& item : node) {
                auto value = yaml_to_json(item, source);
                if (!value) return value;
                out.push_back(std::move(*value));
            }
            return out;
        }
        case YAML::NodeType::Map: {
            json out = json::object();
            for (const auto& pair : node) {
                if (!pair.first.IsScalar())
                    return fail(source + ":" + std::to_string(pair.first.Mark().line + 1) +
                                ": a mapping key must be a plain value");
                auto value = yaml_to_json(pair.second, source);
                if (!value) return value;
                out[pair.first.Scalar()] = std::move(*value);
            }
            return out;
        }
    }
    return json(nullptr);
}

bool looks_like_json(std::string_view text) {
    auto first = text.find_first_not_of(" \t\r\n");
    return first != std::string_view::npos && (text[first] == '{' || text[first] == '[');
}

std::string type_name(const json& value) {
    if (value.is_null()) return "null";
    if (value.is_boolean()) return "a boolean";
    if (value.is_number()) return "a number";
    if (value.is_string()) return "a string";
    if (value.is_array()) return "a list";
    return "an object";
}

// Field checks with the field's path in every message.
Result<void> want_object(const json& value, const std::string& field) {
    if (!value.is_object()) return fail(field + ": must be an object, not " + type_name(value));
    return {};
}

Result<void> want_array(const json& value, const std::string& field) {
    if (!value.is_array()) return fail(field + ": must be a list, not " + type_name(value));
    return {};
}

Result<void> only_keys(const json& object, const std::string& field,
                       std::initializer_list<std::string_view> known) {
    for (const auto& [key, value] : object.items()) {
        (void)value;
        if (std::find(known.begin(), known.end(), key) == known.end())
            return fail((field.empty() ? "" : field + ".") + key + ": unknown field");
    }
    return {};
}

Result<std::string> string_field(const json& value, const std::string& field) {
    if (!value.is_string()) return fail(field + ": must be a string, not " + type_name(value));
    return value.get<std::string>();
}

// IANA service name: at most 15 of [a-z0-9-], at least one letter, no '-' at either end or
// twice in a row (Kubernetes' IsValidPortName).
bool is_port_name(std::string_view s) {
    if (s.empty() || s.size() > 15 || s.front() == '-' || s.back() == '-') return false;
    if (s.find("--") != std::string_view::npos) return false;
    bool letter = false;
    for (char c : s) {
        if (c >= 'a' && c <= 'z')
            letter = true;
        else if (!(c >= '0' && c <= '9') && c != '-')
            return false;
    }
    return letter;
}

Result<uint16_t> port_number(const json& value, const std::string& field) {
    if (!value.is_number_integer())
        return fail(field + ": must be a port number, not " + type_name(value));
    auto n = value.get<int64_t>();
    if (n < 1 || n > 65535)
        return fail(field + ": " + std::to_string(n) + " is out of range (1-65535)");
    return static_cast<uint16_t>(n);
}

Result<IpPrefix> cidr_field(const json& value, const std::string& field) {
    auto text = string_field(value, field);
    if (!text) return std::unexpected(text.error());
    auto prefix = parse_prefix(*text, false);
    if (!prefix) return fail(field + ": " + prefix.error().message);
    return prefix->network();
}

Result<IpBlock> parse_ip_block(const json& object, const std::string& field) {
    if (auto r = want_object(object, field); !r) return std::unexpected(r.error());
    if (auto r = only_keys(object, field, {"cidr", "except"}); !r)
        return std::unexpected(r.error());
    if (!object.contains("cidr")) return fail(field + ".cidr: required");
    IpBlock block;
    auto cidr = cidr_field(object["cidr"], field + ".cidr");
    if (!cidr) return std::unexpected(cidr.error());
    block.cidr = *cidr;
    if (object.contains("except") && !object["except"].is_null()) {
        const auto& list = object["except"];
        if (auto r = want_array(list, field + ".except"); !r) return std::unexpected(r.error());
        for (size_t i = 0; i < list.size(); ++i) {
            std::string at = field + ".except[" + std::to_string(i) + "]";
            auto except = cidr_field(list[i], at);
            if (!except) return std::unexpected(except.error());
            // Kubernetes: each except must be a strict subset of cidr, of the same family.
            if (except->address.family != block.cidr.address.family ||
                except->length <= block.cidr.length || !block.cidr.contains(except->address))
                return fail(at + ": " + except->str() + " is not inside cidr " + block.cidr.str());
            block.except.push_back(*except);
        }
    }
    return block;
}

Result<Peer> parse_peer(const json& object, const std::string& field) {
    if (auto r = want_object(object, field); !r) return std::unexpected(r.error());
    if (auto r = only_keys(object, field, {"podSelector", "namespaceSelector", "ipBlock"}); !r)
        return std::unexpected(r.error());
    Peer peer;
    auto present = [&](const char* key) { return object.contains(key) && !object[key].is_null(); };
    if (present("podSelector")) {
        auto s = parse_selector(object["podSelector"], field + ".podSelector");
        if (!s) return std::unexpected(s.error());
        peer.pod_selector = *s;
    }
    if (present("namespaceSelector")) {
        auto s = parse_selector(object["namespaceSelector"], field + ".namespaceSelector");
        if (!s) return std::unexpected(s.error());
        peer.namespace_selector = *s;
    }
    if (present("ipBlock")) {
        if (peer.pod_selector || peer.namespace_selector)
            return fail(field + ": ipBlock may not be combined with a selector in one peer");
        auto b = parse_ip_block(object["ipBlock"], field + ".ipBlock");
        if (!b) return std::unexpected(b.error());
        peer.ip_block = *b;
    }
    if (!peer.pod_selector && !peer.namespace_selector && !peer.ip_block)
        return fail(field + ": must specify podSelector, namespaceSelector or ipBlock");
    return peer;
}

Result<PortSpec> parse_port(const json& object, const std::string& field) {
    if (auto r = want_object(object, field); !r) return std::unexpected(r.error());
    if (auto r = only_keys(object, field, {"protocol", "port", "endPort"}); !r)
        return std::unexpected(r.error());
    PortSpec spec;
    if (object.contains("protocol") && !object["protocol"].is_null()) {
        auto text = string_field(object["protocol"], field + ".protocol");
        if (!text) return std::unexpected(text.error());
        auto protocol = parse_protocol(*text);
        if (!protocol) return fail(field + ".protocol: " + protocol.error().message);
        spec.protocol = *protocol;
    }
    if (object.contains("port") && !object["port"].is_null()) {
        const auto& port = object["port"];
        if (port.is_string()) {
            std::string name = port.get<std::string>();
            if (!is_port_name(name))
                return fail(field + ".port: \"" + name +
                            "\" is neither a port number nor a valid port name (at most 15 of "
                            "a-z, 0-9 and '-', with a letter)");
            spec.port_name = name;
        } else {
            auto n = port_number(port, field + ".port");
            if (!n) return std::unexpected(n.error());
            spec.port = *n;
        }
    }
    if (object.contains("endPort") && !object["endPort"].is_null()) {
        if (!spec.port)
            return fail(field + ".endPort: needs a numeric port" +
                        std::string(spec.port_name.empty() ? "" : ", not a named one"));
        auto end = port_number(object["endPort"], field + ".endPort");
        if (!end) return std::unexpected(end.error());
        if (*end < *spec.port)
            return fail(field + ".endPort: " + std::to_string(*end) + " is below port " +
                        std::to_string(*spec.port));
        spec.end_port = *end;
    }
    return spec;
}

Result<std::vector<Rule>> parse_rules(const json& list, const std::string& field,
                                      const char* peers_key) {
    std::vector<Rule> rules;
    if (list.is_null()) return rules;
    if (auto r = want_array(list, field); !r) return std::unexpected(r.error());
    for (size_t i = 0; i < list.size(); ++i) {
        std::string at = field + "[" + std::to_string(i) + "]";
        const auto& object = list[i];
        if (object.is_null()) {  // `- {}` written as `-`: an empty rule
            rules.emplace_back();
            continue;
        }
        if (auto r = want_object(object, at); !r) return std::unexpected(r.error());
        if (auto r = only_keys(object, at, {peers_key, "ports"}); !r)
            return std::unexpected(r.error());
        Rule rule;
        if (object.contains(peers_key) && !object[peers_key].is_null()) {
            const auto& peers = object[peers_key];
            std::string peers_field = at + "." + peers_key;
            if (auto r = want_array(peers, peers_field); !r) return std::unexpected(r.error());
            for (size_t j = 0; j < peers.size(); ++j) {
                auto peer = parse_peer(peers[j], peers_field + "[" + std::to_string(j) + "]");
                if (!peer) return std::unexpected(peer.error());
                rule.peers.push_back(*peer);
            }
        }
        if (object.contains("ports") && !object["ports"].is_null()) {
            const auto& ports = object["ports"];
            if (auto r = want_array(ports, at + ".ports"); !r) return std::unexpected(r.error());
            for (size_t j = 0; j < ports.size(); ++j) {
                auto port = parse_port(ports[j], at + ".ports[" + std::to_string(j) + "]");
                if (!port) return std::unexpected(port.error());
                rule.ports.push_back(*port);
            }
        }
        rules.push_back(std::move(rule));
    }
    return rules;
}

}  // namespace

Result<std::vector<nlohmann::json>> load_documents(std::string_view text,
                                                   const std::string& source) {
    std::vector<json> documents;
    if (looks_like_json(text)) {
        auto doc = json::parse(text, nullptr, false);
        if (doc.is_discarded()) return fail(source + ": not valid JSON");
        documents.push_back(std::move(doc));
    } else {
        try {
            for (const auto& node : YAML::LoadAll(std::string(text))) {
                auto doc = yaml_to_json(node, source);
                if (!doc) return std::unexpected(doc.error());
                if (!doc->is_null()) documents.push_back(std::move(*doc));
            }
        } catch (const YAML::Exception& e) {
            return fail(source + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
        }
    }
    std::vector<json> out;
    for (auto& doc : documents) {
        if (doc.is_object() && doc.value("kind", "") == "List") {
            if (!doc.contains("items") || !doc["items"].is_array())
                return fail(source + ": kind List without an items list");
            for (auto& item : doc["items"]) out.push_back(std::move(item));
        } else if (doc.is_array()) {
            for (auto& item : doc) out.push_back(std::move(item));
        } else {
            out.push_back(std::move(doc));
        }
    }
    return out;
}

Result<LabelSelector> parse_selector(const json& object, const std::string& field) {
    LabelSelector selector;
    if (object.is_null()) return selector;
    if (auto r = want_object(object, field); !r) return std::unexpected(r.error());
    if (auto r = only_keys(object, field, {"matchLabels", "matchExpressions"}); !r)
        return std::unexpected(r.error());
    if (object.contains("matchLabels") && !object["matchLabels"].is_null()) {
        const auto& labels = object["matchLabels"];
        if (auto r = want_object(labels, field + ".matchLabels"); !r)
            return std::unexpected(r.error());
        for (const auto& [key, value] : labels.items()) {
            std::string at = field + ".matchLabels." + key;
            auto text = string_field(value, at);
            if (!text) return std::unexpected(text.error());
            if (auto r = validate_label_key(key); !r) return fail(at + ": " + r.error().message);
            if (auto r = validate_label_value(key, *text); !r)
                return fail(at + ": " + r.error().message);
            selector.match_labels[key] = *text;
        }
    }
    if (object.contains("matchExpressions") && !object["matchExpressions"].is_null()) {
        const auto& list = object["matchExpressions"];
        if (auto r = want_array(list, field + ".matchExpressions"); !r)
            return std::unexpected(r.error());
        for (size_t i = 0; i < list.size(); ++i) {
            std::string at = field + ".matchExpressions[" + std::to_string(i) + "]";
            const auto& e = list[i];
            if (auto r = want_object(e, at); !r) return std::unexpected(r.error());
            if (auto r = only_keys(e, at, {"key", "operator", "values"}); !r)
                return std::unexpected(r.error());
            Requirement req;
            auto key = string_field(e.value("key", json()), at + ".key");
            if (!key) return std::unexpected(key.error());
            if (auto r = validate_label_key(*key); !r)
                return fail(at + ".key: " + r.error().message);
            req.key = *key;
            auto op = string_field(e.value("operator", json()), at + ".operator");
            if (!op) return std::unexpected(op.error());
            if (*op == "In")
                req.op = SelectorOp::in;
            else if (*op == "NotIn")
                req.op = SelectorOp::not_in;
            else if (*op == "Exists")
                req.op = SelectorOp::exists;
            else if (*op == "DoesNotExist")
                req.op = SelectorOp::does_not_exist;
            else
                return fail(at + ".operator: unknown operator \"" + *op +
                            "\" (In, NotIn, Exists or DoesNotExist)");
            if (e.contains("values") && !e["values"].is_null()) {
                if (auto r = want_array(e["values"], at + ".values"); !r)
                    return std::unexpected(r.error());
                for (size_t j = 0; j < e["values"].size(); ++j) {
                    std::string vat = at + ".values[" + std::to_string(j) + "]";
                    auto v = string_field(e["values"][j], vat);
                    if (!v) return std::unexpected(v.error());
                    if (auto r = validate_label_value(req.key, *v); !r)
                        return fail(vat + ": " + r.error().message);
                    req.values.push_back(*v);
                }
            }
            bool set_op = req.op == SelectorOp::in || req.op == SelectorOp::not_in;
            if (set_op && req.values.empty())
                return fail(at + ".values: " + *op + " needs at least one value");
            if (!set_op && !req.values.empty())
                return fail(at + ".values: " + *op + " takes no values");
            selector.match_expressions.push_back(std::move(req));
        }
    }
    return selector;
}

Result<NetworkPolicy> parse_network_policy(const json& object) {
    if (!object.is_object())
        return fail("a NetworkPolicy must be an object, not " + type_name(object));
    std::string kind = object.value("kind", "");
    std::string api = object.value("apiVersion", "");
    auto meta_it = object.find("metadata");
    std::string name, ns = "default";
    if (meta_it != object.end() && meta_it->is_object()) {
        if (meta_it->contains("name") && (*meta_it)["name"].is_string())
            name = (*meta_it)["name"].get<std::string>();
        if (meta_it->contains("namespace") && (*meta_it)["namespace"].is_string())
            ns = (*meta_it)["namespace"].get<std::string>();
    }
    std::string who = "NetworkPolicy " + ns + "/" + (name.empty() ? "?" : name);
    auto bad = [&](const std::string& why) { return fail(who + ": " + why); };
    if (kind != "NetworkPolicy") return bad("kind: \"" + kind + "\" is not NetworkPolicy");
    if (api != "networking.k8s.io/v1")
        return bad("apiVersion: \"" + api + "\" is not networking.k8s.io/v1");
    if (name.empty()) return bad("metadata.name: required");
    // A DNS subdomain, which is what Kubernetes demands of object names.
    bool name_ok = name.size() <= 253 && std::isalnum(static_cast<unsigned char>(name.front())) &&
                   std::isalnum(static_cast<unsigned char>(name.back()));
    for (char c : name)
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.'))
            name_ok = false;
    if (!name_ok)
        return bad("metadata.name: must be a DNS subdomain (lowercase letters, digits, '-', '.')");
    if (auto r = validate_namespace_name(ns); !r)
        return bad("metadata.namespace: " + r.error().message);

    NetworkPolicy policy;
    policy.name = name;
    policy.ns = ns;
    const json spec = object.value("spec", json::object());
    if (auto r = want_object(spec, "spec"); !r) return bad(r.error().message);
    if (auto r = only_keys(spec, "spec", {"podSelector", "policyTypes", "ingress", "egress"}); !r)
        return bad(r.error().message);
    auto selector = parse_selector(spec.value("podSelector", json()), "spec.podSelector");
    if (!selector) return bad(selector.error().message);
    policy.pod_selector = *selector;

    auto ingress = parse_rules(spec.value("ingress", json()), "spec.ingress", "from");
    if (!ingress) return bad(ingress.error().message);
    policy.ingress = *ingress;
    auto egress = parse_rules(spec.value("egress", json()), "spec.egress", "to");
    if (!egress) return bad(egress.error().message);
    policy.egress = *egress;

    // An empty list is defaulted like an omitted one (defaults.go tests len() == 0).
    if (spec.contains("policyTypes") && spec["policyTypes"].is_array() &&
        !spec["policyTypes"].empty()) {
        const auto& types = spec["policyTypes"];
        if (auto r = want_array(types, "spec.policyTypes"); !r) return bad(r.error().message);
        for (size_t i = 0; i < types.size(); ++i) {
            std::string at = "spec.policyTypes[" + std::to_string(i) + "]";
            auto t = string_field(types[i], at);
            if (!t) return bad(t.error().message);
            bool& flag = *t == "Ingress" ? policy.affects_ingress : policy.affects_egress;
            if (*t != "Ingress" && *t != "Egress")
                return bad(at + ": \"" + *t + "\" is neither Ingress nor Egress");
            if (flag) return bad(at + ": " + *t + " listed twice");
            flag = true;
        }
    } else if (spec.contains("policyTypes") && !spec["policyTypes"].is_null() &&
               !spec["policyTypes"].is_array()) {
        return bad("spec.policyTypes: must be a list, not " + type_name(spec["policyTypes"]));
    } else {
        // pkg/apis/networking/v1/defaults.go: Ingress always; Egress when egress rules exist.
        policy.affects_ingress = true;
        policy.affects_egress = !policy.egress.empty();
    }
    return policy;
}

}  // namespace podnet::policy
