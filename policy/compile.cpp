#include "policy/compile.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <nlohmann/json.hpp>
#include <tuple>

namespace podnet::policy {

namespace {

using U128 = unsigned __int128;

U128 to_number(const IpAddress& a) {
    U128 n = 0;
    for (size_t i = 0; i < a.size(); ++i) n = (n << 8) | a.bytes[i];
    return n;
}

IpAddress from_number(U128 n, int family) {
    IpAddress a;
    a.family = family;
    size_t size = a.size();
    for (size_t i = size; i-- > 0;) {
        a.bytes[i] = static_cast<uint8_t>(n & 0xff);
        n >>= 8;
    }
    return a;
}

struct Span {  // an inclusive range of addresses or ports
    U128 lo = 0, hi = 0;
    bool operator==(const Span&) const = default;
    auto operator<=>(const Span&) const = default;
};

// Sorted, overlapping and adjacent spans merged.
std::vector<Span> merge(std::vector<Span> spans) {
    std::sort(spans.begin(), spans.end());
    std::vector<Span> out;
    for (const auto& s : spans) {
        // A span reaching the top of the address space covers everything after it (and its
        // hi + 1 would wrap).
        if (!out.empty() && (out.back().hi == ~U128(0) || s.lo <= out.back().hi + 1))
            out.back().hi = std::max(out.back().hi, s.hi);
        else
            out.push_back(s);
    }
    return out;
}

struct Box {
    Span addresses;
    Span ports;
};

// Disjoint boxes with the union of `boxes`: cut the address axis where any box starts or ends,
// merge the port spans over each piece, then join neighbouring pieces with equal port spans.
std::vector<Box> disjoint(const std::vector<Box>& boxes) {
    std::vector<U128> cuts;
    for (const auto& b : boxes) {
        cuts.push_back(b.addresses.lo);
        if (b.addresses.hi + 1 != 0) cuts.push_back(b.addresses.hi + 1);
    }
    std::sort(cuts.begin(), cuts.end());
    cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
    std::vector<std::pair<Span, std::vector<Span>>> pieces;
    for (size_t i = 0; i < cuts.size(); ++i) {
        U128 lo = cuts[i];
        U128 hi = i + 1 < cuts.size() ? cuts[i + 1] - 1 : ~U128(0);
        std::vector<Span> ports;
        U128 top = 0;
        for (const auto& b : boxes)
            if (b.addresses.lo <= lo && b.addresses.hi >= lo) {
                ports.push_back(b.ports);
                top = std::max(top, b.addresses.hi);
            }
        if (ports.empty()) continue;
        hi = std::min(hi, top);
        ports = merge(ports);
        if (!pieces.empty() && pieces.back().first.hi + 1 == lo && pieces.back().second == ports)
            pieces.back().first.hi = hi;
        else
            pieces.push_back({Span{lo, hi}, ports});
    }
    std::vector<Box> out;
    for (const auto& [addresses, ports] : pieces)
        for (const auto& p : ports) out.push_back({addresses, p});
    return out;
}

std::string address_span_text(const Span& s, int family) {
    std::string lo = from_number(s.lo, family).str();
    return s.lo == s.hi ? lo : lo + "-" + from_number(s.hi, family).str();
}

std::string port_span_text(const Span& s) {
    auto lo = std::to_string(static_cast<unsigned>(s.lo));
    return s.lo == s.hi ? lo : lo + "-" + std::to_string(static_cast<unsigned>(s.hi));
}

std::string proto_text(Protocol p) {
    switch (p) {
        case Protocol::tcp:
            return "tcp";
        case Protocol::udp:
            return "udp";
        case Protocol::sctp:
            return "sctp";
    }
    return "tcp";
}

// ipBlock as address spans: cidr minus its excepts.
std::vector<Span> block_spans(const IpBlock& block) {
    Span whole{to_number(block.cidr.network().address), to_number(block.cidr.last())};
    std::vector<Span> holes;
    for (const auto& e : block.except)
        holes.push_back({to_number(e.network().address), to_number(e.last())});
    holes = merge(holes);
    std::vector<Span> out;
    U128 next = whole.lo;
    bool done = false;
    for (const auto& h : holes) {
        if (h.lo > next) out.push_back({next, h.lo - 1});
        if (h.hi == whole.hi)
            done = true;
        else
            next = h.hi + 1;
    }
    if (!done) out.push_back({next, whole.hi});
    return out;
}

// One peer of a rule, expanded for addresses of one family.
struct PeerItem {
    enum Kind { any, pod, span } kind = any;  // pod: one address (a pod's, or a /32 block)
    const Pod* peer_pod = nullptr;            // kind pod: the pod holding it, if any
    IpAddress address;                        // kind pod
    Span addresses;                           // kind span
};

std::vector<PeerItem> expand_peers(const Cluster& cluster, const NetworkPolicy& policy,
                                   const Rule& rule, int family) {
    std::vector<PeerItem> out;
    if (rule.peers.empty()) {
        out.push_back({});
        return out;
    }
    for (const auto& peer : rule.peers) {
        if (peer.ip_block) {
            if (peer.ip_block->cidr.address.family != family) continue;
            for (const auto& s : block_spans(*peer.ip_block)) {
                if (s.lo == s.hi) {  // one address (a /32, /128): exact, into the hash sets
                    IpAddress a = from_number(s.lo, family);
                    out.push_back({PeerItem::pod, cluster.find_pod_by_ip(a), a, {}});
                } else {
                    out.push_back({PeerItem::span, nullptr, {}, s});
                }
            }
            continue;
        }
        for (const auto& q : cluster.pods)
            for (const auto& a : q.ips)
                if (a.family == family && peer_matches(cluster, policy.ns, peer, &q, a))
                    out.push_back({PeerItem::pod, &q, a, {}});
    }
    return out;
}

// One direction of one pod address: accumulates elements, then emits them normalised.
class Collector {
  public:
    Collector(Elements& out, bool ingress, const IpAddress& self)
        : out_(out),
          family_(self.family),
          self_(self.str()),
          prefix_(std::string(ingress ? "ing_" : "egr_")),
          suffix_(self.is_v4() ? "4" : "6") {}

    void open() { open_ = true; }
    void peer(const IpAddress& peer) { add("peer", self_ + " . " + peer.str()); }
    void port(Protocol p, uint16_t port) {
        add("port", self_ + " . " + proto_text(p) + " . " + std::to_string(port));
    }
    void peer_port(const IpAddress& peer, Protocol p, uint16_t port) {
        add("peer_port",
            self_ + " . " + peer.str() + " . " + proto_text(p) + " . " + std::to_string(port));
    }
    void cidr(const Span& addresses) { cidr_.push_back(addresses); }
    void range(const Span& addresses, Protocol p, Span ports) {
        boxes_[p].push_back({addresses, ports});
    }

    // Isolated and not opened wide: the pod's address goes into the iso set with its allows.
    void finish() {
        if (open_) return;
        out_.sets[name("iso")].insert(self_);
        for (auto& [set, element] : pending_) out_.sets[set].insert(std::move(element));
        for (const auto& s : merge(cidr_))
            out_.sets[name("cidr")].insert(self_ + " . " + address_span_text(s, family_));
        for (const auto& [p, boxes] : boxes_)
            for (const auto& b : disjoint(boxes))
                out_.sets[name("range")].insert(self_ + " . " +
                                                address_span_text(b.addresses, family_) + " . " +
                                                proto_text(p) + " . " + port_span_text(b.ports));
    }

  private:
    std::string name(const char* kind) const { return prefix_ + kind + suffix_; }
    void add(const char* kind, std::string element) {
        pending_.emplace_back(name(kind), std::move(element));
    }

    Elements& out_;
    int family_;
    std::string self_, prefix_, suffix_;
    bool open_ = false;
    std::vector<std::pair<std::string, std::string>> pending_;
    std::vector<Span> cidr_;
    std::map<Protocol, std::vector<Box>> boxes_;
};

Span all_addresses(int family) {
    return {0, family == AF_INET ? U128(0xffffffffu) : ~U128(0)};
}

// The pods reachable through `peer` that have a port called `name` for `p`, with its number.
void named_port_peers(const Cluster& cluster, const PeerItem& peer, int family,
                      const std::string& name, Protocol p, Collector& out) {
    auto visit = [&](const Pod& q, const IpAddress& a) {
        if (auto n = q.resolve_port(name, p)) out.peer_port(a, p, *n);
    };
    if (peer.kind == PeerItem::pod) {
        if (peer.peer_pod != nullptr) visit(*peer.peer_pod, peer.address);
        return;  // an external address has no named ports
    }
    for (const auto& q : cluster.pods)
        for (const auto& a : q.ips) {
            if (a.family != family) continue;
            U128 n = to_number(a);
            if (peer.kind == PeerItem::any || (n >= peer.addresses.lo && n <= peer.addresses.hi))
                visit(q, a);
        }
}

void compile_rule(const Cluster& cluster, const NetworkPolicy& policy, const Rule& rule,
                  const Pod& self, const IpAddress& self_address, bool ingress, Collector& out) {
    int family = self_address.family;
    auto peers = expand_peers(cluster, policy, rule, family);
    for (const auto& peer : peers) {
        if (rule.ports.empty()) {
            switch (peer.kind) {
                case PeerItem::any:
                    out.open();
                    break;
                case PeerItem::pod:
                    out.peer(peer.address);
                    break;
                case PeerItem::span:
                    out.cidr(peer.addresses);
                    break;
            }
            continue;
        }
        for (const auto& spec : rule.ports) {
            Span ports{0, 65535};
            if (spec.port) ports = {*spec.port, spec.end_port.value_or(*spec.port)};
            if (!spec.port_name.empty()) {
                if (!ingress) {  // resolved on each destination
                    named_port_peers(cluster, peer, family, spec.port_name, spec.protocol, out);
                    continue;
                }
                auto n = self.resolve_port(spec.port_name, spec.protocol);
                if (!n) continue;  // the pod has no such port: the entry admits nothing
                ports = {*n, *n};
            }
            bool single = ports.lo == ports.hi;
            uint16_t port = static_cast<uint16_t>(ports.lo);
            switch (peer.kind) {
                case PeerItem::any:
                    if (single)
                        out.port(spec.protocol, port);
                    else
                        out.range(all_addresses(family), spec.protocol, ports);
                    break;
                case PeerItem::pod:
                    if (single)
                        out.peer_port(peer.address, spec.protocol, port);
                    else {
                        U128 n = to_number(peer.address);
                        out.range({n, n}, spec.protocol, ports);
                    }
                    break;
                case PeerItem::span:
                    out.range(peer.addresses, spec.protocol, ports);
                    break;
            }
        }
    }
}

constexpr std::array<const char*, 6> set_kinds = {"iso",       "peer", "port",
                                                  "peer_port", "cidr", "range"};

std::vector<std::string> all_set_names() {
    std::vector<std::string> names;
    for (const char* dir : {"ing_", "egr_"})
        for (const char* kind : set_kinds)
            for (const char* fam : {"4", "6"}) names.push_back(std::string(dir) + kind + fam);
    return names;
}

std::string set_declaration(const std::string& name) {
    bool v4 = name.back() == '4';
    std::string addr = v4 ? "ipv4_addr" : "ipv6_addr";
    std::string kind = name.substr(4, name.size() - 5);
    std::string type;
    bool interval = false;
    if (kind == "iso")
        type = addr;
    else if (kind == "peer")
        type = addr + " . " + addr;
    else if (kind == "port")
        type = addr + " . inet_proto . inet_service";
    else if (kind == "peer_port")
        type = addr + " . " + addr + " . inet_proto . inet_service";
    else if (kind == "cidr")
        type = addr + " . " + addr, interval = true;
    else
        type = addr + " . " + addr + " . inet_proto . inet_service", interval = true;
    return "add set inet podnet_policy " + name + " { type " + type + ";" +
           (interval ? " flags interval;" : "") + " }\n";
}

// The lookups of one direction and family, in the order of the header comment.
std::string verdict_chain(bool ingress, bool v4) {
    std::string ip = v4 ? "ip" : "ip6";
    std::string self = ip + (ingress ? " daddr" : " saddr");
    std::string peer = ip + (ingress ? " saddr" : " daddr");
    std::string dir = ingress ? "ing_" : "egr_";
    std::string fam = v4 ? "4" : "6";
    std::string chain = (ingress ? "ingress" : "egress") + fam;
    std::string rule = "add rule inet podnet_policy " + chain + " ";
    std::string l4 = " . meta l4proto . th dport";
    return "add chain inet podnet_policy " + chain + "\n" + "flush chain inet podnet_policy " +
           chain + "\n" + rule + self + " . " + peer + " @" + dir + "peer" + fam + " return\n" +
           rule + self + l4 + " @" + dir + "port" + fam + " return\n" + rule + self + " . " + peer +
           l4 + " @" + dir + "peer_port" + fam + " return\n" + rule + self + " . " + peer + " @" +
           dir + "cidr" + fam + " return\n" + rule + self + " . " + peer + l4 + " @" + dir +
           "range" + fam + " return\n" +
           // Refused rather than dropped, so a client learns at once instead of waiting out
           // its timeout: TCP with a reset (connect fails with ECONNREFUSED), the rest with
           // ICMP admin-prohibited.
           rule + "meta l4proto tcp counter reject with tcp reset\n" + rule +
           "counter reject with icmpx admin-prohibited\n";
}

}  // namespace

size_t Elements::size() const {
    size_t n = 0;
    for (const auto& [name, elements] : sets) n += elements.size();
    return n;
}

void compile_pod(const Cluster& cluster, const Pod& pod, Elements& out) {
    for (const auto& address : pod.ips) {
        for (bool ingress : {true, false}) {
            Collector collector(out, ingress, address);
            bool isolated = false;
            for (const auto& policy : cluster.policies) {
                if (!(ingress ? policy.affects_ingress : policy.affects_egress) ||
                    !selects(policy, pod))
                    continue;
                isolated = true;
                for (const auto& rule : ingress ? policy.ingress : policy.egress)
                    compile_rule(cluster, policy, rule, pod, address, ingress, collector);
            }
            if (isolated) collector.finish();
        }
    }
}

Elements compile(const Cluster& cluster) {
    Elements out;
    for (const auto& pod : cluster.pods) compile_pod(cluster, pod, out);
    return out;
}

std::string policy_base_script() {
    std::string s = "add table inet podnet_policy\n";
    for (const auto& name : all_set_names()) s += set_declaration(name);
    s += "add chain inet podnet_policy forward"
         " { type filter hook forward priority filter; policy accept; }\n"
         "flush chain inet podnet_policy forward\n";
    for (bool ingress : {false, true})
        for (bool v4 : {true, false}) s += verdict_chain(ingress, v4);
    // Replies and related ICMP of an allowed connection pass whatever changed since; a
    // connection is judged once, by its first packet. Egress of the source first, then ingress
    // of the destination; both must allow.
    s += "add rule inet podnet_policy forward ct state established,related accept\n"
         "add rule inet podnet_policy forward ip saddr @egr_iso4 jump egress4\n"
         "add rule inet podnet_policy forward ip6 saddr @egr_iso6 jump egress6\n"
         "add rule inet podnet_policy forward ip daddr @ing_iso4 jump ingress4\n"
         "add rule inet podnet_policy forward ip6 daddr @ing_iso6 jump ingress6\n";
    return s;
}

namespace {

// "VERB element inet podnet_policy SET { e1, e2, ... }", at most 1,000 elements a line: one
// command per set is far cheaper for nft to parse than one per element.
void element_lines(std::string& out, const char* verb, const std::string& set,
                   const std::vector<const std::string*>& elements) {
    for (size_t i = 0; i < elements.size(); i += 1000) {
        out += std::string(verb) + " element inet podnet_policy " + set + " { ";
        for (size_t j = i; j < std::min(elements.size(), i + 1000); ++j)
            out += (j == i ? "" : ", ") + *elements[j];
        out += " }\n";
    }
}

std::vector<const std::string*> pointers(const std::set<std::string>& items) {
    std::vector<const std::string*> out;
    out.reserve(items.size());
    for (const auto& e : items) out.push_back(&e);
    return out;
}

}  // namespace

std::string full_sync_script(const Elements& desired) {
    std::string s;
    for (const auto& name : all_set_names()) s += "flush set inet podnet_policy " + name + "\n";
    for (const auto& [name, elements] : desired.sets)
        element_lines(s, "add", name, pointers(elements));
    return s;
}

std::string update_script(const Elements& applied, const Elements& desired) {
    std::string deletes, adds;
    static const std::set<std::string> none;
    auto get = [](const Elements& e, const std::string& name) -> const std::set<std::string>& {
        auto it = e.sets.find(name);
        return it == e.sets.end() ? none : it->second;
    };
    for (const auto& name : all_set_names()) {
        const auto& before = get(applied, name);
        const auto& after = get(desired, name);
        std::vector<const std::string*> gone, fresh;
        for (const auto& e : before)
            if (!after.contains(e)) gone.push_back(&e);
        for (const auto& e : after)
            if (!before.contains(e)) fresh.push_back(&e);
        element_lines(deletes, "delete", name, gone);
        element_lines(adds, "add", name, fresh);
    }
    return deletes + adds;
}

std::string remove_table_script() {
    // add first: deleting a table that is not there is an error, adding one that is, is not.
    return "add table inet podnet_policy\ndelete table inet podnet_policy\n";
}

std::string elements_to_json(const Elements& elements) {
    nlohmann::json out = nlohmann::json::object();
    for (const auto& [name, set] : elements.sets)
        if (!set.empty()) out[name] = set;
    return out.dump();
}

Result<Elements> elements_from_json(const std::string& text) {
    auto doc = nlohmann::json::parse(text, nullptr, false);
    if (doc.is_discarded() || !doc.is_object()) return fail("not a JSON object");
    Elements out;
    for (const auto& [name, list] : doc.items()) {
        if (!list.is_array()) return fail(name + ": not a list");
        for (const auto& e : list) {
            if (!e.is_string()) return fail(name + ": not a list of strings");
            out.sets[name].insert(e.get<std::string>());
        }
    }
    return out;
}

}  // namespace podnet::policy
