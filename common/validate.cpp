#include "common/validate.hpp"

namespace podnet {

namespace {

bool is_alnum(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}
bool is_lower_alnum(char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

// Kubernetes "qualified name" part: ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9], at most 63.
bool is_qualified_name_part(std::string_view s) {
    if (s.empty() || s.size() > 63) return false;
    if (!is_alnum(s.front()) || !is_alnum(s.back())) return false;
    for (char c : s)
        if (!is_alnum(c) && c != '-' && c != '_' && c != '.') return false;
    return true;
}

// RFC 1123 subdomain: dot-separated DNS labels, at most 253 characters.
bool is_dns_subdomain(std::string_view s) {
    if (s.empty() || s.size() > 253) return false;
    if (!is_lower_alnum(s.front()) || !is_lower_alnum(s.back())) return false;
    for (char c : s)
        if (!is_lower_alnum(c) && c != '-' && c != '.') return false;
    return true;
}

std::string quoted(std::string_view s) {
    std::string out = "\"";  // appended: see parse_prefix in ip.cpp (GCC bug 105329)
    out += s;
    out += '"';
    return out;
}

}  // namespace

Result<void> validate_name(std::string_view what, std::string_view name) {
    bool ok = !name.empty() && name.size() <= 63 && is_alnum(name.front());
    for (char c : name)
        if (!is_alnum(c) && c != '_' && c != '.' && c != '-') ok = false;
    if (!ok)
        return fail("invalid " + std::string(what) + " name " + quoted(name) +
                    ": must match [A-Za-z0-9][A-Za-z0-9_.-]{0,62}");
    return {};
}

Result<void> validate_namespace_name(std::string_view name) {
    bool ok = !name.empty() && name.size() <= 63 && is_lower_alnum(name.front()) &&
              is_lower_alnum(name.back());
    for (char c : name)
        if (!is_lower_alnum(c) && c != '-') ok = false;
    if (!ok)
        return fail("invalid namespace " + quoted(name) +
                    ": must be a DNS label (lowercase letters, digits and '-', at most 63)");
    return {};
}

Result<void> validate_label_key(std::string_view key) {
    std::string_view name = key;
    if (auto slash = key.find('/'); slash != std::string_view::npos) {
        std::string_view prefix = key.substr(0, slash);
        name = key.substr(slash + 1);
        if (!is_dns_subdomain(prefix))
            return fail("invalid label key " + quoted(key) +
                        ": prefix must be a DNS subdomain (lowercase, at most 253)");
    }
    if (!is_qualified_name_part(name))
        return fail("invalid label key " + quoted(key) +
                    ": name must be at most 63 of [A-Za-z0-9-_.], starting and ending "
                    "alphanumeric");
    return {};
}

Result<void> validate_label_value(std::string_view key, std::string_view value) {
    if (!value.empty() && !is_qualified_name_part(value))
        return fail("invalid value " + quoted(value) + " for label " + quoted(key) +
                    ": must be empty or at most 63 of [A-Za-z0-9-_.], starting and ending "
                    "alphanumeric");
    return {};
}

Result<std::pair<std::string, std::string>> parse_label(std::string_view text) {
    auto eq = text.find('=');
    if (eq == std::string_view::npos)
        return fail("invalid label " + quoted(text) + ": expected key=value");
    std::string key(text.substr(0, eq));
    std::string value(text.substr(eq + 1));
    if (auto r = validate_label_key(key); !r) return std::unexpected(r.error());
    if (auto r = validate_label_value(key, value); !r) return std::unexpected(r.error());
    return std::pair{key, value};
}

}  // namespace podnet
