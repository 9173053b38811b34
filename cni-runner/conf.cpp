#include "cni-runner/conf.hpp"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <optional>

#include "cni-runner/version.hpp"
#include "common/fs.hpp"
#include "common/text.hpp"

namespace podnet::cni {

using nlohmann::json;

namespace {

std::string in_quotes(std::string_view text) {
    return quoted(text);
}

// "source: what" — or just "what" for bytes that came from nowhere in particular.
std::unexpected<Error> fail_in(const std::string& source, const std::string& what) {
    return fail(source.empty() ? what : source + ": " + what);
}

std::string supported_list() {
    std::string out;
    for (const auto& v : supported_versions()) out += (out.empty() ? "" : ", ") + v;
    return out;
}

Result<json> parse_object(std::string_view bytes, const std::string& source) {
    json top;
    try {
        top = json::parse(bytes);
    } catch (const json::parse_error& e) {
        // e.what() is "[json.exception.parse_error.101] parse error at line 1, column 2: ...";
        // the bracketed id means nothing to whoever edits the file.
        std::string message = e.what();
        if (message.starts_with("[json.exception.")) {
            if (auto close = message.find("] "); close != std::string::npos)
                message.erase(0, close + 2);
        }
        return fail_in(source, "not JSON: " + message);
    }
    if (!top.is_object()) return fail_in(source, "not a JSON object");
    return top;
}

// The spec's rule for network names (libcni's ValidateNetworkName): the name becomes part of
// cache file names, so it must not carry '/' or start with '.'.
bool valid_network_name(const std::string& name) {
    if (name.empty() || !std::isalnum(static_cast<unsigned char>(name[0]))) return false;
    return std::all_of(name.begin(), name.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
    });
}

Result<std::string> read_name(const json& top, const std::string& source) {
    auto it = top.find("name");
    if (it == top.end()) return fail_in(source, "missing \"name\"");
    if (!it->is_string()) return fail_in(source, "\"name\": not a string");
    std::string name = it->get<std::string>();
    if (name.empty()) return fail_in(source, "\"name\" is empty");
    if (!valid_network_name(name))
        return fail_in(source, "\"name\": " + in_quotes(name) +
                                   " is not a valid network name (a letter or digit, then "
                                   "letters, digits, '_', '.' or '-')");
    return name;
}

// libcni's readBool: a JSON boolean, or the string "true"/"false" in any case.
Result<bool> read_flag(const json& top, const char* key, const std::string& source) {
    auto it = top.find(key);
    if (it == top.end()) return false;
    if (it->is_boolean()) return it->get<bool>();
    if (it->is_string()) {
        std::string text = it->get<std::string>();
        std::transform(text.begin(), text.end(), text.begin(),
                       [](unsigned char c) { return std::tolower(c); });
        if (text == "true") return true;
        if (text == "false") return false;
    }
    return fail_in(source, in_quotes(key) + ": " + it->dump() + " is not a boolean");
}

// `at` is where the plugin object sits: "\"plugins\"[1]: " in a list, "" for a legacy file.
Result<PluginConf> read_plugin(const json& plugin, const std::string& at,
                               const std::string& source) {
    if (!plugin.is_object()) return fail_in(source, at + "not an object");
    PluginConf conf;
    auto type = plugin.find("type");
    if (type == plugin.end()) {
        // A list saved as .conf is read as one plugin and has no "type"; say what happened.
        if (at.empty() && plugin.contains("plugins"))
            return fail_in(
                source, "missing \"type\" (a list with \"plugins\" belongs in a .conflist file)");
        return fail_in(source, at + "missing \"type\"");
    }
    if (!type->is_string()) return fail_in(source, at + "\"type\": not a string");
    conf.type = type->get<std::string>();
    if (conf.type.empty()) return fail_in(source, at + "\"type\" is empty");
    // The type is looked up as a file name in the CNI_PATH directories; a path would let a
    // configuration run any binary on the host.
    if (conf.type.find('/') != std::string::npos)
        return fail_in(source, at + "\"type\": " + in_quotes(conf.type) +
                                   " contains '/' (plugins are found by name in CNI_PATH)");
    if (auto caps = plugin.find("capabilities"); caps != plugin.end() && !caps->is_null()) {
        if (!caps->is_object()) return fail_in(source, at + "\"capabilities\": not an object");
        for (const auto& [name, enabled] : caps->items()) {
            if (!enabled.is_boolean())
                return fail_in(source,
                               at + "\"capabilities\": " + in_quotes(name) + ": not a boolean");
            if (enabled.get<bool>()) conf.capabilities.push_back(name);
        }
    }
    conf.raw = plugin;
    return conf;
}

// Which version to speak. With `cniVersions` (CNI 1.1): its highest entry that podnet supports;
// entries podnet does not know are skipped, as libcni skips versions newer than its own.
// Without it: `cniVersion`, which libcni reads as 0.1.0 when it is missing or empty.
//
// libcni also counts `cniVersion` among the candidates when both keys are present; podnet lets
// `cniVersions` decide alone, so a list that names its versions gets one of them.
Result<std::string> choose_version(const json& top, std::vector<std::string>& listed,
                                   const std::string& source) {
    std::optional<std::string> declared;
    if (auto it = top.find("cniVersion"); it != top.end()) {
        if (!it->is_string()) return fail_in(source, "\"cniVersion\": not a string");
        declared = it->get<std::string>();
        if (declared->empty()) {
            declared.reset();
        } else if (auto parsed = parse_semver(*declared); !parsed) {
            return fail_in(source, "\"cniVersion\": " + parsed.error().message);
        }
    }
    if (auto it = top.find("cniVersions"); it != top.end()) {
        if (!it->is_array()) return fail_in(source, "\"cniVersions\": not an array");
        std::optional<std::string> best;
        for (size_t i = 0; i < it->size(); ++i) {
            std::string at = "\"cniVersions\"[" + std::to_string(i) + "]";
            if (!(*it)[i].is_string()) return fail_in(source, at + ": not a string");
            std::string version = (*it)[i].get<std::string>();
            auto parsed = parse_semver(version);
            if (!parsed) return fail_in(source, at + ": " + parsed.error().message);
            listed.push_back(version);
            if (version_supported(version) && (!best || *parsed > *parse_semver(*best)))
                best = version;
        }
        if (best) return *best;
        // An empty array chooses nothing, like a missing key (libcni falls back the same way).
        if (!listed.empty()) {
            std::string names;
            for (const auto& v : listed) names += (names.empty() ? "" : ", ") + in_quotes(v);
            return fail_in(source, "\"cniVersions\": none of " + names +
                                       " is supported (podnet speaks " + supported_list() + ")");
        }
    }
    std::string version = declared.value_or("0.1.0");
    if (!version_supported(version))
        return fail_in(source, "\"cniVersion\": " + in_quotes(version) +
                                   " is not supported (podnet speaks " + supported_list() + ")");
    return version;
}

Result<NetworkConfList> list_from_json(const json& top, std::string bytes,
                                       const std::string& source) {
    NetworkConfList list;
    auto name = read_name(top, source);
    if (!name) return std::unexpected(name.error());
    list.name = std::move(*name);
    auto version = choose_version(top, list.cni_versions, source);
    if (!version) return std::unexpected(version.error());
    list.cni_version = std::move(*version);
    auto disable_check = read_flag(top, "disableCheck", source);
    if (!disable_check) return std::unexpected(disable_check.error());
    list.disable_check = *disable_check;
    auto disable_gc = read_flag(top, "disableGC", source);
    if (!disable_gc) return std::unexpected(disable_gc.error());
    list.disable_gc = *disable_gc;

    // libcni would also load plugins from <dir>/<name>/*.conf when "plugins" is missing (and
    // loadOnlyInlinedPlugins is false); podnet takes inline plugins only.
    auto plugins = top.find("plugins");
    if (plugins == top.end()) return fail_in(source, "missing \"plugins\"");
    if (!plugins->is_array()) return fail_in(source, "\"plugins\": not an array");
    if (plugins->empty()) return fail_in(source, "\"plugins\" is empty");
    for (size_t i = 0; i < plugins->size(); ++i) {
        auto plugin =
            read_plugin((*plugins)[i], "\"plugins\"[" + std::to_string(i) + "]: ", source);
        if (!plugin) return std::unexpected(plugin.error());
        list.plugins.push_back(std::move(*plugin));
    }
    list.bytes = std::move(bytes);
    return list;
}

bool has_extension(const std::string& name, std::string_view ext) {
    // filepath.Ext: the suffix from the last '.', so "x.conf.bak" is not a .conf file.
    auto dot = name.rfind('.');
    return dot != std::string::npos && std::string_view(name).substr(dot) == ext;
}

std::string join(const std::string& dir, const std::string& name) {
    return dir.ends_with('/') ? dir + name : dir + "/" + name;
}

}  // namespace

Result<NetworkConfList> parse_conf_list(std::string_view bytes, const std::string& source) {
    auto top = parse_object(bytes, source);
    if (!top) return std::unexpected(top.error());
    try {
        return list_from_json(*top, std::string(bytes), source);
    } catch (const json::exception& e) {
        // Every access above checks the type first; this is a guard, not a path.
        return fail_in(source, std::string("unexpected JSON: ") + e.what());
    }
}

Result<NetworkConfList> parse_single_conf(std::string_view bytes, const std::string& source) {
    auto top = parse_object(bytes, source);
    if (!top) return std::unexpected(top.error());
    try {
        // Check the object as a plugin first, so its errors name its own keys rather than the
        // "plugins"[0] of a list the user never wrote.
        if (auto plugin = read_plugin(*top, "", source); !plugin)
            return std::unexpected(plugin.error());
        if (auto name = read_name(*top, source); !name) return std::unexpected(name.error());
        // ConfListFromConf: name and cniVersion go to the list, the plugin object stays whole.
        json wrapped = {{"name", (*top)["name"]}, {"plugins", json::array({*top})}};
        if (top->contains("cniVersion")) wrapped["cniVersion"] = (*top)["cniVersion"];
        return list_from_json(wrapped, wrapped.dump(-1, ' ', false, json::error_handler_t::replace),
                              source);
    } catch (const json::exception& e) {
        return fail_in(source, std::string("unexpected JSON: ") + e.what());
    }
}

Result<NetworkConfList> load_conf_file(const std::string& path) {
    bool list = has_extension(path, ".conflist");
    if (!list && !has_extension(path, ".conf") && !has_extension(path, ".json"))
        return fail(path + ": not a CNI configuration file (expected .conflist, .conf or .json)");
    auto text = read_file(path);
    if (!text) return wrap(text.error(), "load CNI configuration");
    auto parsed = list ? parse_conf_list(*text, path) : parse_single_conf(*text, path);
    // `source` is the file only when there is one; the parsers also see cached bytes.
    if (parsed) parsed->source = path;
    return parsed;
}

Result<std::vector<std::string>> conf_files(const std::string& dir) {
    // Unlike libcni, a missing directory is an error: an empty result would turn a typo in the
    // configured path into "network not found".
    DIR* handle = ::opendir(dir.c_str());
    if (handle == nullptr) return fail_errno("read CNI configuration directory " + dir, errno);
    std::vector<std::string> names;
    errno = 0;
    while (dirent* entry = ::readdir(handle)) {
        std::string name = entry->d_name;
        if (!has_extension(name, ".conf") && !has_extension(name, ".conflist") &&
            !has_extension(name, ".json"))
            continue;
        bool is_dir = entry->d_type == DT_DIR;
        if (entry->d_type == DT_UNKNOWN || entry->d_type == DT_LNK) {
            struct stat st {};
            is_dir = ::stat(join(dir, name).c_str(), &st) == 0 && S_ISDIR(st.st_mode);
        }
        if (!is_dir) names.push_back(std::move(name));
        errno = 0;
    }
    int read_error = errno;
    ::closedir(handle);
    if (read_error != 0) return fail_errno("read CNI configuration directory " + dir, read_error);
    std::sort(names.begin(), names.end());
    std::vector<std::string> paths;
    paths.reserve(names.size());
    for (const auto& name : names) paths.push_back(join(dir, name));
    return paths;
}

Result<NetworkConfList> find_network(const std::string& dir, const std::string& name) {
    auto files = conf_files(dir);
    if (!files) return std::unexpected(files.error());
    if (files->empty())
        return fail("no CNI network " + in_quotes(name) + " in " + dir +
                    ": it has no .conflist, .conf or .json files");
    std::optional<Error> named_broken;  // the first broken file whose "name" is `name`
    std::vector<std::string> broken;
    for (const auto& path : *files) {
        auto list = load_conf_file(path);
        if (list) {
            if (list->name == name) return list;
            continue;
        }
        broken.push_back(list.error().message);
        if (named_broken) continue;
        // A file that failed may still say which network it meant to define.
        if (auto text = read_file(path)) {
            json top = json::parse(*text, nullptr, false);
            if (top.is_object() && top.contains("name") && top["name"] == name)
                named_broken = list.error();
        }
    }
    if (named_broken) return std::unexpected(*named_broken);
    std::string message = "no CNI network " + in_quotes(name) + " in " + dir;
    if (!broken.empty()) {
        message += " (files that did not load: ";
        for (size_t i = 0; i < broken.size(); ++i) message += (i ? "; " : "") + broken[i];
        message += ")";
    }
    return fail(message);
}

Result<std::vector<NetworkConfList>> load_all(const std::string& dir) {
    return load_all(dir, nullptr);
}

Result<std::vector<NetworkConfList>> load_all(const std::string& dir,
                                              std::vector<std::string>* skipped) {
    auto files = conf_files(dir);
    if (!files) return std::unexpected(files.error());
    std::vector<NetworkConfList> lists;
    for (const auto& path : *files) {
        auto list = load_conf_file(path);
        if (!list) {
            if (skipped != nullptr) skipped->push_back(list.error().message);
            continue;
        }
        bool seen = std::any_of(lists.begin(), lists.end(),
                                [&](const NetworkConfList& l) { return l.name == list->name; });
        if (!seen) lists.push_back(std::move(*list));
    }
    return lists;
}

}  // namespace podnet::cni
