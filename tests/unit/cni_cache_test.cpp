#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>

#include "cni-runner/cache.hpp"
#include "common/fs.hpp"
#include "tests/support/temp_dir.hpp"

using namespace podnet;
using namespace podnet::cni;
using nlohmann::json;

using podnet::test::TempDir;

namespace {

const char* const sample_config = R"({"cniVersion":"1.0.0","name":"podnet"})";

CacheEntry full_entry() {
    CacheEntry e;
    e.container_id = "ctr1";
    e.ifname = "eth0";
    e.network = "podnet";
    e.netns = "/var/run/netns/ctr1";
    e.config = sample_config;
    e.cni_args = {{"IgnoreUnknown", "1"}, {"K8S_POD_NAME", "web"}};
    e.capability_args =
        json::parse(R"({"portMappings":[{"hostPort":8080,"containerPort":80,"protocol":"tcp"}]})");
    e.result = json::parse(R"({"cniVersion":"1.0.0","ips":[{"address":"10.88.0.2/16"}]})");
    return e;
}

CacheEntry minimal_entry(std::string network, std::string container_id) {
    CacheEntry e;
    e.network = std::move(network);
    e.container_id = std::move(container_id);
    e.ifname = "eth0";
    e.config = sample_config;
    return e;
}

void check_same(const CacheEntry& a, const CacheEntry& b) {
    CHECK(a.container_id == b.container_id);
    CHECK(a.ifname == b.ifname);
    CHECK(a.network == b.network);
    CHECK(a.netns == b.netns);
    CHECK(a.config == b.config);
    CHECK(a.cni_args == b.cni_args);
    CHECK(a.capability_args == b.capability_args);
    CHECK(a.result == b.result);
}

mode_t mode_of(const std::string& path) {
    struct stat st {};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    return st.st_mode & 07777;
}

}  // namespace

TEST_CASE("base64 is Go's StdEncoding") {
    const std::pair<std::string, std::string> vectors[] = {
        {"", ""},
        {"f", "Zg=="},
        {"fo", "Zm8="},
        {"foo", "Zm9v"},
        {"foob", "Zm9vYg=="},
        {"fooba", "Zm9vYmE="},
        {"foobar", "Zm9vYmFy"},
        {std::string("\x00\xff\xfe", 3), "AP/+"},
    };
    for (const auto& [plain, encoded] : vectors) {
        CHECK(base64_encode(plain) == encoded);
        auto decoded = base64_decode(encoded);
        REQUIRE(decoded);
        CHECK(*decoded == plain);
    }
    CHECK(base64_encode(sample_config) == "eyJjbmlWZXJzaW9uIjoiMS4wLjAiLCJuYW1lIjoicG9kbmV0In0=");
    auto wrapped = base64_decode("Zm9v\r\nYmFy");
    REQUIRE(wrapped);
    CHECK(*wrapped == "foobar");
    for (const char* bad : {"Zm9", "Zm9*", "Z===", "Zm=v", "Zm9v=", "====", "-_8="}) {
        CAPTURE(bad);
        CHECK_FALSE(base64_decode(bad));
    }
}

TEST_CASE("entries are encoded as libcni's cachedInfo, key order and omitempty included") {
    CHECK(
        encode_cache_entry(full_entry()) ==
        R"({"kind":"cniCacheV1","containerId":"ctr1",)"
        R"("config":"eyJjbmlWZXJzaW9uIjoiMS4wLjAiLCJuYW1lIjoicG9kbmV0In0=",)"
        R"("ifName":"eth0","networkName":"podnet","netns":"/var/run/netns/ctr1",)"
        R"("cniArgs":[["IgnoreUnknown","1"],["K8S_POD_NAME","web"]],)"
        R"("capabilityArgs":{"portMappings":[{"containerPort":80,"hostPort":8080,"protocol":"tcp"}]},)"
        R"("result":{"cniVersion":"1.0.0","ips":[{"address":"10.88.0.2/16"}]}})");
    CHECK(encode_cache_entry(minimal_entry("podnet", "ctr1")) ==
          R"({"kind":"cniCacheV1","containerId":"ctr1",)"
          R"("config":"eyJjbmlWZXJzaW9uIjoiMS4wLjAiLCJuYW1lIjoicG9kbmV0In0=",)"
          R"("ifName":"eth0","networkName":"podnet"})");
}

TEST_CASE("decoding reads libcni's files and names what is wrong") {
    auto full = decode_cache_entry(encode_cache_entry(full_entry()), "f");
    REQUIRE(full);
    check_same(*full, full_entry());

    // As a Go runtime may write it: other key order, null for an absent []byte and map.
    auto go = decode_cache_entry(
        R"({"kind":"cniCacheV1","networkName":"n","ifName":"eth1","containerId":"c",)"
        R"("config":null,"capabilityArgs":null,"result":null})",
        "go");
    REQUIRE(go);
    CHECK(go->network == "n");
    CHECK(go->config.empty());
    CHECK(go->capability_args.empty());
    CHECK_FALSE(go->result);

    auto message = [](const std::string& text) {
        auto r = decode_cache_entry(text, "/c/results/x");
        REQUIRE_FALSE(r);
        return r.error().message;
    };
    CHECK(message("") == "/c/results/x: empty file");
    CHECK(message("{\"kind\":") == "/c/results/x: not JSON");
    CHECK(message("[]") == "/c/results/x: not a JSON object");
    CHECK(message(R"({"kind":"cniCacheV2"})") ==
          "/c/results/x: kind \"cniCacheV2\", expected \"cniCacheV1\"");
    CHECK(message(R"({"containerId":"c"})") == "/c/results/x: missing \"kind\"");
    CHECK(message(R"({"kind":"cniCacheV1","containerId":"c","ifName":"e"})") ==
          "/c/results/x: missing \"networkName\"");
    CHECK(message(R"({"kind":"cniCacheV1","containerId":"c","ifName":"e","networkName":"n",)"
                  R"("config":"!!"})")
              .starts_with("/c/results/x: \"config\": base64"));
    CHECK(message(R"({"kind":"cniCacheV1","containerId":"c","ifName":"e","networkName":"n",)"
                  R"("cniArgs":[["K"]]})") ==
          "/c/results/x: \"cniArgs\" entry [\"K\"] is not a [key, value] pair of strings");
}

TEST_CASE("save, load and remove one entry") {
    TempDir tmp;
    std::string cache_dir = tmp.path + "/cni";
    ResultCache cache(cache_dir);
    CHECK(cache.entry_path("podnet", "ctr1", "eth0") == cache_dir + "/results/podnet-ctr1-eth0");

    auto none = cache.load("podnet", "ctr1", "eth0");
    REQUIRE(none);
    CHECK_FALSE(*none);

    REQUIRE(cache.save(full_entry()));
    std::string path = cache.entry_path("podnet", "ctr1", "eth0");
    CHECK(mode_of(cache_dir) == 0700);
    CHECK(mode_of(cache_dir + "/results") == 0700);
    CHECK(mode_of(path) == 0600);
    auto on_disk = read_file(path);
    REQUIRE(on_disk);
    CHECK(*on_disk == encode_cache_entry(full_entry()));

    auto loaded = cache.load("podnet", "ctr1", "eth0");
    REQUIRE(loaded);
    REQUIRE(*loaded);
    check_same(**loaded, full_entry());

    REQUIRE(cache.remove("podnet", "ctr1", "eth0"));
    CHECK_FALSE(path_exists(path));
    CHECK(cache.remove("podnet", "ctr1", "eth0"));  // already gone is fine
    auto after = cache.load("podnet", "ctr1", "eth0");
    REQUIRE(after);
    CHECK_FALSE(*after);

    auto bad_key = minimal_entry("pod/net", "ctr1");
    auto refused = cache.save(bad_key);
    REQUIRE_FALSE(refused);
    CHECK(refused.error().message.find("network name \"pod/net\"") != std::string::npos);
    CHECK_FALSE(cache.load("podnet", "", "eth0"));

    auto not_object = minimal_entry("podnet", "ctr2");
    not_object.result = json::array();
    CHECK_FALSE(cache.save(not_object));
}

TEST_CASE("an empty or corrupt entry is an error naming the file") {
    TempDir tmp;
    ResultCache cache(tmp.path);
    REQUIRE(make_dirs(tmp.path + "/results"));
    std::string path = cache.entry_path("podnet", "ctr1", "eth0");

    REQUIRE(write_file_atomic(path, ""));
    auto empty = cache.load("podnet", "ctr1", "eth0");
    REQUIRE_FALSE(empty);
    CHECK(empty.error().message == path + ": empty file");

    REQUIRE(write_file_atomic(path, "{\"kind\":\"cniCa"));
    auto corrupt = cache.load("podnet", "ctr1", "eth0");
    REQUIRE_FALSE(corrupt);
    CHECK(corrupt.error().message == path + ": not JSON");
}

TEST_CASE("list goes by each file's networkName, since names may contain '-'") {
    TempDir tmp;
    ResultCache cache(tmp.path);
    auto listed_ids = [&](const std::string& network, std::vector<std::string>* skipped) {
        auto entries = cache.list(network, skipped);
        REQUIRE(entries);
        std::vector<std::string> ids;
        for (const auto& e : *entries) ids.push_back(e.network + "/" + e.container_id);
        return ids;
    };

    CHECK(listed_ids("", nullptr).empty());  // no cache dir yet

    // "net-a" + "c1" and "net" + "a-c2": a file name parser would put both under "net".
    REQUIRE(cache.save(minimal_entry("net-a", "c1")));
    REQUIRE(cache.save(minimal_entry("net", "a-c2")));
    REQUIRE(cache.save(minimal_entry("other", "c3")));
    std::string results = tmp.path + "/results";
    REQUIRE(write_file_atomic(results + "/garbage", "not json"));
    REQUIRE(write_file_atomic(results + "/net-empty-eth0", ""));
    REQUIRE(make_dirs(results + "/a-directory"));
    // A temporary left by a crash mid-save holds a complete entry; it must not count twice.
    REQUIRE(write_file_atomic(results + "/net-a-c1-eth0.4242.tmp",
                              encode_cache_entry(minimal_entry("net-a", "c1"))));

    std::vector<std::string> skipped;
    CHECK(listed_ids("net", &skipped) == std::vector<std::string>{"net/a-c2"});
    REQUIRE(skipped.size() == 3);
    CHECK(skipped[0].find(results + "/a-directory") != std::string::npos);
    CHECK(skipped[1] == results + "/garbage: not JSON");
    CHECK(skipped[2] == results + "/net-empty-eth0: empty file");

    CHECK(listed_ids("net-a", nullptr) == std::vector<std::string>{"net-a/c1"});
    CHECK(listed_ids("", nullptr) == std::vector<std::string>{"net-a/c1", "net/a-c2", "other/c3"});
    CHECK(listed_ids("absent", nullptr).empty());
}
