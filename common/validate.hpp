#pragma once
// Input rules checked before anything touches the kernel. Errors say which value and why.

#include <map>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace podnet {

// Sandbox and container names: [A-Za-z0-9][A-Za-z0-9_.-]{0,62} (Docker's rule; no path tricks).
[[nodiscard]] Result<void> validate_name(std::string_view what, std::string_view name);
// Kubernetes namespace names: an RFC 1123 DNS label (lowercase, digits, '-', at most 63).
[[nodiscard]] Result<void> validate_namespace_name(std::string_view name);
// Kubernetes label keys ([prefix/]name) and values (apimachinery validation rules).
[[nodiscard]] Result<void> validate_label_key(std::string_view key);
[[nodiscard]] Result<void> validate_label_value(std::string_view key, std::string_view value);
// "k=v" → key and value, both validated.
[[nodiscard]] Result<std::pair<std::string, std::string>> parse_label(std::string_view text);

using Labels = std::map<std::string, std::string>;

}  // namespace podnet
