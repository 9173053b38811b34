#include "cni-runner/version.hpp"

#include <algorithm>
#include <charconv>
#include <initializer_list>

#include "common/ip.hpp"
#include "common/text.hpp"

namespace podnet::cni {

using nlohmann::json;

const std::vector<std::string>& supported_versions() {
    static const std::vector<std::string> versions = {"0.1.0", "0.2.0", "0.3.0", "0.3.1",
                                                      "0.4.0", "1.0.0", "1.1.0"};
    return versions;
}

Result<Semver> parse_semver(std::string_view text) {
    auto bad = [&](std::string_view why) {
        return fail(quoted(text) + " is not a version (" + std::string(why) + ")");
    };
    // libcni's ParseVersion takes one to three dot-separated numbers; missing parts are zero.
    int parts[3] = {0, 0, 0};
    size_t count = 0;
    size_t start = 0;
    for (;;) {
        size_t dot = text.find('.', start);
        std::string_view part =
            text.substr(start, dot == std::string_view::npos ? dot : dot - start);
        if (count == 3) return bad("more than three parts");
        if (part.empty() ||
            !std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; }))
            return bad("expected MAJOR.MINOR.PATCH in decimal digits");
        auto [end, ec] = std::from_chars(part.data(), part.data() + part.size(), parts[count]);
        if (ec != std::errc() || end != part.data() + part.size()) return bad("number too large");
        ++count;
        if (dot == std::string_view::npos) break;
        start = dot + 1;
    }
    return Semver{parts[0], parts[1], parts[2]};
}

bool version_at_least(std::string_view a, std::string_view b) {
    return parse_semver(a).value_or(Semver{}) >= parse_semver(b).value_or(Semver{});
}

bool version_supported(std::string_view version) {
    // An exact match, as libcni's converters and the plugins' version checks compare strings:
    // "1.0" is not "1.0.0" to them, so it is not supported here either.
    const auto& all = supported_versions();
    return std::find(all.begin(), all.end(), version) != all.end();
}

namespace {

// Result layouts. Versions within one layout differ only in the "cniVersion" value (0.3.1 fixed
// the spelling "ip" -> "ips" that every plugin already used; 1.1.0 only added optional fields).
enum class Layout { v02, v04, v1 };

Layout layout_of(std::string_view version) {
    if (version == "0.1.0" || version == "0.2.0") return Layout::v02;
    if (version == "1.0.0" || version == "1.1.0") return Layout::v1;
    return Layout::v04;
}

// The family the way Go's net.IP.To4() decides it: an IPv4-mapped IPv6 address counts as IPv4.
Result<std::string> family_of(const json& cidr) {
    if (!cidr.is_string()) return fail("not a string");
    auto prefix = parse_prefix(cidr.get<std::string>(), false);
    if (!prefix) return std::unexpected(prefix.error());
    const IpAddress& a = prefix->address;
    if (a.is_v4()) return std::string("4");
    bool mapped =
        std::all_of(a.bytes.begin(), a.bytes.begin() + 10, [](uint8_t b) { return b == 0; }) &&
        a.bytes[10] == 0xff && a.bytes[11] == 0xff;
    return std::string(mapped ? "4" : "6");
}

// Keep only `keys` of `from` (libcni decodes results into typed structs, so fields a version does
// not define are gone after any conversion).
json pick(const json& from, std::initializer_list<const char*> keys) {
    json out = json::object();
    for (const char* key : keys)
        if (auto it = from.find(key); it != from.end() && !it->is_null()) out[key] = *it;
    return out;
}

const std::initializer_list<const char*> route_keys = {"dst",      "gw",    "mtu",  "advmss",
                                                       "priority", "table", "scope"};
const std::initializer_list<const char*> dns_keys = {"nameservers", "domain", "search", "options"};

bool dns_empty(const json& dns) {
    for (const auto& [key, value] : dns.items())
        if (!(value.is_string() || value.is_array()) || !value.empty()) return false;
    return true;
}

// Every supported layout read into one: the 1.1.0 fields plus the 0.x per-IP "version".
struct Canonical {
    json interfaces = json::array();
    json ips = json::array();  // each with "version": "4" / "6"
    json routes = json::array();
    json dns = json::object();
};

Result<json> array_at(const json& result, const char* key) {
    auto it = result.find(key);
    if (it == result.end() || it->is_null()) return json::array();
    if (!it->is_array()) return fail(std::string("\"") + key + "\": not an array");
    return *it;
}

Result<json> object_at(const json& list, const char* key, size_t i) {
    if (!list[i].is_object())
        return fail(std::string("\"") + key + "\"[" + std::to_string(i) + "]: not an object");
    return list[i];
}

Result<Canonical> read_v02(const json& result) {
    Canonical c;
    for (const char* key : {"ip4", "ip6"}) {
        auto it = result.find(key);
        if (it == result.end() || it->is_null()) continue;
        std::string at = std::string("\"") + key + "\"";
        if (!it->is_object()) return fail(at + ": not an object");
        if (!it->contains("ip")) return fail(at + ": missing \"ip\"");
        if (auto family = family_of((*it)["ip"]); !family)
            return wrap(family.error(), at + ": \"ip\"");
        json ip = {{"version", key == std::string_view("ip4") ? "4" : "6"},
                   {"address", (*it)["ip"]}};
        if (auto gw = it->find("gateway"); gw != it->end() && !gw->is_null()) ip["gateway"] = *gw;
        c.ips.push_back(std::move(ip));
        auto routes = array_at(*it, "routes");
        if (!routes) return wrap(routes.error(), at);
        for (size_t i = 0; i < routes->size(); ++i) {
            auto route = object_at(*routes, "routes", i);
            if (!route) return wrap(route.error(), at);
            // 0.2.0 routes carry only dst and gw.
            c.routes.push_back(pick(*route, {"dst", "gw"}));
        }
    }
    if (auto dns = result.find("dns"); dns != result.end() && dns->is_object())
        c.dns = pick(*dns, dns_keys);
    return c;
}

// 0.3.x/0.4.0 and 1.x results: the same lists; 0.x IPs say their family, 1.x IPs do not.
Result<Canonical> read_v04_or_v1(const json& result, Layout layout) {
    Canonical c;
    auto interfaces = array_at(result, "interfaces");
    if (!interfaces) return std::unexpected(interfaces.error());
    for (size_t i = 0; i < interfaces->size(); ++i) {
        auto itf = object_at(*interfaces, "interfaces", i);
        if (!itf) return std::unexpected(itf.error());
        // libcni's 0.4.0 Interface has name, mac and sandbox only.
        c.interfaces.push_back(layout == Layout::v1 ? pick(*itf, {"name", "mac", "mtu", "sandbox",
                                                                  "socketPath", "pciID"})
                                                    : pick(*itf, {"name", "mac", "sandbox"}));
    }
    auto ips = array_at(result, "ips");
    if (!ips) return std::unexpected(ips.error());
    for (size_t i = 0; i < ips->size(); ++i) {
        auto ip = object_at(*ips, "ips", i);
        if (!ip) return std::unexpected(ip.error());
        std::string at = "\"ips\"[" + std::to_string(i) + "]";
        if (!ip->contains("address")) return fail(at + ": missing \"address\"");
        auto family = family_of((*ip)["address"]);
        if (!family) return wrap(family.error(), at + ": \"address\"");
        json out = pick(*ip, {"interface", "address", "gateway"});
        // A 0.x IP keeps the family it states (libcni's 0.2.0 down-conversion trusts it); one
        // that states none, or nonsense, gets the address's.
        std::string version = *family;
        if (layout == Layout::v04) {
            auto stated = ip->find("version");
            if (stated != ip->end() && (*stated == "4" || *stated == "6"))
                version = stated->get<std::string>();
        }
        out["version"] = version;
        c.ips.push_back(std::move(out));
    }
    auto routes = array_at(result, "routes");
    if (!routes) return std::unexpected(routes.error());
    for (size_t i = 0; i < routes->size(); ++i) {
        auto route = object_at(*routes, "routes", i);
        if (!route) return std::unexpected(route.error());
        // libcni's Route type is shared by 0.4.0 and 1.x, so the 1.1.0 route fields (mtu,
        // advmss, priority, table, scope) survive every conversion except to 0.2.0.
        c.routes.push_back(pick(*route, route_keys));
    }
    if (auto dns = result.find("dns"); dns != result.end() && dns->is_object())
        c.dns = pick(*dns, dns_keys);
    return c;
}

// libcni's convertTo02x: the first IPv4 and the first IPv6 address become ip4/ip6, the others
// are dropped, and each route goes to the ip4 or ip6 object of its destination's family (or is
// dropped when that family has no address). Only a result without any address fails.
Result<json> write_v02(const Canonical& c, const std::string& to) {
    json out = {{"cniVersion", to}};
    for (const auto& ip : c.ips) {
        const char* key = ip["version"] == "4" ? "ip4" : "ip6";
        if (out.contains(key)) continue;
        json conf = {{"ip", ip["address"]}};
        if (ip.contains("gateway")) conf["gateway"] = ip["gateway"];
        out[key] = std::move(conf);
    }
    if (!out.contains("ip4") && !out.contains("ip6"))
        return fail("no IP address, and a " + to + " result is nothing but its ip4/ip6 addresses");
    for (size_t i = 0; i < c.routes.size(); ++i) {
        const json& route = c.routes[i];
        if (!route.contains("dst"))
            return fail("\"routes\"[" + std::to_string(i) + "]: no \"dst\"");
        auto family = family_of(route["dst"]);
        if (!family) return wrap(family.error(), "\"routes\"[" + std::to_string(i) + "]: \"dst\"");
        const char* key = *family == "4" ? "ip4" : "ip6";
        if (!out.contains(key)) continue;
        out[key]["routes"].push_back(pick(route, {"dst", "gw"}));
    }
    // Go's encoding/json does not omit an empty struct: 0.x results always carry "dns".
    out["dns"] = c.dns;
    return out;
}

json write_v04(const Canonical& c, const std::string& to) {
    json out = {{"cniVersion", to}};
    json interfaces = json::array();
    for (const auto& itf : c.interfaces)
        interfaces.push_back(pick(itf, {"name", "mac", "sandbox"}));
    if (!interfaces.empty()) out["interfaces"] = std::move(interfaces);
    if (!c.ips.empty()) out["ips"] = c.ips;
    if (!c.routes.empty()) out["routes"] = c.routes;
    out["dns"] = c.dns;
    return out;
}

json write_v1(const Canonical& c, const std::string& to) {
    json out = {{"cniVersion", to}};
    if (!c.interfaces.empty()) out["interfaces"] = c.interfaces;
    if (!c.ips.empty()) {
        json ips = json::array();
        for (json ip : c.ips) {
            ip.erase("version");
            ips.push_back(std::move(ip));
        }
        out["ips"] = std::move(ips);
    }
    if (!c.routes.empty()) out["routes"] = c.routes;
    // libcni's 1.x Result drops "dns" when it is empty.
    if (!dns_empty(c.dns)) out["dns"] = c.dns;
    return out;
}

}  // namespace

Result<json> convert_result(const json& result, const std::string& to) {
    if (!result.is_object()) return fail("convert CNI result to " + to + ": not a JSON object");
    // libcni (create.DecodeVersion) reads a result without "cniVersion" as 0.1.0.
    std::string from = "0.1.0";
    if (auto it = result.find("cniVersion"); it != result.end() && !it->is_null()) {
        if (!it->is_string())
            return fail("convert CNI result to " + to + ": \"cniVersion\": not a string");
        if (!it->get<std::string>().empty()) from = it->get<std::string>();
    }
    std::string context = "convert CNI result " + from + " to " + to;
    for (const std::string& version : {from, to})
        if (!version_supported(version))
            return fail(context + ": version " + version +
                        " is not supported (podnet speaks 0.1.0 to 1.1.0)");

    Layout from_layout = layout_of(from);
    Layout to_layout = layout_of(to);
    // Same layout: only the version changes. libcni does the same between 1.0.0 and 1.1.0
    // (convertFrom100 copies every field, the 1.1.0 ones included, in both directions), so a
    // 1.1.0 result given to a 1.0.0 runtime keeps "mtu", "socketPath", "pciID" and the route
    // fields; 1.0.0 readers ignore fields they do not know. Fields no version defines are kept
    // here too, where libcni's typed decoding would have lost them: nothing reads them, and the
    // plugin's answer is shown as it was.
    if (from_layout == to_layout) {
        json out = result;
        out["cniVersion"] = to;
        return out;
    }
    auto canonical =
        from_layout == Layout::v02 ? read_v02(result) : read_v04_or_v1(result, from_layout);
    if (!canonical) return wrap(canonical.error(), context);
    switch (to_layout) {
        case Layout::v02: {
            auto out = write_v02(*canonical, to);
            if (!out) return wrap(out.error(), context);
            return out;
        }
        case Layout::v04:
            return write_v04(*canonical, to);
        case Layout::v1:
            return write_v1(*canonical, to);
    }
    return fail(context + ": unknown result layout");
}

}  // namespace podnet::cni
