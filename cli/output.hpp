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
// Whether to colour output on stdout: only a terminal, and not when NO_COLOR is set to
// anything but "" (no-color.org). color_wanted is the rule, use_color applies it to stdout.
[[nodiscard]] bool color_wanted(bool stdout_is_tty, const char* no_color_env);
[[nodiscard]] bool use_color();
[[nodiscard]] std::string join(const std::vector<std::string>& parts, const std::string& sep);

}  // namespace podnet::cli
