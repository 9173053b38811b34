#include "cli/cni_plugin.hpp"

// glibc's <netinet/in.h> first: <linux/netfilter.h> after it does not define struct in_addr again.
#include <netinet/in.h>

#include <linux/netfilter.h>

#include <fcntl.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstring>
#include <set>

#include "common/file_lock.hpp"
#include "common/fs.hpp"
#include "common/rollback.hpp"
#include "common/text.hpp"
#include "common/unique_fd.hpp"
#include "netns/netlink.hpp"
#include "network/bridge_driver.hpp"
#include "network/ipam.hpp"
#include "nft/elements.hpp"
#include "nft/nft.hpp"
#include "portmap/conntrack.hpp"

namespace podnet::cni_plugin {

using nlohmann::json;

namespace {

// ---------------------------------------------------------------------------------------------
// SHA-256 (FIPS 180-4), for attachment ids: a stable, well-spread name for (container, ifname).

constexpr std::array<uint32_t, 64> sha256_k = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

constexpr uint32_t rotr(uint32_t x, int n) {
    return (x >> n) | (x << (32 - n));
}

void sha256_block(std::array<uint32_t, 8>& h, const uint8_t* block) {
    std::array<uint32_t, 64> w{};
    for (int i = 0; i < 16; ++i)
        w[i] = uint32_t(block[4 * i]) << 24 | uint32_t(block[4 * i + 1]) << 16 |
               uint32_t(block[4 * i + 2]) << 8 | uint32_t(block[4 * i + 3]);
    for (int i = 16; i < 64; ++i) {
        uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
    for (int i = 0; i < 64; ++i) {
        uint32_t s1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25);
        uint32_t ch = (e & f) ^ (~e & g);
        uint32_t t1 = hh + s1 + ch + sha256_k[i] + w[i];
        uint32_t s0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22);
        uint32_t maj = (a & b) ^ (a & c) ^ (b & c);
        uint32_t t2 = s0 + maj;
        hh = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = b;
        b = a;
        a = t1 + t2;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
    h[5] += f;
    h[6] += g;
    h[7] += hh;
}

// ---------------------------------------------------------------------------------------------
// Parsing helpers.

CniError error(int code, std::string msg, std::string details = "") {
    return CniError{code, std::move(msg), std::move(details)};
}

std::unexpected<CniError> bad_config(std::string msg) {
    return std::unexpected(error(invalid_network_config, std::move(msg)));
}

std::unexpected<CniError> internal(const Error& e) {
    return std::unexpected(error(internal_error, e.message));
}

bool is_supported(std::string_view version) {
    return std::ranges::find(supported_versions, version) != supported_versions.end();
}

std::string supported_list(bool in_quotes) {
    std::string out = "[";
    for (size_t i = 0; i < supported_versions.size(); ++i) {
        if (i > 0) out += " ";
        out += in_quotes ? quoted(supported_versions[i]) : std::string(supported_versions[i]);
    }
    return out + "]";
}

// libcni's rule for container ids and network names: ^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$
bool valid_cni_name(std::string_view s) {
    if (s.empty()) return false;
    for (size_t i = 0; i < s.size(); ++i) {
        char c = s[i];
        bool alnum = std::isalnum(static_cast<unsigned char>(c)) != 0;
        if (!alnum && !(i > 0 && (c == '_' || c == '.' || c == '-'))) return false;
    }
    return true;
}

// libcni's ValidateInterfaceName: 1-15 bytes, not "." or "..", no '/', ':' or whitespace.
std::optional<std::string> interface_name_problem(std::string_view name) {
    if (name.empty()) return "interface name is empty";
    if (name.size() > 15) return "interface name is too long";
    if (name == "." || name == "..") return "interface name is . or ..";
    for (char c : name)
        if (c == '/' || c == ':' || std::isspace(static_cast<unsigned char>(c)))
            return "interface name contains / or : or whitespace characters";
    return std::nullopt;
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

std::string json_type_name(const json& v) {
    return v.type_name();
}

// Subnets other runtimes use by default: sharing one would make two bridges claim it.
struct Reserved {
    const char* subnet;
    const char* owner;
};
constexpr std::array<Reserved, 2> reserved_subnets = {{
    {"10.77.0.0/16", "podnet's own default network"},
    {"10.88.0.0/16", "podman's default network"},
}};

CniResult<IpPrefix> parse_subnet(const json& value, const char* key, bool v4) {
    if (!value.is_string())
        return bad_config(std::string("\"") + key + "\" must be a string, not " +
                          json_type_name(value));
    auto prefix = parse_prefix(value.get<std::string>(), true);
    if (!prefix) return bad_config(std::string("\"") + key + "\": " + prefix.error().message);
    if (prefix->address.is_v4() != v4)
        return bad_config(std::string("\"") + key + "\": " + prefix->str() + " is not an " +
                          (v4 ? "IPv4" : "IPv6") + " subnet");
    if (prefix->length > (v4 ? 30 : 126))
        return bad_config(std::string("\"") + key + "\": subnet " + prefix->str() +
                          " is too small: it needs room for a gateway and at least one pod");
    for (const auto& r : reserved_subnets) {
        auto other = parse_prefix(r.subnet, true);
        if (other && other->overlaps(*prefix))
            return bad_config(std::string("\"") + key + "\": subnet " + prefix->str() +
                              " overlaps " + r.subnet + ", " + r.owner);
    }
    return *prefix;
}

CniResult<std::string> parse_bridge(const json& value) {
    if (!value.is_string())
        return bad_config("\"bridge\" must be a string, not " + json_type_name(value));
    std::string name = value.get<std::string>();
    bool ok = !name.empty() && name.size() <= 15;
    for (char c : name)
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.')
            ok = false;
    if (!ok)
        return bad_config("invalid bridge name \"" + name +
                          "\": at most 15 of letters, digits, '-', '_' and '.'");
    // Link names gc would take for a stray veth: podnet's ("pnv...") or this plugin's.
    if (name.starts_with(host_veth_prefix) || is_host_interface_name(name))
        return bad_config("invalid bridge name \"" + name + "\": names starting with \"" +
                          std::string(host_veth_prefix) + "\" or shaped \"" +
                          std::string(host_interface_prefix) +
                          "\" + 12 hex are veths that podnet's gc deletes");
    return name;
}

CniResult<uint16_t> parse_port_number(const json& value, const std::string& where,
                                      const char* key) {
    if (!value.is_number_integer())
        return bad_config(where + ": \"" + key + "\" must be an integer");
    auto n = value.get<int64_t>();
    if (n < 1 || n > 65535)
        return bad_config(where + ": " + key + " " + std::to_string(n) +
                          " is out of range (1-65535)");
    return static_cast<uint16_t>(n);
}

CniResult<std::vector<PortMapping>> parse_port_mappings(const json& list) {
    if (list.is_null()) return std::vector<PortMapping>{};
    if (!list.is_array())
        return bad_config("runtimeConfig.portMappings must be an array, not " +
                          json_type_name(list));
    std::vector<PortMapping> out;
    for (size_t i = 0; i < list.size(); ++i) {
        std::string where = "runtimeConfig.portMappings[" + std::to_string(i) + "]";
        const json& entry = list[i];
        if (!entry.is_object()) return bad_config(where + " must be an object");
        PortMapping m;
        auto host_port = parse_port_number(entry.value("hostPort", json()), where, "hostPort");
        if (!host_port) return std::unexpected(host_port.error());
        auto container_port =
            parse_port_number(entry.value("containerPort", json()), where, "containerPort");
        if (!container_port) return std::unexpected(container_port.error());
        m.host_port = *host_port;
        m.container_port = *container_port;
        if (entry.contains("protocol")) {
            if (!entry["protocol"].is_string())
                return bad_config(where + ": \"protocol\" must be a string");
            std::string proto = lower(entry["protocol"].get<std::string>());
            if (proto.empty()) proto = "tcp";
            if (proto != "tcp" && proto != "udp")
                return bad_config(where + ": protocol \"" + proto +
                                  "\" is not supported (tcp or udp)");
            m.protocol = proto;
        }
        if (entry.contains("hostIP")) {
            if (!entry["hostIP"].is_string())
                return bad_config(where + ": \"hostIP\" must be a string");
            std::string text = entry["hostIP"].get<std::string>();
            if (!text.empty()) {
                auto ip = parse_ip(text);
                if (!ip) return bad_config(where + ": hostIP: " + ip.error().message);
                m.host_ip = *ip;
            }
        }
        for (const auto& other : out)
            if (mappings_overlap(other, m))
                return bad_config(where + ": host port " + format_port_mapping(m) +
                                  " is mapped twice (also " + format_port_mapping(other) + ")");
        out.push_back(m);
    }
    return out;
}

// runtimeConfig.ips into the config's static addresses. Checked against the subnets here, so a
// wrong address fails before anything is made.
CniResult<void> parse_static_ips(const json& list, PluginConfig& config) {
    if (list.is_null()) return {};
    if (!list.is_array())
        return bad_config("runtimeConfig.ips must be an array, not " + json_type_name(list));
    for (size_t i = 0; i < list.size(); ++i) {
        std::string where = "runtimeConfig.ips[" + std::to_string(i) + "]";
        if (!list[i].is_string()) return bad_config(where + " must be a string");
        std::string text = list[i].get<std::string>();
        // host-local takes an address with or without a prefix length; so does podnet-cni.
        auto slash = text.find('/');
        std::string address_text = text.substr(0, slash);
        auto address = parse_ip(address_text);
        if (!address) return bad_config(where + ": " + address.error().message);
        if (slash != std::string::npos) {
            auto prefix = parse_prefix(text, false);
            if (!prefix) return bad_config(where + ": " + prefix.error().message);
        }
        std::optional<IpAddress>& slot = address->is_v4() ? config.ip : config.ip6;
        if (slot)
            return bad_config(where + ": a second " + (address->is_v4() ? "IPv4" : "IPv6") +
                              " address (" + text + " after " + slot->str() + "); one per family");
        std::optional<IpPrefix> subnet =
            address->is_v4() ? std::optional<IpPrefix>(config.subnet) : config.subnet6;
        if (!subnet)
            return bad_config(where + ": " + text + " is IPv6, and the network has no \"subnet6\"");
        if (!subnet->contains(*address))
            return bad_config(where + ": " + text + " is outside the network's subnet " +
                              subnet->str());
        slot = *address;
    }
    return {};
}

CniResult<std::vector<AttachmentId>> parse_valid_attachments(const json& list) {
    std::vector<AttachmentId> out;
    if (list.is_null()) return out;  // Go marshals an empty slice that was never made as null
    if (!list.is_array())
        return bad_config("cni.dev/valid-attachments must be an array, not " +
                          json_type_name(list));
    for (size_t i = 0; i < list.size(); ++i) {
        const json& entry = list[i];
        std::string where = "cni.dev/valid-attachments[" + std::to_string(i) + "]";
        if (!entry.is_object() || !entry.contains("containerID") ||
            !entry["containerID"].is_string() || !entry.contains("ifname") ||
            !entry["ifname"].is_string())
            return bad_config(where + ": needs string \"containerID\" and \"ifname\"");
        out.push_back(
            {entry["containerID"].get<std::string>(), entry["ifname"].get<std::string>()});
    }
    return out;
}

constexpr std::array<const char*, 15> known_keys = {"name",
                                                    "cniVersion",
                                                    "type",
                                                    "capabilities",
                                                    "runtimeConfig",
                                                    "prevResult",
                                                    "args",
                                                    "bridge",
                                                    "subnet",
                                                    "subnet6",
                                                    "ipMasq",
                                                    "mtu",
                                                    "root",
                                                    "cni.dev/valid-attachments",
                                                    "cni.dev/attachments"};

}  // namespace

// ---------------------------------------------------------------------------------------------
// Pure parts.

std::string sha256_hex(std::string_view data) {
    std::array<uint32_t, 8> h = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    const auto* bytes = reinterpret_cast<const uint8_t*>(data.data());
    size_t full = data.size() / 64;
    for (size_t i = 0; i < full; ++i) sha256_block(h, bytes + 64 * i);
    // The tail, the 0x80 marker and the length in bits fill one or two final blocks.
    std::array<uint8_t, 128> tail{};
    size_t rest = data.size() - 64 * full;
    if (rest > 0) std::memcpy(tail.data(), bytes + 64 * full, rest);
    tail[rest] = 0x80;
    size_t tail_len = rest + 1 + 8 <= 64 ? 64 : 128;
    uint64_t bits = static_cast<uint64_t>(data.size()) * 8;
    for (int i = 0; i < 8; ++i) tail[tail_len - 1 - i] = static_cast<uint8_t>(bits >> (8 * i));
    for (size_t off = 0; off < tail_len; off += 64) sha256_block(h, tail.data() + off);
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    out.reserve(64);
    for (uint32_t word : h)
        for (int shift = 28; shift >= 0; shift -= 4) out += hex[(word >> shift) & 0xf];
    return out;
}

std::string attachment_owner(std::string_view container_id, std::string_view ifname) {
    std::string key;
    key.reserve(container_id.size() + 1 + ifname.size());
    key.append(container_id).append("/").append(ifname);
    return sha256_hex(key);
}

std::string host_interface_for(std::string_view owner) {
    return std::string(host_interface_prefix) + std::string(owner.substr(0, 12));
}

bool is_host_interface_name(std::string_view name) {
    if (name.size() != host_interface_prefix.size() + 12 ||
        !name.starts_with(host_interface_prefix))
        return false;
    return std::ranges::all_of(name.substr(host_interface_prefix.size()), [](char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
    });
}

CniResult<PluginConfig> parse_config(std::string_view stdin_text, std::string_view command) {
    json doc;
    try {
        doc = json::parse(stdin_text);
    } catch (const json::exception& e) {
        return std::unexpected(
            error(decoding_failure, "error unmarshall network config: " + std::string(e.what())));
    }
    if (!doc.is_object())
        return std::unexpected(
            error(decoding_failure, "error unmarshall network config: not a JSON object"));
    PluginConfig config;

    if (!doc.contains("name") || !doc["name"].is_string() || doc["name"].get<std::string>().empty())
        return bad_config("missing network name");
    config.name = doc["name"].get<std::string>();
    if (!valid_cni_name(config.name))
        return std::unexpected(
            error(invalid_network_config, "invalid characters found in network name", config.name));

    // A config without cniVersion is 0.1.0 to libcni.
    if (doc.contains("cniVersion") && !doc["cniVersion"].is_string())
        return std::unexpected(error(decoding_failure, "\"cniVersion\" must be a string"));
    config.cni_version = doc.value("cniVersion", std::string("0.1.0"));
    if (config.cni_version.empty()) config.cni_version = "0.1.0";
    if (!is_supported(config.cni_version))
        return std::unexpected(error(
            incompatible_version,
            "incompatible CNI versions; config is " + config.cni_version + ", plugin supports " +
                supported_list(false),
            "config is \"" + config.cni_version + "\", plugin supports " + supported_list(true)));
    // GC and STATUS came with 1.1.0 (libcni's skel refuses them for older configs).
    if ((command == "GC" || command == "STATUS") && config.cni_version != "1.1.0")
        return std::unexpected(
            error(incompatible_version, "config version does not allow " + std::string(command)));

    for (const auto& [key, value] : doc.items()) {
        for (const char* known : known_keys)
            if (key != known && lower(key) == lower(known))
                return bad_config("unknown key \"" + key + "\" (did you mean \"" + known + "\"?)");
    }
    if (doc.contains("bridge")) {
        auto bridge = parse_bridge(doc["bridge"]);
        if (!bridge) return std::unexpected(bridge.error());
        config.bridge = *bridge;
    }
    auto subnet = parse_subnet(doc.value("subnet", json("10.78.0.0/16")), "subnet", true);
    if (!subnet) return std::unexpected(subnet.error());
    config.subnet = *subnet;
    if (doc.contains("subnet6") && !doc["subnet6"].is_null()) {
        auto subnet6 = parse_subnet(doc["subnet6"], "subnet6", false);
        if (!subnet6) return std::unexpected(subnet6.error());
        config.subnet6 = *subnet6;
    }
    if (doc.contains("ipMasq")) {
        if (!doc["ipMasq"].is_boolean())
            return bad_config("\"ipMasq\" must be true or false, not " +
                              json_type_name(doc["ipMasq"]));
        config.ip_masq = doc["ipMasq"].get<bool>();
    }
    if (doc.contains("mtu")) {
        const json& mtu = doc["mtu"];
        if (!mtu.is_number_integer() || mtu.get<int64_t>() < 68 || mtu.get<int64_t>() > 65535)
            return bad_config("\"mtu\" must be an integer 68..65535, not " + mtu.dump());
        config.mtu = mtu.get<int>();
    }
    if (doc.contains("root")) {
        const json& root = doc["root"];
        if (!root.is_string() || root.get<std::string>().empty() ||
            root.get<std::string>().front() != '/')
            return bad_config("\"root\" must be an absolute directory path, not " + root.dump());
        std::string dir = root.get<std::string>();
        while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
        // As `podnet --root DIR` (place_under_root in common/config.hpp).
        config.run_root = dir + "/run";
        config.state_root = dir + "/state";
    }
    if (doc.contains("runtimeConfig") && !doc["runtimeConfig"].is_null()) {
        const json& rc = doc["runtimeConfig"];
        if (!rc.is_object())
            return bad_config("\"runtimeConfig\" must be an object, not " + json_type_name(rc));
        if (rc.contains("portMappings")) {
            auto mappings = parse_port_mappings(rc["portMappings"]);
            if (!mappings) return std::unexpected(mappings.error());
            config.port_mappings = std::move(*mappings);
        }
        if (rc.contains("ips"))
            if (auto r = parse_static_ips(rc["ips"], config); !r) return std::unexpected(r.error());
    }
    if (doc.contains("prevResult") && !doc["prevResult"].is_null()) {
        if (!doc["prevResult"].is_object())
            return bad_config("\"prevResult\" must be an object, not " +
                              json_type_name(doc["prevResult"]));
        config.prev_result = doc["prevResult"];
    }
    if (command == "CHECK" && !config.prev_result)
        return bad_config("CHECK needs the result of ADD in \"prevResult\"");
    if (command == "GC") {
        // libcni sends both keys (the second for runtimes that followed an earlier draft).
        const char* key = doc.contains("cni.dev/valid-attachments") ? "cni.dev/valid-attachments"
                          : doc.contains("cni.dev/attachments")     ? "cni.dev/attachments"
                                                                    : nullptr;
        // Without the list GC would release every attachment of the network: refuse instead.
        if (key == nullptr) return bad_config("GC needs \"cni.dev/valid-attachments\"");
        auto valid = parse_valid_attachments(doc[key]);
        if (!valid) return std::unexpected(valid.error());
        config.valid_attachments = std::move(*valid);
    }
    return config;
}

CniResult<Request> parse_request(const Environment& env, std::string_view stdin_text) {
    auto get = [&](const char* name) {
        auto it = env.find(name);
        return it == env.end() ? std::string() : it->second;
    };
    Request request;
    request.command = get("CNI_COMMAND");
    request.container_id = get("CNI_CONTAINERID");
    request.netns = get("CNI_NETNS");
    request.ifname = get("CNI_IFNAME");
    request.args = get("CNI_ARGS");
    request.path = get("CNI_PATH");
    const std::string& cmd = request.command;
    bool attachment_command = cmd == "ADD" || cmd == "DEL" || cmd == "CHECK";

    std::vector<std::string> missing;
    if (cmd.empty()) missing.push_back("CNI_COMMAND");
    if (attachment_command) {
        if (request.container_id.empty()) missing.push_back("CNI_CONTAINERID");
        if (request.netns.empty() && cmd != "DEL") missing.push_back("CNI_NETNS");
        if (request.ifname.empty()) missing.push_back("CNI_IFNAME");
        if (request.path.empty()) missing.push_back("CNI_PATH");
    }
    if (!missing.empty()) {
        std::string joined;
        for (const auto& m : missing) joined += (joined.empty() ? "" : ",") + m;
        return std::unexpected(
            error(invalid_environment, "required env variables [" + joined + "] missing"));
    }
    if (cmd == "VERSION") return request;
    if (!attachment_command && cmd != "GC" && cmd != "STATUS")
        return std::unexpected(error(invalid_environment, "unknown CNI_COMMAND: " + cmd));
    if (attachment_command) {
        if (!valid_cni_name(request.container_id))
            return std::unexpected(error(invalid_environment, "invalid characters in containerID",
                                         request.container_id));
        if (auto problem = interface_name_problem(request.ifname))
            return std::unexpected(error(invalid_environment, *problem, request.ifname));
    }
    auto config = parse_config(stdin_text, cmd);
    if (!config) return std::unexpected(config.error());
    request.config = std::move(*config);
    return request;
}

NetworkConfig network_of(const PluginConfig& config) {
    NetworkConfig network;
    network.name = config.name;
    network.bridge = config.bridge;
    network.subnets.push_back({config.subnet, config.subnet.at(1)});
    if (config.subnet6) network.subnets.push_back({*config.subnet6, config.subnet6->at(1)});
    network.mtu = config.mtu;
    network.masquerade = config.ip_masq;
    return network;
}

std::string attachment_to_json(const AttachmentState& s) {
    json mappings = json::array();
    for (const auto& m : s.port_mappings) mappings.push_back(format_port_mapping(m));
    json j = {{"containerID", s.container_id},
              {"ifname", s.ifname},
              {"netns", s.netns},
              {"network", s.network},
              {"hostInterface", s.host_interface},
              {"hostMac", s.host_mac},
              {"mac", s.mac},
              {"portMappings", mappings}};
    if (s.ipv4) j["ipv4"] = s.ipv4->str();
    if (s.ipv6) j["ipv6"] = s.ipv6->str();
    if (s.gateway4) j["gateway4"] = s.gateway4->str();
    if (s.gateway6) j["gateway6"] = s.gateway6->str();
    return j.dump() + "\n";
}

Result<AttachmentState> attachment_from_json(std::string_view text, const std::string& source) {
    auto bad = [&](const std::string& why) {
        return fail("attachment state " + source + ": " + why);
    };
    json j = json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return bad("not a JSON object");
    try {
        AttachmentState s;
        s.container_id = j.at("containerID").get<std::string>();
        s.ifname = j.at("ifname").get<std::string>();
        s.netns = j.value("netns", "");
        s.network = j.value("network", "");
        s.host_interface = j.value("hostInterface", "");
        s.host_mac = j.value("hostMac", "");
        s.mac = j.value("mac", "");
        for (const char* key : {"ipv4", "ipv6"}) {
            if (!j.contains(key)) continue;
            auto p = parse_prefix(j[key].get<std::string>(), false);
            if (!p) return bad(p.error().message);
            (std::string_view(key) == "ipv4" ? s.ipv4 : s.ipv6) = *p;
        }
        for (const char* key : {"gateway4", "gateway6"}) {
            if (!j.contains(key)) continue;
            auto a = parse_ip(j[key].get<std::string>());
            if (!a) return bad(a.error().message);
            (std::string_view(key) == "gateway4" ? s.gateway4 : s.gateway6) = *a;
        }
        for (const auto& mapping : j.value("portMappings", json::array())) {
            auto m = parse_port_mapping(mapping.get<std::string>());
            if (!m) return bad(m.error().message);
            s.port_mappings.insert(s.port_mappings.end(), m->begin(), m->end());
        }
        return s;
    } catch (const json::exception& e) {
        return bad(e.what());
    }
}

std::string add_result_json(const AttachmentState& s, std::string_view cni_version) {
    json interfaces = json::array();
    interfaces.push_back({{"name", s.host_interface}, {"mac", s.host_mac}});
    interfaces.push_back({{"name", s.ifname}, {"mac", s.mac}, {"sandbox", s.netns}});
    json ips = json::array();
    json routes = json::array();
    if (s.ipv4) {
        json ip = {{"address", s.ipv4->str()}, {"interface", 1}};
        if (s.gateway4) {
            ip["gateway"] = s.gateway4->str();
            routes.push_back({{"dst", "0.0.0.0/0"}, {"gw", s.gateway4->str()}});
        }
        ips.push_back(ip);
    }
    if (s.ipv6) {
        json ip = {{"address", s.ipv6->str()}, {"interface", 1}};
        if (s.gateway6) {
            ip["gateway"] = s.gateway6->str();
            routes.push_back({{"dst", "::/0"}, {"gw", s.gateway6->str()}});
        }
        ips.push_back(ip);
    }
    json result = {{"cniVersion", cni_version},
                   {"interfaces", interfaces},
                   {"ips", ips},
                   {"routes", routes},
                   {"dns", json::object()}};
    return result.dump() + "\n";
}

std::string version_json() {
    json versions = json::array();
    for (auto v : supported_versions) versions.push_back(v);
    json j = {{"cniVersion", supported_versions.back()}, {"supportedVersions", versions}};
    return j.dump() + "\n";
}

std::string error_json(const CniError& e, std::string_view stdin_text) {
    std::string version(supported_versions.back());
    json doc = json::parse(stdin_text, nullptr, false);
    if (!doc.is_discarded() && doc.is_object() && doc.contains("cniVersion") &&
        doc["cniVersion"].is_string() && is_supported(doc["cniVersion"].get<std::string>()))
        version = doc["cniVersion"].get<std::string>();
    json j = {{"cniVersion", version}, {"code", e.code}, {"msg", e.msg}, {"details", e.details}};
    return j.dump() + "\n";
}

// ---------------------------------------------------------------------------------------------
// The commands.

namespace {

// Where this plugin keeps things for one configuration.
struct Layout {
    std::string ipam_dir;          // <state>/ipam
    std::string attachments_root;  // <run>/attachments
    std::string attachments_dir;   // <run>/attachments/<network>
    std::string ports_dir;         // <run>/ports
    std::string networks_dir;      // <run>/networks

    explicit Layout(const PluginConfig& c)
        : ipam_dir(c.state_root + "/ipam"),
          attachments_root(c.run_root + "/attachments"),
          attachments_dir(attachments_root + "/" + c.name),
          ports_dir(c.run_root + "/ports"),
          networks_dir(c.run_root + "/networks") {}

    [[nodiscard]] std::string record(const std::string& owner) const {
        return attachments_dir + "/" + owner + ".json";
    }
    // Left by a DEL whose namespace was still there: the host veth may outlive the attachment
    // if the runtime keeps the namespace, and GC deletes it then.
    [[nodiscard]] std::string veth_tombstone(const std::string& owner) const {
        return attachments_dir + "/" + owner + ".veth";
    }
    [[nodiscard]] std::string claim_dir(const PortMapping& m) const {
        return ports_dir + "/" + m.protocol + "-" + std::to_string(m.host_port);
    }
    [[nodiscard]] std::string claim_path(const PortMapping& m) const {
        return claim_dir(m) + "/" + (m.host_ip ? m.host_ip->str() : std::string("any"));
    }
};

// The process's one nftables context (opening one costs more than a transaction).
Result<NftContext*> nft_context(bool& used_nft) {
    used_nft = true;
    return NftContext::shared();
}

// Host-port elements go as bytes (nft/elements.hpp), as podnet's own sandboxes do: no
// libnftables to load for an ADD or DEL of an existing network.
Result<NftElementWriter*> element_writer(bool& used_nft) {
    used_nft = true;
    return NftElementWriter::shared();
}

std::string link_target(const std::string& path) {
    char buf[256];
    ssize_t n = ::readlink(path.c_str(), buf, sizeof buf - 1);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

Result<std::optional<AttachmentState>> load_attachment(const std::string& path) {
    if (!path_exists(path)) return std::optional<AttachmentState>{};
    auto text = read_file(path);
    if (!text) return std::unexpected(text.error());
    auto state = attachment_from_json(*text, path);
    if (!state) return std::unexpected(state.error());
    return std::optional<AttachmentState>(std::move(*state));
}

Result<void> save_attachment(const Layout& layout, const std::string& owner,
                             const AttachmentState& state) {
    if (auto r = make_dirs(layout.attachments_dir, 0700); !r) return r;
    return write_file_atomic(layout.record(owner), attachment_to_json(state), 0600);
}

// Who holds a claim, in words: the container and interface of its record in any network.
std::string describe_holder(const Layout& layout, const std::string& owner) {
    if (auto networks = list_dir(layout.attachments_root))
        for (const auto& n : *networks) {
            auto state = load_attachment(layout.attachments_root + "/" + n + "/" + owner + ".json");
            if (state && *state)
                return "container " + (*state)->container_id + " (interface " + (*state)->ifname +
                       ", network " + n + ")";
        }
    return "attachment " + owner.substr(0, 12);
}

Result<UniqueFd> open_netns_checked(const std::string& path, CniError& why) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) {
        int err = errno;
        why = error(err == ENOENT ? unknown_container : internal_error,
                    "open network namespace " + path + ": " + std::strerror(err));
        return fail(why.msg);
    }
    if (::ioctl(fd.get(), NS_GET_NSTYPE) != CLONE_NEWNET) {
        why = error(unknown_container, path + " is not a network namespace");
        return fail(why.msg);
    }
    // The runtime's own namespace by mistake would get a bridge port as its CNI_IFNAME.
    struct stat mine {
    }, theirs{};
    if (::fstat(fd.get(), &theirs) == 0 && ::stat("/proc/self/ns/net", &mine) == 0 &&
        mine.st_dev == theirs.st_dev && mine.st_ino == theirs.st_ino) {
        why = error(invalid_netns, "plugin's netns and netns from CNI_NETNS should not be the same",
                    path);
        return fail(why.msg);
    }
    return fd;
}

// The canonical text of what ensure_network sets up, kept beside it to skip the work next time.
std::string network_marker(const NetworkConfig& network) {
    return network_to_json(network);
}

// The network's kernel side, when it is not there yet (first ADD, after a reboot, after `ip link
// del` of the bridge, or after the configuration changed): bridge, gateway addresses and sysctls
// (podnet's bridge driver), podnet's nft table with the subnets for hairpin and masquerade. The
// usual ADD only reads the marker and checks the bridge: the table script flushes its chains
// (a deleting transaction, which costs its closer an RCU grace period).
Result<void> ensure_network(const PluginConfig& c, const NetworkConfig& network,
                            NetlinkSocket& host, bool& used_nft) {
    Layout layout(c);
    std::string marker_path = layout.networks_dir + "/" + c.name + ".json";
    std::string want = network_marker(network);
    auto present = host.link_exists(network.bridge);
    if (!present) return std::unexpected(present.error());
    if (*present && path_exists(marker_path))
        if (auto have = read_file(marker_path); have && *have == want) return {};

    if (auto r = make_dirs(layout.networks_dir, 0700); !r) return r;
    auto lock =
        FileLock::acquire(layout.networks_dir + "/" + c.name + ".lock", FileLock::Mode::exclusive);
    if (!lock) return std::unexpected(lock.error());
    if (auto r = BridgeDriver(layout.ipam_dir).ensure(network); !r) return r;
    auto nft = nft_context(used_nft);
    if (!nft) return std::unexpected(nft.error());
    std::string script = portmap_base_script();
    for (const auto& s : network.subnets) {
        // Off: out of the masquerade set too, in case an earlier configuration had it on.
        if (!network.masquerade) script += remove_network_script(s.subnet, false);
        script += add_network_script(s.subnet, network.masquerade);
    }
    if (auto r = (*nft)->run(script); !r) return wrap(r.error(), "network " + network.name);
    return write_file_atomic(marker_path, want, 0600);
}

PodPorts pod_ports_of(const std::string& owner, const AttachmentState& s) {
    PodPorts pod;
    pod.sandbox_id = owner;
    if (s.ipv4) pod.pod_ipv4 = s.ipv4->address;
    if (s.ipv6) pod.pod_ipv6 = s.ipv6->address;
    pod.mappings = s.port_mappings;
    return pod;
}

// Host port claims, made before nftables is touched. A mapping on every address conflicts with
// any claim of the port; one bound to an address with the same address and with "any".
CniResult<void> claim_ports(const Layout& layout, const std::string& owner,
                            const std::vector<PortMapping>& mappings, Rollback& rollback) {
    if (mappings.empty()) return {};
    if (auto r = make_dirs(layout.ports_dir, 0700); !r) return internal(r.error());
    // Check and claim as one step against concurrent ADDs.
    auto lock = FileLock::acquire(layout.ports_dir + "/.lock", FileLock::Mode::exclusive);
    if (!lock) return internal(lock.error());
    for (const auto& m : mappings) {
        std::string dir = layout.claim_dir(m);
        if (auto r = make_dirs(dir, 0700); !r) return internal(r.error());
        auto holders = list_dir(dir);
        if (!holders) return internal(holders.error());
        for (const auto& h : *holders) {
            PortMapping held = m;
            held.host_ip.reset();
            if (h != "any")
                if (auto ip = parse_ip(h)) held.host_ip = *ip;
            if (!mappings_overlap(m, held)) continue;
            std::string holder = link_target(dir + "/" + h);
            if (holder == owner) continue;
            return std::unexpected(error(internal_error, "host port " + format_port_mapping(m) +
                                                             " is already mapped by " +
                                                             describe_holder(layout, holder)));
        }
        std::string path = layout.claim_path(m);
        if (::symlink(owner.c_str(), path.c_str()) != 0) {
            int err = errno;
            if (err != EEXIST || link_target(path) != owner)
                return internal(
                    Error{"claim host port " + format_port_mapping(m) + ": " + std::strerror(err)});
            continue;  // ours already
        }
        rollback.push([path, dir] {
            ::unlink(path.c_str());
            ::rmdir(dir.c_str());
        });
    }
    return {};
}

// The claims `owner` holds, found by scanning (when its record is gone).
std::vector<PortMapping> claims_of(const Layout& layout, const std::string& owner) {
    std::vector<PortMapping> out;
    auto dirs = list_dir(layout.ports_dir);
    if (!dirs) return out;
    for (const auto& d : *dirs) {
        auto dash = d.find('-');
        if (dash == std::string::npos) continue;
        auto holders = list_dir(layout.ports_dir + "/" + d);
        if (!holders) continue;
        for (const auto& h : *holders) {
            if (link_target(layout.ports_dir + "/" + d + "/" + h) != owner) continue;
            PortMapping m;
            m.protocol = d.substr(0, dash);
            try {
                m.host_port = static_cast<uint16_t>(std::stoi(d.substr(dash + 1)));
            } catch (...) {
                continue;
            }
            if (h != "any")
                if (auto ip = parse_ip(h)) m.host_ip = *ip;
            out.push_back(m);
        }
    }
    return out;
}

enum class VethAction {
    none,    // not there, or not ours to touch
    remove,  // delete it now (gone already is fine)
    defer,   // its namespace is alive and about to be deleted with it: leave a tombstone for GC
};

// Everything `owner` holds on this network, whatever is left of it (DEL, GC, a stale attachment
// found by ADD): nft elements, host port claims, addresses, the host veth when asked, the record.
// Goes on after a failure and collects the errors.
void release_attachment(const PluginConfig& c, const std::string& owner,
                        const std::optional<AttachmentState>& state, VethAction veth,
                        bool& used_nft, std::vector<std::string>& errors) {
    Layout layout(c);
    std::vector<PortMapping> mappings;
    if (state) {
        mappings = state->port_mappings;
        // Elements are added only once the record has the addresses they point to.
        if (!mappings.empty() && (state->ipv4 || state->ipv6)) {
            if (auto nft = element_writer(used_nft)) {
                if (auto r = (*nft)->apply(NFPROTO_INET, portmap_table,
                                           pod_port_elements(pod_ports_of(owner, *state)),
                                           NftElementOp::remove);
                    !r)
                    errors.push_back(r.error().message);
            } else {
                errors.push_back(nft.error().message);
            }
        }
    } else {
        // No record (a crash, or a corrupt file): follow the claims to the elements, which carry
        // the owner tag.
        mappings = claims_of(layout, owner);
        if (!mappings.empty()) {
            if (auto nft = nft_context(used_nft)) {
                if (auto r = remove_sandbox_ports(**nft, owner); !r)
                    errors.push_back(r.error().message);
            } else {
                errors.push_back(nft.error().message);
            }
        }
    }
    for (const auto& m : mappings) {
        std::string path = layout.claim_path(m);
        if (link_target(path) == owner) ::unlink(path.c_str());
        ::rmdir(layout.claim_dir(m).c_str());  // only when empty
        // A UDP flow keeps its stale NAT entry and goes nowhere without this
        // (containernetworking/plugins#123); a new TCP connection starts a new entry.
        if (m.protocol == "udp") (void)flush_conntrack(m);
    }
    if (auto r = Ipam(layout.ipam_dir, c.name).release(owner); !r)
        errors.push_back(r.error().message);
    if (veth == VethAction::remove) {
        // Gone already (its namespace went) is success.
        if (auto nl = NetlinkSocket::open_current()) {
            if (auto r = nl->delete_link(host_interface_for(owner)); !r)
                errors.push_back(r.error().message);
        } else {
            errors.push_back(nl.error().message);
        }
    }
    if (veth == VethAction::defer) {
        // The released address may go to the next ADD while this veth lives on in a namespace
        // something still holds: down, its pod end loses carrier and answers no ARP for it
        // (one netlink message, against 20-40 ms for deleting it).
        if (auto nl = NetlinkSocket::open_current()) {
            if (auto r = nl->link_exists(host_interface_for(owner)); r && *r)
                if (auto down = nl->set_down(host_interface_for(owner)); !down)
                    errors.push_back(down.error().message);
        } else {
            errors.push_back(nl.error().message);
        }
        UniqueFd tombstone(
            ::open(layout.veth_tombstone(owner).c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
        if (!tombstone)
            errors.push_back("write " + layout.veth_tombstone(owner) + ": " + std::strerror(errno));
    } else if (veth == VethAction::remove) {
        (void)remove_file(layout.veth_tombstone(owner));
    }
    if (auto r = remove_file(layout.record(owner)); !r) errors.push_back(r.error().message);
}

CniResult<std::string> fail_with(const std::vector<std::string>& errors, const std::string& what) {
    std::string joined;
    for (const auto& e : errors) joined += (joined.empty() ? "" : "; ") + e;
    return std::unexpected(error(internal_error, what + ": " + joined));
}

std::string attachment_words(const Request& r) {
    return "container " + r.container_id + " interface " + r.ifname + " on network " +
           r.config.name;
}

CniResult<std::string> cmd_add(const Request& req, bool& used_nft) {
    const PluginConfig& c = req.config;
    Layout layout(c);
    NetworkConfig network = network_of(c);
    std::string owner = attachment_owner(req.container_id, req.ifname);
    std::string host_if = host_interface_for(owner);
    std::string what = "ADD " + attachment_words(req);

    CniError why;
    auto netns = open_netns_checked(req.netns, why);
    if (!netns) return std::unexpected(why);
    auto host = NetlinkSocket::open_current();
    if (!host) return internal(host.error().wrap(what));
    if (auto r = ensure_network(c, network, *host, used_nft); !r)
        return internal(r.error().wrap(what));

    auto existing = load_attachment(layout.record(owner));
    auto host_present = host->link_exists(host_if);
    if (!host_present) return internal(host_present.error().wrap(what));
    if (existing && *existing) {
        if (*host_present)
            return std::unexpected(error(internal_error, what +
                                                             ": already attached (host "
                                                             "interface " +
                                                             host_if + "); DEL it first"));
        // Its namespace is gone and no DEL came: release what it held, then start afresh.
        std::vector<std::string> errors;
        release_attachment(c, owner, *existing, VethAction::none, used_nft, errors);
        if (!errors.empty()) return fail_with(errors, what + ": release stale attachment");
    } else if (*host_present) {
        // Left by a DEL while its namespace lived on (DEL does not pay for deleting veths).
        if (auto r = host->delete_link(host_if); !r) return internal(r.error().wrap(what));
        (void)remove_file(layout.veth_tombstone(owner));
    }

    Rollback rollback;
    // The record first: whatever is made next can be found from it by DEL and GC.
    AttachmentState state;
    state.container_id = req.container_id;
    state.ifname = req.ifname;
    state.netns = req.netns;
    state.network = c.name;
    state.host_interface = host_if;
    state.port_mappings = c.port_mappings;
    if (auto r = save_attachment(layout, owner, state); !r) return internal(r.error().wrap(what));
    rollback.push([path = layout.record(owner)] { ::unlink(path.c_str()); });
    if (auto r = claim_ports(layout, owner, c.port_mappings, rollback); !r) {
        CniError e = r.error();
        e.msg = what + ": " + e.msg;
        return std::unexpected(e);
    }

    AttachRequest request;
    request.sandbox_id = owner;
    request.pod_netns_fd = netns->get();
    request.interface = req.ifname;
    request.host_interface = host_if;
    request.ipv6_off_without_v6 = true;
    request.ip = c.ip;
    request.ip6 = c.ip6;
    auto att = BridgeDriver(layout.ipam_dir).attach(network, request, rollback);
    if (!att) return internal(att.error().wrap(what));
    state.mac = att->mac;
    state.ipv4 = att->ipv4;
    state.ipv6 = att->ipv6;
    state.gateway4 = att->gateway4;
    state.gateway6 = att->gateway6;
    if (auto mac = host->link_mac(host_if)) state.host_mac = *mac;
    if (auto r = save_attachment(layout, owner, state); !r) return internal(r.error().wrap(what));

    if (!c.port_mappings.empty()) {
        auto nft = element_writer(used_nft);
        if (!nft) return internal(nft.error().wrap(what));
        auto elements = pod_port_elements(pod_ports_of(owner, state));
        auto publish = [&] {
            return (*nft)->apply(NFPROTO_INET, portmap_table, elements, NftElementOp::add);
        };
        auto added = publish();
        if (!added) {
            // The table may be gone under a marker that says otherwise (`nft flush ruleset`):
            // set it up again and retry once. A real conflict (an element of another owner,
            // say podnet's own) fails the same way again and is reported.
            std::string script = portmap_base_script();
            for (const auto& s : network.subnets)
                script += add_network_script(s.subnet, network.masquerade);
            auto text = nft_context(used_nft);
            if (text && (*text)->run(script)) added = publish();
        }
        if (!added) return internal(added.error().wrap(what + ": publish host ports"));
        rollback.push([elements, &used_nft] {
            if (auto n = element_writer(used_nft))
                (void)(*n)->apply(NFPROTO_INET, portmap_table, elements, NftElementOp::remove);
        });
        // Entries that predate the mapping would keep UDP flows away from the pod.
        for (const auto& m : c.port_mappings)
            if (m.protocol == "udp") (void)flush_conntrack(m);
    }
    rollback.commit();
    return add_result_json(state, c.cni_version);
}

CniResult<std::string> cmd_del(const Request& req, bool& used_nft) {
    const PluginConfig& c = req.config;
    Layout layout(c);
    std::string owner = attachment_owner(req.container_id, req.ifname);
    std::vector<std::string> errors;
    auto state = load_attachment(layout.record(owner));
    if (!state) errors.push_back(state.error().message + " (released by owner instead)");
    // The veth goes with the namespace, for free, when the runtime deletes it after DEL (as it
    // does); deleting it here would cost 20-40 ms. Should the runtime keep the namespace, GC
    // (or an ADD of the same attachment) deletes it. Without a namespace path, or with one that
    // is gone, whatever still holds the namespace would keep the veth: delete it by name.
    bool netns_alive = false;
    if (!req.netns.empty()) {
        UniqueFd fd(::open(req.netns.c_str(), O_RDONLY | O_CLOEXEC));
        netns_alive = fd.valid();
    }
    release_attachment(c, owner, state ? *state : std::nullopt,
                       netns_alive ? VethAction::defer : VethAction::remove, used_nft, errors);
    if (!errors.empty()) return fail_with(errors, "DEL " + attachment_words(req));
    return std::string();
}

CniResult<std::string> cmd_check(const Request& req) {
    const PluginConfig& c = req.config;
    Layout layout(c);
    std::string owner = attachment_owner(req.container_id, req.ifname);
    std::string what = "CHECK " + attachment_words(req);
    auto check_failed = [&](const std::string& why) {
        return std::unexpected(error(internal_error, what + ": " + why));
    };
    CniError why;
    auto netns = open_netns_checked(req.netns, why);
    if (!netns) return std::unexpected(why);
    auto state = load_attachment(layout.record(owner));
    if (!state) return internal(state.error().wrap(what));
    if (!*state) return check_failed("no such attachment (no ADD, or DEL since)");

    // The addresses ADD reported for this interface.
    const json& prev = *c.prev_result;
    std::optional<size_t> index;
    if (prev.contains("interfaces") && prev["interfaces"].is_array())
        for (size_t i = 0; i < prev["interfaces"].size(); ++i) {
            const json& itf = prev["interfaces"][i];
            if (itf.is_object() && itf.value("name", "") == req.ifname &&
                !itf.value("sandbox", "").empty())
                index = i;
        }
    std::vector<IpPrefix> expected;
    if (prev.contains("ips") && prev["ips"].is_array())
        for (const auto& ip : prev["ips"]) {
            if (!ip.is_object() || !ip.contains("address") || !ip["address"].is_string()) continue;
            if (ip.contains("interface") && ip["interface"].is_number_integer() &&
                (!index || ip["interface"].get<size_t>() != *index))
                continue;
            auto p = parse_prefix(ip["address"].get<std::string>(), false);
            if (!p) return check_failed("prevResult: " + p.error().message);
            expected.push_back(*p);
        }
    if (expected.empty()) return check_failed("prevResult has no address for " + req.ifname);
    for (const auto& p : expected)
        if (p != (*state)->ipv4 && p != (*state)->ipv6)
            return check_failed("prevResult address " + p.str() + " is not this attachment's");

    auto pod = NetlinkSocket::open_in(netns->get());
    if (!pod) return internal(pod.error().wrap(what));
    auto addresses = pod->addresses(req.ifname);
    if (!addresses)
        return check_failed("interface " + req.ifname + " in " + req.netns + ": " +
                            addresses.error().message);
    for (const auto& p : expected)
        if (std::ranges::find(*addresses, p) == addresses->end())
            return check_failed("interface " + req.ifname + " in " + req.netns +
                                " does not have address " + p.str());
    auto host = NetlinkSocket::open_current();
    if (!host) return internal(host.error().wrap(what));
    auto present = host->link_exists((*state)->host_interface);
    if (!present) return internal(present.error().wrap(what));
    if (!*present) return check_failed("host interface " + (*state)->host_interface + " is gone");

    auto leases = Ipam(layout.ipam_dir, c.name).list();
    if (!leases) return internal(leases.error().wrap(what));
    for (const auto& p : expected) {
        bool held = std::ranges::any_of(*leases, [&](const Allocation& a) {
            return a.address == p.address && a.owner == owner;
        });
        if (!held) return check_failed("address " + p.address.str() + " is not leased to it");
    }
    for (const auto& m : (*state)->port_mappings)
        if (link_target(layout.claim_path(m)) != owner)
            return check_failed("host port " + format_port_mapping(m) + " is not claimed by it");
    return std::string();
}

CniResult<std::string> cmd_gc(const Request& req, bool& used_nft) {
    const PluginConfig& c = req.config;
    Layout layout(c);
    std::set<std::string> valid;
    for (const auto& a : c.valid_attachments)
        valid.insert(attachment_owner(a.container_id, a.ifname));
    std::vector<std::string> errors;

    // Attachments of this network that are not valid any more, with all they hold, and veths
    // that DEL left to their namespace.
    if (auto names = list_dir(layout.attachments_dir)) {
        for (const auto& name : *names) {
            std::string path = layout.attachments_dir + "/" + name;
            if (name.ends_with(".tmp")) {  // a write that died half-way
                (void)remove_file(path);
                continue;
            }
            if (name.ends_with(".veth")) {
                std::string owner = name.substr(0, name.size() - 5);
                // A valid attachment of that id has been made again: the link is its own now.
                if (!valid.contains(owner) && !path_exists(layout.record(owner)))
                    if (auto nl = NetlinkSocket::open_current()) {
                        if (auto r = nl->delete_link(host_interface_for(owner)); !r)
                            errors.push_back(r.error().message);
                    }
                (void)remove_file(path);
                continue;
            }
            if (!name.ends_with(".json")) continue;
            std::string owner = name.substr(0, name.size() - 5);
            if (valid.contains(owner)) continue;
            auto state = load_attachment(path);
            if (!state) errors.push_back(state.error().message);
            release_attachment(c, owner, state ? *state : std::nullopt, VethAction::remove,
                               used_nft, errors);
        }
    } else {
        errors.push_back(names.error().message);
    }
    // Leases without a record (records are written before the lease and removed after it, so
    // only a hand-edited state has these), and their veths.
    if (auto freed = Ipam(layout.ipam_dir, c.name).release_all_except(valid)) {
        for (const auto& a : *freed)
            if (auto nl = NetlinkSocket::open_current())
                if (auto r = nl->delete_link(host_interface_for(a.owner)); !r)
                    errors.push_back(r.error().message);
    } else {
        errors.push_back(freed.error().message);
    }

    // Claims of no attachment in any network of this root: records are written before claims
    // and removed after them, so these are left by a hand-edited or damaged state. (Host veths
    // are not swept by name: another root's podnet-cni may share the host and the prefix.)
    std::set<std::string> recorded;
    if (auto networks = list_dir(layout.attachments_root))
        for (const auto& n : *networks)
            if (auto names = list_dir(layout.attachments_root + "/" + n))
                for (const auto& name : *names)
                    if (name.ends_with(".json")) recorded.insert(name.substr(0, name.size() - 5));
    std::set<std::string> orphan_owners;
    if (auto dirs = list_dir(layout.ports_dir))
        for (const auto& d : *dirs) {
            if (d.starts_with(".")) continue;
            if (auto holders = list_dir(layout.ports_dir + "/" + d))
                for (const auto& h : *holders) {
                    std::string owner = link_target(layout.ports_dir + "/" + d + "/" + h);
                    if (!owner.empty() && !recorded.contains(owner) && !valid.contains(owner))
                        orphan_owners.insert(owner);
                }
        }
    for (const auto& owner : orphan_owners)
        release_attachment(c, owner, std::nullopt, VethAction::none, used_nft, errors);
    if (!errors.empty()) return fail_with(errors, "GC of network " + c.name);
    return std::string();
}

CniResult<std::string> cmd_status(const Request& req) {
    const PluginConfig& c = req.config;
    // Ready when the state roots can be written; the kernel side is made by the first ADD.
    for (const auto& dir : {c.state_root, c.run_root}) {
        auto made = make_dirs(dir, 0700);
        if (!made || ::access(dir.c_str(), W_OK) != 0)
            return std::unexpected(error(plugin_not_available,
                                         "state directory " + dir + " is not writable",
                                         made ? std::strerror(errno) : made.error().message));
    }
    return std::string();
}

}  // namespace

CniResult<std::string> run(const Request& request, bool& used_nft) {
    const std::string& cmd = request.command;
    if (cmd == "VERSION") return version_json();
    if (cmd == "ADD") return cmd_add(request, used_nft);
    if (cmd == "DEL") return cmd_del(request, used_nft);
    if (cmd == "CHECK") return cmd_check(request);
    if (cmd == "GC") return cmd_gc(request, used_nft);
    if (cmd == "STATUS") return cmd_status(request);
    return std::unexpected(error(invalid_environment, "unknown CNI_COMMAND: " + cmd));
}

}  // namespace podnet::cni_plugin
