#include "sandbox/capabilities.hpp"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bit>
#include <fstream>
#include <string>
#include <vector>

using podnet::capability_bit;
using podnet::CapabilitySet;

namespace {

CapabilitySet bits(std::initializer_list<int> caps) {
    CapabilitySet set = 0;
    for (int cap : caps) set |= capability_bit(cap);
    return set;
}

CapabilitySet resolve(const std::vector<std::string>& add, const std::vector<std::string>& drop) {
    auto set = podnet::resolve_capabilities(add, drop);
    if (!set) FAIL(set.error().message);
    return *set;
}

struct CapState {
    CapabilitySet effective = 0;
    CapabilitySet permitted = 0;
    CapabilitySet inheritable = 0;
};

CapState read_caps() {
    __user_cap_header_struct header{};
    header.version = _LINUX_CAPABILITY_VERSION_3;
    __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
    CapState state;
    if (::syscall(SYS_capget, &header, data) != 0) return state;
    for (int i = 0; i < _LINUX_CAPABILITY_U32S_3; ++i) {
        state.effective |= CapabilitySet{data[i].effective} << (32 * i);
        state.permitted |= CapabilitySet{data[i].permitted} << (32 * i);
        state.inheritable |= CapabilitySet{data[i].inheritable} << (32 * i);
    }
    return state;
}

CapabilitySet read_bounding(int last) {
    CapabilitySet set = 0;
    for (int cap = 0; cap <= last; ++cap) {
        if (::prctl(PR_CAPBSET_READ, cap, 0, 0, 0) == 1) set |= capability_bit(cap);
    }
    return set;
}

// Runs `body` in a forked child, which reports through its exit status (0 = all well, otherwise
// the number of the step that failed).
template <class Body>
int in_child(Body body) {
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) ::_exit(body());
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    REQUIRE(WIFEXITED(status));
    return WEXITSTATUS(status);
}

}  // namespace

TEST_CASE("capability names parse in every spelling and print canonically") {
    for (const char* spelling :
         {"NET_ADMIN", "CAP_NET_ADMIN", "net_admin", "cap_net_admin", "Net_Admin"}) {
        auto cap = podnet::capability_from_name(spelling);
        REQUIRE_MESSAGE(cap.has_value(), spelling);
        CHECK(*cap == CAP_NET_ADMIN);
    }
    CHECK(podnet::capability_name(CAP_NET_ADMIN) == "CAP_NET_ADMIN");
    CHECK(podnet::capability_name(CAP_CHOWN) == "CAP_CHOWN");
    CHECK(podnet::capability_name(CAP_CHECKPOINT_RESTORE) == "CAP_CHECKPOINT_RESTORE");
    CHECK(podnet::capability_name(62) == "CAP_62");

    // Every named capability survives the round trip.
    for (int cap = 0; cap <= CAP_LAST_CAP; ++cap) {
        auto back = podnet::capability_from_name(podnet::capability_name(cap));
        REQUIRE_MESSAGE(back.has_value(), podnet::capability_name(cap));
        CHECK(*back == cap);
    }
}

TEST_CASE("unknown capability names are errors that name them") {
    auto unknown = podnet::capability_from_name("NET_TELEPATHY");
    REQUIRE_FALSE(unknown.has_value());
    CHECK(unknown.error().message == "unknown capability \"NET_TELEPATHY\"");
    CHECK_FALSE(podnet::capability_from_name("").has_value());
    CHECK_FALSE(podnet::capability_from_name("CAP_").has_value());
    // "ALL" is a word of --cap-add/--cap-drop, not a capability.
    CHECK_FALSE(podnet::capability_from_name("ALL").has_value());
}

TEST_CASE("Docker's default set is exactly the 14") {
    const CapabilitySet defaults = podnet::docker_default_capabilities();
    CHECK(std::popcount(defaults) == 14);
    CHECK(defaults == bits({CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FSETID, CAP_FOWNER, CAP_MKNOD,
                            CAP_NET_RAW, CAP_SETGID, CAP_SETUID, CAP_SETFCAP, CAP_SETPCAP,
                            CAP_NET_BIND_SERVICE, CAP_SYS_CHROOT, CAP_KILL, CAP_AUDIT_WRITE}));
    CHECK(podnet::capability_names(defaults) ==
          std::vector<std::string>{"CAP_AUDIT_WRITE", "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER",
                                   "CAP_FSETID", "CAP_KILL", "CAP_MKNOD", "CAP_NET_BIND_SERVICE",
                                   "CAP_NET_RAW", "CAP_SETFCAP", "CAP_SETGID", "CAP_SETPCAP",
                                   "CAP_SETUID", "CAP_SYS_CHROOT"});
    CHECK(podnet::capability_names(0).empty());
}

TEST_CASE("last_capability and all_capabilities follow the running kernel") {
    const int last = podnet::last_capability();
    CHECK(last >= CAP_AUDIT_READ);  // every kernel podnet can run on knows at least this many
    CHECK(last < 64);
    CHECK(podnet::last_capability() == last);
    std::ifstream file("/proc/sys/kernel/cap_last_cap");
    int from_file = -1;
    if (file >> from_file) CHECK(last == from_file);

    const CapabilitySet all = podnet::all_capabilities();
    CHECK(std::popcount(all) == std::min(last, CAP_LAST_CAP) + 1);
    CHECK((all & podnet::docker_default_capabilities()) == podnet::docker_default_capabilities());
}

TEST_CASE("resolve_capabilities follows Docker's --cap-add/--cap-drop") {
    const CapabilitySet defaults = podnet::docker_default_capabilities();
    const CapabilitySet all = podnet::all_capabilities();

    CHECK(resolve({}, {}) == defaults);
    CHECK(resolve({"NET_ADMIN"}, {}) == (defaults | capability_bit(CAP_NET_ADMIN)));
    CHECK(resolve({"cap_net_admin", "SYS_TIME"}, {"net_raw", "CAP_MKNOD"}) ==
          ((defaults & ~bits({CAP_NET_RAW, CAP_MKNOD})) | bits({CAP_NET_ADMIN, CAP_SYS_TIME})));
    // Named in both lists: dropped first, then added back.
    CHECK(resolve({"NET_RAW"}, {"NET_RAW"}) == defaults);

    SUBCASE("drop ALL keeps only what is added") {
        CHECK(resolve({}, {"ALL"}) == 0);
        CHECK(resolve({"NET_ADMIN"}, {"ALL"}) == capability_bit(CAP_NET_ADMIN));
        CHECK(resolve({"NET_ADMIN", "NET_BIND_SERVICE"}, {"all", "CHOWN"}) ==
              bits({CAP_NET_ADMIN, CAP_NET_BIND_SERVICE}));
    }
    SUBCASE("add ALL is everything except what is dropped") {
        CHECK(resolve({"ALL"}, {}) == all);
        CHECK(resolve({"all"}, {"SYS_ADMIN"}) == (all & ~capability_bit(CAP_SYS_ADMIN)));
        // "ALL" in both: add wins, as in Docker.
        CHECK(resolve({"ALL"}, {"ALL"}) == all);
    }
    SUBCASE("unknown names say which list they came from") {
        auto bad_add = podnet::resolve_capabilities({"NET_ADMIN", "FLY"}, {});
        REQUIRE_FALSE(bad_add.has_value());
        CHECK(bad_add.error().message == "cap-add: unknown capability \"FLY\"");
        auto bad_drop = podnet::resolve_capabilities({}, {"SWIM"});
        REQUIRE_FALSE(bad_drop.has_value());
        CHECK(bad_drop.error().message == "cap-drop: unknown capability \"SWIM\"");
    }
}

TEST_CASE("child-side functions apply a set (unprivileged part)") {
    const int last = podnet::last_capability();  // cache before forking, as callers must
    // Works with or without privilege: nothing new to drop, and capabilities can always shrink.
    int step = in_child([&] {
        if (podnet::drop_bounding_capabilities(read_bounding(last)) != 0) return 1;
        if (podnet::set_process_capabilities(0) != 0) return 2;
        CapState now = read_caps();
        if (now.effective != 0 || now.permitted != 0 || now.inheritable != 0) return 3;
        if (podnet::clear_ambient_capabilities() != 0) return 4;
        if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, CAP_CHOWN, 0, 0) > 0) return 5;
        return 0;
    });
    CHECK(step == 0);
}

TEST_CASE("child-side functions apply a set (privileged part)") {
    const int last = podnet::last_capability();
    const CapState self = read_caps();
    if ((self.effective & capability_bit(CAP_SETPCAP)) == 0) {
        MESSAGE("needs CAP_SETPCAP; skipped");
        return;
    }
    const CapabilitySet keep = podnet::docker_default_capabilities();
    const CapabilitySet bounding_before = read_bounding(last);
    int step = in_child([&] {
        if (podnet::drop_bounding_capabilities(keep) != 0) return 1;
        if (read_bounding(last) != (bounding_before & keep)) return 2;
        if (podnet::set_process_capabilities(keep) != 0) return 3;
        CapState now = read_caps();
        CapabilitySet want = keep & self.permitted;
        if (now.effective != want || now.permitted != want || now.inheritable != want) return 4;
        if (podnet::clear_ambient_capabilities() != 0) return 5;
        // Gone from the bounding set means gone for good: capset cannot bring it back.
        if (podnet::set_process_capabilities(keep | capability_bit(CAP_SYS_ADMIN)) != -EPERM) {
            return 6;
        }
        return 0;
    });
    CHECK(step == 0);
}
