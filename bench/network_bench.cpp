// Sandbox create/rm with a network and one host port, through the API, and `port add` latency
// as the number of published mappings grows.
//
//   podnet-bench-network BIN_DIR OUT.json [N]     (bench/run calls it in private namespaces)
//
// Floor for the netlink part: the same veth (peer created in a fresh namespace) + bridge port +
// address + default route done directly with NetlinkSocket, and IPv6 off on both ends as podnet
// does for IPv4-only networks; no IPAM, state or nftables.

#include <fcntl.h>
#include <sched.h>
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
#include "common/fs.hpp"
#include "common/ip.hpp"
#include "common/process.hpp"
#include "common/unique_fd.hpp"
#include "netns/netlink.hpp"
#include "netns/sysctl.hpp"
#include "nft/nft.hpp"
#include "podnet/runtime.hpp"
#include "portmap/portmap.hpp"

using nlohmann::json;
using namespace podnet::bench;

namespace {

// A fresh network namespace held by an fd (made on a thread that unshares, so we never move).
podnet::UniqueFd new_netns() {
    podnet::UniqueFd fd;
    std::thread([&] {
        if (::unshare(CLONE_NEWNET) != 0) return;
        fd.reset(::open("/proc/thread-self/ns/net", O_RDONLY));
        // As podnet does for IPv4-only pods (the pod side's default, set before the veth).
        (void)podnet::write_sysctl("net.ipv6.conf.default.disable_ipv6", "1");
    }).join();
    return fd;
}

std::vector<double> netlink_floor(int n) {
    auto host = podnet::NetlinkSocket::open_current();
    if (!host) die(host.error().message);
    if (auto r = host->create_bridge("floorbr0", 0); !r) die(r.error().message);
    (void)host->add_address("floorbr0", *podnet::parse_prefix("10.250.0.1/16", false));
    (void)host->set_up("floorbr0");
    std::vector<double> times;
    std::vector<podnet::UniqueFd> namespaces;
    for (int i = 0; i < n; ++i) {
        namespaces.push_back(new_netns());
        int ns = namespaces.back().get();
        std::string veth = "floorv" + std::to_string(i);
        auto t0 = Clock::now();
        auto pod = podnet::NetlinkSocket::open_in(ns);
        bool ok =
            pod && host->create_veth(veth, "eth0", ns, 0) && host->set_master(veth, "floorbr0") &&
            host->set_up(veth) &&
            pod->add_address(
                "eth0", podnet::IpPrefix{podnet::IpPrefix{*podnet::parse_ip("10.250.0.0"), 16}.at(
                                             static_cast<uint64_t>(i) + 2),
                                         16}) &&
            pod->set_up("eth0") && pod->add_default_route("eth0", *podnet::parse_ip("10.250.0.1"));
        times.push_back(ms_since(t0));
        if (!ok) die("netlink floor step failed");
    }
    (void)host->delete_link("floorbr0");
    return times;  // the namespaces close here and take their veths with them
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 3) die("usage: podnet-bench-network BIN_DIR OUT.json [N]");
    std::string bin = argv[1];
    int n = argc > 3 ? std::atoi(argv[3]) : 200;

    auto floor = netlink_floor(n);
    std::this_thread::sleep_for(std::chrono::seconds(1));

    podnet::Config config;
    podnet::place_under_root(config, "/run/bench-net");
    config.pause_binary = bin + "/podnet-pause";
    auto rt = podnet::Runtime::open(config);
    if (!rt) die(rt.error().message);
    std::vector<double> create, remove;
    std::vector<std::string> ids;
    for (int i = 0; i < n; ++i) {
        podnet::SandboxSpec spec;
        spec.ports = {std::to_string(20000 + i) + ":80"};
        auto t0 = Clock::now();
        auto info = rt->create_sandbox(spec);
        create.push_back(ms_since(t0));
        if (!info) die(info.error().message);
        ids.push_back(info->id);
    }
    // `port add` with 1, 100 and 10,000 mappings present (published in bulk beforehand).
    auto nft = podnet::NftContext::open();
    if (!nft) die(nft.error().message);
    json port_add;
    int present = n;
    for (int target : {1, 100, 10000}) {
        if (target > present) {
            podnet::PodPorts bulk;
            bulk.sandbox_id = std::string(64, 'f');
            bulk.pod_ipv4 = *podnet::parse_ip("10.77.255.254");
            for (int p = present; p < target; ++p)
                bulk.mappings.push_back(
                    {"udp", std::nullopt, static_cast<uint16_t>(30000 + p % 30000), 80});
            if (target - present > 30000) die("too many");
            if (auto r = nft->run(podnet::add_pod_ports_script(bulk)); !r) die(r.error().message);
            present = target;
        }
        std::vector<double> times;
        int base = target == 1 ? 41000 : target == 100 ? 42000 : 43000;  // fresh host ports
        for (int k = 0; k < 20; ++k) {
            auto t0 = Clock::now();
            auto r = rt->add_ports(ids.front(), {std::to_string(base + k) + ":81"});
            times.push_back(ms_since(t0));
            if (!r) die(r.error().message);
        }
        port_add[std::to_string(target)] = stats(times);
    }
    for (const auto& id : ids) {
        auto t0 = Clock::now();
        auto r = rt->remove_sandbox(id, true);
        remove.push_back(ms_since(t0));
        if (!r) die(r.error().message);
    }
    double first = mean(create, 0, 10), last = mean(create, create.size() - 10, 10);
    json out = {
        {"benchmark", "sandbox create/rm with the default network and one host port"},
        {"sandboxes", n},
        {"date", podnet::now_rfc3339()},
        {"netlink_floor", stats(floor)},
        {"netlink_floor_last_vs_first", mean(floor, floor.size() - 10, 10) / mean(floor, 0, 10)},
        {"api", {{"create", stats(create)}, {"rm", stats(remove)}}},
        {"api_create_first10_mean_ms", first},
        {"api_create_last10_mean_ms", last},
        {"last_vs_first_create", last / first},
        {"port_add_with_mappings_present", port_add}};
    std::ofstream(argv[2]) << out.dump(2) << "\n";
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
}
