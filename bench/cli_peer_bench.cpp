// What a newcomer feels at the prompt, against the peers a podman or Kubernetes user knows, in
// one run with the contenders interleaved round by round (this machine is shared and noisy):
//
//   podnet CLI   `podnet sandbox create -p PORT:80` + `podnet sandbox rm -f ID`: a whole pod
//                (pause process, namespaces) on the default network with one host port;
//   podnet API   the same through Runtime (what an embedder pays), for the CLI's own overhead;
//   netavark     podman's network backend (Debian 12's netavark 1.4): `netavark setup` +
//                `teardown` for a bridge network with one port mapping, as podman drives it;
//   CNI chain    bridge + host-local + portmap (Debian's containernetworking-plugins) ADD + DEL,
//                exec'd directly (the least a runtime can do).
//
// netavark and the chain are given a network namespace made beforehand (not timed); podnet's
// figure includes making the pod. Also: `podnet --version` beside fork+exec of /bin/true, and
// the CPU one CLI create costs beside the API's.
//
//   podnet-bench-cli BIN_DIR OUT.json [ROUNDS]      (bench/run calls it in private namespaces)

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
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
#include "common/process.hpp"
#include "podnet/runtime.hpp"

using nlohmann::json;
using namespace podnet::bench;

namespace {

constexpr const char* netavark_binary = "/usr/lib/podman/netavark";
constexpr const char* cni_dir = "/usr/lib/cni";

struct Exit {
    std::string out;
    double cpu_ms = 0;  // user + system of the child
};

double cpu_ms(const rusage& ru) {
    auto ms = [](const timeval& tv) { return tv.tv_sec * 1e3 + tv.tv_usec / 1e3; };
    return ms(ru.ru_utime) + ms(ru.ru_stime);
}

// fork + exec with `input` on stdin; stdout captured; dies unless the child exits 0.
Exit run(const std::vector<std::string>& argv, const std::vector<std::string>& env = {},
         const std::string& input = {}) {
    int in[2], out[2];
    if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0) die("pipe");
    pid_t pid = ::fork();
    if (pid == 0) {
        ::dup2(in[0], 0);
        ::dup2(out[1], 1);
        std::vector<char*> args, envp;
        for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        std::vector<std::string> full = env;
        full.push_back("PATH=/usr/sbin:/usr/bin:/sbin:/bin");
        for (auto& e : full) envp.push_back(e.data());
        envp.push_back(nullptr);
        ::execve(args[0], args.data(), envp.data());
        ::_exit(127);
    }
    ::close(in[0]);
    ::close(out[1]);
    if (!input.empty()) (void)!::write(in[1], input.data(), input.size());
    ::close(in[1]);
    Exit result;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(out[0], buf, sizeof buf)) > 0) result.out.append(buf, size_t(n));
    ::close(out[0]);
    int status = 0;
    rusage ru{};
    ::wait4(pid, &status, 0, &ru);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        die(argv[0] + " " + (argv.size() > 1 ? argv[1] : "") + " failed: " + result.out);
    result.cpu_ms = cpu_ms(ru);
    return result;
}

double process_cpu_ms() {
    rusage ru{};
    ::getrusage(RUSAGE_SELF, &ru);  // all threads: netlink work runs on helpers
    return cpu_ms(ru);
}

std::string trim(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
}

json netavark_options(const std::string& id, int index, int host_port) {
    std::string ip = "10.88." + std::to_string(index / 250) + "." + std::to_string(2 + index % 250);
    return {{"container_id", id},
            {"container_name", "bench" + std::to_string(index)},
            {"networks", {{"podman", {{"interface_name", "eth0"}, {"static_ips", {ip}}}}}},
            {"network_info",
             {{"podman",
               {{"dns_enabled", false},
                {"driver", "bridge"},
                {"id", std::string(64, 'b')},
                {"internal", false},
                {"ipv6_enabled", false},
                {"name", "podman"},
                {"network_interface", "podman0"},
                {"subnets", {{{"gateway", "10.88.0.1"}, {"subnet", "10.88.0.0/16"}}}}}}}},
            {"port_mappings",
             {{{"container_port", 80},
               {"host_ip", ""},
               {"host_port", host_port},
               {"protocol", "tcp"},
               {"range", 1}}}}};
}

json chain_conf(const std::string& type, const json& prev_result, int host_port) {
    json conf = {{"cniVersion", "1.0.0"}, {"name", "chain"}, {"type", type}};
    if (type == "bridge") {
        conf["bridge"] = "cni0";
        conf["isGateway"] = true;
        conf["ipMasq"] = true;
        conf["ipam"] = {{"type", "host-local"},
                        {"ranges", {{{{"subnet", "10.89.0.0/16"}}}}},
                        {"dataDir", "/run/bench-cli/host-local"}};
    } else {
        conf["capabilities"] = {{"portMappings", true}};
        conf["runtimeConfig"] = {
            {"portMappings",
             {{{"hostPort", host_port}, {"containerPort", 80}, {"protocol", "tcp"}}}}};
    }
    if (!prev_result.is_null()) conf["prevResult"] = prev_result;
    return conf;
}

std::vector<std::string> cni_env(const std::string& command, const std::string& id,
                                 const std::string& netns) {
    return {"CNI_COMMAND=" + command, "CNI_CONTAINERID=" + id, "CNI_NETNS=" + netns,
            "CNI_IFNAME=eth0", std::string("CNI_PATH=") + cni_dir};
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 3) die("usage: podnet-bench-cli BIN_DIR OUT.json [ROUNDS]");
    const std::string bin = argv[1];
    const int rounds = argc > 3 ? std::atoi(argv[3]) : 15;
    const std::string podnet = bin + "/podnet";
    const std::string root = "/run/bench-cli/podnet";
    const bool have_netavark = ::access(netavark_binary, X_OK) == 0;
    const bool have_chain = ::access((std::string(cni_dir) + "/bridge").c_str(), X_OK) == 0;

    podnet::Config config;
    podnet::place_under_root(config, root);
    config.pause_binary = bin + "/podnet-pause";
    auto rt = podnet::Runtime::open(config);
    if (!rt) die(rt.error().message);
    // Pods for the peers: podnet sandboxes without a network, made outside the timed part.
    auto holder = [&] {
        podnet::SandboxSpec spec;
        spec.network = "none";
        auto sb = rt->create_sandbox(spec);
        if (!sb) die(sb.error().message);
        return std::pair{sb->id, sb->namespace_paths.at("net")};
    };
    auto cli = [&](std::vector<std::string> args) {
        args.insert(args.begin(), {podnet, "--root", root});
        return run(args);
    };

    // Warm-up, untimed: the default network and bridges exist afterwards, as docker0 does.
    trim(cli({"sandbox", "rm", "-f", trim(cli({"sandbox", "create", "-p", "9999:80"}).out)}).out);

    std::vector<double> cli_create, cli_rm, cli_total, cli_cpu, api_create, api_rm, api_total,
        api_cpu, nv_setup, nv_teardown, nv_total, chain_add, chain_del, chain_total;
    for (int round = 0; round < rounds; ++round) {
        for (int turn = 0; turn < 4; ++turn) {
            int which = (round + turn) % 4;  // rotate who goes first
            int port = 20000 + round * 4 + which;
            // Deleting nft rules or elements leaves the kernel work it finishes after an RCU
            // grace period (10-15 ms here), and the next nft transaction or socket close within
            // it waits for the rest: a pause keeps one contender's leftover off the next one.
            // (The back-to-back phase below shows what a script looping create + rm pays.)
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
            if (which == 0) {
                auto t0 = Clock::now();
                Exit made = cli({"sandbox", "create", "-p", std::to_string(port) + ":80"});
                double created = ms_since(t0);
                auto t1 = Clock::now();
                cli({"sandbox", "rm", "-f", trim(made.out)});
                cli_rm.push_back(ms_since(t1));
                cli_create.push_back(created);
                cli_total.push_back(ms_since(t0));
                cli_cpu.push_back(made.cpu_ms);
            } else if (which == 1) {
                podnet::SandboxSpec spec;
                spec.ports = {std::to_string(port) + ":80"};
                double cpu0 = process_cpu_ms();
                auto t0 = Clock::now();
                auto sb = rt->create_sandbox(spec);
                double created = ms_since(t0);
                api_cpu.push_back(process_cpu_ms() - cpu0);
                if (!sb) die(sb.error().message);
                auto t1 = Clock::now();
                if (auto r = rt->remove_sandbox(sb->id, true); !r) die(r.error().message);
                api_rm.push_back(ms_since(t1));
                api_create.push_back(created);
                api_total.push_back(ms_since(t0));
            } else if (which == 2 && have_netavark) {
                auto [id, netns] = holder();
                std::string options = netavark_options(id, round, port).dump();
                std::vector<std::string> setup = {netavark_binary, "--config", "/run/bench-cli/nv",
                                                  "setup", netns};
                std::vector<std::string> teardown = setup;
                teardown[3] = "teardown";
                auto t0 = Clock::now();
                run(setup, {}, options);
                nv_setup.push_back(ms_since(t0));
                auto t1 = Clock::now();
                run(teardown, {}, options);
                nv_teardown.push_back(ms_since(t1));
                nv_total.push_back(ms_since(t0));
                if (auto r = rt->remove_sandbox(id, true); !r) die(r.error().message);
            } else if (which == 3 && have_chain) {
                auto [id, netns] = holder();
                std::string bridge = std::string(cni_dir) + "/bridge";
                std::string portmap = std::string(cni_dir) + "/portmap";
                auto t0 = Clock::now();
                json result = json::parse(
                    run({bridge}, cni_env("ADD", id, netns), chain_conf("bridge", {}, port).dump())
                        .out);
                result = json::parse(run({portmap}, cni_env("ADD", id, netns),
                                         chain_conf("portmap", result, port).dump())
                                         .out);
                chain_add.push_back(ms_since(t0));
                auto t1 = Clock::now();
                run({portmap}, cni_env("DEL", id, netns),
                    chain_conf("portmap", result, port).dump());
                run({bridge}, cni_env("DEL", id, netns), chain_conf("bridge", result, port).dump());
                chain_del.push_back(ms_since(t1));
                chain_total.push_back(ms_since(t0));
                if (auto r = rt->remove_sandbox(id, true); !r) die(r.error().message);
            }
        }
    }

    // A script looping `create` + `rm` with no pause: each rm's grace-period leftover lands on
    // the next create. The honest steady state for scripts; the targets are checked on it too.
    std::vector<double> loop_total;
    for (int i = 0; i < rounds; ++i) {
        auto t0 = Clock::now();
        Exit made = cli({"sandbox", "create", "-p", std::to_string(30000 + i) + ":80"});
        cli({"sandbox", "rm", "-f", trim(made.out)});
        loop_total.push_back(ms_since(t0));
    }
    // The same loop through the API: what of the back-to-back cost is the kernel's (a pod's
    // network namespace is also torn down asynchronously, and the next create meets that work).
    std::vector<double> api_loop_total;
    for (int i = 0; i < rounds; ++i) {
        podnet::SandboxSpec spec;
        spec.ports = {std::to_string(31000 + i) + ":80"};
        auto t0 = Clock::now();
        auto sb = rt->create_sandbox(spec);
        if (!sb) die(sb.error().message);
        if (auto r = rt->remove_sandbox(sb->id, true); !r) die(r.error().message);
        api_loop_total.push_back(ms_since(t0));
    }

    // Start-up: `podnet --version` beside fork+exec of /bin/true, interleaved.
    std::vector<double> version, bin_true;
    for (int i = 0; i < 200; ++i) {
        auto t0 = Clock::now();
        run({"/bin/true"});
        bin_true.push_back(ms_since(t0));
        auto t1 = Clock::now();
        run({podnet, "--version"});
        version.push_back(ms_since(t1));
    }

    auto med = [](const std::vector<double>& v) { return percentile(v, 0.5); };
    json out = {
        {"benchmark",
         "the CLI at the prompt: pod create + rm with one host port vs netavark and "
         "the CNI chain; start-up; CPU per create"},
        {"rounds", rounds},
        {"date", podnet::now_rfc3339()},
        {"podnet_cli",
         {{"create", stats(cli_create)},
          {"rm", stats(cli_rm)},
          {"create_plus_rm", stats(cli_total)},
          {"create_plus_rm_back_to_back", stats(loop_total)},
          {"cpu_per_create_ms", med(cli_cpu)}}},
        {"podnet_api",
         {{"create", stats(api_create)},
          {"rm", stats(api_rm)},
          {"create_plus_rm", stats(api_total)},
          {"create_plus_rm_back_to_back", stats(api_loop_total)},
          {"cpu_per_create_ms", med(api_cpu)}}},
        {"cli_minus_api_ms",
         {{"create", med(cli_create) - med(api_create)}, {"rm", med(cli_rm) - med(api_rm)}}},
        {"cli_cpu_over_api_cpu", med(cli_cpu) / med(api_cpu)},
        {"version_ms", stats(version)},
        {"bin_true_ms", stats(bin_true)},
        {"version_over_bin_true", med(version) / med(bin_true)}};
    if (have_netavark) {
        out["netavark"] = {{"setup", stats(nv_setup)},
                           {"teardown", stats(nv_teardown)},
                           {"setup_plus_teardown", stats(nv_total)}};
        out["netavark_over_podnet_cli"] = med(nv_total) / med(cli_total);
        out["netavark_over_podnet_cli_back_to_back"] = med(nv_total) / med(loop_total);
    }
    if (have_chain) {
        out["cni_chain"] = {{"add", stats(chain_add)},
                            {"del", stats(chain_del)},
                            {"add_plus_del", stats(chain_total)}};
        out["cni_chain_over_podnet_cli"] = med(chain_total) / med(cli_total);
        out["cni_chain_over_podnet_cli_back_to_back"] = med(chain_total) / med(loop_total);
    }
    std::ofstream(argv[2]) << out.dump(2) << "\n";
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
}
