#pragma once
// The result cache in libcni's layout and format, so DEL works after a restart (and a runtime
// using libcni with the same cache dir would read podnet's entries, and the other way round):
//   <cache_dir>/results/<network>-<containerID>-<ifname>   JSON, kind "cniCacheV1"
// Directories 0700, files 0600, written atomically.

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.hpp"

namespace podnet::cni {

struct CacheEntry {
    std::string container_id;
    std::string ifname;
    std::string network;
    std::string netns;
    std::string config;  // the conflist bytes as used (base64 in the file, as libcni writes it)
    std::vector<std::pair<std::string, std::string>> cni_args;
    nlohmann::json capability_args = nlohmann::json::object();
    std::optional<nlohmann::json> result;  // the final result of ADD, when there was one
};

// libcni's cachedInfo JSON: {"kind":"cniCacheV1","containerId":...,"config":"<base64>",
// "ifName":...,"networkName":...,"netns":...,"cniArgs":[["K","V"]],"capabilityArgs":{...},
// "result":{...}} (empty optional fields omitted, as Go's omitempty does).
[[nodiscard]] std::string encode_cache_entry(const CacheEntry& entry);
// Errors name `source` and what is wrong (not JSON, wrong kind, bad base64). containerId, ifName
// and networkName are required (libcni never writes an entry without them).
[[nodiscard]] Result<CacheEntry> decode_cache_entry(const std::string& text,
                                                    const std::string& source);

[[nodiscard]] std::string base64_encode(std::string_view bytes);
// Standard alphabet with padding, as Go encodes []byte in JSON; line breaks are skipped.
[[nodiscard]] Result<std::string> base64_decode(std::string_view text);

class ResultCache {
  public:
    explicit ResultCache(std::string cache_dir) : dir_(std::move(cache_dir)) {}

    [[nodiscard]] std::string entry_path(const std::string& network,
                                         const std::string& container_id,
                                         const std::string& ifname) const;
    // save, load and remove refuse an empty network, container ID or interface name, or one
    // containing '/', since the three make up a file name.
    [[nodiscard]] Result<void> save(const CacheEntry& entry) const;
    // nullopt when there is no entry. An empty or corrupt file is an error naming the file;
    // callers doing DEL treat that as "no cached result" (DEL must not be blocked by it).
    [[nodiscard]] Result<std::optional<CacheEntry>> load(const std::string& network,
                                                         const std::string& container_id,
                                                         const std::string& ifname) const;
    [[nodiscard]] Result<void> remove(const std::string& network, const std::string& container_id,
                                      const std::string& ifname) const;
    // Every readable entry, for one network or all (""), in file name order. Unreadable files
    // are skipped; `skipped`, when given, gets one message per such file naming it and why.
    // Leftover temporaries of write_file_atomic ("<entry>.<pid>.tmp") are ignored.
    [[nodiscard]] Result<std::vector<CacheEntry>> list(const std::string& network,
                                                       std::vector<std::string>* skipped) const;

  private:
    std::string dir_;
};

}  // namespace podnet::cni
