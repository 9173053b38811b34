#pragma once
// Small text helpers shared by the parsers' error messages.

#include <string>
#include <string_view>

namespace podnet {

// "text" in double quotes. Built by appending: `"\"" + std::string(text) + "\""` makes g++ 12
// at -O3 report a false -Wrestrict (GCC bug 105329), which fails Release builds with -Werror.
inline std::string quoted(std::string_view text) {
    std::string out;
    out.reserve(text.size() + 2);
    out += '"';
    out += text;
    out += '"';
    return out;
}

}  // namespace podnet
