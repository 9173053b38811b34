#pragma once
// Doing something inside another network namespace without moving the caller: a short-lived
// thread joins the namespace with setns(2), runs the function and ends. Only that thread ever
// changes namespace, so the rest of the process (and other threads) are unaffected.
//
// Sockets (netlink, UDP, TCP) and files under /proc/sys/net opened on that thread stay bound to
// the namespace they were opened in, so they can be handed back and used from any thread.

#include <sched.h>

#include <cerrno>
#include <exception>
#include <functional>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <type_traits>
#include <utility>

#include "common/result.hpp"

namespace podnet {

namespace detail {
template <class T>
inline constexpr bool is_result = false;
template <class T>
inline constexpr bool is_result<std::expected<T, Error>> = true;
}  // namespace detail

// Runs `fn()` (which returns a Result<T>) in the network namespace `netns_fd` (an fd of
// /proc/PID/ns/net or of a pin) and returns its result. A failing setns gives
// "enter network namespace: <reason>". An exception thrown by `fn` is rethrown in the caller.
template <class F>
[[nodiscard]] auto run_in_netns(int netns_fd, F&& fn) -> std::invoke_result_t<F&> {
    using R = std::invoke_result_t<F&>;
    static_assert(detail::is_result<R>, "run_in_netns: fn must return a podnet::Result<T>");
    std::optional<R> result;
    std::exception_ptr thrown;
    try {
        std::thread worker([&] {
            if (::setns(netns_fd, CLONE_NEWNET) != 0) {
                result.emplace(fail_errno("enter network namespace", errno));
                return;
            }
            try {
                result.emplace(std::invoke(fn));
            } catch (...) {
                thrown = std::current_exception();
            }
        });
        worker.join();
    } catch (const std::system_error& e) {
        // std::thread could not start (out of threads/memory): a recoverable condition.
        return fail("enter network namespace: start thread: " + std::string(e.what()));
    }
    if (thrown) std::rethrow_exception(thrown);
    return std::move(*result);
}

}  // namespace podnet
