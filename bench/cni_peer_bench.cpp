// podnet's network attach + one host port beside the CNI reference plugins doing the same work
// (bridge + host-local + portmap from Debian's containernetworking-plugins), in one run.
//
//   podnet-bench-cni BIN_DIR OUT.json [N]      (bench/run calls it in private namespaces)
//
// Both sides get a fresh pod namespace from a podnet sandbox created with --network none (not
// timed). podnet: `port`-style attach through the API (create with the default network and -p);
// CNI: ADD bridge then ADD portmap with the bridge's result as prevResult, DEL in reverse, each
// plugin a process as a CNI runtime runs it. The CNI side is what a runtime pays per pod.

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench_util.hpp"
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

    // CNI: the reference chain, with the pods alive at once as in the podnet runs.
    const json bridge_conf = {{"cniVersion", "1.0.0"},
                              {"name", "cnibench"},
                              {"type", "bridge"},
                              {"bridge", "cni0"},
                              {"isGateway", true},
                              {"ipMasq", true},
                              {"ipam",
                               {{"type", "host-local"},
                                {"ranges", {{{{"subnet", "10.88.0.0/16"}}}}},
                                {"dataDir", "/run/bench-cni/host-local"}}}};
    std::vector<double> cni_add, cni_del, pod_create, pod_rm;
    struct Pod {
        std::string id, netns;
        json result;
    };
    std::vector<Pod> pods;
    for (int i = 0; i < n; ++i) {
        podnet::SandboxSpec spec;
        spec.network = "none";
        auto sb = rt->create_sandbox(spec);
        if (!sb) die(sb.error().message);
        Pod pod{sb->id, sb->namespace_paths.at("net"), {}};
        json portmap_conf = {
            {"cniVersion", "1.0.0"},
            {"name", "cnibench"},
            {"type", "portmap"},
            {"capabilities", {{"portMappings", true}}},
            {"runtimeConfig",
             {{"portMappings",
               {{{"hostPort", 20000 + i}, {"containerPort", 80}, {"protocol", "tcp"}}}}}}};
        auto t0 = Clock::now();
        std::string bridge_result =
            run_plugin("bridge", "ADD", pod.id, pod.netns, bridge_conf.dump());
        portmap_conf["prevResult"] = json::parse(bridge_result);
        pod.result =
            json::parse(run_plugin("portmap", "ADD", pod.id, pod.netns, portmap_conf.dump()));
        cni_add.push_back(ms_since(t0));
        pods.push_back(std::move(pod));
    }
    for (int i = 0; i < n; ++i) {
        Pod& pod = pods[static_cast<size_t>(i)];
        json portmap_conf = {
            {"cniVersion", "1.0.0"},
            {"name", "cnibench"},
            {"type", "portmap"},
            {"capabilities", {{"portMappings", true}}},
            {"runtimeConfig",
             {{"portMappings",
               {{{"hostPort", 20000 + i}, {"containerPort", 80}, {"protocol", "tcp"}}}}}},
            {"prevResult", pod.result}};
        json bridge_del = bridge_conf;
        bridge_del["prevResult"] = pod.result;
        auto t0 = Clock::now();
        run_plugin("portmap", "DEL", pod.id, pod.netns, portmap_conf.dump());
        run_plugin("bridge", "DEL", pod.id, pod.netns, bridge_del.dump());
        cni_del.push_back(ms_since(t0));
        if (auto r = rt->remove_sandbox(pod.id, true); !r) die(r.error().message);
    }
    std::this_thread::sleep_for(std::chrono::seconds(1));

    // podnet: the same work (veth, IPAM, address, route, one host port) in one API call.
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
    double add_ratio = percentile(cni_add, 0.5) / percentile(pod_create, 0.5);
    double del_ratio = percentile(cni_del, 0.5) / percentile(pod_rm, 0.5);
    json out = {{"benchmark",
                 "network attach + one host port: podnet API vs CNI bridge+host-local+portmap"},
                {"pods", n},
                {"date", podnet::now_rfc3339()},
                {"note",
                 "podnet times include the whole sandbox (pause, pins, state); the CNI "
                 "times only the plugins, the sandbox being made beforehand"},
                {"cni_reference_plugins", {{"add", stats(cni_add)}, {"del", stats(cni_del)}}},
                {"podnet_api", {{"create", stats(pod_create)}, {"rm", stats(pod_rm)}}},
                {"cni_add_over_podnet_create", add_ratio},
                {"cni_del_over_podnet_rm", del_ratio}};
    std::ofstream(argv[2]) << out.dump(2) << "\n";
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
}
