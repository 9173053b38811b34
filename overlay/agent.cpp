#include "overlay/agent.hpp"

#include <algorithm>
#include <chrono>
#include <thread>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "common/fs.hpp"

namespace podnet::overlay {

namespace {

// What the kernel depends on in a lease list: subnet, address, backend and its data.
std::string fingerprint(const std::vector<Lease>& leases) {
    std::string out;
    for (const auto& l : leases)
        out += subnet_key(l.subnet) + "@" + l.public_ip.str() + "/" + backend_name(l.backend) +
               l.backend_data.dump() + ";";
    return out;
}

// Sleeps up to `ms`, waking early when `stop` is set.
void nap(int ms, const std::atomic<bool>& stop) {
    for (int slept = 0; slept < ms && !stop; slept += 10)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
}

// Best effort: a record that cannot be written only keeps a waiting caller waiting; the log says.
void write_record(const AgentOptions& o, const std::string& subnet, int peers) {
    if (o.record_path.empty()) return;
    nlohmann::json record = {{"pid", ::getpid()}, {"subnet", subnet}, {"peers", peers}};
    auto dir = o.record_path.substr(0, o.record_path.rfind('/'));
    auto r = make_dirs(dir, 0755);
    if (r) r = write_file_atomic(o.record_path, record.dump() + "\n", 0644);
    if (!r && o.log) o.log("agent record: " + r.error().message);
}

// Replaced atomically (a reader sees the old file or the new one, never half of one).
Result<void> write_subnet_env(const AgentOptions& o, const Lease& own, int mtu) {
    if (o.subnet_env_path.empty()) return {};
    auto dir = o.subnet_env_path.substr(0, o.subnet_env_path.rfind('/'));
    auto r = make_dirs(dir, 0755);
    if (r)
        r = write_file_atomic(o.subnet_env_path, subnet_env(o.config, own, mtu, o.ip_masq), 0644);
    if (!r) return wrap(r.error(), "subnet.env");
    return {};
}

}  // namespace

std::string subnet_env_path(const std::string& run_root) {
    return run_root + "/overlay/subnet.env";
}

std::string subnet_env(const OverlayConfig& config, const Lease& own, int mtu, bool ip_masq) {
    // flannel writes the first address of the subnet (the node's gateway), not the subnet.
    const std::string gateway = own.subnet.at(1).str() + "/" + std::to_string(own.subnet.length);
    const std::string v6 = config.network.address.is_v4() ? "" : "IPV6_";
    return "FLANNEL_" + v6 + "NETWORK=" + config.network.str() + "\n" + "FLANNEL_" + v6 +
           "SUBNET=" + gateway + "\n" + "FLANNEL_MTU=" + std::to_string(mtu) + "\n" +
           "FLANNEL_IPMASQ=" + (ip_masq ? "true" : "false") + "\n";
}

std::string agent_record_path(const std::string& run_root) {
    return run_root + "/overlay/agent.json";
}

Result<AgentRecord> read_agent_record(const std::string& path) {
    auto text = read_file(path);
    if (!text) return std::unexpected(text.error());
    auto j = nlohmann::json::parse(*text, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return fail(path + ": not an agent record");
    AgentRecord record;
    record.pid = j.value("pid", 0);
    record.subnet = j.value("subnet", "");
    record.peers = j.value("peers", -1);
    return record;
}

std::string overlay_nft_script(const OverlayConfig& config, const std::string& underlay) {
    const std::string table = "inet podnet_overlay";
    const std::string family = config.network.address.is_v4() ? "ip" : "ip6";
    const std::string net = config.network.network().str();
    std::string script = "add table " + table + "\n";
    script += "add chain " + table +
              " postrouting { type nat hook postrouting priority srcnat; policy accept; }\n"
              "flush chain " +
              table + " postrouting\n";
    // Inside the cluster the source stays the pod's; beyond it, the node's.
    script += "add rule " + table + " postrouting " + family + " saddr " + net + " " + family +
              " daddr != " + net + " masquerade\n";
    // Untracked tunnel packets (see the header). Chains made and flushed either way, so that a
    // node switched to host-gw loses them in the same transaction.
    struct RawChain {
        const char* name;
        const char* hook;
        const char* underlay_match;  // the underlay is where packets come in, or go out
    };
    for (const RawChain& c : {RawChain{"raw_prerouting", "prerouting", "iifname"},
                              RawChain{"raw_output", "output", "oifname"}}) {
        const std::string chain = table + " " + c.name;
        script += "add chain " + chain + " { type filter hook " + c.hook +
                  " priority raw; policy accept; }\n";
        if (config.backend == Backend::host_gw) {
            script += "delete chain " + chain + "\n";
            continue;
        }
        script += "flush chain " + chain + "\n";
        script += "add rule " + chain + " " + c.underlay_match + " \"" + underlay +
                  "\" udp dport " + std::to_string(config.port) + " notrack\n";
    }
    return script;
}

Result<void> run_agent(const AgentOptions& o, LeaseStore& store, NetlinkSocket& netlink,
                       const std::atomic<bool>& stop) {
    auto log = [&](const std::string& line) {
        if (o.log) o.log(line);
    };
    auto backend = make_backend(o.config, o.local, netlink);
    if (!backend) return std::unexpected(backend.error());
    auto data = (*backend)->prepare();
    if (!data) return std::unexpected(data.error());

    LeaseRequest request{o.local.public_ip, o.node, o.config.backend, *data, o.ttl_seconds};
    Lease own;
    for (int backoff = 100;; backoff = std::min(backoff * 2, 5000)) {
        if (stop) return {};
        auto lease = store.acquire(request);
        if (lease) {
            own = *lease;
            break;
        }
        log("acquire lease: " + lease.error().message + " (retrying in " + std::to_string(backoff) +
            " ms)");
        nap(backoff, stop);
    }
    log("lease " + own.subnet.str() + " for " + own.public_ip.str() + " (" +
        backend_name(own.backend) + ")");
    if (auto r = (*backend)->activate(own); !r) return std::unexpected(r.error());
    if (o.on_lease)
        if (auto r = o.on_lease(own, (*backend)->pod_mtu()); !r) return std::unexpected(r.error());
    if (auto r = write_subnet_env(o, own, (*backend)->pod_mtu()); !r)
        return std::unexpected(r.error());
    write_record(o, own.subnet.str(), -1);

    std::string applied;
    int backoff = 100;
    int watch_backoff = 100;  // apart: a failing wait says nothing of list()
    auto next_renewal = std::chrono::steady_clock::now() + std::chrono::seconds(o.ttl_seconds) / 3;
    while (!stop) {
        auto list = store.list();
        if (!list) {
            log("list leases: " + list.error().message + " (retrying in " +
                std::to_string(backoff) + " ms)");
            nap(backoff, stop);
            backoff = std::min(backoff * 2, 5000);
            continue;
        }
        backoff = 100;
        for (const auto& w : list->warnings) log("skipped " + w);
        std::vector<Lease> others;
        for (const auto& l : list->leases)
            if (!(l.subnet == own.subnet)) others.push_back(l);
        std::string now = fingerprint(others);
        if (now != applied) {
            if (auto r = (*backend)->reconcile(others); !r) {
                log(r.error().message);
            } else {
                applied = now;
                log("reconciled: " + std::to_string(others.size()) + " other nodes");
                write_record(o, own.subnet.str(), static_cast<int>(others.size()));
            }
        }
        if (std::chrono::steady_clock::now() >= next_renewal) {
            auto renewed = store.renew(own, o.ttl_seconds);
            if (renewed) {
                own = *renewed;
                next_renewal =
                    std::chrono::steady_clock::now() + std::chrono::seconds(o.ttl_seconds) / 3;
            } else {
                log("renew lease: " + renewed.error().message);
                // Lost it (expired while the store was away, or removed): take one again.
                if (auto again = store.acquire(request)) {
                    own = *again;
                    if (auto r = (*backend)->activate(own); !r) log(r.error().message);
                    if (o.on_lease)
                        if (auto r = o.on_lease(own, (*backend)->pod_mtu()); !r)
                            log(r.error().message);
                    if (auto r = write_subnet_env(o, own, (*backend)->pod_mtu()); !r)
                        log(r.error().message);
                    applied.clear();  // reconcile against the new lease
                    write_record(o, own.subnet.str(), -1);
                }
            }
        }
        // Until the leases change or the renewal is due; at most 1 s, so that `stop` is seen.
        // Never 0: a renewal that failed stays due, and is retried at the poll pace.
        auto until_renewal = std::chrono::duration_cast<std::chrono::milliseconds>(
                                 next_renewal - std::chrono::steady_clock::now())
                                 .count();
        int wait_ms = static_cast<int>(
            std::clamp<int64_t>(until_renewal, std::clamp(o.poll_ms, 1, 1000), 1000));
        if (auto changed = store.wait_for_change(wait_ms); !changed) {
            log("wait for lease changes: " + changed.error().message + " (retrying in " +
                std::to_string(watch_backoff) + " ms)");
            nap(watch_backoff, stop);
            watch_backoff = std::min(watch_backoff * 2, 5000);
        } else {
            watch_backoff = 100;
        }
    }
    log("stopping (devices, routes and the lease stay)");
    return {};
}

}  // namespace podnet::overlay
