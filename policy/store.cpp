#include "policy/store.hpp"

#include "common/fs.hpp"
#include "policy/parse.hpp"

namespace podnet::policy {

std::string PolicyStore::policy_path(const std::string& ns, const std::string& name) const {
    return dir_ + "/policies/" + ns + "/" + name + ".json";
}

bool PolicyStore::empty() const {
    return !path_exists(dir_ + "/policies") && !path_exists(dir_ + "/namespaces.json");
}

Result<std::vector<StoredPolicy>> PolicyStore::load_policies() const {
    std::vector<StoredPolicy> out;
    auto namespaces = list_dir(dir_ + "/policies");
    if (!namespaces) return std::unexpected(namespaces.error());
    for (const auto& ns : *namespaces) {
        auto files = list_dir(dir_ + "/policies/" + ns);
        if (!files) return std::unexpected(files.error());
        for (const auto& file : *files) {
            if (!file.ends_with(".json")) continue;  // e.g. a temporary left by a crash
            std::string path = dir_ + "/policies/" + ns + "/" + file;
            auto text = read_file(path);
            if (!text) return std::unexpected(text.error());
            auto object = nlohmann::json::parse(*text, nullptr, false);
            if (object.is_discarded()) return fail(path + ": not valid JSON");
            auto policy = parse_network_policy(object);
            if (!policy) return wrap(policy.error(), path);
            out.push_back({std::move(*policy), std::move(object)});
        }
    }
    return out;
}

Result<std::string> PolicyStore::save_policy(const NetworkPolicy& policy,
                                             const nlohmann::json& object) const {
    std::string path = policy_path(policy.ns, policy.name);
    std::string text = object.dump(2) + "\n";
    std::string verb = "created";
    if (auto old = read_file(path)) {
        if (*old == text) return std::string("unchanged");
        verb = "configured";
    }
    if (auto r = make_dirs(dir_ + "/policies/" + policy.ns); !r) return std::unexpected(r.error());
    if (auto r = write_file_atomic(path, text); !r) return std::unexpected(r.error());
    return verb;
}

Result<void> PolicyStore::remove_policy(const std::string& ns, const std::string& name) const {
    std::string path = policy_path(ns, name);
    if (!path_exists(path)) return fail("no NetworkPolicy " + ns + "/" + name);
    if (auto r = remove_file(path); !r) return r;
    // Each fails while something remains, which is fine; with none left the store is empty()
    // again, and podnet stops even looking.
    (void)remove_dir(dir_ + "/policies/" + ns);
    (void)remove_dir(dir_ + "/policies");
    return {};
}

Result<std::map<std::string, Labels>> PolicyStore::load_namespaces() const {
    std::map<std::string, Labels> out;
    std::string path = dir_ + "/namespaces.json";
    if (!path_exists(path)) return out;
    auto text = read_file(path);
    if (!text) return std::unexpected(text.error());
    auto doc = nlohmann::json::parse(*text, nullptr, false);
    if (doc.is_discarded() || !doc.is_object()) return fail(path + ": not a JSON object");
    for (const auto& [ns, labels] : doc.items()) {
        if (!labels.is_object()) return fail(path + ": " + ns + ": labels must be an object");
        for (const auto& [k, v] : labels.items())
            if (v.is_string()) out[ns][k] = v.get<std::string>();
        out.emplace(ns, Labels{});
    }
    return out;
}

Result<void> PolicyStore::save_namespaces(const std::map<std::string, Labels>& namespaces) const {
    nlohmann::json doc = nlohmann::json::object();
    for (const auto& [ns, labels] : namespaces) doc[ns] = labels;
    if (auto r = make_dirs(dir_); !r) return r;
    return write_file_atomic(dir_ + "/namespaces.json", doc.dump(2) + "\n");
}

}  // namespace podnet::policy
