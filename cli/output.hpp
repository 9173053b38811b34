#pragma once
// Turning runtime views into JSON and text tables.

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "podnet/runtime.hpp"

namespace podnet::cli {

[[nodiscard]] nlohmann::json sandbox_json(const SandboxInfo& info);
[[nodiscard]] nlohmann::json container_json(const ContainerInfo& info);
[[nodiscard]] nlohmann::json network_json(const NetworkInfo& info);
// OCI runtime-spec linux.namespaces entries for joining the pod by path.
[[nodiscard]] nlohmann::json oci_namespaces_json(const SandboxInfo& info);
// Columns padded to the widest cell; the first row is the header.
[[nodiscard]] std::string format_table(const std::vector<std::vector<std::string>>& rows);
[[nodiscard]] std::string join(const std::vector<std::string>& parts, const std::string& sep);

}  // namespace podnet::cli
