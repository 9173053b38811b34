#include "netns/sysctl.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "common/unique_fd.hpp"
#include "netns/run_in_netns.hpp"

namespace podnet {

namespace {

// /proc/sys/... for a key; refuses keys that could leave /proc/sys.
Result<std::string> sysctl_path(const std::string& key) {
    if (key.empty()) return fail("sysctl key is empty");
    if (key.front() == '/' || key.front() == '.' || key.back() == '/' || key.back() == '.' ||
        key.find('\0') != std::string::npos)
        return fail("sysctl key " + key + ": not a valid key");
    std::string relative = key;
    if (key.find('/') == std::string::npos)
        std::replace(relative.begin(), relative.end(), '.', '/');
    // Every component must be a plain name: no "", ".", "..".
    size_t start = 0;
    while (start <= relative.size()) {
        size_t end = relative.find('/', start);
        if (end == std::string::npos) end = relative.size();
        std::string_view part(relative.data() + start, end - start);
        if (part.empty() || part == "." || part == "..")
            return fail("sysctl key " + key + ": not a valid key");
        start = end + 1;
    }
    return "/proc/sys/" + relative;
}

}  // namespace

Result<void> write_sysctl(const std::string& key, const std::string& value) {
    auto path = sysctl_path(key);
    if (!path) return std::unexpected(path.error());
    UniqueFd fd(::open(path->c_str(), O_WRONLY | O_CLOEXEC));
    if (!fd) return fail_errno("write sysctl " + key, errno);
    // One write(2): the kernel parses a sysctl value from a single write, so a value is never
    // split across calls.
    ssize_t n;
    do {
        n = ::write(fd.get(), value.data(), value.size());
    } while (n < 0 && errno == EINTR);
    if (n < 0) return fail_errno("write sysctl " + key + " = " + value, errno);
    if (static_cast<size_t>(n) != value.size())
        return fail("write sysctl " + key + " = " + value + ": short write");
    return {};
}

Result<std::string> read_sysctl(const std::string& key) {
    auto path = sysctl_path(key);
    if (!path) return std::unexpected(path.error());
    UniqueFd fd(::open(path->c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return fail_errno("read sysctl " + key, errno);
    std::string out;
    char buf[4096];
    for (;;) {
        ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return fail_errno("read sysctl " + key, errno);
        if (n == 0) break;
        out.append(buf, static_cast<size_t>(n));
    }
    while (!out.empty() && out.back() == '\n') out.pop_back();
    return out;
}

// Errors from inside already name the key; only a failure to enter the namespace needs it added.
Result<void> write_sysctl_in(int netns_fd, const std::string& key, const std::string& value) {
    bool entered = false;
    auto done = run_in_netns(netns_fd, [&] {
        entered = true;
        return write_sysctl(key, value);
    });
    if (!done && !entered) return wrap(done.error(), "write sysctl " + key);
    return done;
}

Result<std::string> read_sysctl_in(int netns_fd, const std::string& key) {
    bool entered = false;
    auto value = run_in_netns(netns_fd, [&] {
        entered = true;
        return read_sysctl(key);
    });
    if (!value && !entered) return wrap(value.error(), "read sysctl " + key);
    return value;
}

}  // namespace podnet
