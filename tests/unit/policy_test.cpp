// NetworkPolicy without root: parsing and validation, selector semantics, the evaluator's verdicts
// and reasons, and the nft elements the compiler derives (disjoint intervals, diffs).

#include <doctest/doctest.h>

#include <sstream>
#include <string>

#include "policy/compile.hpp"
#include "policy/engine.hpp"
#include "policy/evaluate.hpp"
#include "policy/parse.hpp"
#include "policy/scenario.hpp"
#include "sandbox/policy_enforcement.hpp"

using namespace podnet;
using namespace podnet::policy;

namespace {

NetworkPolicy parse_one(const std::string& yaml) {
    auto docs = load_documents(yaml, "test.yaml");
    REQUIRE_MESSAGE(docs, docs.error().message);
    REQUIRE(docs->size() == 1);
    auto p = parse_network_policy(docs->front());
    REQUIRE_MESSAGE(p, p.error().message);
    return *p;
}

std::string parse_error(const std::string& yaml) {
    auto docs = load_documents(yaml, "test.yaml");
    if (!docs) return docs.error().message;
    for (const auto& d : *docs)
        if (auto p = parse_network_policy(d); !p) return p.error().message;
    return "";
}

const char* head =
    "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
    "metadata: {name: p, namespace: x}\n";

Scenario scenario(const std::string& yaml) {
    auto s = parse_scenario(yaml, "s.yaml");
    REQUIRE_MESSAGE(s, s.error().message);
    return *s;
}

// x/a (app=web, http=80), x/b (http=81), y/a; policies given per test.
std::string cluster_yaml(const std::string& policies) {
    return R"(
namespaces: {x: {ns: x}, y: {ns: y}}
pods:
  - {namespace: x, name: a, labels: {pod: a, app: web}, ip: 10.0.1.1,
     ports: [{name: http, port: 80, protocol: TCP}, {name: dns, port: 53, protocol: UDP}]}
  - {namespace: x, name: b, labels: {pod: b}, ip: 10.0.1.2,
     ports: [{name: http, port: 81, protocol: TCP}]}
  - {namespace: y, name: a, labels: {pod: a}, ip: 10.0.2.1}
policies:
)" + policies;
}

bool allowed(const Scenario& s, const char* from, const char* to, const char* port,
             Protocol protocol = Protocol::tcp) {
    auto f = resolve_endpoint(s.cluster, from);
    auto t = resolve_endpoint(s.cluster, to);
    REQUIRE(f);
    REQUIRE(t);
    auto n = resolve_probe_port(*t, port, protocol);
    REQUIRE_MESSAGE(n, n.error().message);
    return evaluate(s.cluster, *f, *t, *n, protocol).allowed;
}

}  // namespace

TEST_CASE("policyTypes default: Ingress always, Egress only with egress rules") {
    auto p = parse_one(std::string(head) + "spec: {podSelector: {}}");
    CHECK(p.affects_ingress);
    CHECK_FALSE(p.affects_egress);
    p = parse_one(std::string(head) + "spec: {podSelector: {}, egress: [{}]}");
    CHECK(p.affects_ingress);
    CHECK(p.affects_egress);
    p = parse_one(std::string(head) +
                  "spec: {podSelector: {}, policyTypes: [Egress], ingress: [{}]}");
    CHECK_FALSE(p.affects_ingress);
    CHECK(p.affects_egress);
    CHECK(p.ingress.size() == 1);  // kept, but not applied: the type is not listed
    p = parse_one(std::string(head) + "spec: {podSelector: {}, policyTypes: []}");
    CHECK(p.affects_ingress);  // an empty list is defaulted like a missing one
}

TEST_CASE("a port written as a quoted number is a (bad) name; a plain one is a number") {
    auto p =
        parse_one(std::string(head) + "spec: {ingress: [{ports: [{port: 80}, {port: http}]}]}");
    REQUIRE(p.ingress[0].ports.size() == 2);
    CHECK(p.ingress[0].ports[0].port == 80);
    CHECK(p.ingress[0].ports[1].port_name == "http");
    CHECK(p.ingress[0].ports[0].protocol == Protocol::tcp);
    CHECK(parse_error(std::string(head) + "spec: {ingress: [{ports: [{port: \"80\"}]}]}")
              .find("spec.ingress[0].ports[0].port") != std::string::npos);
}

TEST_CASE("invalid objects are refused naming the field") {
    auto has = [](const std::string& error, const std::string& part) {
        INFO(error);
        CHECK(error.find(part) != std::string::npos);
    };
    std::string h = head;
    has(parse_error(h + "spec: {ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/33}}]}]}"),
        "NetworkPolicy x/p: spec.ingress[0].from[0].ipBlock.cidr");
    has(parse_error(h + "spec: {ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/16, except: "
                        "[10.1.0.0/24]}}]}]}"),
        "ipBlock.except[0]: 10.1.0.0/24 is not inside cidr 10.0.0.0/16");
    has(parse_error(h + "spec: {ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/16, except: "
                        "[10.0.0.0/16]}}]}]}"),
        "is not inside");
    has(parse_error(h + "spec: {egress: [{ports: [{port: http, endPort: 90}]}]}"),
        "spec.egress[0].ports[0].endPort: needs a numeric port");
    has(parse_error(h + "spec: {egress: [{ports: [{endPort: 90}]}]}"), "endPort: needs");
    has(parse_error(h + "spec: {egress: [{ports: [{port: 90, endPort: 80}]}]}"),
        "endPort: 80 is below port 90");
    has(parse_error(h + "spec: {egress: [{ports: [{protocol: ICMP}]}]}"),
        "spec.egress[0].ports[0].protocol: unknown protocol \"ICMP\"");
    has(parse_error(h + "spec: {podSelector: {matchLabels: {\"a b\": x}}}"),
        "spec.podSelector.matchLabels.a b");
    has(parse_error(h + "spec: {podSelector: {matchLabels: {app: \"-bad\"}}}"), "invalid value");
    has(parse_error(h + "spec: {podSelector: {matchExpressions: [{key: app, operator: In}]}}"),
        "matchExpressions[0].values: In needs at least one value");
    has(parse_error(h + "spec: {podSelector: {matchExpressions: [{key: app, operator: Exists, "
                        "values: [a]}]}}"),
        "Exists takes no values");
    has(parse_error(h + "spec: {podSelector: {matchExpressions: [{key: app, operator: Has}]}}"),
        "unknown operator \"Has\"");
    has(parse_error(h + "spec: {ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/8}, podSelector: "
                        "{}}]}]}"),
        "ipBlock may not be combined");
    has(parse_error(h + "spec: {ingress: [{from: [{}]}]}"),
        "spec.ingress[0].from[0]: must specify");
    has(parse_error(h + "spec: {podselector: {}}"), "spec.podselector: unknown field");
    has(parse_error(h + "spec: {policyTypes: [Sideways]}"), "spec.policyTypes[0]");
    has(parse_error("apiVersion: v1\nkind: NetworkPolicy\nmetadata: {name: p}\n"), "apiVersion");
    has(parse_error("kind: NetworkPolicy\napiVersion: networking.k8s.io/v1\nspec: {}\n"),
        "metadata.name: required");
    has(parse_error("a: [b\n"), "test.yaml:");
}

TEST_CASE("multi-document YAML, kind: List and JSON all load") {
    auto docs = load_documents(std::string(head) + "spec: {}\n---\n" + head + "spec: {}\n", "f");
    REQUIRE(docs);
    CHECK(docs->size() == 2);
    docs = load_documents(
        "apiVersion: v1\nkind: List\nitems:\n- " + std::string("{a: 1}") + "\n- {b: 2}\n", "f");
    REQUIRE(docs);
    CHECK(docs->size() == 2);
    docs = load_documents(R"({"kind": "NetworkPolicy", "apiVersion": "networking.k8s.io/v1",
        "metadata": {"name": "j"}, "spec": {"podSelector": {}}})",
                          "f.json");
    REQUIRE(docs);
    auto p = parse_network_policy(docs->front());
    REQUIRE(p);
    CHECK(p->ns == "default");
}

TEST_CASE("selectors: NotIn and DoesNotExist match objects lacking the key") {
    LabelSelector s;
    s.match_expressions.push_back({"env", SelectorOp::not_in, {"prod"}});
    CHECK(s.matches({}));
    CHECK(s.matches({{"env", "dev"}}));
    CHECK_FALSE(s.matches({{"env", "prod"}}));
    s.match_expressions = {{"env", SelectorOp::does_not_exist, {}}};
    CHECK(s.matches({{"app", "x"}}));
    CHECK_FALSE(s.matches({{"env", ""}}));
    s.match_expressions = {{"env", SelectorOp::in, {"a", "b"}}};
    s.match_labels = {{"app", "web"}};
    CHECK(s.matches({{"env", "b"}, {"app", "web"}}));
    CHECK_FALSE(s.matches({{"env", "b"}}));  // matchLabels AND matchExpressions
    CHECK(s.str() == "app=web, env in (a,b)");
}

TEST_CASE("peers: a selector pair in one peer is AND, two peers are OR") {
    auto and_peer = scenario(cluster_yaml(R"(
  - {apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: p, namespace: x},
     spec: {podSelector: {matchLabels: {pod: a}}, ingress: [{from: [
       {namespaceSelector: {matchLabels: {ns: y}}, podSelector: {matchLabels: {pod: b}}}]}]}}
)"));
    CHECK_FALSE(allowed(and_peer, "y/a", "x/a", "80"));  // in y but not pod=b
    CHECK_FALSE(allowed(and_peer, "x/b", "x/a", "80"));  // pod=b but not in y
    auto or_peers = scenario(cluster_yaml(R"(
  - {apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: p, namespace: x},
     spec: {podSelector: {matchLabels: {pod: a}}, ingress: [{from: [
       {namespaceSelector: {matchLabels: {ns: y}}}, {podSelector: {matchLabels: {pod: b}}}]}]}}
)"));
    CHECK(allowed(or_peers, "y/a", "x/a", "80"));
    CHECK(allowed(or_peers, "x/b", "x/a", "80"));
    CHECK_FALSE(allowed(or_peers, "192.168.1.1", "x/a", "80"));  // selectors never match it
}

TEST_CASE("named ports resolve on the destination; automatic namespace name label") {
    auto s = scenario(cluster_yaml(R"(
  - {apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: eg, namespace: y},
     spec: {podSelector: {}, policyTypes: [Egress], egress: [{
       to: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: x}}}],
       ports: [{port: http}]}]}}
)"));
    CHECK(allowed(s, "y/a", "x/a", "80"));
    CHECK_FALSE(allowed(s, "y/a", "x/a", "81"));
    CHECK(allowed(s, "y/a", "x/b", "81"));  // http is 81 on x/b
    CHECK_FALSE(allowed(s, "y/a", "x/b", "80"));
    CHECK_FALSE(allowed(s, "y/a", "10.9.9.9", "80"));  // an external host has no named ports
}

TEST_CASE("verdict reasons name the isolating policy and the allowing rule") {
    auto s = scenario(cluster_yaml(R"(
  - {apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: deny, namespace: x},
     spec: {podSelector: {}}}
  - {apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: web, namespace: x},
     spec: {podSelector: {matchLabels: {app: web}}, ingress: [{ports: [{port: 80, endPort: 82}]}]}}
)"));
    auto v = evaluate_scenario(s);
    REQUIRE(v);
    auto a = *resolve_endpoint(s.cluster, "y/a");
    auto xa = *resolve_endpoint(s.cluster, "x/a");
    auto xb = *resolve_endpoint(s.cluster, "x/b");
    auto ok = evaluate(s.cluster, a, xa, 81, Protocol::tcp);
    CHECK(ok.allowed);
    CHECK(ok.ingress.allowed_by == "x/web spec.ingress[0]");
    auto no = evaluate(s.cluster, a, xb, 80, Protocol::tcp);
    CHECK_FALSE(no.allowed);
    CHECK(no.reason.find("x/b is isolated for ingress by x/deny; no rule allows y/a") == 0);
    auto udp = evaluate(s.cluster, a, xa, 81, Protocol::udp);
    CHECK_FALSE(udp.allowed);  // a port without protocol is TCP only
    auto self = evaluate(s.cluster, xb, xb, 80, Protocol::tcp);
    CHECK(self.allowed);
}

TEST_CASE("scenario files: errors name the file and entry") {
    auto bad = parse_scenario("pods: [{namespace: x, name: a, ip: 10.0.1}]", "s.yaml");
    REQUIRE_FALSE(bad);
    CHECK(bad.error().message.find("s.yaml: pods[0].ip") == 0);
    auto s = scenario(cluster_yaml("") + "probes: [{from: x/a, to: x/zz, port: 80}]");
    auto v = evaluate_scenario(s);
    REQUIRE_FALSE(v);
    CHECK(v.error().message.find("probes[0].to: unknown pod \"x/zz\"") == 0);
}

namespace {

bool has_element(const Elements& e, const std::string& set, const std::string& element) {
    auto it = e.sets.find(set);
    return it != e.sets.end() && it->second.contains(element);
}

}  // namespace

TEST_CASE("compile: hash sets for exact tuples, named ports resolved per pod") {
    auto s = scenario(cluster_yaml(R"(
  - {apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: p, namespace: x},
     spec: {podSelector: {}, ingress: [{from: [{podSelector: {matchLabels: {pod: a}}}],
                                        ports: [{port: http}]},
                                       {from: [{namespaceSelector: {matchLabels: {ns: y}}}]}]}}
)"));
    auto e = compile(s.cluster);
    CHECK(has_element(e, "ing_iso4", "10.0.1.1"));
    CHECK(has_element(e, "ing_iso4", "10.0.1.2"));
    CHECK_FALSE(has_element(e, "ing_iso4", "10.0.2.1"));
    CHECK(has_element(e, "ing_peer_port4", "10.0.1.2 . 10.0.1.1 . tcp . 81"));  // x/b's http
    CHECK(has_element(e, "ing_peer_port4", "10.0.1.1 . 10.0.1.1 . tcp . 80"));
    CHECK(has_element(e, "ing_peer4", "10.0.1.1 . 10.0.2.1"));
    CHECK(e.sets.count("egr_iso4") == 0);
}

TEST_CASE("compile: overlapping ipBlocks and port ranges become disjoint boxes") {
    auto s = scenario(cluster_yaml(R"(
  - {apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: p, namespace: y},
     spec: {podSelector: {}, policyTypes: [Egress], egress: [
       {to: [{ipBlock: {cidr: 192.168.0.0/16, except: [192.168.50.0/24]}}], ports: [{port: 80, endPort: 90}]},
       {to: [{ipBlock: {cidr: 192.168.50.0/24}}], ports: [{port: 85, endPort: 95}]},
       {to: [{ipBlock: {cidr: 172.16.0.0/12}}, {ipBlock: {cidr: 172.16.1.0/24}}]}]}}
)"));
    auto e = compile(s.cluster);
    const auto& range = e.sets["egr_range4"];
    CHECK(range.contains("10.0.2.1 . 192.168.0.0-192.168.49.255 . tcp . 80-90"));
    CHECK(range.contains("10.0.2.1 . 192.168.50.0-192.168.50.255 . tcp . 85-95"));
    CHECK(range.contains("10.0.2.1 . 192.168.51.0-192.168.255.255 . tcp . 80-90"));
    CHECK(range.size() == 3);
    const auto& cidr = e.sets["egr_cidr4"];
    CHECK(cidr.size() == 1);  // 172.16.1.0/24 lies inside 172.16.0.0/12: merged
    CHECK(cidr.contains("10.0.2.1 . 172.16.0.0-172.31.255.255"));
}

TEST_CASE("compile: a rule allowing everything from anyone leaves the pod unisolated") {
    auto s = scenario(cluster_yaml(R"(
  - {apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: p, namespace: x},
     spec: {podSelector: {}, ingress: [{}]}}
)"));
    CHECK(compile(s.cluster).size() == 0);
}

TEST_CASE("update scripts carry only the difference, deletes first") {
    Elements before, after;
    before.sets["ing_iso4"] = {"10.0.1.1", "10.0.1.2"};
    after.sets["ing_iso4"] = {"10.0.1.2", "10.0.1.3"};
    auto script = update_script(before, after);
    CHECK(script ==
          "delete element inet podnet_policy ing_iso4 { 10.0.1.1 }\n"
          "add element inet podnet_policy ing_iso4 { 10.0.1.3 }\n");
    CHECK(update_script(after, after).empty());
    auto round = elements_from_json(elements_to_json(after));
    REQUIRE(round);
    CHECK(*round == after);
    CHECK(policy_base_script().find("ct state established,related accept") != std::string::npos);
}

TEST_CASE("named ports on sandboxes: NAME=PORT[/PROTO]") {
    auto p = parse_named_port("http=8080");
    REQUIRE(p);
    CHECK(p->port == 8080);
    CHECK(p->protocol == Protocol::tcp);
    CHECK(format_named_port(*parse_named_port("dns=53/UDP")) == "dns=53/udp");
    CHECK_FALSE(parse_named_port("http"));
    CHECK_FALSE(parse_named_port("http=0"));
    CHECK_FALSE(parse_named_port("http=80/icmp"));
    CHECK_FALSE(parse_named_port("HTTP=80"));
}

namespace {

// What the kernel would hold after running `script` (add/delete element lines) on `kernel`.
void run_script(Elements& kernel, const std::string& script) {
    std::istringstream in(script);
    for (std::string line; std::getline(in, line);) {
        bool add = line.starts_with("add element inet podnet_policy ");
        bool del = line.starts_with("delete element inet podnet_policy ");
        REQUIRE((add || del));
        std::string rest = line.substr(line.find("podnet_policy ") + 14);
        std::string set = rest.substr(0, rest.find(' '));
        std::string list = rest.substr(rest.find("{ ") + 2);
        list.resize(list.size() - 2);
        for (size_t start = 0; start <= list.size();) {
            size_t end = std::min(list.find(", ", start), list.size());
            std::string element = list.substr(start, end - start);
            start = end + 2;
            if (add) {
                CHECK(kernel.sets[set].insert(element).second);  // never added twice
            } else {
                CHECK(kernel.sets[set].erase(element) == 1);  // never deleted when absent
            }
        }
    }
    for (auto it = kernel.sets.begin(); it != kernel.sets.end();)
        it = it->second.empty() ? kernel.sets.erase(it) : std::next(it);
}

NetworkPolicy policy_from(const std::string& yaml) {
    return parse_one(yaml);
}

}  // namespace

TEST_CASE("the incremental engine always equals a full compile, and its scripts get there") {
    auto s = scenario(cluster_yaml(R"(
  - {apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: web, namespace: x},
     spec: {podSelector: {matchLabels: {app: web}}, ingress: [{from: [{podSelector: {}}], ports: [{port: http}]}]}}
  - {apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: eg, namespace: y},
     spec: {podSelector: {}, egress: [{ports: [{port: http}]}, {to: [{namespaceSelector: {matchLabels: {team: red}}}]}]}}
)"));
    PolicyEngine engine;
    Elements kernel;
    auto check = [&](const char* step) {
        INFO(step);
        run_script(kernel, engine.take_update_script());
        Elements full = compile(engine.cluster());
        CHECK(engine.elements() == full);
        CHECK(kernel == full);
    };
    engine.reset(s.cluster);
    check("reset");
    Pod c{"x", "c", {{"app", "web"}}, {*parse_ip("10.0.1.3")}, {{"http", 8080, Protocol::tcp}}};
    engine.upsert_pod(c);
    check("a selected pod added");
    Pod d{"y", "d", {{"pod", "d"}}, {*parse_ip("10.0.2.4")}, {{"http", 90, Protocol::tcp}}};
    engine.upsert_pod(d);
    check("a peer with a named port added");
    c.labels = {{"app", "db"}};
    engine.upsert_pod(c);
    check("relabelled out of the selection");
    engine.set_namespace_labels("x", {{"team", "red"}});
    check("namespace labels");
    engine.upsert_policy(policy_from(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: web, "
        "namespace: x}\nspec: {podSelector: {matchLabels: {pod: b}}, ingress: [{from: [{ipBlock: "
        "{cidr: 10.0.0.0/16, except: [10.0.2.0/24]}}], ports: [{port: 80, endPort: 85}]}]}\n"));
    check("a policy changed");
    engine.remove_pod("x/a");
    check("a pod removed");
    engine.remove_policy("y/eg");
    check("a policy removed");
    engine.reset(s.cluster);
    check("reset again");
}
