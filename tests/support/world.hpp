#pragma once
// The little world the network tests build inside their private namespaces: an "outside" host
// (a network namespace joined to the test's own by a veth: 192.168.200.0/24, fd00:200::/64),
// and pn-probe requests with retries. Nothing is sent anywhere else.

#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/support/command.hpp"

namespace podnet::test {

inline std::string probe() {
    return bin_dir() + "/pn-probe";
}

inline CommandResult sh(const std::string& command) {
    return run_command({"/bin/sh", "-c", command});
}

// `podnet --root ROOT sandbox create ARGS...`, which must succeed: the id.
inline std::string create_sandbox(const std::string& root, const std::vector<std::string>& args) {
    std::vector<std::string> all = {"sandbox", "create"};
    all.insert(all.end(), args.begin(), args.end());
    auto r = run_podnet(root, all);
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    return trim(r.out);
}

// `podnet --root ROOT sandbox inspect REF`, which must succeed, parsed.
inline nlohmann::json inspect_sandbox(const std::string& root, const std::string& ref) {
    auto r = run_podnet(root, {"sandbox", "inspect", ref});
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    return nlohmann::json::parse(r.out);
}

// The outside host, once per test binary run.
inline void ensure_outside() {
    static bool done = false;
    if (done) return;
    auto r =
        sh("ip netns add outside && ip link add ext0 type veth peer name eth0 netns outside && "
           "ip addr add 192.168.200.1/24 dev ext0 && ip addr add fd00:200::1/64 dev ext0 nodad && "
           "ip link set ext0 up && "
           "ip -n outside addr add 192.168.200.2/24 dev eth0 && "
           "ip -n outside addr add fd00:200::2/64 dev eth0 nodad && "
           "ip -n outside link set eth0 up && ip -n outside link set lo up && "
           "ip -n outside route add default via 192.168.200.1 && "
           "ip -n outside -6 route add default via fd00:200::1");
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    done = true;
}

inline std::vector<std::string> from_outside() {
    return {"/bin/ip", "netns", "exec", "outside"};
}

// One request, retried while the server may still be starting; the last output.
inline std::string fetch(const std::vector<std::string>& prefix, const std::string& proto,
                         const std::string& addr, int port, int attempts = 20) {
    std::string out;
    for (int i = 0; i < attempts; ++i) {
        std::vector<std::string> argv = prefix;
        for (const auto& a :
             {probe(), std::string("get"), proto, addr, std::to_string(port), std::string("300")})
            argv.push_back(a);
        auto r = run_command(argv);
        out = trim(r.out);
        if (r.exit_code == 0) return out;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return out;
}

}  // namespace podnet::test
