#pragma once
// CNI spec versions and result conversion between them. podnet speaks 0.1.0 ... 1.1.0; results
// are converted the way libcni does, so a runtime asking for one version gets that version's
// shape whatever the plugin returned.

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace podnet::cni {

// Every version podnet's runner (and the podnet-cni plugin) accepts, oldest first.
[[nodiscard]] const std::vector<std::string>& supported_versions();
inline constexpr const char* latest_version = "1.1.0";

struct Semver {
    int major = 0, minor = 0, patch = 0;
    auto operator<=>(const Semver&) const = default;
};
// "1.0.0" (also "0.3" as 0.3.0). Errors name the text.
[[nodiscard]] Result<Semver> parse_semver(std::string_view text);
// a >= b; unparsable versions compare as 0.0.0.
[[nodiscard]] bool version_at_least(std::string_view a, std::string_view b);
[[nodiscard]] bool version_supported(std::string_view version);

// Convert a plugin result (any supported version; "cniVersion" inside says which) to `to`.
// 0.1.0/0.2.0 results (ip4/ip6 objects) convert up to 0.3.0+ (interfaces-less ips); 0.3.x/0.4.0
// and 1.x differ in the per-IP "version" field ("4"/"6", dropped in 1.0.0, restored from the
// address family going down); 1.1.0-only fields are dropped going below 1.1.0. Errors name the
// versions and what did not fit.
[[nodiscard]] Result<nlohmann::json> convert_result(const nlohmann::json& result,
                                                    const std::string& to);

}  // namespace podnet::cni
