#include "network/ipam.hpp"

#include <doctest/doctest.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <set>
#include <string>
#include <vector>

#include "common/fs.hpp"
#include "common/ip.hpp"
#include "tests/support/command.hpp"
#include "tests/support/temp_dir.hpp"

using namespace podnet;

using podnet::test::TempDir;

namespace {

IpAddress ip(const std::string& text) {
    auto a = parse_ip(text);
    REQUIRE_MESSAGE(a, text);
    return *a;
}

IpamRange range(const std::string& subnet, const std::string& gateway) {
    auto s = parse_prefix(subnet, true);
    REQUIRE_MESSAGE(s, subnet);
    return IpamRange{*s, ip(gateway)};
}

// A sandbox-id-like owner: 64 characters, distinct per n in its first 12.
std::string sandbox(int n) {
    std::string id = std::to_string(n);
    return id + std::string(64 - id.size(), 'f');
}

std::string allocate(Ipam& ipam, const IpamRange& r, const std::string& owner) {
    auto a = ipam.allocate(r, owner);
    REQUIRE_MESSAGE(a, (a ? "" : a.error().message));
    return a->str();
}

std::string allocate_error(Ipam& ipam, const IpamRange& r, const std::string& owner) {
    auto a = ipam.allocate(r, owner);
    REQUIRE_FALSE_MESSAGE(a, (a ? a->str() : ""));
    return a.error().message;
}

std::string static_error(Ipam& ipam, const IpamRange& r, const std::string& address,
                         const std::string& owner) {
    auto a = ipam.allocate_static(r, ip(address), owner);
    REQUIRE_FALSE_MESSAGE(a, (a ? a->str() : ""));
    return a.error().message;
}

std::vector<Allocation> list(const Ipam& ipam) {
    auto all = ipam.list();
    REQUIRE_MESSAGE(all, (all ? "" : all.error().message));
    return *all;
}

std::string file_of(const TempDir& dir) {
    auto text = read_file(dir.path + "/test.json");
    REQUIRE_MESSAGE(text, (text ? "" : text.error().message));
    return *text;
}

}  // namespace

TEST_CASE("addresses are handed out in order, skipping the network and the gateway") {
    TempDir dir("pn-ipam");
    Ipam ipam(dir.path + "/ipam", "test");  // the directory is created on first use
    auto r = range("10.77.0.0/24", "10.77.0.1");
    CHECK(allocate(ipam, r, "a") == "10.77.0.2");
    CHECK(allocate(ipam, r, "b") == "10.77.0.3");
    CHECK(allocate(ipam, r, "c") == "10.77.0.4");
    auto all = list(ipam);
    REQUIRE(all.size() == 3);
    CHECK(all[0].address == ip("10.77.0.2"));
    CHECK(all[0].owner == "a");
    CHECK(all[2].owner == "c");
    CHECK(path_exists(dir.path + "/ipam/test.json"));
    CHECK(path_exists(dir.path + "/ipam/test.lock"));
}

TEST_CASE("a released address is not handed out again at once, only after wrapping around") {
    TempDir dir("pn-ipam");
    Ipam ipam(dir.path, "test");
    // .0 network, .1 gateway, .7 broadcast: .2 to .6 usable.
    auto r = range("10.77.0.0/29", "10.77.0.1");
    CHECK(allocate(ipam, r, "a") == "10.77.0.2");
    CHECK(allocate(ipam, r, "b") == "10.77.0.3");
    REQUIRE(ipam.release("a"));
    CHECK(allocate(ipam, r, "c") == "10.77.0.4");  // not .2
    REQUIRE(ipam.release("c"));
    CHECK(allocate(ipam, r, "d") == "10.77.0.5");
    CHECK(allocate(ipam, r, "e") == "10.77.0.6");
    // The end of the subnet: back to the start, where .2 is free again; then on to .4.
    CHECK(allocate(ipam, r, "f") == "10.77.0.2");
    CHECK(allocate(ipam, r, "g") == "10.77.0.4");
    CHECK(list(ipam).size() == 5);
}

TEST_CASE("reserved addresses are never handed out") {
    TempDir dir("pn-ipam");
    Ipam ipam(dir.path, "test");
    SUBCASE("/30: one address besides the gateway") {
        auto r = range("10.77.0.0/30", "10.77.0.1");
        CHECK(allocate(ipam, r, "a") == "10.77.0.2");
        CHECK(allocate_error(ipam, r, "b") == "subnet 10.77.0.0/30 of network test is exhausted");
    }
    SUBCASE("/28 with the gateway in the middle: all but network, gateway and broadcast") {
        auto r = range("10.77.0.0/28", "10.77.0.9");
        std::set<std::string> got;
        for (int i = 0; i < 13; ++i) got.insert(allocate(ipam, r, sandbox(i)));
        CHECK(got.size() == 13);
        CHECK_FALSE(got.contains("10.77.0.0"));
        CHECK_FALSE(got.contains("10.77.0.9"));
        CHECK_FALSE(got.contains("10.77.0.15"));
        CHECK(allocate_error(ipam, r, "x") == "subnet 10.77.0.0/28 of network test is exhausted");
    }
    SUBCASE("/31 and /32 have nothing to hand out") {
        CHECK(allocate_error(ipam, range("10.77.0.0/31", "10.77.0.1"), "a") ==
              "subnet 10.77.0.0/31 of network test is exhausted");
        CHECK(allocate_error(ipam, range("10.77.0.5/32", "10.77.0.5"), "a") ==
              "subnet 10.77.0.5/32 of network test is exhausted");
    }
    SUBCASE("IPv6: the subnet-router anycast and the gateway, but not the last address") {
        auto r = range("fd77::/126", "fd77::1");
        CHECK(allocate(ipam, r, "a") == "fd77::2");
        CHECK(allocate(ipam, r, "b") == "fd77::3");
        CHECK(allocate_error(ipam, r, "c") == "subnet fd77::/126 of network test is exhausted");
    }
}

TEST_CASE("exhaustion adds nothing") {
    TempDir dir("pn-ipam");
    Ipam ipam(dir.path, "test");
    auto r = range("10.77.0.0/29", "10.77.0.6");
    for (int i = 0; i < 5; ++i) (void)allocate(ipam, r, sandbox(i));
    std::string before = file_of(dir);
    CHECK(allocate_error(ipam, r, "late") == "subnet 10.77.0.0/29 of network test is exhausted");
    CHECK(file_of(dir) == before);
    CHECK(list(ipam).size() == 5);
    // Room again after a release.
    REQUIRE(ipam.release(sandbox(2)));
    CHECK(allocate(ipam, r, "late") == "10.77.0.3");
}

TEST_CASE("static addresses: inside the subnet, not reserved, not taken") {
    TempDir dir("pn-ipam");
    Ipam ipam(dir.path, "test");
    auto r = range("10.77.0.0/16", "10.77.0.1");
    std::string holder = sandbox(7);

    auto got = ipam.allocate_static(r, ip("10.77.0.9"), holder);
    REQUIRE(got);
    CHECK(got->str() == "10.77.0.9");
    // The same request again is fine (a retried create).
    got = ipam.allocate_static(r, ip("10.77.0.9"), holder);
    REQUIRE(got);
    CHECK(got->str() == "10.77.0.9");

    CHECK(static_error(ipam, r, "10.1.0.5", "b") ==
          "address 10.1.0.5 is outside subnet 10.77.0.0/16 of network test");
    CHECK(static_error(ipam, r, "fd77::5", "b") ==
          "address fd77::5 is outside subnet 10.77.0.0/16 of network test");
    CHECK(static_error(ipam, r, "10.77.0.1", "b") ==
          "address 10.77.0.1 is the gateway address of network test");
    CHECK(static_error(ipam, r, "10.77.0.0", "b") ==
          "address 10.77.0.0 is the network address of network test");
    CHECK(static_error(ipam, r, "10.77.255.255", "b") ==
          "address 10.77.255.255 is the broadcast address of network test");
    CHECK(static_error(ipam, r, "10.77.0.9", "b") ==
          "address 10.77.0.9 is already in use by sandbox " + holder.substr(0, 12));
    // One address per sandbox and subnet.
    CHECK(static_error(ipam, r, "10.77.0.10", holder) ==
          "sandbox " + holder.substr(0, 12) + " already holds address 10.77.0.9 of network test");

    auto r6 = range("fd77::/64", "fd77::1");
    CHECK(static_error(ipam, r6, "fd77::", "b") ==
          "address fd77:: is the network address of network test");
    CHECK(static_error(ipam, r6, "fd77::1", "b") ==
          "address fd77::1 is the gateway address of network test");
    // IPv6 has no broadcast: the last address is an ordinary one.
    CHECK(ipam.allocate_static(r6, ip("fd77::ffff:ffff:ffff:ffff"), "b"));

    CHECK(list(ipam).size() == 2);
}

TEST_CASE("a static address neither moves the cursor nor is handed out again") {
    TempDir dir("pn-ipam");
    Ipam ipam(dir.path, "test");
    auto r = range("10.77.0.0/24", "10.77.0.1");
    REQUIRE(ipam.allocate_static(r, ip("10.77.0.4"), "s"));
    CHECK(allocate(ipam, r, "a") == "10.77.0.2");
    CHECK(allocate(ipam, r, "b") == "10.77.0.3");
    CHECK(allocate(ipam, r, "c") == "10.77.0.5");
}

TEST_CASE("an owner that holds an address gets the same one back") {
    TempDir dir("pn-ipam");
    Ipam ipam(dir.path, "test");
    auto r = range("10.77.0.0/24", "10.77.0.1");
    auto r6 = range("fd77::/64", "fd77::1");
    CHECK(allocate(ipam, r, "a") == "10.77.0.2");
    CHECK(allocate(ipam, r, "b") == "10.77.0.3");
    CHECK(allocate(ipam, r, "a") == "10.77.0.2");
    CHECK(allocate(ipam, r6, "a") == "fd77::2");
    CHECK(allocate(ipam, r6, "a") == "fd77::2");
    // A static holder asking dynamically keeps what it has.
    REQUIRE(ipam.allocate_static(r, ip("10.77.0.50"), "s"));
    CHECK(allocate(ipam, r, "s") == "10.77.0.50");
    CHECK(list(ipam).size() == 4);
}

TEST_CASE("dual stack: both families in one file, with a cursor each") {
    TempDir dir("pn-ipam");
    Ipam ipam(dir.path, "test");
    auto r4 = range("10.77.0.0/24", "10.77.0.1");
    auto r6 = range("fd77::/64", "fd77::1");
    CHECK(allocate(ipam, r6, "a") == "fd77::2");
    CHECK(allocate(ipam, r4, "a") == "10.77.0.2");
    CHECK(allocate(ipam, r4, "b") == "10.77.0.3");
    CHECK(allocate(ipam, r4, "c") == "10.77.0.4");
    CHECK(allocate(ipam, r6, "b") == "fd77::3");

    std::string text = file_of(dir);
    CHECK(text.find("\"10.77.0.2\"") != std::string::npos);
    CHECK(text.find("\"fd77::2\"") != std::string::npos);
    CHECK(text.find("\"10.77.0.0/24\":\"10.77.0.4\"") != std::string::npos);
    CHECK(text.find("\"fd77::/64\":\"fd77::3\"") != std::string::npos);

    auto all = list(ipam);
    REQUIRE(all.size() == 5);
    CHECK(all[0].address.is_v4());  // IPv4 first, then by address
    CHECK(all[3].address == ip("fd77::2"));
    CHECK(all[4].address == ip("fd77::3"));

    REQUIRE(ipam.release("a"));
    all = list(ipam);
    REQUIRE(all.size() == 3);
    for (const auto& a : all) CHECK(a.owner != "a");
}

TEST_CASE("allocations and cursors persist across Ipam objects") {
    TempDir dir("pn-ipam");
    auto r = range("10.77.0.0/24", "10.77.0.1");
    {
        Ipam ipam(dir.path, "test");
        CHECK(allocate(ipam, r, "a") == "10.77.0.2");
        CHECK(allocate(ipam, r, "b") == "10.77.0.3");
        REQUIRE(ipam.release("b"));
    }
    Ipam again(dir.path, "test");
    auto all = list(again);
    REQUIRE(all.size() == 1);
    CHECK(all[0].owner == "a");
    CHECK(allocate(again, r, "c") == "10.77.0.4");  // the cursor was saved too
    CHECK(allocate(again, r, "a") == "10.77.0.2");
    // Another network in the same directory is separate.
    Ipam other(dir.path, "other");
    CHECK(list(other).empty());
    CHECK(allocate(other, r, "z") == "10.77.0.2");
}

TEST_CASE("release and release_all_except") {
    TempDir dir("pn-ipam");
    Ipam ipam(dir.path, "test");
    auto r4 = range("10.77.0.0/24", "10.77.0.1");
    auto r6 = range("fd77::/64", "fd77::1");
    for (const char* owner : {"a", "b", "c"}) {
        (void)allocate(ipam, r4, owner);
        (void)allocate(ipam, r6, owner);
    }
    REQUIRE(ipam.release("nobody"));  // nothing held is fine

    auto freed = ipam.release_all_except({"b", "unrelated"});
    REQUIRE(freed);
    REQUIRE(freed->size() == 4);
    std::set<std::string> what;
    for (const auto& a : *freed) what.insert(a.owner + "=" + a.address.str());
    CHECK(what == std::set<std::string>{"a=10.77.0.2", "a=fd77::2", "c=10.77.0.4", "c=fd77::4"});
    auto all = list(ipam);
    REQUIRE(all.size() == 2);
    CHECK(all[0].owner == "b");
    CHECK(all[1].owner == "b");

    freed = ipam.release_all_except({"b"});
    REQUIRE(freed);
    CHECK(freed->empty());

    REQUIRE(ipam.release("b"));
    REQUIRE(ipam.release("b"));
    CHECK(list(ipam).empty());
}

TEST_CASE("a network never used has nothing, and reading it creates no files") {
    TempDir dir("pn-ipam");
    Ipam ipam(dir.path + "/ipam", "test");
    CHECK(list(ipam).empty());
    REQUIRE(ipam.release("a"));
    auto freed = ipam.release_all_except({});
    REQUIRE(freed);
    CHECK(freed->empty());
    REQUIRE(ipam.remove_all());
    CHECK_FALSE(path_exists(dir.path + "/ipam"));
}

TEST_CASE("remove_all removes the network's files and only those") {
    TempDir dir("pn-ipam");
    Ipam ipam(dir.path, "test");
    Ipam other(dir.path, "test.json");  // a name made to look like test's files
    auto r = range("10.77.0.0/24", "10.77.0.1");
    (void)allocate(ipam, r, "a");
    (void)allocate(other, r, "a");
    // Leftovers of a write that died half-way.
    REQUIRE(write_file_atomic(dir.path + "/test.json.4242.tmp", "{"));
    REQUIRE(write_file_atomic(dir.path + "/test.json.json.4242.tmp", "{"));

    REQUIRE(ipam.remove_all());
    auto names = list_dir(dir.path);
    REQUIRE(names);
    CHECK(std::set<std::string>(names->begin(), names->end()) ==
          std::set<std::string>{"test.json.json", "test.json.lock", "test.json.json.4242.tmp"});
    CHECK(list(ipam).empty());
    CHECK(list(other).size() == 1);
    REQUIRE(ipam.remove_all());  // again: nothing left is fine
    // Usable again afterwards, from scratch.
    CHECK(allocate(ipam, r, "b") == "10.77.0.2");
}

TEST_CASE("a corrupt file is an error naming it, and is left alone") {
    TempDir dir("pn-ipam");
    Ipam ipam(dir.path, "test");
    auto r = range("10.77.0.0/24", "10.77.0.1");
    std::string path = dir.path + "/test.json";
    struct Case {
        const char* text;
        const char* why;
    };
    for (auto [text, why] : {
             Case{"{\"version\":1,\"allocations\":{\"10.77.0.2\":\"a\"", "expected ',' or '}'"},
             Case{"", "expected '{' at end of file"},
             Case{"garbage", "expected '{' at byte 0"},
             Case{"[]", "expected '{' at byte 0"},
             Case{"{\"allocations\":{}}", "no \"version\""},
             Case{"{\"version\":1}", "no \"allocations\""},
             Case{"{\"version\":2,\"allocations\":{}}", "unsupported version 2"},
             Case{"{\"version\":1.5,\"allocations\":{}}", "expected an integer"},
             Case{"{\"version\":1,\"allocations\":[]}", "expected '{'"},
             Case{"{\"version\":1,\"allocations\":{\"10.77.0.300\":\"a\"}}",
                  "invalid IP address \"10.77.0.300\""},
             Case{"{\"version\":1,\"allocations\":{\"10.77.0.2\":7}}", "expected '\"'"},
             Case{"{\"version\":1,\"allocations\":{\"10.77.0.2\":\"\"}}", "empty owner"},
             Case{"{\"version\":1,\"allocations\":{\"10.77.0.2\":\"a\",\"10.77.0.2\":\"b\"}}",
                  "address 10.77.0.2 is allocated twice"},
             Case{"{\"version\":1,\"allocations\":{}} x", "trailing data"},
             Case{"{\"version\":1,\"version\":1,\"allocations\":{}}", "duplicate key \"version\""},
             Case{"{\"version\":1,\"allocations\":{\"10.77.0.2\":\"a\\q\"}}", "invalid escape"},
             Case{"{\"version\":1,\"allocations\":{\"10.77.0.2\":\"a\nb\"}}",
                  "control character in string"},
             Case{"{\"version\":1,\"allocations\":{\"10.77.0.2\":\"\\ud800\"}}",
                  "lone high surrogate"},
             Case{"{\"version\":1,\"allocations\":{},\"x\":[1,}", "expected a value"},
         }) {
        CAPTURE(text);
        REQUIRE(write_file_atomic(path, text));
        std::string prefix = "IPAM state " + path + " is corrupt: ";
        auto a = ipam.allocate(r, "z");
        REQUIRE_FALSE(a);
        CHECK(a.error().message.starts_with(prefix));
        CHECK(a.error().message.find(why) != std::string::npos);
        CHECK(a.error().message.find('\n') == std::string::npos);
        auto all = ipam.list();
        REQUIRE_FALSE(all);
        CHECK(all.error().message.starts_with(prefix));
        CHECK_FALSE(ipam.release("a"));
        CHECK_FALSE(ipam.allocate_static(r, ip("10.77.0.9"), "z"));
        CHECK(file_of(dir) == text);
    }
}

TEST_CASE("any JSON spelling of the file is read, and what it does not know is kept intact") {
    TempDir dir("pn-ipam");
    Ipam ipam(dir.path, "test");
    auto r = range("10.77.0.0/24", "10.77.0.1");
    // Pretty-printed, escaped, out of order, with keys of some later podnet.
    REQUIRE(write_file_atomic(dir.path + "/test.json", R"( {
        "later": [1, -2.5e3, {"x": null, "y": [true, false]}, "\u00e9\ud83d\ude00"],
        "allocations": {
            "10.77.0.5": "own\u0065r-\"q\"\\",
            "fd77:0::2": "six",
            "\u0031\u0030.77.0.3": "esc-key"
        },
        "last_allocated": {"10.77.0.0/24": "10.77.0.5"},
        "version": 1
    } )"));
    auto all = list(ipam);
    REQUIRE(all.size() == 3);
    CHECK(all[0].address == ip("10.77.0.3"));
    CHECK(all[0].owner == "esc-key");
    CHECK(all[1].address == ip("10.77.0.5"));
    CHECK(all[1].owner == "owner-\"q\"\\");
    CHECK(all[2].address == ip("fd77::2"));
    CHECK(allocate(ipam, r, "owner-\"q\"\\") == "10.77.0.5");  // escaped owners compare decoded
    CHECK(allocate(ipam, r, "new") == "10.77.0.6");            // after the saved cursor
    // Written back as read: still the same allocations.
    all = list(ipam);
    REQUIRE(all.size() == 4);
    CHECK(all[1].owner == "owner-\"q\"\\");
    CHECK(file_of(dir).find(
              R"("later":[1, -2.5e3, {"x": null, "y": [true, false]}, "\u00e9\ud83d\ude00"])") !=
          std::string::npos);
    auto freed = ipam.release_all_except({"owner-\"q\"\\", "six", "new"});
    REQUIRE(freed);
    REQUIRE(freed->size() == 1);
    CHECK(freed->at(0).owner == "esc-key");
    REQUIRE(ipam.release("owner-\"q\"\\"));
    CHECK(list(ipam).size() == 2);
    // Owners that need escaping round-trip too.
    std::string odd = "tab\there \"quoted\" back\\slash \x01";
    CHECK(allocate(ipam, r, odd) == "10.77.0.7");
    all = list(ipam);
    REQUIRE(all.size() == 3);
    CHECK(all[1].owner == odd);
}

TEST_CASE("ranges and names are checked") {
    TempDir dir("pn-ipam");
    Ipam ipam(dir.path, "test");
    CHECK(allocate_error(ipam, range("10.77.0.0/24", "10.78.0.1"), "a") ==
          "gateway 10.78.0.1 is outside subnet 10.77.0.0/24 of network test");
    CHECK(allocate_error(ipam, range("10.77.0.0/24", "fd77::1"), "a") ==
          "gateway fd77::1 is outside subnet 10.77.0.0/24 of network test");
    IpamRange host_bits{IpPrefix{ip("10.77.0.5"), 24}, ip("10.77.0.1")};
    CHECK(allocate_error(ipam, host_bits, "a") ==
          "subnet 10.77.0.5/24 of network test has host bits set");
    CHECK(allocate_error(ipam, range("10.77.0.0/24", "10.77.0.1"), "") ==
          "allocate address on network test: empty owner");
    Ipam bad(dir.path, "../escape");
    CHECK(allocate_error(bad, range("10.77.0.0/24", "10.77.0.1"), "a") ==
          "invalid network name \"../escape\" for IPAM");
    CHECK_FALSE(bad.list());
    CHECK_FALSE(bad.remove_all());
}

TEST_CASE("concurrent processes never hand out one address twice") {
    TempDir dir("pn-ipam");
    auto r = range("10.77.0.0/24", "10.77.0.1");
    constexpr int processes = 8;
    constexpr int each = 25;
    std::vector<pid_t> children;
    for (int p = 0; p < processes; ++p) {
        pid_t pid = ::fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            // The child does only this and leaves without running doctest's exit path.
            Ipam ipam(dir.path, "test");
            int status = 0;
            for (int i = 0; i < each; ++i)
                if (!ipam.allocate(r, podnet::test::numbered("p", p) + "-" + std::to_string(i)))
                    status = 1;
            ::_exit(status);
        }
        children.push_back(pid);
    }
    for (pid_t pid : children) {
        int status = 0;
        REQUIRE(::waitpid(pid, &status, 0) == pid);
        CHECK(WIFEXITED(status));
        CHECK(WEXITSTATUS(status) == 0);
    }
    Ipam ipam(dir.path, "test");
    auto all = list(ipam);
    CHECK(all.size() == processes * each);
    std::set<IpAddress> addresses;
    std::set<std::string> owners;
    for (const auto& a : all) {
        addresses.insert(a.address);
        owners.insert(a.owner);
        CHECK(r.subnet.contains(a.address));
    }
    CHECK(addresses.size() == processes * each);
    CHECK(owners.size() == processes * each);
    // Handed out in order: exactly .2 to .201.
    CHECK(*addresses.begin() == ip("10.77.0.2"));
    CHECK(*addresses.rbegin() == ip("10.77.0.201"));
}
