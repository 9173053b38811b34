#pragma once
// Kernel parameters under /proc/sys. The net.* ones are per network namespace: the kernel
// resolves /proc/sys/net against the network namespace of the task that OPENS the file, so
// writing one inside a pod's namespace means opening it from a thread that has joined it.

#include <string>

#include "common/result.hpp"

namespace podnet {

// Keys are written as sysctl(8) does: "net.ipv4.ip_forward" is /proc/sys/net/ipv4/ip_forward.
// A key containing '/' is taken as a path below /proc/sys as is, for names that contain dots
// ("net/ipv4/conf/eth0.100/forwarding"). Errors name the key:
// "write sysctl net.ipv4.ip_forward: Permission denied".

// In the caller's (thread's) network namespace.
[[nodiscard]] Result<void> write_sysctl(const std::string& key, const std::string& value);
// The value without its trailing newline.
[[nodiscard]] Result<std::string> read_sysctl(const std::string& key);

// The same inside the network namespace `netns_fd`, from a short-lived thread that joins it
// (see run_in_netns.hpp); the caller's thread never changes namespace.
[[nodiscard]] Result<void> write_sysctl_in(int netns_fd, const std::string& key,
                                           const std::string& value);
[[nodiscard]] Result<std::string> read_sysctl_in(int netns_fd, const std::string& key);

}  // namespace podnet
