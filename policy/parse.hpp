#pragma once
// Reading NetworkPolicy objects: YAML (multi-document, `kind: List`) or JSON text into JSON
// documents, and one document into a validated NetworkPolicy. Validation follows the v1 schema
// and Kubernetes' own checks; every error names the object and the field:
//   `NetworkPolicy x/web: spec.ingress[0].from[1].ipBlock.except[0]: 10.1.0.0/24 is not inside
//    cidr 10.0.0.0/16`

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.hpp"
#include "policy/model.hpp"

namespace podnet::policy {

// Every document of `text` (YAML or JSON), in order; a `kind: List` is replaced by its items and
// empty documents are skipped. `source` names the text in errors (a file path).
[[nodiscard]] Result<std::vector<nlohmann::json>> load_documents(std::string_view text,
                                                                 const std::string& source);

// One networking.k8s.io/v1 NetworkPolicy object. metadata.namespace defaults to "default".
[[nodiscard]] Result<NetworkPolicy> parse_network_policy(const nlohmann::json& object);

// A label selector object (matchLabels / matchExpressions); `field` names it in errors.
[[nodiscard]] Result<LabelSelector> parse_selector(const nlohmann::json& object,
                                                   const std::string& field);

}  // namespace podnet::policy
