// CNI, four ways, one run, the pods of each alive at once:
//   direct     the reference chain bridge + host-local + portmap (Debian's containernetworking-
//              plugins) exec'd by the least a runtime can do: fork, exec, config on stdin, result
//              from stdout (no cache, no lookup, no checks) — the floor for the runner;
//   runner     the same chain through podnet's CNI runner (cni::Runner: conflist, CNI_PATH lookup,
//              runtimeConfig from capabilities, prevResult chaining, libcni cache, timeouts);
//   podnet-cni podnet's own network as a CNI plugin, through the same runner: the same work
//              (veth, IPAM, address, route, one host port);
//   podnet API a whole sandbox with podnet's built-in network and one port (issue 3's figure).
//
//   podnet-bench-cni BIN_DIR OUT.json [N]      (bench/run calls it in private namespaces)
//
// Pods are podnet sandboxes made with --network none beforehand (not timed). The contenders are
// interleaved pod by pod, so machine noise spreads over all of them alike.

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench_util.hpp"
#include "cni-runner/conf.hpp"
#include "cni-runner/runner.hpp"
#include "common/process.hpp"
#include "podnet/runtime.hpp"

using nlohmann::json;
using namespace podnet::bench;

namespace {

// Run one CNI plugin: env as the spec says, config on stdin, result from stdout.
std::string run_plugin(const std::string& plugin, const std::string& command,
                       const std::string& container, const std::string& netns,
                       const std::string& config) {
    int in[2], out[2];
    if (::pipe(in) != 0 || ::pipe(out) != 0) die("pipe");
    pid_t pid = ::fork();
    if (pid == 0) {
        ::dup2(in[0], 0);
        ::dup2(out[1], 1);
        ::close(in[1]);
        ::close(out[0]);
        std::string path = "/usr/lib/cni/" + plugin;
        std::vector<std::string> env = {
            "CNI_COMMAND=" + command, "CNI_CONTAINERID=" + container,
            "CNI_NETNS=" + netns,     "CNI_IFNAME=eth0",
            "CNI_PATH=/usr/lib/cni",  "PATH=/usr/sbin:/usr/bin:/sbin:/bin"};
        std::vector<char*> envp;
        for (auto& e : env) envp.push_back(e.data());
        envp.push_back(nullptr);
        char* argv[] = {path.data(), nullptr};
        ::execve(path.c_str(), argv, envp.data());
        ::_exit(127);
    }
    ::close(in[0]);
    ::close(out[1]);
    (void)!::write(in[1], config.data(), config.size());
    ::close(in[1]);
    std::string result;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(out[0], buf, sizeof buf)) > 0) result.append(buf, static_cast<size_t>(n));
    ::close(out[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        die(plugin + " " + command + " failed: " + result);
    return result;
}

json reference_chain(const std::string& name, const std::string& bridge,
                     const std::string& subnet) {
    return {{"cniVersion", "1.0.0"},
            {"name", name},
            {"plugins",
             {{{"type", "bridge"},
               {"bridge", bridge},
               {"isGateway", true},
               {"ipMasq", true},
               {"ipam",
                {{"type", "host-local"},
                 {"ranges", {{{{"subnet", subnet}}}}},
                 {"dataDir", "/run/bench-cni/host-local"}}}},
              {{"type", "portmap"}, {"capabilities", {{"portMappings", true}}}}}}};
}

json port_caps(int host_port) {
    return {
        {"portMappings", {{{"hostPort", host_port}, {"containerPort", 80}, {"protocol", "tcp"}}}}};
}

podnet::cni::NetworkConfList parse_list(const json& list) {
    auto parsed = podnet::cni::parse_conf_list(list.dump(), list["name"].get<std::string>());
    if (!parsed) die(parsed.error().message);
    return *parsed;
}

struct Pod {
    std::string id, netns;
    json result;  // direct only: what DEL gets as prevResult
};

}  // namespace

int main(int argc, char** argv) {
    if (argc < 3) die("usage: podnet-bench-cni BIN_DIR OUT.json [N]");
    std::string bin = argv[1];
    int n = argc > 3 ? std::atoi(argv[3]) : 50;
    podnet::Config config;
    podnet::place_under_root(config, "/run/bench-cni");
    config.pause_binary = bin + "/podnet-pause";
    auto rt = podnet::Runtime::open(config);
    if (!rt) die(rt.error().message);

    // direct: the chain as plain JSON, each plugin's config built by hand.
    json direct_list = reference_chain("direct", "cni0", "10.88.0.0/16");
    json bridge_conf = direct_list["plugins"][0];
    bridge_conf["name"] = "direct";
    bridge_conf["cniVersion"] = "1.0.0";
    auto runner_list = parse_list(reference_chain("chain", "cni1", "10.89.0.0/16"));
    auto podnet_cni_list = parse_list({{"cniVersion", "1.0.0"},
                                       {"name", "pncni"},
                                       {"plugins",
                                        {{{"type", "podnet-cni"},
                                          {"bridge", "pncni0"},
                                          {"subnet", "10.78.0.0/16"},
                                          {"root", "/run/bench-cni/podnet-cni"},
                                          {"capabilities", {{"portMappings", true}}}}}}});
    podnet::cni::RunnerOptions options;
    options.plugin_dirs = {bin, "/usr/lib/cni"};
    options.cache_dir = "/run/bench-cni/cache";
    podnet::cni::Runner runner(options);

    auto make_pod = [&] {
        podnet::SandboxSpec spec;
        spec.network = "none";
        auto sb = rt->create_sandbox(spec);
        if (!sb) die(sb.error().message);
        return Pod{sb->id, sb->namespace_paths.at("net"), {}};
    };
    std::vector<Pod> direct_pods, runner_pods, pncni_pods;
    std::vector<double> direct_add, direct_del, runner_add, runner_del, pncni_add, pncni_del;
    for (int i = 0; i < n; ++i) {
        Pod pod = make_pod();
        json portmap_conf = {{"cniVersion", "1.0.0"},
                             {"name", "direct"},
                             {"type", "portmap"},
                             {"capabilities", {{"portMappings", true}}},
                             {"runtimeConfig", port_caps(20000 + i)}};
        auto t0 = Clock::now();
        std::string bridge_result =
            run_plugin("bridge", "ADD", pod.id, pod.netns, bridge_conf.dump());
        portmap_conf["prevResult"] = json::parse(bridge_result);
        pod.result =
            json::parse(run_plugin("portmap", "ADD", pod.id, pod.netns, portmap_conf.dump()));
        direct_add.push_back(ms_since(t0));
        direct_pods.push_back(std::move(pod));

        for (auto [list, pods, times, port] :
             {std::tuple{&runner_list, &runner_pods, &runner_add, 22000 + i},
              std::tuple{&podnet_cni_list, &pncni_pods, &pncni_add, 24000 + i}}) {
            Pod p = make_pod();
            podnet::cni::RuntimeConf conf{p.id, p.netns, "eth0", {}, port_caps(port)};
            auto t1 = Clock::now();
            auto result = runner.add(*list, conf);
            times->push_back(ms_since(t1));
            if (!result) die(result.error().message);
            pods->push_back(std::move(p));
        }
    }
    for (int i = 0; i < n; ++i) {
        const Pod& pod = direct_pods[static_cast<size_t>(i)];
        json portmap_conf = {{"cniVersion", "1.0.0"},
                             {"name", "direct"},
                             {"type", "portmap"},
                             {"capabilities", {{"portMappings", true}}},
                             {"runtimeConfig", port_caps(20000 + i)},
                             {"prevResult", pod.result}};
        json bridge_del = bridge_conf;
        bridge_del["prevResult"] = pod.result;
        auto t0 = Clock::now();
        run_plugin("portmap", "DEL", pod.id, pod.netns, portmap_conf.dump());
        run_plugin("bridge", "DEL", pod.id, pod.netns, bridge_del.dump());
        direct_del.push_back(ms_since(t0));

        for (auto [list, pods, times, port] :
             {std::tuple{&runner_list, &runner_pods, &runner_del, 22000 + i},
              std::tuple{&podnet_cni_list, &pncni_pods, &pncni_del, 24000 + i}}) {
            const Pod& p = (*pods)[static_cast<size_t>(i)];
            podnet::cni::RuntimeConf conf{p.id, p.netns, "eth0", {}, port_caps(port)};
            auto t1 = Clock::now();
            auto r = runner.del(*list, conf);
            times->push_back(ms_since(t1));
            if (!r) die(r.error().message);
        }
    }
    for (const auto* pods : {&direct_pods, &runner_pods, &pncni_pods})
        for (const auto& p : *pods)
            if (auto r = rt->remove_sandbox(p.id, true); !r) die(r.error().message);
    std::this_thread::sleep_for(std::chrono::seconds(1));

    // podnet API: the same work (veth, IPAM, address, route, one host port) plus the sandbox.
    std::vector<double> pod_create, pod_rm;
    std::vector<std::string> ids;
    for (int i = 0; i < n; ++i) {
        podnet::SandboxSpec spec;
        spec.ports = {std::to_string(21000 + i) + ":80"};
        auto t0 = Clock::now();
        auto sb = rt->create_sandbox(spec);
        pod_create.push_back(ms_since(t0));
        if (!sb) die(sb.error().message);
        ids.push_back(sb->id);
    }
    for (const auto& id : ids) {
        auto t0 = Clock::now();
        if (auto r = rt->remove_sandbox(id, true); !r) die(r.error().message);
        pod_rm.push_back(ms_since(t0));
    }

    auto med = [](const std::vector<double>& v) { return percentile(v, 0.5); };
    // Two plugin calls per ADD and per DEL in the chain.
    double overhead_add = (med(runner_add) - med(direct_add)) / 2;
    double overhead_del = (med(runner_del) - med(direct_del)) / 2;
    json out = {
        {"benchmark", "CNI: the reference chain direct vs through podnet's runner; podnet-cni"},
        {"pods", n},
        {"date", podnet::now_rfc3339()},
        {"note",
         "chain = bridge + host-local + portmap (Debian containernetworking-plugins 1.1.1); "
         "direct = fork/exec/stdin/stdout only; podnet API times include the whole sandbox"},
        {"direct_chain", {{"add", stats(direct_add)}, {"del", stats(direct_del)}}},
        {"runner_chain", {{"add", stats(runner_add)}, {"del", stats(runner_del)}}},
        {"runner_overhead_per_plugin_call_ms", {{"add", overhead_add}, {"del", overhead_del}}},
        {"podnet_cni_via_runner", {{"add", stats(pncni_add)}, {"del", stats(pncni_del)}}},
        {"runner_chain_over_podnet_cni",
         {{"add", med(runner_add) / med(pncni_add)}, {"del", med(runner_del) / med(pncni_del)}}},
        {"podnet_api", {{"create", stats(pod_create)}, {"rm", stats(pod_rm)}}},
        {"direct_chain_over_podnet_api",
         {{"add", med(direct_add) / med(pod_create)}, {"del", med(direct_del) / med(pod_rm)}}}};
    std::ofstream(argv[2]) << out.dump(2) << "\n";
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
}
