#pragma once
// Recoverable errors are values: every fallible function returns Result<T> and adds context on
// the way up ("pin net namespace of pid 42 at /run/podnet/ns/x/net: Permission denied").

#include <cerrno>
#include <cstring>
#include <expected>
#include <string>
#include <string_view>
#include <utility>

namespace podnet {

struct Error {
    std::string message;

    // "context: message" — the caller says what it was doing, the callee said why it failed.
    [[nodiscard]] Error wrap(std::string_view context) const {
        return Error{std::string(context) + ": " + message};
    }
};

template <class T = void>
using Result = std::expected<T, Error>;

[[nodiscard]] inline std::unexpected<Error> fail(std::string message) {
    return std::unexpected(Error{std::move(message)});
}

// Pass errno captured on the line of the failing call: `fail_errno("open " + p, errno)`.
[[nodiscard]] inline std::unexpected<Error> fail_errno(std::string_view context, int err) {
    return std::unexpected(Error{std::string(context) + ": " + std::strerror(err)});
}

[[nodiscard]] inline std::unexpected<Error> wrap(const Error& e, std::string_view context) {
    return std::unexpected(e.wrap(context));
}

}  // namespace podnet
