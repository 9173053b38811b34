#pragma once
// The udp backend (udp_backend.cpp): a TUN device and podnet's userspace forwarder.

#include <memory>

#include "overlay/backend.hpp"

namespace podnet::overlay {

inline constexpr const char* udp_tun_name = "podnet-udp0";

[[nodiscard]] std::unique_ptr<OverlayBackend> make_udp_backend(const OverlayConfig& config,
                                                               const LocalNode& local,
                                                               NetlinkSocket& netlink);

}  // namespace podnet::overlay
