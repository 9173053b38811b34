#include "sandbox/networking.hpp"

// glibc's <netinet/in.h> first: <linux/netfilter.h> after it does not define struct in_addr again.
#include <netinet/in.h>

#include <linux/netfilter.h>

#include <unistd.h>

#include <chrono>
#include <thread>

#include "common/fs.hpp"
#include "common/process.hpp"
#include "netns/netlink.hpp"
#include "network/bridge_driver.hpp"
#include "network/ipam.hpp"
#include "network/subnet_pool.hpp"
#include "nft/nft.hpp"
#include "portmap/conntrack.hpp"
#include "portmap/host_port.hpp"
#include "sandbox/store.hpp"

namespace podnet {

namespace {

std::optional<IpAddress> address_of(const std::string& prefix_text) {
    if (prefix_text.empty()) return std::nullopt;
    auto p = parse_prefix(prefix_text, false);
    if (!p) return std::nullopt;
    return p->address;
}

PodPorts pod_ports(const SandboxRecord& record, const std::vector<PortMapping>& mappings) {
    PodPorts pod;
    pod.sandbox_id = record.id;
    for (const auto& a : record.attachments) {
        if (!pod.pod_ipv4) pod.pod_ipv4 = address_of(a.ipv4);
        if (!pod.pod_ipv6) pod.pod_ipv6 = address_of(a.ipv6);
    }
    pod.mappings = mappings;
    return pod;
}

std::string link_target(const std::string& path) {
    char buf[128];
    ssize_t n = ::readlink(path.c_str(), buf, sizeof buf - 1);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

}  // namespace

Result<std::vector<PortMapping>> parse_port_specs(const std::vector<std::string>& specs) {
    std::vector<PortMapping> all;
    for (const auto& text : specs) {
        auto mappings = parse_port_mapping(text);
        if (!mappings) return std::unexpected(mappings.error());
        for (auto& m : *mappings) {
            for (const auto& other : all)
                if (m.host_port != 0 && other.protocol == m.protocol &&
                    other.host_port == m.host_port &&
                    (!other.host_ip || !m.host_ip || *other.host_ip == *m.host_ip))
                    return fail("port mapping " + format_port_mapping(m) + " conflicts with " +
                                format_port_mapping(other) + " in the same request");
            all.push_back(m);
        }
    }
    return all;
}

SandboxNetworking::SandboxNetworking(const Config& config)
    : config_(config),
      networks_(config.state_root),
      ipam_dir_(config.state_root + "/ipam"),
      ports_dir_(config.run_root + "/ports") {}

// The network's kernel side: bridge, addresses and sysctls (network/), then podnet's nft table
// with the network's subnets for hairpin and masquerade (portmap/). Additions only: cheap, no
// RCU wait, and re-adding what exists is a no-op.
Result<void> SandboxNetworking::ensure_network(const NetworkConfig& network) {
    if (auto r = BridgeDriver(ipam_dir_).ensure(network); !r) return r;
    auto nft = NftContext::shared();
    if (!nft) return std::unexpected(nft.error());
    std::string script = portmap_base_script();
    for (const auto& s : network.subnets)
        script += add_network_script(s.subnet, network.masquerade);
    if (auto r = (*nft)->run(script); !r) return wrap(r.error(), "network " + network.name);
    return {};
}

Result<std::optional<NetworkConfig>> SandboxNetworking::resolve(const std::string& name) {
    if (name == "none") return std::optional<NetworkConfig>{};
    std::string wanted = name.empty() ? config_.default_network : name;
    if (networks_.exists(wanted)) {
        auto network = networks_.load(wanted);
        if (!network) return std::unexpected(network.error());
        // The kernel side is rebuilt when missing (after a reboot, or `ip link del`).
        auto nl = NetlinkSocket::open_current();
        if (!nl) return std::unexpected(nl.error());
        auto present = nl->link_exists(network->bridge);
        if (!present) return std::unexpected(present.error());
        if (!*present)
            if (auto r = ensure_network(*network); !r) return std::unexpected(r.error());
        return std::optional<NetworkConfig>(std::move(*network));
    }
    if (!name.empty() && name != config_.default_network)
        return fail("network \"" + name + "\": no such network");
    NetworkRequest request;
    request.name = config_.default_network;
    request.bridge = config_.default_bridge;
    request.subnets = {config_.default_subnet};
    if (!config_.default_subnet6.empty()) request.subnets.push_back(config_.default_subnet6);
    auto created = create_network(request);
    if (!created) return wrap(created.error(), "default network");
    return std::optional<NetworkConfig>(std::move(*created));
}

// Docker's and podman's habit: `network create NAME` alone gets a free private subnet. Taken
// are the other networks' subnets, the default network's (it may not exist yet), and whatever
// this network namespace routes or has addresses in (a LAN, a VPN, another runtime's bridge).
Result<std::string> SandboxNetworking::free_subnet(const std::vector<NetworkConfig>& existing) {
    std::vector<IpPrefix> taken;
    for (const auto& n : existing)
        for (const auto& s : n.subnets) taken.push_back(s.subnet);
    if (auto d = parse_prefix(config_.default_subnet, false)) taken.push_back(d->network());
    auto nl = NetlinkSocket::open_current();
    if (!nl) return std::unexpected(nl.error());
    auto in_use = subnets_in_use(*nl);
    if (!in_use) return std::unexpected(in_use.error());
    taken.insert(taken.end(), in_use->begin(), in_use->end());
    auto picked = pick_free_subnet(taken);
    if (!picked)
        return fail("no free /24 left in podnet's pool 10.78.0.0-10.87.255.255: give --subnet");
    return picked->str();
}

Result<NetworkConfig> SandboxNetworking::create_network(const NetworkRequest& given) {
    auto existing = networks_.list();
    if (!existing) return std::unexpected(existing.error());
    NetworkRequest request = given;
    if (request.subnets.empty()) {
        auto subnet = free_subnet(*existing);
        if (!subnet) return wrap(subnet.error(), "network " + request.name);
        request.subnets.push_back(*subnet);
    }
    auto config = make_network_config(request, *existing);
    if (!config) return std::unexpected(config.error());
    if (auto r = ensure_network(*config); !r) {
        (void)BridgeDriver(ipam_dir_).remove(*config);
        return std::unexpected(r.error());
    }
    if (auto r = networks_.save(*config); !r) return std::unexpected(r.error());
    return config;
}

Result<std::vector<NetworkConfig>> SandboxNetworking::list_networks() const {
    return networks_.list();
}

Result<NetworkConfig> SandboxNetworking::inspect_network(const std::string& name) const {
    return networks_.load(name);
}

Result<void> SandboxNetworking::remove_network(const std::string& name,
                                               const std::vector<std::string>& users) {
    auto network = networks_.load(name);
    if (!network) return std::unexpected(network.error());
    if (!users.empty())
        return fail("network " + name + " is in use by sandbox " + users.front().substr(0, 12) +
                    (users.size() > 1 ? " and " + std::to_string(users.size() - 1) + " more" : ""));
    if (auto nft = NftContext::shared()) {
        std::string script;
        for (const auto& s : network->subnets)
            script += remove_network_script(s.subnet, network->masquerade);
        if (auto r = (*nft)->run(script); !r) return wrap(r.error(), "remove network " + name);
    }
    if (auto r = BridgeDriver(ipam_dir_).remove(*network); !r) return r;
    return networks_.remove(name);
}

Result<AttachmentRecord> SandboxNetworking::attach(const NetworkConfig& network,
                                                   const std::string& sandbox_id,
                                                   const std::string& ip, const std::string& ip6,
                                                   int pod_netns_fd, Rollback& rollback) {
    AttachRequest request;
    request.sandbox_id = sandbox_id;
    request.pod_netns_fd = pod_netns_fd;
    if (!ip.empty()) {
        auto a = parse_ip(ip);
        if (!a || !a->is_v4()) return fail("--ip " + ip + ": not an IPv4 address");
        request.ip = *a;
    }
    if (!ip6.empty()) {
        auto a = parse_ip(ip6);
        if (!a || !a->is_v6()) return fail("--ip6 " + ip6 + ": not an IPv6 address");
        request.ip6 = *a;
    }
    auto att = BridgeDriver(ipam_dir_).attach(network, request, rollback);
    if (!att) return std::unexpected(att.error());
    AttachmentRecord record;
    record.network = att->network;
    record.interface = att->interface;
    record.host_interface = att->host_interface;
    if (att->ipv4) record.ipv4 = att->ipv4->str();
    if (att->ipv6) record.ipv6 = att->ipv6->str();
    if (att->gateway4) record.gateway4 = att->gateway4->str();
    if (att->gateway6) record.gateway6 = att->gateway6->str();
    record.mac = att->mac;
    return record;
}

std::string SandboxNetworking::claim_dir(const PortMapping& m) const {
    return ports_dir_ + "/" + m.protocol + "-" + std::to_string(m.host_port);
}

std::string SandboxNetworking::claim_path(const PortMapping& m) const {
    return claim_dir(m) + "/" + (m.host_ip ? m.host_ip->str() : std::string("any"));
}

std::optional<std::string> SandboxNetworking::holder(const PortMapping& m) const {
    // A mapping on every address conflicts with any mapping of the port; one bound to an
    // address conflicts with the same address and with "every address".
    std::string dir = claim_dir(m);
    auto holders = list_dir(dir);
    if (!holders) return std::nullopt;
    for (const auto& h : *holders) {
        PortMapping held = m;
        held.host_ip.reset();
        if (h != "any")
            if (auto ip = parse_ip(h)) held.host_ip = *ip;
        if (mappings_overlap(m, held)) return link_target(dir + "/" + h);
    }
    return std::nullopt;
}

// Only on the error path: is the claim's owner still there to hold it? A claim left by a
// sandbox that crashed (pause died, record gone) is gc's to release, and the user should know.
std::string SandboxNetworking::conflict_message(const PortMapping& m,
                                                const std::string& owner) const {
    std::string what = "port " + format_port_mapping(m);
    SandboxStore store(config_.run_root);
    auto record = store.load(owner);
    if (!record)
        return what + " is claimed by sandbox " + owner.substr(0, 12) +
               ", which no longer exists (it crashed?): run `podnet gc` to release it";
    if (record->phase != SandboxPhase::running ||
        !process_running(record->pause_pid, record->pause_start_time))
        return what + " is held by sandbox " + record->name + " (" + owner.substr(0, 12) +
               "), which is not running: run `podnet gc` to release it";
    return what + " is already mapped by sandbox " + owner.substr(0, 12) + " (" + record->name +
           ")";
}

Result<void> SandboxNetworking::claim(const SandboxRecord& record, const PortMapping& m,
                                      Rollback& rollback) {
    if (auto r = make_dirs(claim_dir(m), 0700); !r) return r;
    if (auto owner = holder(m)) return fail(conflict_message(m, *owner));
    std::string path = claim_path(m);
    if (::symlink(record.id.c_str(), path.c_str()) != 0 && errno != EEXIST)
        return fail_errno("claim host port " + format_port_mapping(m), errno);
    rollback.push([path] { ::unlink(path.c_str()); });
    return {};
}

Result<void> SandboxNetworking::publish(const SandboxRecord& record,
                                        std::vector<PortMapping>& mappings, Rollback& rollback) {
    if (mappings.empty()) return {};
    // The ports asked for by number first, so that a random pick never takes one of them.
    for (const auto& m : mappings)
        if (m.host_port != 0)
            if (auto r = claim(record, m, rollback); !r) return r;
    // Docker's -p 80: a free port of the ephemeral range. The range is read only when asked
    // for; the walk starts at a random point so a port just released is not handed out again
    // at once (its conntrack entries and clients' caches may still point at the old pod). The
    // run root's lock, held by every caller, keeps two podnet processes from picking the same.
    // A range the user gave ("-p 8000-8010:80") is walked from its start, as Docker does.
    std::optional<HostPortRange> ephemeral;
    uint16_t start = 0;
    for (auto& m : mappings) {
        if (m.host_port != 0) continue;
        bool given = m.pick_first != 0;
        if (!given && !ephemeral) {
            ephemeral = ephemeral_port_range();
            unsigned size = unsigned(ephemeral->last) - ephemeral->first + 1;
            start = static_cast<uint16_t>(ephemeral->first +
                                          std::stoul(random_hex(2), nullptr, 16) % size);
        }
        HostPortRange range = given ? HostPortRange{m.pick_first, m.pick_last} : *ephemeral;
        auto port = pick_port(range, given ? m.pick_first : start, [&](uint16_t candidate) {
            PortMapping c = m;
            c.host_port = candidate;
            return !holder(c) && !host_port_bound(m, candidate);
        });
        if (!port)
            return fail("no free host port for " + format_port_mapping(m) + " in " +
                        std::to_string(range.first) + "-" + std::to_string(range.last) +
                        (given ? "" : " (net.ipv4.ip_local_port_range)") +
                        ": each is mapped by a sandbox or bound by a socket on the host");
        m.host_port = *port;
        m.pick_first = m.pick_last = 0;
        if (!given) start = static_cast<uint16_t>(*port == range.last ? range.first : *port + 1);
        if (auto r = claim(record, m, rollback); !r) return r;
    }
    // The elements go to the kernel as bytes (nft/elements.hpp): libnftables would cost this
    // command more than all its other work.
    auto nft = NftElementWriter::shared();
    if (!nft) return std::unexpected(nft.error());
    auto elements = pod_port_elements(pod_ports(record, mappings));
    if (auto r = (*nft)->apply(NFPROTO_INET, portmap_table, elements, NftElementOp::add); !r)
        return wrap(r.error(), "publish ports");
    rollback.push([elements] {
        if (auto n = NftElementWriter::shared())
            (void)(*n)->apply(NFPROTO_INET, portmap_table, elements, NftElementOp::remove);
    });
    return {};
}

void SandboxNetworking::unpublish(const SandboxRecord& record,
                                  const std::vector<PortMapping>& mappings,
                                  std::vector<Error>& errors) {
    if (mappings.empty()) return;
    if (auto nft = NftElementWriter::shared()) {
        auto elements = pod_port_elements(pod_ports(record, mappings));
        if (auto r = (*nft)->apply(NFPROTO_INET, portmap_table, elements, NftElementOp::remove); !r)
            errors.push_back(r.error());
    } else {
        errors.push_back(nft.error());
    }
    for (const auto& m : mappings) {
        if (link_target(claim_path(m)) == record.id) ::unlink(claim_path(m).c_str());
        ::rmdir(claim_dir(m).c_str());  // only when empty
        // Without this, a UDP flow to the port keeps its stale NAT entry and goes nowhere
        // (containernetworking/plugins#123). TCP needs none: a new connection starts a new
        // entry, and a conntrack dump costs ~10 ms here.
        if (m.protocol == "udp") (void)flush_conntrack(m);
    }
}

void SandboxNetworking::detach(const SandboxRecord& record, std::vector<Error>& errors) {
    for (const auto& a : record.attachments) {
        auto network = networks_.load(a.network);
        if (!network) continue;  // removed meanwhile: its IPAM went with it
        if (auto r = BridgeDriver(ipam_dir_).release(*network, record.id); !r)
            errors.push_back(r.error());
    }
}

void SandboxNetworking::collect(const std::set<std::string>& live,
                                std::vector<std::string>& actions,
                                std::vector<std::string>& errors) {
    // Host port claims of dead sandboxes, and the nft elements they stand for (found by their
    // owner comment: the pod's addresses may be unknown after a crash).
    std::set<std::string> dead_owners;
    if (auto dirs = list_dir(ports_dir_)) {
        for (const auto& d : *dirs) {
            auto dash = d.find('-');
            if (dash == std::string::npos) continue;
            auto holders = list_dir(ports_dir_ + "/" + d);
            if (!holders) continue;
            for (const auto& h : *holders) {
                std::string owner = link_target(ports_dir_ + "/" + d + "/" + h);
                if (live.contains(owner)) continue;
                dead_owners.insert(owner);
                PortMapping m;
                m.protocol = d.substr(0, dash);
                m.host_port = static_cast<uint16_t>(std::stoi(d.substr(dash + 1)));
                if (h != "any")
                    if (auto ip = parse_ip(h)) m.host_ip = *ip;
                ::unlink((ports_dir_ + "/" + d + "/" + h).c_str());
                if (m.protocol == "udp") (void)flush_conntrack(m);
                actions.push_back("released host port " + m.protocol + "/" +
                                  std::to_string(m.host_port) + " of sandbox " +
                                  owner.substr(0, 12));
            }
            ::rmdir((ports_dir_ + "/" + d).c_str());
        }
    }
    if (!dead_owners.empty()) {
        if (auto nft = NftContext::shared()) {
            for (const auto& owner : dead_owners)
                if (auto r = remove_sandbox_ports(**nft, owner); !r)
                    errors.push_back(r.error().message);
        } else {
            errors.push_back(nft.error().message);
        }
    }
    // Addresses.
    if (auto networks = networks_.list()) {
        for (const auto& n : *networks) {
            Ipam ipam(ipam_dir_, n.name);
            auto freed = ipam.release_all_except(live);
            if (!freed) {
                errors.push_back(freed.error().message);
                continue;
            }
            for (const auto& a : *freed)
                actions.push_back("released address " + a.address.str() + " of sandbox " +
                                  a.owner.substr(0, 12) + " on network " + n.name);
        }
    }
    // Host veths of pods that are not running. The kernel deletes a veth when the namespace of
    // its peer goes, but asynchronously: a pod stopped or removed a moment ago may still show
    // one. Give those a moment to go on their own (deleting costs ~16 ms each); what is still
    // there belongs to a namespace something else keeps alive, and is deleted.
    if (auto nl = NetlinkSocket::open_current()) {
        auto strays = [&] {
            std::vector<std::string> out;
            if (auto links = nl->list_links(host_veth_prefix))
                for (const auto& link : *links) {
                    bool owned = false;
                    for (const auto& id : live) owned = owned || host_veth_name(id) == link;
                    if (!owned) out.push_back(link);
                }
            return out;
        };
        auto left = strays();
        for (int i = 0; i < 50 && !left.empty(); ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
            left = strays();
        }
        for (const auto& link : left) {
            if (auto r = nl->delete_link(link); !r)
                errors.push_back(r.error().message);
            else
                actions.push_back("deleted veth " + link);
        }
    }
}

void release_network(const Config& config, SandboxRecord& record, std::vector<Error>& errors) {
    if (record.attachments.empty() && record.ports.empty()) return;
    SandboxNetworking networking(config);
    std::vector<PortMapping> mappings;
    for (const auto& text : record.ports)
        if (auto m = parse_port_mapping(text))
            mappings.insert(mappings.end(), m->begin(), m->end());
    networking.unpublish(record, mappings, errors);
    networking.detach(record, errors);
    record.ports.clear();
    record.attachments.clear();
}

}  // namespace podnet
