#pragma once
// CNI network configuration lists as libcni loads them: `.conflist` files, and legacy single
// plugin `.conf`/`.json` files wrapped into a one-plugin list. Files in a conf dir are taken in
// lexical order of their names (libcni sorts them), so the first file naming a network wins.

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace podnet::cni {

struct PluginConf {
    std::string type;  // the plugin binary's name in CNI_PATH; never contains '/'
    // Capabilities the plugin declared true in `capabilities` ("portMappings", "ips", ...).
    std::vector<std::string> capabilities;
    nlohmann::json raw;  // the plugin's object exactly as in the file
};

struct NetworkConfList {
    std::string name;
    // The version podnet speaks to the plugins: the highest entry of `cniVersions` that podnet
    // supports when the file has that key, otherwise `cniVersion`.
    std::string cni_version;
    std::vector<std::string> cni_versions;  // `cniVersions` as in the file (may be empty)
    bool disable_check = false;
    bool disable_gc = false;
    std::vector<PluginConf> plugins;
    std::string source;  // the file it came from ("" when parsed from bytes)
    std::string bytes;   // the list's JSON text (legacy files: the wrapped list), for the cache
};

// Parse a `.conflist`. Errors name `source` and the key: `net.conflist: "plugins"[1]: missing
// "type"`.
[[nodiscard]] Result<NetworkConfList> parse_conf_list(std::string_view bytes,
                                                      const std::string& source);
// Parse a legacy single-plugin `.conf` / `.json` and wrap it into a list of one, as libcni's
// ConfListFromConf does (name and cniVersion move to the list).
[[nodiscard]] Result<NetworkConfList> parse_single_conf(std::string_view bytes,
                                                        const std::string& source);
// Either of the above, chosen by the file's extension.
[[nodiscard]] Result<NetworkConfList> load_conf_file(const std::string& path);

// Files of `dir` with the extensions .conf, .conflist, .json, sorted by name. A missing
// directory is an error naming it.
[[nodiscard]] Result<std::vector<std::string>> conf_files(const std::string& dir);
// The first list in `dir` (in file order) whose name is `name`. Files that do not parse are
// skipped unless one of them is the only candidate: an unknown network says which files were
// broken, so a typo in the wanted file is not reported as "not found".
[[nodiscard]] Result<NetworkConfList> find_network(const std::string& dir, const std::string& name);
// Every list in `dir` that parses, in file order (later duplicates of a name are dropped).
[[nodiscard]] Result<std::vector<NetworkConfList>> load_all(const std::string& dir);
// The same, and the error of every file that did not load goes to `skipped` (when given), so a
// listing can say why a network is missing.
[[nodiscard]] Result<std::vector<NetworkConfList>> load_all(const std::string& dir,
                                                            std::vector<std::string>* skipped);

}  // namespace podnet::cni
