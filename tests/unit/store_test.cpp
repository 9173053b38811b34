#include <doctest/doctest.h>
#include <stdlib.h>

#include "common/fs.hpp"
#include "sandbox/record.hpp"
#include "sandbox/store.hpp"

using namespace podnet;

namespace {
std::string temp_root() {
    char tmpl[] = "/tmp/pn-store-XXXXXX";
    return ::mkdtemp(tmpl);
}
SandboxRecord record(const std::string& id, const std::string& name) {
    SandboxRecord r;
    r.id = id;
    r.name = name;
    r.hostname = name;
    r.labels = {{"run", "nginx"}};
    r.pause_pid = 42;
    r.pause_start_time = 4242;
    r.namespace_paths = {{"net", "/x/net"}};
    r.created = "2026-11-28T00:00:00.000000000Z";
    ContainerRecord c;
    c.id = std::string(64, 'c');
    c.name = std::string(1, 'c');  // not = "c": g++ 12 -O3 false -Wrestrict (GCC 105329)
    c.command = {"sh", "-c", "x"};
    c.exit_code = 3;
    r.containers.push_back(c);
    return r;
}
}  // namespace

TEST_CASE("records round-trip through JSON") {
    auto r = record(std::string(64, 'a'), "web");
    auto back = record_from_json(record_to_json(r), "x");
    REQUIRE(back);
    CHECK(back->id == r.id);
    CHECK(back->labels == r.labels);
    CHECK(back->pause_start_time == 4242);
    CHECK(back->containers.at(0).exit_code == 3);
    CHECK(back->containers.at(0).command == r.containers[0].command);
    auto bad = record_from_json("{\"id\": 1}", "/p.json");
    REQUIRE_FALSE(bad);
    CHECK(bad.error().message.starts_with("sandbox state /p.json:"));
}

TEST_CASE("names are claimed once, ids resolve by id, name or unique prefix") {
    std::string root = temp_root();
    SandboxStore store(root);
    REQUIRE(store.ensure_layout());
    std::string a = "ab" + std::string(62, '1');
    std::string b = "ab" + std::string(62, '2');
    REQUIRE(store.claim_name("web", a));
    REQUIRE(store.save(record(a, "web")));
    auto taken = store.claim_name("web", b);
    REQUIRE_FALSE(taken);
    CHECK(taken.error().message ==
          "sandbox name \"web\" is already in use by sandbox " + a.substr(0, 12));
    REQUIRE(store.claim_name("db", b));
    REQUIRE(store.save(record(b, "db")));

    CHECK(store.resolve("web").value() == a);
    CHECK(store.resolve(a).value() == a);
    CHECK(store.resolve("ab2").value() == b);
    CHECK(store.resolve("ab").error().message.find("ambiguous") != std::string::npos);
    CHECK(store.resolve("zz").error().message == "sandbox \"zz\": no such sandbox");
    CHECK(store.resolve("../web").error().message.find("no such sandbox") != std::string::npos);

    // A name whose record is gone (crashed create) is reclaimed.
    REQUIRE(store.remove_record(a));
    CHECK(store.claim_name("web", b));
    store.release_name("web", a);  // not the holder: no effect
    CHECK(store.name_owner("web") == b);
    REQUIRE(remove_tree(root));
}
