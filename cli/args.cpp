#include "cli/args.hpp"

namespace podnet::cli {

std::string ParsedArgs::value(std::string_view name, std::string fallback) const {
    auto it = options.find(name);
    if (it == options.end() || it->second.empty()) return fallback;
    return it->second.back();
}

std::vector<std::string> ParsedArgs::values(std::string_view name) const {
    auto it = options.find(name);
    return it == options.end() ? std::vector<std::string>{} : it->second;
}

Result<ParsedArgs> parse_args(std::span<const std::string> args, std::span<const OptionSpec> specs,
                              std::string_view command, size_t max_positionals) {
    ParsedArgs out;
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string& arg = args[i];
        bool is_option = arg.size() >= 2 && arg[0] == '-';
        if (!is_option && out.positionals.size() >= max_positionals) {
            out.rest.assign(args.begin() + static_cast<ptrdiff_t>(i), args.end());
            break;
        }
        if (arg == "--") {
            out.rest.assign(args.begin() + static_cast<ptrdiff_t>(i) + 1, args.end());
            break;
        }
        if (arg.size() < 2 || arg[0] != '-') {
            out.positionals.push_back(arg);
            continue;
        }
        const OptionSpec* spec = nullptr;
        std::string inline_value;
        bool has_inline = false;
        if (arg.starts_with("--")) {
            std::string name = arg.substr(2);
            if (auto eq = name.find('='); eq != std::string::npos) {
                inline_value = name.substr(eq + 1);
                name = name.substr(0, eq);
                has_inline = true;
            }
            for (const auto& s : specs)
                if (s.name == name) spec = &s;
        } else if (arg.size() == 2) {
            for (const auto& s : specs)
                if (s.short_name == arg[1]) spec = &s;
        }
        if (spec == nullptr)
            return fail("unknown option " + arg + " for '" + std::string(command) + "'");
        std::string key(spec->name);
        if (!spec->takes_value) {
            if (has_inline) return fail("option --" + key + " takes no value");
            out.options[key].push_back("true");
            continue;
        }
        if (has_inline) {
            out.options[key].push_back(inline_value);
        } else {
            if (i + 1 >= args.size()) return fail("option " + arg + " needs a value");
            out.options[key].push_back(args[++i]);
        }
    }
    return out;
}

}  // namespace podnet::cli
