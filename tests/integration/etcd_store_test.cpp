// The etcd lease store against a real etcd (Debian's etcd-server), one per test case, listening
// on the loopback of the test's private network namespace: subnets in order, a node's subnet back
// after a restart, renewal (keepalive, or a new etcd lease for a new TTL), release, records that
// do not parse, ten store objects racing, etcd's own lease expiry, etcd down and back, waiting
// for changes through a watch.

#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "overlay/etcd_store.hpp"
#include "tests/support/command.hpp"
#include "tests/support/temp_dir.hpp"

using namespace podnet;
using namespace podnet::overlay;
using namespace podnet::test;
using nlohmann::json;

namespace {

constexpr const char* etcd_binary = "/usr/bin/etcd";
constexpr const char* etcdctl_binary = "/usr/bin/etcdctl";
const std::string url = "http://127.0.0.1:23790";
const std::string subnets = "/coreos.com/network/subnets/";

std::string file_text(const std::string& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

// A single-member etcd on the loopback, its data in `data_dir`; killed and reaped at the end.
class Etcd {
  public:
    explicit Etcd(std::string data_dir) : data_dir_(std::move(data_dir)) { start(); }
    ~Etcd() { stop(); }
    Etcd(const Etcd&) = delete;
    Etcd& operator=(const Etcd&) = delete;

    void start() {
        REQUIRE_MESSAGE(::access(etcd_binary, X_OK) == 0, etcd_binary << " is not installed");
        std::string log = data_dir_ + ".log";
        pid_ = ::fork();
        REQUIRE(pid_ >= 0);
        if (pid_ == 0) {
            int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
            if (fd >= 0) {
                ::dup2(fd, 1);
                ::dup2(fd, 2);
            }
            ::execl(etcd_binary, etcd_binary, "--data-dir", data_dir_.c_str(),
                    "--listen-client-urls", url.c_str(), "--advertise-client-urls", url.c_str(),
                    "--listen-peer-urls", "http://127.0.0.1:23800", "--initial-advertise-peer-urls",
                    "http://127.0.0.1:23800", "--initial-cluster", "default=http://127.0.0.1:23800",
                    "--name", "default", static_cast<char*>(nullptr));
            ::_exit(127);
        }
        // Ready when a range answers (a member without a leader answers with an error).
        EtcdLeaseStore probe({url}, std::string(default_etcd_prefix), OverlayConfig{}, 500);
        for (int i = 0; i < 200; ++i) {
            if (probe.list()) return;
            int status = 0;
            REQUIRE_MESSAGE(::waitpid(pid_, &status, WNOHANG) == 0, "etcd exited:\n"
                                                                        << file_text(log));
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        FAIL("etcd did not answer within 10 s:\n" << file_text(log));
    }

    // SIGKILL, as a crash: the data directory keeps what etcd had committed.
    void stop() {
        if (pid_ <= 0) return;
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
        pid_ = -1;
    }

  private:
    std::string data_dir_;
    pid_t pid_ = -1;
};

struct World {
    TempDir dir{"pn-etcd"};
    Etcd etcd{dir.path + "/data"};
};

OverlayConfig flannel_config() {
    auto c = parse_flannel_json(R"({"Network": "10.244.0.0/16"})", "net.json");
    REQUIRE_MESSAGE(c, c.error().message);
    return *c;
}

EtcdLeaseStore store(std::vector<std::string> endpoints = {url}) {
    return EtcdLeaseStore(std::move(endpoints), std::string(default_etcd_prefix), flannel_config());
}

LeaseRequest request(const std::string& public_ip, int ttl = 60) {
    LeaseRequest r;
    r.public_ip = *parse_ip(public_ip);
    r.node = "node-" + public_ip;
    r.backend_data = {{"VtepMAC", "02:00:00:00:00:01"}};
    r.ttl_seconds = ttl;
    return r;
}

CommandResult etcdctl(std::vector<std::string> args) {
    args.insert(args.begin(), {etcdctl_binary, "--endpoints", url});
    return run_command(args, {"ETCDCTL_API=3"});
}

// The key as etcd has it ({"key", "value", "lease", ...} with numbers), or null when absent.
json etcd_key(const std::string& key) {
    auto r = etcdctl({"get", key, "-w", "json"});
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    auto doc = json::parse(r.out);
    if (!doc.contains("kvs") || doc["kvs"].empty()) return nullptr;
    return doc["kvs"][0];
}

// The key's value, parsed.
json etcd_value(const std::string& key) {
    auto r = etcdctl({"get", key, "--print-value-only"});
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    return json::parse(trim(r.out));
}

// {"ttl": seconds left (-1: gone), "granted-ttl": ...} of an etcd lease.
json etcd_lease(int64_t id) {
    std::ostringstream hex;
    hex << std::hex << id;
    auto r = etcdctl({"lease", "timetolive", hex.str(), "-w", "json"});
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    return json::parse(r.out);
}

std::vector<std::string> subnets_of(const LeaseList& list) {
    std::vector<std::string> out;
    for (const auto& l : list.leases) out.push_back(l.subnet.str());
    return out;
}

}  // namespace

TEST_CASE("etcd store: subnets in order, a node's own back, renew, release") {
    World world;
    auto a = store();
    auto first = a.acquire(request("192.168.100.1"));
    REQUIRE_MESSAGE(first, first.error().message);
    CHECK(first->subnet.str() == "10.244.1.0/24");
    auto second = a.acquire(request("192.168.100.2"));
    REQUIRE_MESSAGE(second, second.error().message);
    CHECK(second->subnet.str() == "10.244.2.0/24");

    // flannel's key, the lease's JSON, attached to an etcd lease of the requested TTL.
    auto kv = etcd_key(subnets + "10.244.1.0-24");
    REQUIRE(kv.is_object());
    auto value = etcd_value(subnets + "10.244.1.0-24");
    CHECK(value["PublicIP"] == "192.168.100.1");
    CHECK(value["BackendData"]["VtepMAC"] == "02:00:00:00:00:01");
    int64_t lease_id = kv.value("lease", int64_t{0});
    REQUIRE(lease_id != 0);
    CHECK(etcd_lease(lease_id)["granted-ttl"] == 60);

    SUBCASE("a restarted node (a new store object) gets its subnet back") {
        auto b = store();
        auto again = b.acquire(request("192.168.100.1"));
        REQUIRE_MESSAGE(again, again.error().message);
        CHECK(again->subnet.str() == "10.244.1.0/24");
        auto list = b.list();
        REQUIRE(list);
        CHECK(subnets_of(*list) == std::vector<std::string>{"10.244.1.0/24", "10.244.2.0/24"});
        CHECK(list->warnings.empty());
        // Updated in place under a fresh etcd lease.
        CHECK(etcd_key(subnets + "10.244.1.0-24").value("lease", int64_t{0}) != lease_id);
    }

    SUBCASE("renew extends, by keepalive for the same TTL, by a new etcd lease for another") {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        auto same = a.renew(*second, 60);
        REQUIRE_MESSAGE(same, same.error().message);
        CHECK(same->expiration_ms > second->expiration_ms);
        CHECK(same->subnet == second->subnet);
        int64_t kept = etcd_key(subnets + "10.244.2.0-24").value("lease", int64_t{0});
        auto longer = a.renew(*same, 120);
        REQUIRE_MESSAGE(longer, longer.error().message);
        CHECK(longer->expiration_ms >= same->expiration_ms + 59000);
        int64_t replaced = etcd_key(subnets + "10.244.2.0-24").value("lease", int64_t{0});
        CHECK(replaced != kept);
        CHECK(etcd_lease(replaced)["granted-ttl"] == 120);
        CHECK(etcd_lease(kept)["ttl"] == -1);  // the old one revoked
        auto again = a.renew(*longer, 120);    // keepalive of the new one
        REQUIRE(again);
        CHECK(etcd_key(subnets + "10.244.2.0-24").value("lease", int64_t{0}) == replaced);
        // A store object that did not grant the etcd lease renews too.
        auto other = store().renew(*again, 120);
        REQUIRE_MESSAGE(other, other.error().message);
        CHECK(etcd_value(subnets + "10.244.2.0-24")["expiration_ms"] == other->expiration_ms);
    }

    SUBCASE("release removes the key and its etcd lease; renewing it then fails") {
        int64_t attached = etcd_key(subnets + "10.244.2.0-24").value("lease", int64_t{0});
        REQUIRE(a.release(second->subnet));
        CHECK(etcd_key(subnets + "10.244.2.0-24").is_null());
        CHECK(etcd_lease(attached)["ttl"] == -1);
        auto list = a.list();
        REQUIRE(list);
        CHECK(subnets_of(*list) == std::vector<std::string>{"10.244.1.0/24"});
        CHECK(a.release(second->subnet));  // absent is success
        auto lost = a.renew(*second, 60);
        REQUIRE_FALSE(lost);
        CHECK(lost.error().message == "lease 10.244.2.0-24 is no longer held by 192.168.100.2");
        // The freed subnet goes to the next node; the old holder's renew still fails.
        auto third = a.acquire(request("192.168.100.3"));
        REQUIRE(third);
        CHECK(third->subnet.str() == "10.244.2.0/24");
        auto taken = store().renew(*second, 60);
        REQUIRE_FALSE(taken);
        CHECK(taken.error().message == "lease 10.244.2.0-24 is no longer held by 192.168.100.2");
    }

    SUBCASE("a lease past its expiration_ms is not live, and its subnet is free") {
        auto brief = a.acquire(request("192.168.100.5", 0));
        REQUIRE(brief);
        CHECK(brief->subnet.str() == "10.244.3.0/24");
        CHECK(a.list()->leases.size() == 2);
        auto next = a.acquire(request("192.168.100.6"));  // overwrites the expired record
        REQUIRE_MESSAGE(next, next.error().message);
        CHECK(next->subnet.str() == "10.244.3.0/24");
    }
}

TEST_CASE("etcd store: a record that does not parse is skipped with a warning and not reused") {
    World world;
    auto r1 = etcdctl({"put", subnets + "10.244.1.0-24",
                       R"({"subnet": "10.244.1.0/24", "PublicIP": "not-an-ip",
                           "BackendType": "vxlan", "expiration_ms": 99999999999999})"});
    REQUIRE_MESSAGE(r1.exit_code == 0, r1.err);
    auto r2 = etcdctl({"put", subnets + "10.244.3.0-24", "not json"});
    REQUIRE_MESSAGE(r2.exit_code == 0, r2.err);
    auto s = store();
    auto list = s.list();
    REQUIRE_MESSAGE(list, list.error().message);
    CHECK(list->leases.empty());
    REQUIRE(list->warnings.size() == 2);
    CHECK(list->warnings[0].find("lease 10.244.1.0-24: PublicIP:") == 0);
    CHECK(list->warnings[1] == "lease 10.244.3.0-24: not JSON");
    std::vector<std::string> got;
    for (int i = 1; i <= 3; ++i) {
        auto lease = s.acquire(request("192.168.100." + std::to_string(i)));
        REQUIRE_MESSAGE(lease, lease.error().message);
        got.push_back(lease->subnet.str());
    }
    CHECK(got == std::vector<std::string>{"10.244.2.0/24", "10.244.4.0/24", "10.244.5.0/24"});
    CHECK(s.list()->warnings.size() == 2);  // left alone
}

TEST_CASE("etcd store: ten store objects racing never share a subnet") {
    World world;
    std::vector<std::string> results(10);
    std::vector<std::thread> threads;
    for (int i = 0; i < 10; ++i)
        threads.emplace_back([i, &results] {
            auto s = store();
            auto lease = s.acquire(request("192.168.100." + std::to_string(i + 1)));
            results[i] = lease ? lease->subnet.str() : "error: " + lease.error().message;
        });
    for (auto& t : threads) t.join();
    for (const auto& r : results) CHECK_MESSAGE(r.starts_with("10.244."), r);
    std::set<std::string> expected;
    for (int i = 1; i <= 10; ++i) expected.insert("10.244." + std::to_string(i) + ".0/24");
    CHECK(std::set<std::string>(results.begin(), results.end()) == expected);
    auto list = store().list();
    REQUIRE(list);
    CHECK(list->leases.size() == 10);
}

TEST_CASE("etcd store: a lease not renewed vanishes with its etcd lease") {
    World world;
    auto s = store();
    auto lease = s.acquire(request("192.168.100.1", 2));
    REQUIRE_MESSAGE(lease, lease.error().message);
    CHECK(s.list()->leases.size() == 1);
    CHECK(etcd_key(subnets + "10.244.1.0-24").is_object());
    auto start = std::chrono::steady_clock::now();
    bool gone = false;
    while (!gone && std::chrono::steady_clock::now() - start < std::chrono::seconds(10)) {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        gone = etcd_key(subnets + "10.244.1.0-24").is_null();  // etcd removed it, not we
    }
    CHECK(gone);
    auto list = s.list();
    REQUIRE(list);
    CHECK(list->leases.empty());
    CHECK(list->warnings.empty());
    auto renewed = s.renew(*lease, 2);
    REQUIRE_FALSE(renewed);
    CHECK(renewed.error().message == "lease 10.244.1.0-24 is no longer held by 192.168.100.1");
}

TEST_CASE("etcd store: wait_for_change wakes on another object's change, else times out") {
    using std::chrono::milliseconds;
    using std::chrono::steady_clock;
    World world;
    auto watcher = store();
    auto writer = store();
    auto first = watcher.wait_for_change(1000);  // nothing read yet: may have changed
    REQUIRE(first);
    CHECK(*first);

    REQUIRE(watcher.list());
    auto start = steady_clock::now();
    auto quiet = watcher.wait_for_change(300);
    REQUIRE_MESSAGE(quiet, quiet.error().message);
    CHECK_FALSE(*quiet);
    CHECK(steady_clock::now() - start >= milliseconds(250));  // curl's timer is not exact
    CHECK(steady_clock::now() - start < milliseconds(3000));  // a shared machine: generous

    // This object's own writes are not changes to report back.
    REQUIRE(watcher.acquire(request("192.168.100.1")));
    auto own = watcher.wait_for_change(300);
    REQUIRE_MESSAGE(own, own.error().message);
    CHECK_FALSE(*own);

    steady_clock::time_point written;
    std::thread other([&] {
        std::this_thread::sleep_for(milliseconds(300));
        written = steady_clock::now();
        CHECK(writer.acquire(request("192.168.100.2")));
    });
    auto woke = watcher.wait_for_change(5000);
    auto woke_at = steady_clock::now();
    other.join();
    REQUIRE_MESSAGE(woke, woke.error().message);
    CHECK(*woke);
    // Woken by the change, long before the 5 s timeout (the margin is for a loaded machine).
    CHECK(woke_at - written < milliseconds(2500));

    // A change between the last read and the wait is reported at once.
    REQUIRE(writer.release(*parse_prefix("10.244.2.0/24", true)));
    start = steady_clock::now();
    auto missed = watcher.wait_for_change(5000);
    REQUIRE_MESSAGE(missed, missed.error().message);
    CHECK(*missed);
    CHECK(steady_clock::now() - start < milliseconds(2500));

    SUBCASE("a watch from a compacted revision fails in one line; the next list cures it") {
        REQUIRE(watcher.list());
        REQUIRE(writer.acquire(request("192.168.100.3")));
        REQUIRE(writer.release(*parse_prefix("10.244.2.0/24", true)));
        auto header = json::parse(etcdctl({"get", "/", "-w", "json"}).out)["header"];
        auto compact = etcdctl({"compact", std::to_string(header["revision"].get<int64_t>())});
        REQUIRE_MESSAGE(compact.exit_code == 0, compact.err);
        auto compacted = watcher.wait_for_change(1000);
        REQUIRE_FALSE(compacted);
        CHECK_MESSAGE(compacted.error().message.starts_with(
                          "etcd http://127.0.0.1:23790: watch /coreos.com/network/subnets/ from "
                          "revision "),
                      compacted.error().message);
        CHECK_MESSAGE(compacted.error().message.find("compacted") != std::string::npos,
                      compacted.error().message);
        CHECK(compacted.error().message.find('\n') == std::string::npos);
        REQUIRE(watcher.list());
        auto cured = watcher.wait_for_change(200);
        REQUIRE_MESSAGE(cured, cured.error().message);
        CHECK_FALSE(*cured);
    }

    SUBCASE("with etcd down the wait fails in one line") {
        REQUIRE(watcher.list());
        world.etcd.stop();
        auto down = watcher.wait_for_change(1000);
        REQUIRE_FALSE(down);
        CHECK(down.error().message ==
              // Revisions 2-4: the two acquires and the release.
              "etcd http://127.0.0.1:23790: watch /coreos.com/network/subnets/ from revision 5: "
              "Couldn't connect to server");
    }
}

TEST_CASE("etcd store: with etcd down every call fails in one line; after a restart it works") {
    World world;
    auto s = store();
    auto lease = s.acquire(request("192.168.100.1"));
    REQUIRE_MESSAGE(lease, lease.error().message);
    // The first endpoint is dead; the second answers and is used from then on.
    auto two = store({"http://127.0.0.1:23799", url});
    auto via_second = two.list();
    REQUIRE_MESSAGE(via_second, via_second.error().message);
    CHECK(via_second->leases.size() == 1);

    world.etcd.stop();
    auto list = s.list();
    REQUIRE_FALSE(list);
    CHECK(list.error().message ==
          "etcd http://127.0.0.1:23790: range /coreos.com/network/subnets/: Couldn't connect to "
          "server");
    auto acquired = s.acquire(request("192.168.100.2"));
    auto renewed = s.renew(*lease, 60);
    auto released = s.release(lease->subnet);
    std::vector<std::string> errors = {list.error().message};
    REQUIRE_FALSE(acquired);
    errors.push_back(acquired.error().message);
    REQUIRE_FALSE(renewed);
    errors.push_back(renewed.error().message);
    REQUIRE_FALSE(released);
    errors.push_back(released.error().message);
    CHECK(released.error().message ==
          "etcd http://127.0.0.1:23790: deleterange "
          "/coreos.com/network/subnets/10.244.1.0-24: Couldn't connect to server");
    for (const auto& e : errors) {
        CHECK_MESSAGE(e.starts_with("etcd http://127.0.0.1:23790: "), e);
        CHECK_MESSAGE(e.ends_with(": Couldn't connect to server"), e);
        CHECK_MESSAGE(e.find('\n') == std::string::npos, e);
    }
    auto both = two.list();
    REQUIRE_FALSE(both);
    CHECK(both.error().message ==
          "etcd http://127.0.0.1:23790: range /coreos.com/network/subnets/: Couldn't connect to "
          "server; etcd http://127.0.0.1:23799: range /coreos.com/network/subnets/: Couldn't "
          "connect to server");

    world.etcd.start();  // the same data directory
    auto back = s.list();
    REQUIRE_MESSAGE(back, back.error().message);
    CHECK(subnets_of(*back) == std::vector<std::string>{"10.244.1.0/24"});
    auto renewed_after = s.renew(*lease, 60);
    REQUIRE_MESSAGE(renewed_after, renewed_after.error().message);
    CHECK(two.list());
}
