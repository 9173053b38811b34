#pragma once
// A small option parser: --long, --long=value, --long value, -x, -x value; "--" ends options.

#include <cstddef>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace podnet::cli {

struct OptionSpec {
    std::string_view name;  // without dashes: "name" for --name
    char short_name = 0;    // 'd' for -d, 0 for none
    bool takes_value = false;
};

struct ParsedArgs {
    std::map<std::string, std::vector<std::string>, std::less<>> options;
    std::vector<std::string> positionals;
    std::vector<std::string> rest;  // after "--", or after the last allowed positional

    [[nodiscard]] bool has(std::string_view name) const { return options.contains(name); }
    [[nodiscard]] std::string value(std::string_view name, std::string fallback = {}) const;
    [[nodiscard]] std::vector<std::string> values(std::string_view name) const;
};

// `max_positionals`: once that many positionals are seen, everything after goes to `rest`
// (so `podnet run SANDBOX cmd --flag` passes --flag to cmd).
[[nodiscard]] Result<ParsedArgs> parse_args(std::span<const std::string> args,
                                            std::span<const OptionSpec> specs,
                                            std::string_view command,
                                            size_t max_positionals = static_cast<size_t>(-1));

}  // namespace podnet::cli
