#pragma once
// Picking a free host port for Docker's `-p 80`: from the kernel's ephemeral range, as Docker
// does (a port there is one no well-known service expects to own), skipping ports podnet has
// already mapped and ports a socket on the host is bound to.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.hpp"
#include "portmap/portmap.hpp"

namespace podnet {

struct HostPortRange {
    uint16_t first = 0;
    uint16_t last = 0;
    bool operator==(const HostPortRange&) const = default;
};

// Docker's fallback when the kernel's range cannot be read.
inline constexpr HostPortRange fallback_ephemeral_range{49153, 65535};

// The text of /proc/sys/net/ipv4/ip_local_port_range ("32768\t60999\n").
[[nodiscard]] Result<HostPortRange> parse_ephemeral_range(std::string_view text);
// The calling thread's network namespace's range (it is per namespace), or the fallback.
[[nodiscard]] HostPortRange ephemeral_port_range();

// The first port, walking from `start` up to `range.last` then from `range.first`, that
// `usable` accepts; nullopt when none does. `start` outside the range begins at `range.first`.
[[nodiscard]] std::optional<uint16_t> pick_port(const HostPortRange& range, uint16_t start,
                                                const std::function<bool(uint16_t)>& usable);

// Whether a socket of the mapping's protocol could not bind its host address and `port` in the
// calling thread's network namespace because one is already bound there (EADDRINUSE). Without
// a host address both families are tried. Any other failure (an address that is not local, no
// IPv6) says nothing, so it answers false: the DNAT takes the port either way, this only avoids
// shadowing a service the host runs.
[[nodiscard]] bool host_port_bound(const PortMapping& mapping, uint16_t port);

}  // namespace podnet
