#include "portmap/portmap.hpp"

#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <nlohmann/json.hpp>

#include "common/text.hpp"

namespace podnet {

namespace {

constexpr std::string_view mapping_syntax =
    "[HOSTIP:]HOSTPORT[-END]:CONTAINERPORT[-END][/tcp|/udp]";

// Map and set names; the table is always `inet podnet`.
constexpr const char* ports4 = "ports4";  // proto . dport -> addr . port
constexpr const char* ports6 = "ports6";
constexpr const char* bound_ports4 = "bound_ports4";  // proto . daddr . dport -> addr . port
constexpr const char* bound_ports6 = "bound_ports6";
constexpr const char* subnets4 = "subnets4";  // every pod subnet
constexpr const char* subnets6 = "subnets6";
constexpr const char* masq_subnets4 = "masq_subnets4";  // pod subnets masqueraded on egress
constexpr const char* masq_subnets6 = "masq_subnets6";

struct PortRange {
    uint16_t first = 0;
    uint16_t last = 0;
    [[nodiscard]] int count() const { return last - first + 1; }
    [[nodiscard]] std::string str() const {
        return first == last ? std::to_string(first)
                             : std::to_string(first) + "-" + std::to_string(last);
    }
};

std::vector<std::string_view> split(std::string_view text, char sep) {
    std::vector<std::string_view> parts;
    size_t start = 0;
    for (;;) {
        size_t at = text.find(sep, start);
        if (at == std::string_view::npos) {
            parts.push_back(text.substr(start));
            return parts;
        }
        parts.push_back(text.substr(start, at - start));
        start = at + 1;
    }
}

// A port number 1-65535, digits only.
Result<uint16_t> parse_port(std::string_view text) {
    if (text.empty()) return fail("missing port number");
    if (text.find_first_not_of("0123456789") != std::string_view::npos)
        return fail(quoted(text) + " is not a port number");
    // Digits only; more than 5 of them is out of range whatever they are.
    if (text.size() > 5) return fail("port " + std::string(text) + " is out of range (1-65535)");
    unsigned value = 0;
    std::from_chars(text.data(), text.data() + text.size(), value);
    if (value == 0 || value > 65535)
        return fail("port " + std::string(text) + " is out of range (1-65535)");
    return static_cast<uint16_t>(value);
}

Result<PortRange> parse_range(std::string_view text) {
    auto dash = text.find('-');
    auto first = parse_port(text.substr(0, dash));
    if (!first) return std::unexpected(first.error());
    if (dash == std::string_view::npos) return PortRange{*first, *first};
    auto last = parse_port(text.substr(dash + 1));
    if (!last) return std::unexpected(last.error());
    if (*last < *first) return fail("range " + std::string(text) + " is backwards");
    return PortRange{*first, *last};
}

bool is_unspecified(const IpAddress& a) {
    return std::all_of(a.bytes.begin(), a.bytes.begin() + static_cast<long>(a.size()),
                       [](uint8_t b) { return b == 0; });
}

// A sandbox id goes into nft text inside quotes: only characters that cannot end the string or
// the line, and short enough for an element comment (at most 128 bytes).
std::string owner_comment(std::string_view sandbox_id) {
    std::string safe;
    for (char c : sandbox_id) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_' || c == '.';
        if (ok && safe.size() < 100) safe += c;
    }
    return safe.empty() ? std::string() : "podnet:" + safe;
}

struct Element {
    const char* map;
    std::string key;    // "tcp . 8080" or "tcp . 192.168.1.10 . 8080"
    std::string value;  // "10.77.0.2 . 80"
};

// The map elements publishing `pod`'s mappings, in the order of its mappings.
std::vector<Element> pod_elements(const PodPorts& pod) {
    std::vector<Element> out;
    for (const auto& m : pod.mappings) {
        for (const auto& addr : {pod.pod_ipv4, pod.pod_ipv6}) {
            if (!addr) continue;
            bool v4 = addr->is_v4();
            std::string port = std::to_string(m.host_port);
            std::string value = addr->str() + " . " + std::to_string(m.container_port);
            if (!m.host_ip || (m.host_ip->family == addr->family && is_unspecified(*m.host_ip)))
                out.push_back({v4 ? ports4 : ports6, m.protocol + " . " + port, value});
            else if (m.host_ip->family == addr->family)
                out.push_back({v4 ? bound_ports4 : bound_ports6,
                               m.protocol + " . " + m.host_ip->str() + " . " + port, value});
        }
    }
    return out;
}

std::string add_line(const char* set, const std::string& element) {
    return "add element inet podnet " + std::string(set) + " { " + element + " }\n";
}

std::string delete_line(const char* set, const std::string& key) {
    return "delete element inet podnet " + std::string(set) + " { " + key + " }\n";
}

std::string add_element_line(const Element& e, const std::string& comment) {
    std::string tagged = e.key + (comment.empty() ? "" : " comment \"" + comment + "\"");
    return add_line(e.map, tagged + " : " + e.value);
}

}  // namespace

Result<std::vector<PortMapping>> parse_port_mapping(std::string_view text) {
    std::string context = "port mapping \"" + std::string(text) + "\": ";
    auto bad = [&](const std::string& why) { return fail(context + why); };
    if (text.empty()) return bad("empty, want " + std::string(mapping_syntax));

    std::string_view rest = text;
    std::string protocol = "tcp";
    if (auto slash = rest.rfind('/'); slash != std::string_view::npos) {
        protocol = std::string(rest.substr(slash + 1));
        std::transform(protocol.begin(), protocol.end(), protocol.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        if (protocol != "tcp" && protocol != "udp")
            return bad("unsupported protocol \"" + protocol + "\" (tcp or udp)");
        rest = rest.substr(0, slash);
    }

    std::optional<std::string_view> ip_text;
    bool bracketed = false;
    std::vector<std::string_view> ports;
    if (!rest.empty() && rest.front() == '[') {
        auto close = rest.find(']');
        if (close == std::string_view::npos) return bad("missing ']' after the host address");
        ip_text = rest.substr(1, close - 1);
        bracketed = true;
        rest = rest.substr(close + 1);
        if (!rest.starts_with(':')) return bad("want ':' after the bracketed host address");
        ports = split(rest.substr(1), ':');
        if (ports.size() != 2) return bad("malformed, want " + std::string(mapping_syntax));
    } else {
        ports = split(rest, ':');
        if (ports.size() > 3) {
            // Everything but the last two parts may be an IPv6 address written bare.
            std::string_view head = rest.substr(0, rest.size() - ports[ports.size() - 1].size() -
                                                       ports[ports.size() - 2].size() - 2);
            auto ip = parse_ip(head);
            if (ip && ip->is_v6())
                return bad("an IPv6 host address goes in brackets, as in [::1]:8080:80");
            return bad("malformed, want " + std::string(mapping_syntax));
        }
        if (ports.size() == 3) {
            ip_text = ports.front();
            ports.erase(ports.begin());
        }
    }
    // Docker's random host port: "80", ":80", "127.0.0.1::80", "[::1]::80", a container range
    // "8000-8001" (one random port each). host_port 0 stands for "pick one" until publishing.
    bool random_host = ports.size() == 1 || ports[0].empty();
    if (ports.back().empty()) return bad("CONTAINERPORT missing, want HOSTPORT:CONTAINERPORT");
    std::optional<IpAddress> host_ip;
    if (ip_text) {
        if (ip_text->empty()) return bad("empty host IP");
        auto ip = parse_ip(*ip_text);
        if (!ip) return bad("bad host IP: " + ip.error().message);
        if (bracketed && !ip->is_v6())
            return bad(quoted(*ip_text) + " in brackets is not an IPv6 address");
        host_ip = *ip;
    }
    auto container = parse_range(ports.back());
    if (!container) return bad(container.error().message);
    if (random_host) {
        std::vector<PortMapping> out;
        for (int i = 0; i < container->count(); ++i)
            out.push_back(
                PortMapping{protocol, host_ip, 0, static_cast<uint16_t>(container->first + i)});
        return out;
    }
    auto host = parse_range(ports[0]);
    if (!host) return bad(host.error().message);
    // Docker's "8000-8010:80": one host port, the first free one of the range.
    if (host->count() > 1 && container->count() == 1) {
        PortMapping m{protocol, host_ip, 0, container->first};
        m.pick_first = host->first;
        m.pick_last = host->last;
        return std::vector<PortMapping>{m};
    }
    if (host->count() != container->count())
        return bad("host ports " + host->str() + " (" + std::to_string(host->count()) +
                   ") and container ports " + container->str() + " (" +
                   std::to_string(container->count()) + ") differ in number");

    std::vector<PortMapping> out;
    out.reserve(static_cast<size_t>(host->count()));
    for (int i = 0; i < host->count(); ++i)
        out.push_back(PortMapping{protocol, host_ip, static_cast<uint16_t>(host->first + i),
                                  static_cast<uint16_t>(container->first + i)});
    return out;
}

std::string format_port_mapping(const PortMapping& m) {
    std::string out;
    if (m.host_ip)
        out = m.host_ip->is_v6() ? "[" + m.host_ip->str() + "]:" : m.host_ip->str() + ":";
    // A host port not chosen yet is written as Docker's request for one: "80", "127.0.0.1::80",
    // "8000-8010:80".
    if (m.host_port != 0)
        out += std::to_string(m.host_port);
    else if (m.pick_first != 0)
        out += std::to_string(m.pick_first) + "-" + std::to_string(m.pick_last);
    if (m.host_port != 0 || m.pick_first != 0 || m.host_ip) out += ":";
    return out + std::to_string(m.container_port) + "/" + m.protocol;
}

bool mappings_overlap(const PortMapping& a, const PortMapping& b) {
    if (a.protocol != b.protocol || a.host_port != b.host_port) return false;
    if (!a.host_ip || !b.host_ip || *a.host_ip == *b.host_ip) return true;
    if (a.host_ip->family != b.host_ip->family) return false;
    return is_unspecified(*a.host_ip) || is_unspecified(*b.host_ip);
}

std::optional<std::string> find_conflict(const std::vector<PodPorts>& existing,
                                         const PortMapping& wanted) {
    for (const auto& pod : existing)
        for (const auto& m : pod.mappings)
            if (mappings_overlap(m, wanted)) return pod.sandbox_id;
    return std::nullopt;
}

std::string portmap_base_script() {
    // Plain nft text, one statement a line. Sets and maps are only ever added here (their
    // elements are the published state); the chains are flushed and refilled so that re-running
    // the script is idempotent. NAT chains see only the first packet of each connection.
    return
        // The table, and the state the rules look up.
        "add table inet podnet\n"
        // Every pod subnet: hairpin sources, and destinations never masqueraded towards.
        "add set inet podnet subnets4 { type ipv4_addr; flags interval; }\n"
        "add set inet podnet subnets6 { type ipv6_addr; flags interval; }\n"
        // Subnets of networks with masquerade on (Docker's default; off = not in the set).
        "add set inet podnet masq_subnets4 { type ipv4_addr; flags interval; }\n"
        "add set inet podnet masq_subnets6 { type ipv6_addr; flags interval; }\n"
        // Host ports on every local address: l4proto . dport -> pod address . pod port.
        "add map inet podnet ports4"
        " { type inet_proto . inet_service : ipv4_addr . inet_service; }\n"
        "add map inet podnet ports6"
        " { type inet_proto . inet_service : ipv6_addr . inet_service; }\n"
        // Host ports bound to one host address: l4proto . daddr . dport -> pod address . port.
        "add map inet podnet bound_ports4"
        " { type inet_proto . ipv4_addr . inet_service : ipv4_addr . inet_service; }\n"
        "add map inet podnet bound_ports6"
        " { type inet_proto . ipv6_addr . inet_service : ipv6_addr . inet_service; }\n"

        "add chain inet podnet publish\n"
        "add chain inet podnet prerouting"
        " { type nat hook prerouting priority dstnat; policy accept; }\n"
        "add chain inet podnet output { type nat hook output priority -100; policy accept; }\n"
        "add chain inet podnet postrouting"
        " { type nat hook postrouting priority srcnat; policy accept; }\n"
        "flush chain inet podnet publish\n"
        "flush chain inet podnet prerouting\n"
        "flush chain inet podnet output\n"
        "flush chain inet podnet postrouting\n"

        // Only connections to one of this host's own addresses (127.0.0.1 included) are
        // published, arriving from outside or opened by the host itself.
        "add rule inet podnet prerouting fib daddr type local jump publish\n"
        "add rule inet podnet output fib daddr type local jump publish\n"
        // One hash lookup each whatever the number of mappings; a bound mapping wins over one
        // on every address. A miss falls through; a hit's dnat ends the chain.
        "add rule inet podnet publish dnat ip to meta l4proto . ip daddr . th dport"
        " map @bound_ports4\n"
        "add rule inet podnet publish dnat ip to meta l4proto . th dport map @ports4\n"
        "add rule inet podnet publish dnat ip6 to meta l4proto . ip6 daddr . th dport"
        " map @bound_ports6\n"
        "add rule inet podnet publish dnat ip6 to meta l4proto . th dport map @ports6\n"

        // Hairpin: a pod reaching its own or a sibling's host port. Without this the pod would
        // answer its peer directly, from an address the peer never connected to.
        "add rule inet podnet postrouting ct status dnat ip saddr @subnets4 masquerade\n"
        "add rule inet podnet postrouting ct status dnat ip6 saddr @subnets6 masquerade\n"
        // The host through 127.0.0.1: a loopback source cannot leave the host. (No IPv6
        // counterpart: the kernel drops replies to ::1 arriving on a non-loopback device, and
        // has no route_localnet for IPv6; [::1]:HOSTPORT from the host itself does not work.)
        "add rule inet podnet postrouting ct status dnat ip saddr 127.0.0.0/8"
        " oifname != \"lo\" masquerade\n"
        // Pods reaching beyond the pod subnets go out with the host's address.
        "add rule inet podnet postrouting ip saddr @masq_subnets4 ip daddr != @subnets4"
        " masquerade\n"
        "add rule inet podnet postrouting ip6 saddr @masq_subnets6 ip6 daddr != @subnets6"
        " masquerade\n";
}

std::vector<NftSetElement> pod_port_elements(const PodPorts& pod) {
    std::string comment = owner_comment(pod.sandbox_id);
    std::vector<NftSetElement> out;
    for (const auto& m : pod.mappings) {
        uint8_t proto = m.protocol == "udp" ? IPPROTO_UDP : IPPROTO_TCP;
        for (const auto& addr : {pod.pod_ipv4, pod.pod_ipv6}) {
            if (!addr) continue;
            bool v4 = addr->is_v4();
            auto bytes = [](const IpAddress& a) {
                return std::span<const uint8_t>(a.bytes.data(), a.size());
            };
            NftSetElement e;
            e.comment = comment;
            append_nft_field(e.data, bytes(*addr));
            append_nft_port(e.data, m.container_port);
            append_nft_u8(e.key, proto);
            if (!m.host_ip || (m.host_ip->family == addr->family && is_unspecified(*m.host_ip))) {
                e.set = v4 ? ports4 : ports6;
            } else if (m.host_ip->family == addr->family) {
                e.set = v4 ? bound_ports4 : bound_ports6;
                append_nft_field(e.key, bytes(*m.host_ip));
            } else {
                continue;
            }
            append_nft_port(e.key, m.host_port);
            out.push_back(std::move(e));
        }
    }
    return out;
}

std::string add_pod_ports_script(const PodPorts& pod) {
    std::string comment = owner_comment(pod.sandbox_id);
    std::string script;
    for (const auto& e : pod_elements(pod)) script += add_element_line(e, comment);
    return script;
}

std::string remove_pod_ports_script(const PodPorts& pod) {
    std::string comment = owner_comment(pod.sandbox_id);
    std::string script;
    for (const auto& e : pod_elements(pod))
        script += add_element_line(e, comment) + delete_line(e.map, e.key);
    return script;
}

std::string add_network_script(const IpPrefix& subnet, bool masquerade) {
    std::string net = subnet.network().str();
    bool v4 = subnet.address.is_v4();
    std::string script = add_line(v4 ? subnets4 : subnets6, net);
    if (masquerade) script += add_line(v4 ? masq_subnets4 : masq_subnets6, net);
    return script;
}

std::string remove_network_script(const IpPrefix& subnet, bool /*masquerade*/) {
    std::string net = subnet.network().str();
    bool v4 = subnet.address.is_v4();
    std::string script;
    for (const char* set : {v4 ? subnets4 : subnets6, v4 ? masq_subnets4 : masq_subnets6})
        script += add_line(set, net) + delete_line(set, net);
    return script;
}

namespace {

// "tcp", 8080, {"concat": ["tcp", "10.0.0.1", 8080]} as nft text.
Result<std::string> json_value_text(const nlohmann::json& v) {
    if (v.is_string()) return v.get<std::string>();
    if (v.is_number_unsigned()) return std::to_string(v.get<uint64_t>());
    if (v.is_object() && v.contains("concat") && v["concat"].is_array()) {
        std::string out;
        for (const auto& part : v["concat"]) {
            auto text = json_value_text(part);
            if (!text) return text;
            out += (out.empty() ? "" : " . ") + *text;
        }
        return out;
    }
    return fail("unexpected element value " + v.dump());
}

}  // namespace

Result<std::string> remove_owned_elements_script(std::string_view table_json,
                                                 std::string_view sandbox_id) {
    std::string comment = owner_comment(sandbox_id);
    if (comment.empty()) return fail("sandbox id \"" + std::string(sandbox_id) + "\" is empty");
    auto doc = nlohmann::json::parse(table_json, nullptr, false);
    if (doc.is_discarded() || !doc.contains("nftables") || !doc["nftables"].is_array())
        return fail("nft listing of table inet podnet: not nft JSON");
    std::string script;
    for (const auto& item : doc["nftables"]) {
        if (!item.contains("map")) continue;
        const auto& map = item["map"];
        std::string name = map.value("name", "");
        const char* ours = nullptr;
        for (const char* m : {ports4, ports6, bound_ports4, bound_ports6})
            if (name == m) ours = m;
        if (ours == nullptr || map.value("table", "") != "podnet" ||
            map.value("family", "") != "inet" || !map.contains("elem"))
            continue;
        for (const auto& pair : map["elem"]) {
            // A map element is [key, data]; a key with a comment is {"elem": {"val", "comment"}}.
            if (!pair.is_array() || pair.size() != 2 || !pair[0].is_object() ||
                !pair[0].contains("elem"))
                continue;
            const auto& key = pair[0]["elem"];
            if (!key.is_object() || key.value("comment", "") != comment || !key.contains("val"))
                continue;
            auto key_text = json_value_text(key["val"]);
            if (!key_text) return wrap(key_text.error(), "map " + name);
            auto data_text = json_value_text(pair[1]);
            if (!data_text) return wrap(data_text.error(), "map " + name);
            script += add_element_line(Element{ours, *key_text, *data_text}, comment) +
                      delete_line(ours, *key_text);
        }
    }
    return script;
}

Result<int> remove_sandbox_ports(NftContext& nft, std::string_view sandbox_id) {
    auto tables = nft.run_capture("list tables inet", NftOutput::json);
    if (!tables)
        return wrap(tables.error(), "remove host ports of sandbox " + std::string(sandbox_id));
    auto doc = nlohmann::json::parse(*tables, nullptr, false);
    bool present = false;
    if (!doc.is_discarded() && doc.contains("nftables") && doc["nftables"].is_array())
        for (const auto& item : doc["nftables"])
            if (item.contains("table") && item["table"].value("name", "") == "podnet")
                present = true;
    if (!present) return 0;
    auto listing = nft.run_capture("list table inet podnet", NftOutput::json);
    if (!listing)
        return wrap(listing.error(), "remove host ports of sandbox " + std::string(sandbox_id));
    auto script = remove_owned_elements_script(*listing, sandbox_id);
    if (!script) return std::unexpected(script.error());
    if (auto r = nft.run(*script); !r)
        return wrap(r.error(), "remove host ports of sandbox " + std::string(sandbox_id));
    return static_cast<int>(std::count(script->begin(), script->end(), '\n') / 2);
}

}  // namespace podnet
