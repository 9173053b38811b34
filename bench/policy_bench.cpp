// NetworkPolicy programming cost: a full apply of P policies over N pods, and the update when one
// pod is added or one policy changes — through the engine podnet keeps (compile + one nft
// transaction into a real kernel table), at two scales so that "proportional to the change, not
// to the total" shows; and end to end through the Runtime API with real sandboxes.
//
//   podnet-bench-policy OUT.json [N]    (bench/run calls it in private namespaces; N = 1000)
//
// The cluster: N/10 namespaces of 10 pods (app=a<k>, tier=t<k%3>); one policy per pod kind and
// namespace: ingress from the next tier on 80 and from the same app in the next namespace on
// 8080; odd kinds also restrict egress (ipBlock 10.0.0.0/8 except the pod range, DNS over UDP 53
// to any namespace's app=a0).

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bench/bench_util.hpp"
#include "nft/nft.hpp"
#include "podnet/runtime.hpp"
#include "policy/compile.hpp"
#include "policy/engine.hpp"
#include "policy/parse.hpp"

using nlohmann::json;
using namespace podnet::bench;
namespace pol = podnet::policy;

namespace {

std::string policy_yaml(int ns, int kind, int namespaces) {
    std::string n = "n" + std::to_string(ns);
    std::string next = "n" + std::to_string((ns + 1) % namespaces);
    std::string app = "a" + std::to_string(kind);
    std::string y = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p" +
                    std::to_string(kind) + ", namespace: " + n +
                    "}\nspec:\n  podSelector: " + "{matchLabels: {app: " + app +
                    "}}\n  ingress:\n" + "  - from: [{podSelector: {matchLabels: {tier: t" +
                    std::to_string((kind + 1) % 3) + "}}}]\n    ports: [{port: 80}]\n" +
                    "  - from: [{namespaceSelector: {matchLabels: {name: " + next +
                    "}}, podSelector: {matchLabels: {app: " + app + "}}}]\n" +
                    "    ports: [{port: 8080}]\n";
    if (kind % 2 == 1)
        y += "  egress:\n  - to: [{ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/16]}}]\n"
             "  - to: [{namespaceSelector: {}, podSelector: {matchLabels: {app: a0}}}]\n"
             "    ports: [{port: 53, protocol: UDP}]\n";
    return y;
}

pol::NetworkPolicy parse_policy(const std::string& yaml) {
    auto docs = pol::load_documents(yaml, "bench");
    if (!docs) die(docs.error().message);
    auto p = pol::parse_network_policy(docs->front());
    if (!p) die(p.error().message);
    return *p;
}

pol::Pod make_pod(int i) {
    pol::Pod pod;
    pod.ns = "n" + std::to_string(i / 10);
    pod.name = "pod" + std::to_string(i);
    pod.labels = {{"app", "a" + std::to_string(i % 10)}, {"tier", "t" + std::to_string(i % 3)}};
    pod.ips = {
        *podnet::parse_ip("10.1." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1))};
    return pod;
}

pol::Cluster make_cluster(int pods) {
    pol::Cluster c;
    int namespaces = pods / 10;
    for (int j = 0; j < namespaces; ++j)
        c.namespaces["n" + std::to_string(j)] = {{"name", "n" + std::to_string(j)}};
    for (int i = 0; i < pods; ++i) c.pods.push_back(make_pod(i));
    for (int j = 0; j < namespaces; ++j)
        for (int k = 0; k < 10; ++k)
            c.policies.push_back(parse_policy(policy_yaml(j, k, namespaces)));
    return c;
}

podnet::SandboxSpec sandbox_spec(const pol::Pod& pod) {
    podnet::SandboxSpec spec;
    spec.name = pod.name;
    spec.k8s_namespace = pod.ns;
    spec.labels = pod.labels;
    return spec;
}

void run(podnet::NftContext& nft, const std::string& script) {
    if (auto r = nft.run(script); !r) die(r.error().message);
}

// Engine + kernel at one scale.
json engine_scale(podnet::NftContext& nft, int pods, int rounds) {
    pol::Cluster cluster = make_cluster(pods);
    size_t policies = cluster.policies.size();
    pol::PolicyEngine engine;

    auto t0 = Clock::now();
    engine.reset(cluster);
    (void)engine.take_update_script();
    double compile_ms = ms_since(t0);
    auto t1 = Clock::now();
    run(nft, pol::policy_base_script() + pol::full_sync_script(engine.elements()));
    double nft_ms = ms_since(t1);
    size_t elements = engine.elements().size();

    std::vector<double> pod_add, pod_remove, policy_change, script_lines;
    for (int r = 0; r < rounds; ++r) {
        pol::Pod extra = make_pod(pods + r);  // joins namespace pods/10: an existing one's peer
        extra.ns = "n" + std::to_string(r % (pods / 10));
        auto t = Clock::now();
        engine.upsert_pod(extra);
        std::string script = engine.take_update_script();
        run(nft, script);
        pod_add.push_back(ms_since(t));
        script_lines.push_back(static_cast<double>(std::count(script.begin(), script.end(), '\n')));

        t = Clock::now();
        engine.remove_pod(extra.key());
        run(nft, engine.take_update_script());
        pod_remove.push_back(ms_since(t));

        // One policy's ports change, then change back.
        auto changed = parse_policy(policy_yaml(r % (pods / 10), r % 10, pods / 10));
        changed.ingress[0].ports[0].port = static_cast<uint16_t>(81 + r % 2);
        t = Clock::now();
        engine.upsert_policy(changed);
        run(nft, engine.take_update_script());
        policy_change.push_back(ms_since(t));
    }
    if (!(engine.elements() == pol::compile(engine.cluster())))
        die("engine drifted from a full compile");
    run(nft, pol::remove_table_script());
    std::fprintf(stderr,
                 "policy bench: %d pods, %zu policies: full %.1f ms (compile %.1f + nft %.1f), "
                 "%zu elements; pod add %.2f ms, policy change %.2f ms\n",
                 pods, policies, compile_ms + nft_ms, compile_ms, nft_ms, elements,
                 percentile(pod_add, 0.5), percentile(policy_change, 0.5));
    return {{"pods", pods},
            {"policies", policies},
            {"elements", elements},
            {"full_apply_ms", compile_ms + nft_ms},
            {"full_compile_ms", compile_ms},
            {"full_nft_ms", nft_ms},
            {"pod_add", stats(pod_add)},
            {"pod_add_script_lines_median", percentile(script_lines, 0.5)},
            {"pod_remove", stats(pod_remove)},
            {"policy_change", stats(policy_change)}};
}

// Through the Runtime API: real sandboxes, policies parsed, stored and enforced.
json runtime_scale(int pods, int rounds) {
    podnet::Config config;
    podnet::place_under_root(config, "/run/bench-policy-api");
    config.default_subnet = "10.90.0.0/16";
    config.default_bridge = "pnbench0";
    auto rt = podnet::Runtime::open(config);
    if (!rt) die(rt.error().message);
    int namespaces = pods / 10;
    for (int i = 0; i < pods; ++i) {
        pol::Pod p = make_pod(i);
        podnet::SandboxSpec spec = sandbox_spec(p);
        if (auto s = rt->create_sandbox(spec); !s) die(s.error().message);
    }
    for (int j = 0; j < namespaces; ++j)
        if (!rt->label_namespace("n" + std::to_string(j), {{"name", "n" + std::to_string(j)}}, {}))
            die("label namespace");
    std::string all;
    for (int j = 0; j < namespaces; ++j)
        for (int k = 0; k < 10; ++k) all += "---\n" + policy_yaml(j, k, namespaces);
    auto t0 = Clock::now();
    auto applied = rt->apply_policies({{all, "bench.yaml"}});
    if (!applied) die(applied.error().message);
    double full_ms = ms_since(t0);

    std::vector<double> create_with, rm_with, change;
    for (int r = 0; r < rounds; ++r) {
        pol::Pod p = make_pod(pods + r);
        p.ns = "n" + std::to_string(r % namespaces);
        podnet::SandboxSpec spec = sandbox_spec(p);
        auto t = Clock::now();
        if (auto s = rt->create_sandbox(spec); !s) die(s.error().message);
        create_with.push_back(ms_since(t));
        t = Clock::now();
        if (auto s = rt->remove_sandbox(p.name, true); !s) die(s.error().message);
        rm_with.push_back(ms_since(t));
        std::string y = policy_yaml(r % namespaces, r % 10, namespaces);
        y.replace(y.find("port: 80}"), 9, "port: " + std::to_string(81 + r % 2) + "}");
        t = Clock::now();
        if (auto a = rt->apply_policies({{y, "change.yaml"}}); !a) die(a.error().message);
        change.push_back(ms_since(t));
    }
    // The same create and rm with no policy at all, for the difference.
    for (int j = 0; j < namespaces; ++j)
        for (int k = 0; k < 10; ++k)
            if (!rt->remove_policy("n" + std::to_string(j), "p" + std::to_string(k)))
                die("remove policy");
    std::vector<double> create_without, rm_without;
    for (int r = 0; r < rounds; ++r) {
        pol::Pod p = make_pod(pods + r);
        podnet::SandboxSpec spec = sandbox_spec(p);
        auto t = Clock::now();
        if (auto s = rt->create_sandbox(spec); !s) die(s.error().message);
        create_without.push_back(ms_since(t));
        t = Clock::now();
        if (auto s = rt->remove_sandbox(p.name, true); !s) die(s.error().message);
        rm_without.push_back(ms_since(t));
    }
    for (int i = 0; i < pods; ++i) (void)rt->remove_sandbox("pod" + std::to_string(i), true);
    std::fprintf(stderr,
                 "policy bench: runtime API, %d sandboxes: apply %d policies %.1f ms; create "
                 "%.2f ms with policies vs %.2f without; one policy changed %.2f ms\n",
                 pods, namespaces * 10, full_ms, percentile(create_with, 0.5),
                 percentile(create_without, 0.5), percentile(change, 0.5));
    return {{"sandboxes", pods},
            {"policies", namespaces * 10},
            {"apply_all_ms", full_ms},
            {"create_with_policies", stats(create_with)},
            {"create_without_policies", stats(create_without)},
            {"rm_with_policies", stats(rm_with)},
            {"rm_without_policies", stats(rm_without)},
            {"one_policy_changed", stats(change)}};
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) die("usage: podnet-bench-policy OUT.json [N]");
    int n = argc > 2 ? std::atoi(argv[2]) : 1000;
    auto nft = podnet::NftContext::open();
    if (!nft) die(nft.error().message);
    json out = {{"benchmark", "NetworkPolicy programming: full apply and one-change updates"},
                {"engine_small", engine_scale(*nft, n / 10, 50)},
                {"engine", engine_scale(*nft, n, 50)},
                {"runtime_api", runtime_scale(n, 20)},
                {"targets",
                 {{"full_apply_ms", "<= 1000 at 1,000 policies x 1,000 pods"},
                  {"update_ms", "<= 10, proportional to the change"}}}};
    std::ofstream(argv[1]) << out.dump(2) << "\n";
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
}
