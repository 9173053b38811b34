#include "cni-runner/cache.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>

#include "common/fs.hpp"

namespace podnet::cni {

namespace {

using nlohmann::json;

constexpr const char* cache_kind = "cniCacheV1";
constexpr char base64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// Go's encoder replaces invalid UTF-8 with U+FFFD rather than failing; do the same instead of
// letting nlohmann throw from a function that cannot fail.
std::string dump(const json& value) {
    return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

// The three parts become one file name: a '/' would leave the results directory, and a NUL
// cannot be in a path at all.
Result<void> check_key(const std::string& network, const std::string& container_id,
                       const std::string& ifname) {
    const std::pair<const char*, const std::string*> parts[] = {
        {"network name", &network}, {"container ID", &container_id}, {"interface name", &ifname}};
    for (const auto& [what, value] : parts) {
        if (value->empty()) return fail(std::string("cache entry: empty ") + what);
        if (value->find_first_of(std::string_view("/\0", 2)) != std::string::npos)
            return fail(std::string("cache entry: ") + what + " \"" + *value +
                        "\" cannot be part of a file name");
    }
    return {};
}

// write_file_atomic's temporaries are "<entry>.<pid>.tmp"; a crash can leave one behind, and
// its content may be a complete entry that must not be listed twice.
bool is_temporary(const std::string& name) {
    constexpr std::string_view suffix = ".tmp";
    if (!name.ends_with(suffix)) return false;
    std::string_view rest(name.data(), name.size() - suffix.size());
    size_t digits = 0;
    while (digits < rest.size() &&
           std::isdigit(static_cast<unsigned char>(rest[rest.size() - 1 - digits])))
        ++digits;
    return digits > 0 && digits < rest.size() && rest[rest.size() - 1 - digits] == '.';
}

Result<std::string> get_string(const json& doc, const char* key, const std::string& source,
                               bool required) {
    auto it = doc.find(key);
    if (it == doc.end() || it->is_null()) {
        if (required) return fail(source + ": missing \"" + key + "\"");
        return std::string();
    }
    if (!it->is_string()) return fail(source + ": \"" + key + "\" is not a string");
    return it->get<std::string>();
}

}  // namespace

std::string base64_encode(std::string_view bytes) {
    std::string out;
    out.reserve((bytes.size() + 2) / 3 * 4);
    size_t i = 0;
    for (; i + 3 <= bytes.size(); i += 3) {
        uint32_t v = static_cast<uint32_t>(static_cast<unsigned char>(bytes[i])) << 16 |
                     static_cast<uint32_t>(static_cast<unsigned char>(bytes[i + 1])) << 8 |
                     static_cast<unsigned char>(bytes[i + 2]);
        out.push_back(base64_alphabet[v >> 18 & 63]);
        out.push_back(base64_alphabet[v >> 12 & 63]);
        out.push_back(base64_alphabet[v >> 6 & 63]);
        out.push_back(base64_alphabet[v & 63]);
    }
    size_t left = bytes.size() - i;
    if (left > 0) {
        uint32_t v = static_cast<uint32_t>(static_cast<unsigned char>(bytes[i])) << 16;
        if (left == 2) v |= static_cast<uint32_t>(static_cast<unsigned char>(bytes[i + 1])) << 8;
        out.push_back(base64_alphabet[v >> 18 & 63]);
        out.push_back(base64_alphabet[v >> 12 & 63]);
        out.push_back(left == 2 ? base64_alphabet[v >> 6 & 63] : '=');
        out.push_back('=');
    }
    return out;
}

Result<std::string> base64_decode(std::string_view text) {
    // Go's decoder skips line breaks anywhere; everything else must be the standard alphabet
    // with padding to a multiple of four.
    std::string clean;
    clean.reserve(text.size());
    for (char c : text)
        if (c != '\r' && c != '\n') clean.push_back(c);
    if (clean.size() % 4 != 0)
        return fail("base64: length " + std::to_string(clean.size()) + " is not a multiple of 4");

    std::array<int, 256> value{};
    value.fill(-1);
    for (int i = 0; i < 64; ++i) value[static_cast<unsigned char>(base64_alphabet[i])] = i;

    std::string out;
    out.reserve(clean.size() / 4 * 3);
    for (size_t i = 0; i < clean.size(); i += 4) {
        bool last = i + 4 == clean.size();
        int pad = 0;
        if (last && clean[i + 3] == '=') pad = clean[i + 2] == '=' ? 2 : 1;
        uint32_t v = 0;
        for (int k = 0; k < 4; ++k) {
            // Padding positions count as zero bits; '=' anywhere else is an invalid character.
            int d = k < 4 - pad ? value[static_cast<unsigned char>(clean[i + k])] : 0;
            if (d < 0) return fail("base64: invalid character at offset " + std::to_string(i + k));
            v = v << 6 | static_cast<uint32_t>(d);
        }
        out.push_back(static_cast<char>(v >> 16 & 0xff));
        if (pad < 2) out.push_back(static_cast<char>(v >> 8 & 0xff));
        if (pad < 1) out.push_back(static_cast<char>(v & 0xff));
    }
    return out;
}

std::string encode_cache_entry(const CacheEntry& entry) {
    // Written by hand rather than through a json object so the keys come in libcni's struct
    // order (nlohmann sorts them); nested objects are sorted, as Go marshals maps.
    std::string out = "{\"kind\":" + dump(cache_kind);
    out += ",\"containerId\":" + dump(entry.container_id);
    out += ",\"config\":" + dump(base64_encode(entry.config));
    out += ",\"ifName\":" + dump(entry.ifname);
    out += ",\"networkName\":" + dump(entry.network);
    if (!entry.netns.empty()) out += ",\"netns\":" + dump(entry.netns);
    if (!entry.cni_args.empty()) {
        json args = json::array();
        for (const auto& [key, value] : entry.cni_args) args.push_back(json::array({key, value}));
        out += ",\"cniArgs\":" + dump(args);
    }
    if (!entry.capability_args.is_null() && !entry.capability_args.empty())
        out += ",\"capabilityArgs\":" + dump(entry.capability_args);
    if (entry.result && !entry.result->is_null() && !entry.result->empty())
        out += ",\"result\":" + dump(*entry.result);
    out += "}";
    return out;
}

Result<CacheEntry> decode_cache_entry(const std::string& text, const std::string& source) {
    if (text.find_first_not_of(" \t\r\n") == std::string::npos)
        return fail(source + ": empty file");
    json doc = json::parse(text, nullptr, false);
    if (doc.is_discarded()) return fail(source + ": not JSON");
    if (!doc.is_object()) return fail(source + ": not a JSON object");

    auto kind = get_string(doc, "kind", source, true);
    if (!kind) return std::unexpected(kind.error());
    if (*kind != cache_kind)
        return fail(source + ": kind \"" + *kind + "\", expected \"" + cache_kind + "\"");

    CacheEntry entry;
    std::pair<const char*, std::string*> fields[] = {{"containerId", &entry.container_id},
                                                     {"ifName", &entry.ifname},
                                                     {"networkName", &entry.network}};
    for (const auto& [key, target] : fields) {
        auto value = get_string(doc, key, source, true);
        if (!value) return std::unexpected(value.error());
        *target = std::move(*value);
    }
    auto netns = get_string(doc, "netns", source, false);
    if (!netns) return std::unexpected(netns.error());
    entry.netns = std::move(*netns);

    // Go marshals a nil []byte as null; both mean "no config".
    auto config = get_string(doc, "config", source, false);
    if (!config) return std::unexpected(config.error());
    auto bytes = base64_decode(*config);
    if (!bytes) return wrap(bytes.error(), source + ": \"config\"");
    entry.config = std::move(*bytes);

    if (auto it = doc.find("cniArgs"); it != doc.end() && !it->is_null()) {
        if (!it->is_array()) return fail(source + ": \"cniArgs\" is not an array");
        for (const auto& pair : *it) {
            if (!pair.is_array() || pair.size() != 2 || !pair[0].is_string() ||
                !pair[1].is_string())
                return fail(source + ": \"cniArgs\" entry " + dump(pair) +
                            " is not a [key, value] pair of strings");
            entry.cni_args.emplace_back(pair[0].get<std::string>(), pair[1].get<std::string>());
        }
    }
    if (auto it = doc.find("capabilityArgs"); it != doc.end() && !it->is_null()) {
        if (!it->is_object()) return fail(source + ": \"capabilityArgs\" is not an object");
        entry.capability_args = *it;
    }
    if (auto it = doc.find("result"); it != doc.end() && !it->is_null()) {
        if (!it->is_object()) return fail(source + ": \"result\" is not an object");
        entry.result = *it;
    }
    return entry;
}

std::string ResultCache::entry_path(const std::string& network, const std::string& container_id,
                                    const std::string& ifname) const {
    return dir_ + "/results/" + network + "-" + container_id + "-" + ifname;
}

Result<void> ResultCache::save(const CacheEntry& entry) const {
    if (auto r = check_key(entry.network, entry.container_id, entry.ifname); !r) return r;
    std::string path = entry_path(entry.network, entry.container_id, entry.ifname);
    // Caught here because encode_cache_entry cannot fail and libcni could not read these back.
    if (!entry.capability_args.is_null() && !entry.capability_args.is_object())
        return fail("save cache entry " + path + ": capability args are not a JSON object");
    if (entry.result && !entry.result->is_null() && !entry.result->is_object())
        return fail("save cache entry " + path + ": result is not a JSON object");
    if (auto r = make_dirs(dir_ + "/results", 0700); !r)
        return wrap(r.error(), "save cache entry " + path);
    if (auto r = write_file_atomic(path, encode_cache_entry(entry), 0600); !r)
        return wrap(r.error(), "save cache entry " + path);
    return {};
}

Result<std::optional<CacheEntry>> ResultCache::load(const std::string& network,
                                                    const std::string& container_id,
                                                    const std::string& ifname) const {
    if (auto r = check_key(network, container_id, ifname); !r) return std::unexpected(r.error());
    std::string path = entry_path(network, container_id, ifname);
    auto text = read_file(path);
    if (!text) {
        // Checked after the failure, so a concurrent remove reads as "no entry", not an error.
        if (!path_exists(path)) return std::optional<CacheEntry>();
        return std::unexpected(text.error());
    }
    auto entry = decode_cache_entry(*text, path);
    if (!entry) return std::unexpected(entry.error());
    return std::optional<CacheEntry>(std::move(*entry));
}

Result<void> ResultCache::remove(const std::string& network, const std::string& container_id,
                                 const std::string& ifname) const {
    if (auto r = check_key(network, container_id, ifname); !r) return r;
    return remove_file(entry_path(network, container_id, ifname));
}

Result<std::vector<CacheEntry>> ResultCache::list(const std::string& network,
                                                  std::vector<std::string>* skipped) const {
    std::string results = dir_ + "/results";
    auto names = list_dir(results);
    if (!names) return wrap(names.error(), "list cache entries");
    // Network names may contain '-', so the file name cannot be split back into its parts;
    // each file's own networkName decides.
    std::sort(names->begin(), names->end());
    std::vector<CacheEntry> entries;
    for (const auto& name : *names) {
        if (is_temporary(name)) continue;
        std::string path = results + "/" + name;
        auto text = read_file(path);
        if (!text) {
            if (!path_exists(path)) continue;  // removed since the listing
            if (skipped != nullptr) skipped->push_back(text.error().message);
            continue;
        }
        auto entry = decode_cache_entry(*text, path);
        if (!entry) {
            if (skipped != nullptr) skipped->push_back(entry.error().message);
            continue;
        }
        if (!network.empty() && entry->network != network) continue;
        entries.push_back(std::move(*entry));
    }
    return entries;
}

}  // namespace podnet::cni
