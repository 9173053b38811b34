#include "cni-runner/runner.hpp"

#include <cctype>
#include <cstdint>
#include <cstdio>
#include <set>

#include "cni-runner/version.hpp"

namespace podnet::cni {

using nlohmann::json;

namespace {

constexpr int code_incompatible_version = 1;

bool valid_container_id(const std::string& id) {
    // libcni's rule: ^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$
    if (id.empty() || !std::isalnum(static_cast<unsigned char>(id[0]))) return false;
    for (char c : id)
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != '-')
            return false;
    return true;
}

Result<void> validate_ifname(const std::string& name) {
    // What the kernel takes (dev_valid_name): 1-15 bytes, not "." or "..", no '/', ':' or
    // whitespace.
    if (name.empty()) return fail("interface name is empty");
    if (name.size() > 15) return fail("interface name \"" + name + "\" is longer than 15 bytes");
    if (name == "." || name == "..")
        return fail("interface name \"" + name + "\" is not a valid name");
    for (char c : name)
        if (c == '/' || c == ':' || std::isspace(static_cast<unsigned char>(c)))
            return fail("interface name \"" + name + "\" contains '" + std::string(1, c) + "'");
    return {};
}

std::string join(const std::vector<std::string>& items, const char* sep) {
    std::string out;
    for (const auto& s : items) out += (out.empty() ? "" : sep) + s;
    return out;
}

}  // namespace

json plugin_stdin(const NetworkConfList& list, const PluginConf& plugin,
                  const std::optional<json>& prev_result, const json& capability_args) {
    json config = plugin.raw;
    config["name"] = list.name;
    config["cniVersion"] = list.cni_version;
    if (prev_result) config["prevResult"] = *prev_result;
    json runtime_config = json::object();
    for (const auto& cap : plugin.capabilities)
        if (capability_args.is_object() && capability_args.contains(cap))
            runtime_config[cap] = capability_args[cap];
    // libcni replaces whatever runtimeConfig the file had only when it has something to pass.
    if (!runtime_config.empty()) config["runtimeConfig"] = runtime_config;
    return config;
}

Result<void> validate_runtime_conf(const RuntimeConf& rt, bool need_netns) {
    if (!valid_container_id(rt.container_id))
        return fail("container id \"" + rt.container_id +
                    "\" is not valid (letters, digits, '_', '.', '-'; a letter or digit first)");
    if (auto r = validate_ifname(rt.ifname); !r) return r;
    if (need_netns && rt.netns.empty()) return fail("no network namespace path given");
    return {};
}

std::string container_id_for_netns(const std::string& netns) {
    // FNV-1a 64: stable across runs and builds (std::hash is not promised to be).
    uint64_t h = 0xcbf29ce484222325ULL;
    for (unsigned char c : netns) {
        h ^= c;
        h *= 0x100000001b3ULL;
    }
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
    return std::string("podnet-") + buf;
}

Runner::Runner(RunnerOptions options) : options_(std::move(options)), cache_(options_.cache_dir) {}

void Runner::log(const std::string& line) const {
    if (options_.log) options_.log(line);
}

Result<Runner::CallOutput> Runner::call(const NetworkConfList& list, const PluginConf& plugin,
                                        const std::string& command, const RuntimeConf* rt,
                                        const json& config, bool tolerate_version_refusal) {
    auto path = find_plugin(plugin.type, options_.plugin_dirs);
    if (!path) return std::unexpected(path.error());
    PluginInvocation inv;
    inv.command = command;
    if (rt) {
        inv.container_id = rt->container_id;
        inv.netns = rt->netns;
        inv.ifname = rt->ifname;
        inv.args = rt->args;
    }
    inv.plugin_dirs = options_.plugin_dirs;
    ExecOptions exec_options;
    exec_options.timeout = options_.timeout;
    auto outcome = exec_plugin(*path, inv, config.dump(), exec_options);
    if (!outcome) return std::unexpected(outcome.error());
    if (!outcome->stderr_text.empty()) {
        std::string text = outcome->stderr_text;
        while (!text.empty() && text.back() == '\n') text.pop_back();
        log(plugin.type + " " + command + ": " + text);
    }
    if (outcome->error) {
        if (outcome->error->code == code_incompatible_version && tolerate_version_refusal)
            return CallOutput{.result = std::nullopt, .refused_version = true};
        if (outcome->error->code == code_incompatible_version && command != "VERSION")
            return fail(incompatibility(list, plugin));
        return fail(describe_plugin_error(plugin.type, *outcome->error));
    }
    CallOutput out;
    std::string text = outcome->stdout_text;
    if (text.find_first_not_of(" \t\r\n") == std::string::npos) return out;
    auto parsed = json::parse(text, nullptr, false);
    if (parsed.is_discarded() || !parsed.is_object())
        return fail("plugin " + plugin.type + " " + command + " printed a result that is not JSON");
    out.result = std::move(parsed);
    return out;
}

std::string Runner::incompatibility(const NetworkConfList& list, const PluginConf& plugin) {
    std::string base =
        "network " + list.name + " uses CNI " + list.cni_version + " but plugin " + plugin.type;
    auto answer = call(list, plugin, "VERSION", nullptr, json{{"cniVersion", list.cni_version}});
    if (answer && answer->result && answer->result->contains("supportedVersions")) {
        std::vector<std::string> versions;
        for (const auto& v : (*answer->result)["supportedVersions"])
            if (v.is_string()) versions.push_back(v.get<std::string>());
        return base + " supports only " + join(versions, ", ") +
               " (set cniVersion to one of these)";
    }
    return base + " does not support it";
}

Result<json> Runner::add(const NetworkConfList& list, const RuntimeConf& rt) {
    if (auto r = validate_runtime_conf(rt, true); !r) return wrap(r.error(), "ADD " + list.name);
    // The cache entry is written before the first plugin runs (libcni writes it after the
    // last): a runtime killed half-way then leaves an entry that gc follows to run DEL.
    CacheEntry entry{rt.container_id, rt.ifname, list.name,          rt.netns,
                     list.bytes,      rt.args,   rt.capability_args, std::nullopt};
    if (auto r = cache_.save(entry); !r) return wrap(r.error(), "ADD " + list.name);

    std::optional<json> result;
    for (const auto& plugin : list.plugins) {
        auto out =
            call(list, plugin, "ADD", &rt, plugin_stdin(list, plugin, result, rt.capability_args));
        if (out && out->result) {
            auto converted = convert_result(*out->result, list.cni_version);
            if (!converted)
                out = std::unexpected(converted.error().wrap("plugin " + plugin.type + " ADD"));
            else
                result = std::move(*converted);
        } else if (out) {
            // A plugin that prints nothing leaves the chain's result as it was (libcni would
            // fail to decode; tolerating it costs nothing and loses nothing).
            log(plugin.type + " ADD: printed no result; keeping the previous one");
        }
        if (!out) {
            // The spec: a runtime must clean up after a failed ADD with DEL.
            if (auto r = del_plugins(list, rt, result, DelMode::cleanup); !r)
                log("cleanup after failed ADD of " + list.name + ": " + r.error().message);
            else
                (void)cache_.remove(list.name, rt.container_id, rt.ifname);
            return wrap(out.error(), "ADD " + list.name);
        }
    }
    if (!result) return fail("ADD " + list.name + ": no plugin returned a result");
    entry.result = result;
    if (auto r = cache_.save(entry); !r) return wrap(r.error(), "ADD " + list.name);
    return *result;
}

Result<void> Runner::del_plugins(const NetworkConfList& list, const RuntimeConf& rt,
                                 const std::optional<json>& prev_result, DelMode mode) {
    // prevResult on DEL exists from 0.4.0 on (libcni passes it only then).
    std::optional<json> prev;
    if (prev_result && version_at_least(list.cni_version, "0.4.0")) {
        if (auto converted = convert_result(*prev_result, list.cni_version))
            prev = std::move(*converted);
        else
            log("DEL " + list.name + ": cached result unusable (" + converted.error().message +
                "); running DEL without prevResult");
    }
    bool cleanup = mode == DelMode::cleanup;
    std::optional<Error> first_failure;
    for (auto it = list.plugins.rbegin(); it != list.plugins.rend(); ++it) {
        auto out =
            call(list, *it, "DEL", &rt, plugin_stdin(list, *it, prev, rt.capability_args), cleanup);
        if (out) continue;
        if (!cleanup) return std::unexpected(out.error());
        if (!first_failure) first_failure = out.error();
    }
    if (first_failure) return std::unexpected(*first_failure);
    return {};
}

std::optional<json> Runner::cached_result(const std::string& network, const RuntimeConf& rt) const {
    auto entry = cache_.load(network, rt.container_id, rt.ifname);
    if (!entry || !*entry) return std::nullopt;
    return (*entry)->result;
}

Result<void> Runner::del(const NetworkConfList& list, const RuntimeConf& rt) {
    if (auto r = validate_runtime_conf(rt, false); !r) return wrap(r.error(), "DEL " + list.name);
    std::optional<json> prev;
    RuntimeConf effective = rt;
    auto entry = cache_.load(list.name, rt.container_id, rt.ifname);
    if (!entry) {
        log("DEL " + list.name + ": " + entry.error().message + "; running DEL without prevResult");
    } else if (*entry) {
        prev = (*entry)->result;
        // What ADD was given is what DEL should see, when the caller does not know it any more.
        if (effective.netns.empty()) effective.netns = (*entry)->netns;
        if (effective.args.empty()) effective.args = (*entry)->cni_args;
        if (effective.capability_args.empty())
            effective.capability_args = (*entry)->capability_args;
    }
    if (auto r = del_plugins(list, effective, prev); !r) return wrap(r.error(), "DEL " + list.name);
    if (auto r = cache_.remove(list.name, rt.container_id, rt.ifname); !r)
        return wrap(r.error(), "DEL " + list.name);
    return {};
}

Result<void> Runner::check(const NetworkConfList& list, const RuntimeConf& rt) {
    if (!version_at_least(list.cni_version, "0.4.0"))
        return fail("CHECK " + list.name + ": needs CNI 0.4.0 or later, the list is " +
                    list.cni_version);
    if (list.disable_check) return {};
    if (auto r = validate_runtime_conf(rt, true); !r) return wrap(r.error(), "CHECK " + list.name);
    auto entry = cache_.load(list.name, rt.container_id, rt.ifname);
    if (!entry) return wrap(entry.error(), "CHECK " + list.name);
    if (!*entry || !(*entry)->result)
        return fail("CHECK " + list.name + ": no cached result for container " + rt.container_id +
                    " interface " + rt.ifname + " (was ADD run?)");
    auto prev = convert_result(*(*entry)->result, list.cni_version);
    if (!prev) return wrap(prev.error(), "CHECK " + list.name);
    for (const auto& plugin : list.plugins) {
        auto out =
            call(list, plugin, "CHECK", &rt, plugin_stdin(list, plugin, *prev, rt.capability_args));
        if (!out) return wrap(out.error(), "CHECK " + list.name);
    }
    return {};
}

Result<void> Runner::status(const NetworkConfList& list) {
    if (!version_at_least(list.cni_version, "1.1.0")) return {};
    for (const auto& plugin : list.plugins) {
        auto out = call(list, plugin, "STATUS", nullptr,
                        plugin_stdin(list, plugin, std::nullopt, json::object()));
        if (!out) return wrap(out.error(), "STATUS " + list.name);
    }
    return {};
}

Result<std::vector<std::string>> Runner::gc(const NetworkConfList& list,
                                            const std::vector<AttachmentId>& valid) {
    std::vector<std::string> removed;
    if (list.disable_gc) return removed;
    std::set<std::pair<std::string, std::string>> keep;
    json valid_json = json::array();
    for (const auto& a : valid) {
        keep.insert({a.container_id, a.ifname});
        valid_json.push_back({{"containerID", a.container_id}, {"ifname", a.ifname}});
    }
    std::vector<std::string> skipped;
    auto entries = cache_.list(list.name, &skipped);
    if (!entries) return wrap(entries.error(), "GC " + list.name);
    for (const auto& s : skipped) log("GC " + list.name + ": skipped unreadable cache entry " + s);
    std::vector<std::string> errors;
    for (const auto& e : *entries) {
        if (keep.contains({e.container_id, e.ifname})) continue;
        RuntimeConf rt{e.container_id, e.netns, e.ifname, e.cni_args, e.capability_args};
        if (auto r = del(list, rt); !r)
            errors.push_back(r.error().message);
        else
            removed.push_back("DEL " + list.name + " for container " + e.container_id + " " +
                              e.ifname);
    }
    if (version_at_least(list.cni_version, "1.1.0")) {
        for (const auto& plugin : list.plugins) {
            json config = plugin_stdin(list, plugin, std::nullopt, json::object());
            config["cni.dev/valid-attachments"] = valid_json;
            if (auto out = call(list, plugin, "GC", nullptr, config); !out)
                errors.push_back("GC " + list.name + ": " + out.error().message);
        }
    }
    if (!errors.empty()) return fail(join(errors, "; "));
    return removed;
}

Result<json> Runner::version(const NetworkConfList& list) {
    json answers = json::array();
    for (const auto& plugin : list.plugins) {
        auto out = call(list, plugin, "VERSION", nullptr, json{{"cniVersion", list.cni_version}});
        if (!out) return wrap(out.error(), "VERSION " + list.name);
        json versions = json::array();
        if (out->result && out->result->contains("supportedVersions"))
            versions = (*out->result)["supportedVersions"];
        else if (out->result && out->result->contains("cniVersion"))  // 0.1.0 plugins
            versions.push_back((*out->result)["cniVersion"]);
        bool compatible = false;
        for (const auto& v : versions)
            if (v.is_string() && v.get<std::string>() == list.cni_version) compatible = true;
        answers.push_back(
            {{"type", plugin.type}, {"supportedVersions", versions}, {"compatible", compatible}});
    }
    return answers;
}

}  // namespace podnet::cni
