// The overlay without root: flannel's config and its defaults, subnet choice, the file store
// (leases, renewal, expiry, unreadable records, processes racing for subnets, waiting for
// changes).

#include <sys/wait.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include <chrono>
#include <fstream>
#include <set>
#include <thread>

#include "overlay/agent.hpp"
#include "overlay/config.hpp"
#include "overlay/file_store.hpp"
#include "overlay/lease.hpp"
#include "tests/support/temp_dir.hpp"

using namespace podnet;
using namespace podnet::overlay;

namespace {

OverlayConfig config_of(const std::string& json) {
    auto c = parse_flannel_json(json, "net.json");
    REQUIRE_MESSAGE(c, c.error().message);
    return *c;
}

std::string config_error(const std::string& json) {
    auto c = parse_flannel_json(json, "net.json");
    return c ? "" : c.error().message;
}

IpAddress ip(const char* text) {
    return *parse_ip(text);
}

LeaseRequest request(const char* public_ip, int ttl = 60) {
    LeaseRequest r;
    r.public_ip = ip(public_ip);
    r.node = public_ip;
    r.backend_data = {{"VtepMAC", "02:00:00:00:00:01"}};
    r.ttl_seconds = ttl;
    return r;
}

}  // namespace

TEST_CASE("flannel's network config: defaults and validation") {
    auto c = config_of(R"({"Network": "10.244.0.0/16", "Backend": {"Type": "vxlan"}})");
    CHECK(c.subnet_len == 24);
    CHECK(c.subnet_min.str() == "10.244.1.0");  // the first subnet is skipped, as flannel does
    CHECK(c.subnet_max.str() == "10.244.255.0");
    CHECK(c.capacity() == 255);
    CHECK(c.port == 8472);
    CHECK(c.vni == 1);
    auto small = config_of(R"({"Network": "10.10.0.0/26", "Backend": {"Type": "udp"}})");
    CHECK(small.subnet_len == 28);  // below a /22: network length + 2
    CHECK(small.port == 8285);
    auto h = config_of(R"({"Network": "10.244.0.0/16", "SubnetLen": 26, "SubnetMin": "10.244.0.64",
        "SubnetMax": "10.244.1.0", "Backend": {"Type": "host-gw"}})");
    CHECK(h.capacity() == 4);
    CHECK(h.backend == Backend::host_gw);

    CHECK(config_error(R"({"Network": "10.244.0.0/24", "SubnetLen": 24})")
              .find("10.244.0.0/24 is too small for /24 subnets") != std::string::npos);
    CHECK(config_error(R"({"Network": "10.244.0.0/16", "SubnetLen": 31})")
              .find("subnet length /31 is out of range") != std::string::npos);
    CHECK(config_error(R"({"Network": "10.244.0.0/16", "Backend": {"Type": "gre"}})")
              .find("Backend.Type: unknown backend \"gre\"") != std::string::npos);
    CHECK(config_error(R"({"Network": "10.244.0.1/16"})").find("host bits set") !=
          std::string::npos);
    CHECK(config_error(R"({"Network": "10.244.0.0/16", "SubnetMin": "10.244.1.7"})")
              .find("SubnetMin 10.244.1.7 is not the start of a /24 subnet") != std::string::npos);
    CHECK(config_error(R"({"Network": "10.244.0.0/16", "SubnetMax": "10.245.0.0"})")
              .find("outside") != std::string::npos);
    CHECK(config_error(R"({"Network": "10.244.0.0/16", "Backend": {"Type": "vxlan", "VNI": 0}})")
              .find("net.json: Backend.VNI: out of range (1-16777215)") != std::string::npos);
    CHECK(config_error(R"({"Netwrok": "10.244.0.0/16"})").find("Netwrok: unknown key") !=
          std::string::npos);
    CHECK(config_error("{").find("net.json: not a JSON object") == 0);
}

TEST_CASE("every key of flannel's net-conf.json is honoured or refused with its reason") {
    // kube-flannel.yml's own net-conf.json.
    auto k = config_of(
        R"({"Network": "10.244.0.0/16", "EnableNFTables": false, "Backend": {"Type": "vxlan"}})");
    CHECK(k.network.str() == "10.244.0.0/16");
    CHECK(k.notes.empty());
    // Everything flannel's vxlan backend reads on Linux, and EnableNFTables true.
    auto all = config_of(R"({"EnableIPv4": true, "EnableIPv6": false, "Network": "10.50.0.0/16",
        "SubnetLen": 25, "SubnetMin": "10.50.1.0", "SubnetMax": "10.50.9.0", "EnableNFTables": true,
        "Networks": [], "IPv6Networks": null,
        "Backend": {"Type": "vxlan", "VNI": 4, "Port": 4789, "MTU": 1400, "GBP": false,
                    "Learning": false, "DirectRouting": true, "MacPrefix": "0E-2A"}})");
    CHECK(all.subnet_len == 25);
    CHECK(all.subnet_min.str() == "10.50.1.0");
    CHECK(all.subnet_max.str() == "10.50.9.0");
    CHECK(all.vni == 4);
    CHECK(all.port == 4789);
    CHECK(all.mtu == 1400);
    CHECK(all.direct_routing);
    REQUIRE(all.notes.size() == 2);
    CHECK(all.notes[0] ==
          "Backend.MacPrefix: not read by podnet's vxlan backend (flannel reads it "
          "on Windows or in its other backends), ignored");
    CHECK(all.notes[1] == "EnableNFTables: podnet always uses nftables, accepted");
    // Keys match without regard to case, as Go's encoding/json (flannel's decoder) does.
    auto lower = config_of(R"({"network": "10.60.0.0/16", "backend": {"type": "host-gw"}})");
    CHECK(lower.backend == Backend::host_gw);
    // flannel's default backend is udp; podnet's is vxlan, and it says so.
    auto bare = config_of(R"({"Network": "10.70.0.0/16"})");
    CHECK(bare.backend == Backend::vxlan);
    REQUIRE(bare.notes.size() == 1);
    CHECK(bare.notes[0].find("flannel's default is udp") != std::string::npos);

    // An IPv6-only cluster, flannel's way: its IPv6* keys; the IPv4 ones are ignored (noted).
    auto v6 = config_of(R"({"EnableIPv4": false, "EnableIPv6": true, "Network": "10.1.0.0/16",
        "IPv6Network": "fd20::/56", "IPv6SubnetLen": 64, "IPv6SubnetMin": "fd20:0:0:10::",
        "IPv6SubnetMax": "fd20:0:0:20::", "Backend": {"Type": "vxlan"}})");
    CHECK(v6.network.str() == "fd20::/56");
    CHECK(v6.subnet_len == 64);
    CHECK(v6.subnet_min.str() == "fd20:0:0:10::");
    CHECK(v6.capacity() == 17);
    REQUIRE(v6.notes.size() == 1);
    CHECK(v6.notes[0] == "Network: ignored (EnableIPv4 is false), as flannel does");
    // flannel's IPv6 default: /64, or two bits below a network longer than /62.
    CHECK(config_of(R"({"EnableIPv4": false, "EnableIPv6": true, "IPv6Network": "fd30::/120"})")
              .subnet_len == 122);

    CHECK(config_error(
              R"({"Network": "10.1.0.0/16", "EnableIPv6": true, "IPv6Network": "fd::/48"})") ==
          "net.json: EnableIPv6: with EnableIPv4: dual-stack clusters are not supported (for an "
          "IPv6 cluster set EnableIPv4 false)");
    CHECK(config_error(R"({"EnableIPv4": false, "EnableIPv6": true})") ==
          "net.json: IPv6Network: required with EnableIPv6 (the IPv6 cluster CIDR)");
    CHECK(
        config_error(R"({"EnableIPv4": false, "EnableIPv6": true, "IPv6Network": "10.0.0.0/8"})") ==
        "net.json: IPv6Network: not an IPv6 network");
    CHECK(config_error(R"({"EnableIPv4": false, "Network": "10.1.0.0/16"})")
              .starts_with("net.json: EnableIPv4: false, and EnableIPv6 is not true"));
    CHECK(config_error(R"({"Networks": ["10.1.0.0/16", "10.2.0.0/16"]})") ==
          "net.json: Networks: several cluster networks (flannel's MultiClusterCIDR) are not "
          "supported; give one Network");
    CHECK(config_error(R"({"Network": "10.1.0.0/16", "Backend": {"Type": "vxlan", "GBP": true}})")
              .starts_with("net.json: Backend.GBP: VXLAN Group Based Policy is not supported"));
    CHECK(config_error(
              R"({"Network": "10.1.0.0/16", "Backend": {"Type": "vxlan", "Learning": true}})")
              .starts_with("net.json: Backend.Learning: a learning VTEP is not supported"));
    CHECK(config_error(R"({"Network": "10.1.0.0/16", "Backend": {"Type": "wireguard",
        "PSK": "x", "ListenPort": 51820}})") ==
          "net.json: Backend.Type: flannel's \"wireguard\" backend is not supported by podnet "
          "(vxlan, host-gw or udp)");
    CHECK(config_error(R"({"Network": "10.1.0.0/16", "EnableNFTables": "yes"})") ==
          "net.json: EnableNFTables: must be true or false");
    CHECK(config_error(R"({"Network": "10.1.0.0/16", "Backend": {"Type": "vxlan", "Bogus": 1}})") ==
          "net.json: Backend.Bogus: unknown key");
}

TEST_CASE("[overlay] mirrors flannel's keys in snake_case") {
    auto error_of = [](const std::string& toml) {
        auto p = parse_config(toml, "podnet.toml");
        if (!p) return p.error().message;
        auto o = overlay_config_from(p->overlay);
        return o ? std::string() : o.error().message;
    };
    auto p = parse_config(
        "[overlay]\nenable_ipv4 = false\nenable_ipv6 = true\nipv6_network = \"fd40::/48\"\n"
        "ipv6_subnet_len = 64\nipv6_subnet_min = \"fd40:0:0:5::\"\nipv6_subnet_max = "
        "\"fd40:0:0:8::\"\nenable_nftables = true\ngbp = false\nlearning = false\n",
        "podnet.toml");
    REQUIRE_MESSAGE(p, p.error().message);
    auto c = overlay_config_from(p->overlay);
    REQUIRE_MESSAGE(c, c.error().message);
    CHECK(c->network.str() == "fd40::/48");
    CHECK(c->capacity() == 4);
    REQUIRE(c->notes.size() == 1);
    CHECK(c->notes[0] == "enable_nftables: podnet always uses nftables, accepted");
    auto again = parse_config(config_to_toml(*p), "again.toml");
    REQUIRE_MESSAGE(again, again.error().message);
    CHECK(overlay_config_from(again->overlay)->network.str() == "fd40::/48");
    CHECK(error_of("[overlay]\nnetwork = \"10.1.0.0/16\"\nenable_ipv6 = true\n") ==
          "[overlay] enable_ipv6: with EnableIPv4: dual-stack clusters are not supported (for an "
          "IPv6 cluster set enable_ipv4 false)");
    CHECK(error_of("[overlay]\nnetwork = \"10.1.0.0/16\"\ngbp = true\n")
              .starts_with("[overlay] gbp: VXLAN Group Based Policy is not supported"));
}

TEST_CASE("subnet.env as flannel writes it: the gateway address with the subnet's length") {
    auto c = config_of(R"({"Network": "10.244.0.0/16"})");
    Lease own;
    own.subnet = *parse_prefix("10.244.1.0/24", false);
    CHECK(subnet_env(c, own, 1450, true) ==
          "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\n"
          "FLANNEL_IPMASQ=true\n");
    auto v6 = config_of(R"({"EnableIPv4": false, "EnableIPv6": true, "IPv6Network": "fd20::/56"})");
    own.subnet = *parse_prefix("fd20:0:0:3::/64", false);
    CHECK(subnet_env(v6, own, 1430, true) ==
          "FLANNEL_IPV6_NETWORK=fd20::/56\nFLANNEL_IPV6_SUBNET=fd20:0:0:3::1/64\nFLANNEL_MTU=1430\n"
          "FLANNEL_IPMASQ=true\n");
    CHECK(subnet_env_path("/run/podnet") == "/run/podnet/overlay/subnet.env");
}

TEST_CASE("file store: a fresh root's missing directories are made (agent and leases by hand)") {
    podnet::test::TempDir dir;
    FileLeaseStore store(dir.path + "/state/overlay/leases.json",
                         config_of(R"({"Network": "10.244.0.0/16"})"));
    auto list = store.list();
    REQUIRE_MESSAGE(list, list.error().message);
    CHECK(list->leases.empty());
    auto lease = store.acquire(request("192.168.1.2"));
    REQUIRE_MESSAGE(lease, lease.error().message);
    CHECK(lease->subnet.str() == "10.244.1.0/24");
}

TEST_CASE("podnet.toml's [overlay]: the same config, errors naming the key") {
    auto parsed = parse_config(
        "[overlay]\nnetwork = \"10.50.0.0/16\"\nsubnet_len = 26\nbackend = \"vxlan\"\n"
        "vni = 7\nport = 4789\nmtu = 1400\ndirect_routing = true\nstore = \"etcd:http://e:2379\"\n"
        "public_ip = \"192.168.1.5\"\niface = \"eth1\"\nnode = \"n5\"\nttl_seconds = 30\n",
        "podnet.toml");
    REQUIRE_MESSAGE(parsed, parsed.error().message);
    CHECK(parsed->effective_overlay_store() == "etcd:http://e:2379");
    CHECK(parsed->overlay.public_ip == "192.168.1.5");
    auto c = overlay_config_from(parsed->overlay);
    REQUIRE_MESSAGE(c, c.error().message);
    CHECK(c->network.str() == "10.50.0.0/16");
    CHECK(c->subnet_len == 26);
    CHECK(c->subnet_min.str() == "10.50.0.64");
    CHECK(c->vni == 7);
    CHECK(c->port == 4789);
    CHECK(c->mtu == 1400);
    CHECK(c->direct_routing);
    // It survives `config show` and back.
    auto again = parse_config(config_to_toml(*parsed), "again.toml");
    REQUIRE_MESSAGE(again, again.error().message);
    CHECK(overlay_config_from(again->overlay)->vni == 7);

    auto error_of = [](const std::string& toml) {
        auto p = parse_config(toml, "podnet.toml");
        if (!p) return p.error().message;
        auto o = overlay_config_from(p->overlay);
        return o ? std::string() : o.error().message;
    };
    CHECK(error_of("[overlay]\nbackend = \"vxlan\"\n") ==
          "[overlay] network: required (the cluster CIDR)");
    CHECK(error_of("[overlay]\nnetwork = \"10.1.0.0/16\"\nbackend = \"gre\"\n")
              .starts_with("[overlay] backend: unknown backend \"gre\""));
    CHECK(error_of("[overlay]\nnetwork = \"10.1.0.0/33\"\n").starts_with("[overlay] network:"));
    CHECK(error_of("[overlay]\nnetwork = \"10.1.0.0/24\"\nsubnet_len = 24\n")
              .find("10.1.0.0/24 is too small for /24 subnets") != std::string::npos);
    CHECK(error_of("[overlay]\nnetwork = \"10.1.0.0/16\"\nvni = 0\n") ==
          "[overlay] vni: out of range (1-16777215)");
    CHECK(
        error_of("[overlay]\nnetwrok = \"10.1.0.0/16\"\n").find("unknown key [overlay] netwrok") !=
        std::string::npos);
    CHECK(error_of("[overlay]\nnetwork = 16\n").find("[overlay] network: wrong type") !=
          std::string::npos);
    // Without [overlay] the leases sit under the state root.
    auto plain = parse_config("", "empty.toml");
    CHECK(plain->effective_overlay_store() == "file:/var/lib/podnet/overlay/leases.json");
}

TEST_CASE("the node's nft rules: masquerade beyond the cluster; tunnel packets untracked") {
    auto vxlan = overlay_nft_script(config_of(R"({"Network": "10.244.0.0/16"})"), "eth0");
    CHECK(vxlan.find("add rule inet podnet_overlay postrouting ip saddr 10.244.0.0/16 ip daddr "
                     "!= 10.244.0.0/16 masquerade\n") != std::string::npos);
    CHECK(vxlan.find("add rule inet podnet_overlay raw_prerouting iifname \"eth0\" udp dport "
                     "8472 notrack\n") != std::string::npos);
    CHECK(vxlan.find("add rule inet podnet_overlay raw_output oifname \"eth0\" udp dport 8472 "
                     "notrack\n") != std::string::npos);
    CHECK(vxlan.find("delete chain") == std::string::npos);
    auto udp = overlay_nft_script(
        config_of(R"({"Network": "10.244.0.0/16", "Backend": {"Type": "udp"}})"), "ens3");
    CHECK(udp.find("iifname \"ens3\" udp dport 8285 notrack") != std::string::npos);
    // host-gw has no tunnel: the chains go (made first, so the delete never fails).
    auto host_gw = overlay_nft_script(
        config_of(R"({"Network": "10.244.0.0/16", "Backend": {"Type": "host-gw"}})"), "eth0");
    CHECK(host_gw.find("notrack") == std::string::npos);
    CHECK(host_gw.find("delete chain inet podnet_overlay raw_prerouting\n") != std::string::npos);
    CHECK(host_gw.find("delete chain inet podnet_overlay raw_output\n") != std::string::npos);
    auto v6 = overlay_nft_script(config_of(R"({"Network": "fd10::/48", "SubnetLen": 64})"), "eth0");
    CHECK(v6.find("ip6 saddr fd10::/48 ip6 daddr != fd10::/48 masquerade") != std::string::npos);
}

TEST_CASE("an IPv6 cluster: /64 per node, counted past 2^64 addresses") {
    auto c = config_of(R"({"Network": "fd10::/48"})");
    CHECK(c.subnet_len == 64);
    CHECK(c.subnet_min.str() == "fd10:0:0:1::");
    CHECK(c.subnet_max.str() == "fd10:0:0:ffff::");
    CHECK(c.capacity() == 0xffff);
    std::vector<Lease> leases(1);
    leases[0].subnet = *parse_prefix("fd10:0:0:1::/64", true);
    leases[0].public_ip = ip("192.168.100.1");
    CHECK(choose_subnet(c, leases, {}, ip("192.168.100.2"))->str() == "fd10:0:0:2::/64");
    CHECK(config_error(R"({"Network": "fd10::/48", "SubnetMin": "fd10:0:0:1::8"})")
              .find("is not the start of a /64 subnet") != std::string::npos);
    CHECK(config_error(R"({"Network": "fd00::/8", "SubnetLen": 120})").find("more than 2^63") !=
          std::string::npos);
    CHECK(config_error(R"({"Network": "fd10::/48", "Backend": {"Type": "udp"}})") ==
          "net.json: overlay backend udp carries IPv4 only (network fd10::/48; use vxlan)");
}

TEST_CASE("subnet choice: a node's own lease first, else the lowest free one") {
    auto c = config_of(R"({"Network": "10.244.0.0/16"})");
    std::vector<Lease> leases(2);
    leases[0].subnet = *parse_prefix("10.244.1.0/24", true);
    leases[0].public_ip = ip("192.168.100.1");
    leases[1].subnet = *parse_prefix("10.244.3.0/24", true);
    leases[1].public_ip = ip("192.168.100.3");
    CHECK(choose_subnet(c, leases, {}, ip("192.168.100.3"))->str() == "10.244.3.0/24");
    CHECK(choose_subnet(c, leases, {}, ip("192.168.100.9"))->str() == "10.244.2.0/24");
    CHECK(choose_subnet(c, leases, {*parse_prefix("10.244.2.0/24", true)}, ip("192.168.100.9"))
              ->str() == "10.244.4.0/24");
    auto tiny = config_of(R"({"Network": "10.9.0.0/23", "SubnetLen": 24})");
    std::vector<Lease> full(1);
    full[0].subnet = *parse_prefix("10.9.1.0/24", true);
    full[0].public_ip = ip("192.168.100.1");
    auto none = choose_subnet(tiny, full, {}, ip("192.168.100.2"));
    REQUIRE_FALSE(none);
    CHECK(none.error().message.find("no free /24 left in 10.9.0.0/23") == 0);
}

TEST_CASE("file store: acquire, same subnet again for the same node, renew, release, expiry") {
    podnet::test::TempDir dir("pn-lease");
    auto c = config_of(R"({"Network": "10.244.0.0/16"})");
    FileLeaseStore store(dir.path + "/leases.json", c);
    auto a = store.acquire(request("192.168.100.1"));
    REQUIRE_MESSAGE(a, a.error().message);
    CHECK(a->subnet.str() == "10.244.1.0/24");
    auto b = store.acquire(request("192.168.100.2"));
    REQUIRE(b);
    CHECK(b->subnet.str() == "10.244.2.0/24");
    auto again = store.acquire(request("192.168.100.1"));  // a restarted node
    REQUIRE(again);
    CHECK(again->subnet.str() == "10.244.1.0/24");
    auto renewed = store.renew(*b, 120);
    REQUIRE(renewed);
    CHECK(renewed->expiration_ms > b->expiration_ms);
    CHECK(store.list()->leases.size() == 2);
    REQUIRE(store.release(b->subnet));
    CHECK(store.list()->leases.size() == 1);
    auto lost = store.renew(*b, 60);
    REQUIRE_FALSE(lost);
    CHECK(lost.error().message == "lease 10.244.2.0-24 is no longer held by 192.168.100.2");
    auto brief = store.acquire(request("192.168.100.5", 0));  // expires at once
    REQUIRE(brief);
    CHECK(store.list()->leases.size() == 1);  // an expired lease is not live
}

TEST_CASE("file store: wait_for_change sees another object's change, else times out") {
    using std::chrono::milliseconds;
    using std::chrono::steady_clock;
    podnet::test::TempDir dir("pn-lease");
    std::string path = dir.path + "/leases.json";
    auto c = config_of(R"({"Network": "10.244.0.0/16"})");
    FileLeaseStore watcher(path, c);
    FileLeaseStore writer(path, c);
    auto first = watcher.wait_for_change(1000);  // nothing read yet: may have changed
    REQUIRE(first);
    CHECK(*first);

    REQUIRE(watcher.list());  // no file yet
    auto start = steady_clock::now();
    auto quiet = watcher.wait_for_change(100);
    REQUIRE_MESSAGE(quiet, quiet.error().message);
    CHECK_FALSE(*quiet);
    CHECK(steady_clock::now() - start >= milliseconds(100));

    REQUIRE(writer.acquire(request("192.168.100.1")));  // before the wait: seen at once
    start = steady_clock::now();
    auto changed = watcher.wait_for_change(5000);
    REQUIRE(changed);
    CHECK(*changed);
    CHECK(steady_clock::now() - start < milliseconds(2500));  // at once, not at the timeout

    // This object's own writes are not changes to report back.
    REQUIRE(watcher.acquire(request("192.168.100.2")));
    auto own = watcher.wait_for_change(100);
    REQUIRE(own);
    CHECK_FALSE(*own);

    steady_clock::time_point written;
    std::thread other([&] {
        std::this_thread::sleep_for(milliseconds(150));
        written = steady_clock::now();
        CHECK(writer.acquire(request("192.168.100.3")));
    });
    auto woke = watcher.wait_for_change(5000);
    auto woke_at = steady_clock::now();
    other.join();
    REQUIRE(woke);
    CHECK(*woke);
    CHECK(woke_at - written < milliseconds(2500));  // woken, long before the 5 s timeout
}

TEST_CASE("file store: a record that does not parse is skipped with a warning and not reused") {
    podnet::test::TempDir dir("pn-lease");
    std::string path = dir.path + "/leases.json";
    std::ofstream(path) << R"({"leases": {"10.244.1.0-24": {"subnet": "10.244.1.0/24",
        "PublicIP": "not-an-ip", "BackendType": "vxlan", "expiration_ms": 99999999999999}}})";
    FileLeaseStore store(path, config_of(R"({"Network": "10.244.0.0/16"})"));
    auto list = store.list();
    REQUIRE(list);
    CHECK(list->leases.empty());
    REQUIRE(list->warnings.size() == 1);
    CHECK(list->warnings[0].find("lease 10.244.1.0-24: PublicIP:") == 0);
    auto a = store.acquire(request("192.168.100.1"));
    REQUIRE(a);
    CHECK(a->subnet.str() == "10.244.2.0/24");
}

TEST_CASE("file store: twenty processes racing never share a subnet") {
    podnet::test::TempDir dir("pn-lease");
    std::string path = dir.path + "/leases.json";
    auto c = config_of(R"({"Network": "10.244.0.0/16"})");
    int pipefd[2];
    REQUIRE(::pipe(pipefd) == 0);
    std::vector<pid_t> children;
    for (int i = 0; i < 20; ++i) {
        pid_t pid = ::fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            FileLeaseStore store(path, c);
            std::string address = "192.168.100." + std::to_string(i + 1);
            auto lease = store.acquire(request(address.c_str()));
            std::string line = (lease ? lease->subnet.str() : "error") + "\n";
            (void)!::write(pipefd[1], line.data(), line.size());
            ::_exit(lease ? 0 : 1);
        }
        children.push_back(pid);
    }
    ::close(pipefd[1]);
    for (pid_t pid : children) {
        int status = 0;
        ::waitpid(pid, &status, 0);
        CHECK(WIFEXITED(status));
        CHECK(WEXITSTATUS(status) == 0);
    }
    std::string out;
    char buf[512];
    for (ssize_t n; (n = ::read(pipefd[0], buf, sizeof buf)) > 0;) out.append(buf, n);
    ::close(pipefd[0]);
    std::set<std::string> subnets;
    size_t lines = 0;
    for (size_t at = 0, end; (end = out.find('\n', at)) != std::string::npos; at = end + 1) {
        subnets.insert(out.substr(at, end - at));
        ++lines;
    }
    CHECK(lines == 20);
    CHECK(subnets.size() == 20);
    CHECK(FileLeaseStore(path, c).list()->leases.size() == 20);
}
