#pragma once
// Policies and namespace labels as podnet keeps them, under the state root:
//   policies/<namespace>/<name>.json   each NetworkPolicy object as it was applied (JSON)
//   namespaces.json                    namespace -> labels
// Files are written atomically; callers serialise writers with the run root's lock.

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.hpp"
#include "policy/model.hpp"

namespace podnet::policy {

struct StoredPolicy {
    NetworkPolicy policy;
    nlohmann::json object;  // as applied
};

class PolicyStore {
  public:
    explicit PolicyStore(std::string dir) : dir_(std::move(dir)) {}

    // Whether anything was ever stored (cheap: one stat), so pods without policies pay nothing.
    [[nodiscard]] bool empty() const;
    [[nodiscard]] Result<std::vector<StoredPolicy>> load_policies() const;
    // "created", "configured" or "unchanged", as kubectl apply says.
    [[nodiscard]] Result<std::string> save_policy(const NetworkPolicy& policy,
                                                  const nlohmann::json& object) const;
    [[nodiscard]] Result<void> remove_policy(const std::string& ns, const std::string& name) const;

    [[nodiscard]] Result<std::map<std::string, Labels>> load_namespaces() const;
    [[nodiscard]] Result<void> save_namespaces(const std::map<std::string, Labels>& ns) const;

  private:
    [[nodiscard]] std::string policy_path(const std::string& ns, const std::string& name) const;
    std::string dir_;
};

}  // namespace podnet::policy
