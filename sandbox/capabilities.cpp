#include "sandbox/capabilities.hpp"

#include <fcntl.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <charconv>

#include "common/unique_fd.hpp"

namespace podnet {

namespace {

struct CapabilityName {
    int number;
    std::string_view name;  // without the "CAP_" prefix
};

constexpr CapabilityName kCapabilities[] = {
    {CAP_CHOWN, "CHOWN"},
    {CAP_DAC_OVERRIDE, "DAC_OVERRIDE"},
    {CAP_DAC_READ_SEARCH, "DAC_READ_SEARCH"},
    {CAP_FOWNER, "FOWNER"},
    {CAP_FSETID, "FSETID"},
    {CAP_KILL, "KILL"},
    {CAP_SETGID, "SETGID"},
    {CAP_SETUID, "SETUID"},
    {CAP_SETPCAP, "SETPCAP"},
    {CAP_LINUX_IMMUTABLE, "LINUX_IMMUTABLE"},
    {CAP_NET_BIND_SERVICE, "NET_BIND_SERVICE"},
    {CAP_NET_BROADCAST, "NET_BROADCAST"},
    {CAP_NET_ADMIN, "NET_ADMIN"},
    {CAP_NET_RAW, "NET_RAW"},
    {CAP_IPC_LOCK, "IPC_LOCK"},
    {CAP_IPC_OWNER, "IPC_OWNER"},
    {CAP_SYS_MODULE, "SYS_MODULE"},
    {CAP_SYS_RAWIO, "SYS_RAWIO"},
    {CAP_SYS_CHROOT, "SYS_CHROOT"},
    {CAP_SYS_PTRACE, "SYS_PTRACE"},
    {CAP_SYS_PACCT, "SYS_PACCT"},
    {CAP_SYS_ADMIN, "SYS_ADMIN"},
    {CAP_SYS_BOOT, "SYS_BOOT"},
    {CAP_SYS_NICE, "SYS_NICE"},
    {CAP_SYS_RESOURCE, "SYS_RESOURCE"},
    {CAP_SYS_TIME, "SYS_TIME"},
    {CAP_SYS_TTY_CONFIG, "SYS_TTY_CONFIG"},
    {CAP_MKNOD, "MKNOD"},
    {CAP_LEASE, "LEASE"},
    {CAP_AUDIT_WRITE, "AUDIT_WRITE"},
    {CAP_AUDIT_CONTROL, "AUDIT_CONTROL"},
    {CAP_SETFCAP, "SETFCAP"},
    {CAP_MAC_OVERRIDE, "MAC_OVERRIDE"},
    {CAP_MAC_ADMIN, "MAC_ADMIN"},
    {CAP_SYSLOG, "SYSLOG"},
    {CAP_WAKE_ALARM, "WAKE_ALARM"},
    {CAP_BLOCK_SUSPEND, "BLOCK_SUSPEND"},
    {CAP_AUDIT_READ, "AUDIT_READ"},
    {CAP_PERFMON, "PERFMON"},
    {CAP_BPF, "BPF"},
    {CAP_CHECKPOINT_RESTORE, "CHECKPOINT_RESTORE"},
};

// The table is indexed by capability number below.
constexpr bool table_is_dense() {
    for (size_t i = 0; i < std::size(kCapabilities); ++i) {
        if (kCapabilities[i].number != static_cast<int>(i)) return false;
    }
    return true;
}
static_assert(table_is_dense());
static_assert(std::size(kCapabilities) <= 64);

constexpr int kHighestNamed = static_cast<int>(std::size(kCapabilities)) - 1;

// Written by last_capability() in the parent, read by the child-side functions after fork.
std::atomic<int> g_last_cap{-1};

bool equals_ignore_case(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::toupper(static_cast<unsigned char>(x)) ==
                      std::toupper(static_cast<unsigned char>(y));
           });
}

int read_cap_last_cap_file() {
    UniqueFd fd(::open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC));
    if (!fd) return -1;
    char buf[16];
    ssize_t n;
    do {
        n = ::read(fd.get(), buf, sizeof buf);
    } while (n < 0 && errno == EINTR);
    if (n <= 0) return -1;
    int value = -1;
    auto [end, ec] = std::from_chars(buf, buf + n, value);
    if (ec != std::errc() || value < 0 || value > 63) return -1;
    return value;
}

// PR_CAPBSET_READ fails with EINVAL past the kernel's last capability; no file access needed.
int probe_last_capability() {
    int cap = 0;
    while (cap < 64 && ::syscall(SYS_prctl, PR_CAPBSET_READ, static_cast<unsigned long>(cap), 0UL,
                                 0UL, 0UL) >= 0) {
        ++cap;
    }
    return cap - 1;
}

CapabilitySet capabilities_up_to(int last) {
    if (last < 0) return 0;
    if (last >= 63) return ~CapabilitySet{0};
    return (CapabilitySet{1} << (last + 1)) - 1;
}

Result<CapabilitySet> parse_list(const std::vector<std::string>& names, std::string_view what,
                                 bool& saw_all) {
    CapabilitySet set = 0;
    for (const auto& name : names) {
        if (equals_ignore_case(name, "ALL")) {
            saw_all = true;
            continue;
        }
        auto cap = capability_from_name(name);
        if (!cap) return wrap(cap.error(), what);
        set |= capability_bit(*cap);
    }
    return set;
}

}  // namespace

Result<int> capability_from_name(std::string_view name) {
    if (name.empty()) return fail("empty capability name");
    std::string_view bare = name;
    if (bare.size() > 4 && equals_ignore_case(bare.substr(0, 4), "CAP_")) bare.remove_prefix(4);
    for (const auto& cap : kCapabilities) {
        if (equals_ignore_case(bare, cap.name)) return cap.number;
    }
    return fail("unknown capability \"" + std::string(name) + "\"");
}

std::string capability_name(int cap) {
    if (cap >= 0 && cap <= kHighestNamed) return "CAP_" + std::string(kCapabilities[cap].name);
    return "CAP_" + std::to_string(cap);
}

std::vector<std::string> capability_names(CapabilitySet set) {
    std::vector<std::string> names;
    for (int cap = 0; cap < 64; ++cap) {
        if (set & capability_bit(cap)) names.push_back(capability_name(cap));
    }
    std::sort(names.begin(), names.end());
    return names;
}

CapabilitySet docker_default_capabilities() {
    constexpr int kDefaults[] = {
        CAP_CHOWN,   CAP_DAC_OVERRIDE, CAP_FSETID,           CAP_FOWNER,
        CAP_MKNOD,   CAP_NET_RAW,      CAP_SETGID,           CAP_SETUID,
        CAP_SETFCAP, CAP_SETPCAP,      CAP_NET_BIND_SERVICE, CAP_SYS_CHROOT,
        CAP_KILL,    CAP_AUDIT_WRITE,
    };
    CapabilitySet set = 0;
    for (int cap : kDefaults) set |= capability_bit(cap);
    return set;
}

CapabilitySet all_capabilities() {
    return capabilities_up_to(std::min(last_capability(), kHighestNamed));
}

Result<CapabilitySet> resolve_capabilities(const std::vector<std::string>& add,
                                           const std::vector<std::string>& drop) {
    bool add_all = false;
    bool drop_all = false;
    auto added = parse_list(add, "cap-add", add_all);
    if (!added) return std::unexpected(added.error());
    auto dropped = parse_list(drop, "cap-drop", drop_all);
    if (!dropped) return std::unexpected(dropped.error());

    if (add_all) return all_capabilities() & ~*dropped;
    if (drop_all) return *added;
    return (docker_default_capabilities() & ~*dropped) | *added;
}

int last_capability() {
    int cached = g_last_cap.load(std::memory_order_acquire);
    if (cached >= 0) return cached;
    int last = read_cap_last_cap_file();
    if (last < 0) last = probe_last_capability();
    if (last < 0) last = CAP_LAST_CAP;
    g_last_cap.store(last, std::memory_order_release);
    return last;
}

int drop_bounding_capabilities(CapabilitySet keep) {
    int last = g_last_cap.load(std::memory_order_acquire);
    for (int cap = 0; cap < 64; ++cap) {
        if (last >= 0 && cap > last) break;
        long present =
            ::syscall(SYS_prctl, PR_CAPBSET_READ, static_cast<unsigned long>(cap), 0UL, 0UL, 0UL);
        if (present < 0) {
            // Without a cached last capability, EINVAL is how the kernel says we are past it.
            if (errno == EINVAL && last < 0) break;
            return -errno;
        }
        if (present == 0 || (keep & capability_bit(cap)) != 0) continue;
        if (::syscall(SYS_prctl, PR_CAPBSET_DROP, static_cast<unsigned long>(cap), 0UL, 0UL, 0UL) !=
            0) {
            return -errno;
        }
    }
    return 0;
}

int set_process_capabilities(CapabilitySet keep) {
    // Bits the kernel does not know would make capset fail; they cannot be held anyway.
    int last = g_last_cap.load(std::memory_order_acquire);
    if (last >= 0) keep &= capabilities_up_to(last);

    __user_cap_header_struct header{};
    header.version = _LINUX_CAPABILITY_VERSION_3;
    header.pid = 0;
    __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
    for (int i = 0; i < _LINUX_CAPABILITY_U32S_3; ++i) {
        auto word = static_cast<uint32_t>(keep >> (32 * i));
        data[i].effective = word;
        data[i].permitted = word;
        data[i].inheritable = word;
    }
    if (::syscall(SYS_capset, &header, data) != 0) return -errno;
    return 0;
}

int clear_ambient_capabilities() {
    if (::syscall(SYS_prctl, PR_CAP_AMBIENT, static_cast<unsigned long>(PR_CAP_AMBIENT_CLEAR_ALL),
                  0UL, 0UL, 0UL) != 0) {
        // Before Linux 4.3 PR_CAP_AMBIENT is unknown (EINVAL), and there is nothing to clear.
        if (errno == EINVAL) return 0;
        return -errno;
    }
    return 0;
}

}  // namespace podnet
