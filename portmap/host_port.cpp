#include "portmap/host_port.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <charconv>
#include <cstring>
#include <fstream>
#include <sstream>

#include "common/unique_fd.hpp"

namespace podnet {

Result<HostPortRange> parse_ephemeral_range(std::string_view text) {
    unsigned first = 0, last = 0;
    const char* p = text.data();
    const char* end = text.data() + text.size();
    auto skip_space = [&] {
        while (p < end && (*p == ' ' || *p == '\t' || *p == '\n')) ++p;
    };
    skip_space();
    auto r1 = std::from_chars(p, end, first);
    if (r1.ec != std::errc{}) return fail("ip_local_port_range \"" + std::string(text) + "\"");
    p = r1.ptr;
    skip_space();
    auto r2 = std::from_chars(p, end, last);
    if (r2.ec != std::errc{}) return fail("ip_local_port_range \"" + std::string(text) + "\"");
    p = r2.ptr;
    skip_space();
    if (p != end || first == 0 || last > 65535 || first > last)
        return fail("ip_local_port_range \"" + std::string(text) + "\"");
    return HostPortRange{static_cast<uint16_t>(first), static_cast<uint16_t>(last)};
}

HostPortRange ephemeral_port_range() {
    std::ifstream in("/proc/sys/net/ipv4/ip_local_port_range");
    std::stringstream text;
    text << in.rdbuf();
    auto range = parse_ephemeral_range(text.str());
    return range ? *range : fallback_ephemeral_range;
}

std::optional<uint16_t> pick_port(const HostPortRange& range, uint16_t start,
                                  const std::function<bool(uint16_t)>& usable) {
    if (range.first == 0 || range.first > range.last) return std::nullopt;
    if (start < range.first || start > range.last) start = range.first;
    unsigned size = unsigned(range.last) - range.first + 1;
    for (unsigned i = 0; i < size; ++i) {
        auto port = static_cast<uint16_t>(range.first + (start - range.first + i) % size);
        if (usable(port)) return port;
    }
    return std::nullopt;
}

namespace {

// One bind attempt; true only for EADDRINUSE.
bool bind_in_use(int family, int type, const void* addr, socklen_t len, bool v6_only) {
    UniqueFd fd(::socket(family, type | SOCK_CLOEXEC, 0));
    if (!fd) return false;
    if (family == AF_INET6) {
        int on = v6_only ? 1 : 0;
        (void)::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on);
    }
    if (::bind(fd.get(), static_cast<const sockaddr*>(addr), len) == 0) return false;
    return errno == EADDRINUSE;
}

}  // namespace

bool host_port_bound(const PortMapping& mapping, uint16_t port) {
    int type = mapping.protocol == "udp" ? SOCK_DGRAM : SOCK_STREAM;
    bool want4 = !mapping.host_ip || mapping.host_ip->is_v4();
    bool want6 = !mapping.host_ip || mapping.host_ip->is_v6();
    if (want4) {
        sockaddr_in sa{};
        sa.sin_family = AF_INET;
        sa.sin_port = htons(port);
        if (mapping.host_ip) std::memcpy(&sa.sin_addr, mapping.host_ip->bytes.data(), 4);
        if (bind_in_use(AF_INET, type, &sa, sizeof sa, false)) return true;
    }
    if (want6) {
        sockaddr_in6 sa{};
        sa.sin6_family = AF_INET6;
        sa.sin6_port = htons(port);
        if (mapping.host_ip) std::memcpy(&sa.sin6_addr, mapping.host_ip->bytes.data(), 16);
        if (bind_in_use(AF_INET6, type, &sa, sizeof sa, true)) return true;
    }
    return false;
}

}  // namespace podnet
