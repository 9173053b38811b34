#pragma once
// Helpers of the tests that drive netlink directly: unwrapping Results, addresses, fresh
// network namespaces held by an fd, files and socket addresses.

#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "common/ip.hpp"
#include "common/result.hpp"
#include "common/unique_fd.hpp"

namespace podnet::test {

template <class T>
T must(Result<T> result) {
    REQUIRE_MESSAGE(result.has_value(), result.error().message);
    return std::move(*result);
}

inline void must(const Result<void>& result) {
    REQUIRE_MESSAGE(result.has_value(), result.error().message);
}

inline IpAddress ip(const char* text) {
    return must(parse_ip(text));
}
inline IpPrefix prefix(const char* text) {
    return must(parse_prefix(text, false));
}

// A fresh network namespace: a thread unshares and hands back an fd to it; the namespace lives
// while the fd is open.
inline UniqueFd new_netns() {
    UniqueFd fd;
    int err = 0;
    std::thread([&] {
        if (::unshare(CLONE_NEWNET) != 0) {
            err = errno;
            return;
        }
        fd.reset(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
        if (!fd) err = errno;
    }).join();
    REQUIRE_MESSAGE(fd.valid(), std::strerror(err));
    return fd;
}

inline Result<std::string> read_text(const std::string& path) {
    std::ifstream in(path);
    if (!in) return fail_errno("open " + path, errno);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

inline sockaddr_storage socket_address(const IpAddress& address, uint16_t port, socklen_t& length) {
    sockaddr_storage out{};
    if (address.is_v4()) {
        auto* sin = reinterpret_cast<sockaddr_in*>(&out);
        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
        std::memcpy(&sin->sin_addr, address.bytes.data(), 4);
        length = sizeof(sockaddr_in);
    } else {
        auto* sin6 = reinterpret_cast<sockaddr_in6*>(&out);
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(port);
        std::memcpy(&sin6->sin6_addr, address.bytes.data(), 16);
        length = sizeof(sockaddr_in6);
    }
    return out;
}

inline IpAddress address_of(const sockaddr_storage& sa) {
    IpAddress out;
    out.family = sa.ss_family;
    if (sa.ss_family == AF_INET)
        std::memcpy(out.bytes.data(), &reinterpret_cast<const sockaddr_in&>(sa).sin_addr, 4);
    else
        std::memcpy(out.bytes.data(), &reinterpret_cast<const sockaddr_in6&>(sa).sin6_addr, 16);
    return out;
}

}  // namespace podnet::test
