#include <doctest/doctest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include "cni-runner/conf.hpp"

using namespace podnet;
using namespace podnet::cni;
using nlohmann::json;

namespace {

bool has(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

// A conf dir of its own, removed with everything in it.
class TempDir {
  public:
    TempDir() {
        const char* base = ::getenv("TMPDIR");
        std::string pattern =
            std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/pn-cni-conf-XXXXXX";
        if (::mkdtemp(pattern.data()) != nullptr) path_ = pattern;
    }
    ~TempDir() {
        std::error_code ignored;
        if (!path_.empty()) std::filesystem::remove_all(path_, ignored);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    const std::string& path() const { return path_; }
    std::string write(const std::string& name, const std::string& text) const {
        std::string file = path_ + "/" + name;
        std::ofstream(file) << text;
        return file;
    }

  private:
    std::string path_;
};

const char* bridge_list = R"({
  "cniVersion": "1.0.0",
  "name": "podnet-br",
  "disableCheck": true,
  "disableGC": "TRUE",
  "plugins": [
    {"type": "bridge", "bridge": "cni0", "ipam": {"type": "host-local", "subnet": "10.22.0.0/16"}},
    {"type": "portmap", "capabilities": {"portMappings": true, "ips": false}, "snat": true}
  ]
})";

std::string list_with(const std::string& top_fields) {
    return R"({"name": "n", )" + top_fields + R"(, "plugins": [{"type": "bridge"}]})";
}

}  // namespace

TEST_CASE("a conflist is read with its plugins, capabilities and bytes") {
    auto list = parse_conf_list(bridge_list, "/etc/cni/net.d/10-br.conflist");
    REQUIRE(list);
    CHECK(list->name == "podnet-br");
    CHECK(list->cni_version == "1.0.0");
    CHECK(list->cni_versions.empty());
    CHECK(list->disable_check);
    CHECK(list->disable_gc);      // libcni also takes the strings "true"/"false", in any case
    CHECK(list->source.empty());  // bytes, not a file: load_conf_file fills it in
    CHECK(list->bytes == bridge_list);
    REQUIRE(list->plugins.size() == 2);
    CHECK(list->plugins[0].type == "bridge");
    CHECK(list->plugins[0].capabilities.empty());
    CHECK(list->plugins[0].raw == json::parse(bridge_list)["plugins"][0]);
    CHECK(list->plugins[1].type == "portmap");
    CHECK(list->plugins[1].capabilities == std::vector<std::string>{"portMappings"});
    CHECK(list->plugins[1].raw == json::parse(bridge_list)["plugins"][1]);
}

TEST_CASE("cniVersions picks the highest version podnet supports") {
    auto list = parse_conf_list(
        list_with(R"("cniVersion": "0.4.0", "cniVersions": ["0.4.0", "1.1.0", "2.0.0", "1.0.0"])"),
        "v.conflist");
    REQUIRE(list);
    CHECK(list->cni_version == "1.1.0");
    CHECK(list->cni_versions == std::vector<std::string>{"0.4.0", "1.1.0", "2.0.0", "1.0.0"});

    // cniVersion does not have to be one podnet knows when cniVersions decides.
    auto newer = parse_conf_list(list_with(R"("cniVersion": "3.0.0", "cniVersions": ["1.0.0"])"),
                                 "v.conflist");
    REQUIRE(newer);
    CHECK(newer->cni_version == "1.0.0");

    // An empty list chooses nothing: cniVersion applies.
    auto empty =
        parse_conf_list(list_with(R"("cniVersion": "0.3.1", "cniVersions": [])"), "v.conflist");
    REQUIRE(empty);
    CHECK(empty->cni_version == "0.3.1");

    auto none = parse_conf_list(list_with(R"("cniVersions": ["2.0.0", "0.5.0"])"), "v.conflist");
    REQUIRE_FALSE(none);
    CHECK(none.error().message.starts_with("v.conflist: \"cniVersions\": none of"));
    CHECK(has(none.error().message, "\"2.0.0\""));

    auto bad_entry = parse_conf_list(list_with(R"("cniVersions": ["1.0.0", "one"])"), "v.conflist");
    REQUIRE_FALSE(bad_entry);
    CHECK(bad_entry.error().message.starts_with("v.conflist: \"cniVersions\"[1]: \"one\""));

    auto not_strings = parse_conf_list(list_with(R"("cniVersions": [1])"), "v.conflist");
    REQUIRE_FALSE(not_strings);
    CHECK(not_strings.error().message == "v.conflist: \"cniVersions\"[0]: not a string");
    CHECK_FALSE(parse_conf_list(list_with(R"("cniVersions": "1.0.0")"), "v.conflist"));
}

TEST_CASE("cniVersion must be one podnet speaks") {
    auto unsupported = parse_conf_list(list_with(R"("cniVersion": "0.5.0")"), "u.conflist");
    REQUIRE_FALSE(unsupported);
    CHECK(unsupported.error().message.starts_with(
        "u.conflist: \"cniVersion\": \"0.5.0\" is not supported"));
    // Plugins compare version strings exactly, so "1.0" is not "1.0.0".
    CHECK_FALSE(parse_conf_list(list_with(R"("cniVersion": "1.0")"), "u.conflist"));

    auto garbage = parse_conf_list(list_with(R"("cniVersion": "latest")"), "g.conflist");
    REQUIRE_FALSE(garbage);
    CHECK(garbage.error().message.starts_with("g.conflist: \"cniVersion\": \"latest\""));

    auto number = parse_conf_list(list_with(R"("cniVersion": 1)"), "n.conflist");
    REQUIRE_FALSE(number);
    CHECK(number.error().message == "n.conflist: \"cniVersion\": not a string");

    // libcni reads a missing (or empty) cniVersion as 0.1.0.
    auto missing = parse_conf_list(R"({"name": "n", "plugins": [{"type": "bridge"}]})", "m");
    REQUIRE(missing);
    CHECK(missing->cni_version == "0.1.0");
}

TEST_CASE("conflist errors name the file and the key") {
    const std::string src = "/etc/cni/net.d/10-x.conflist";
    auto error_of = [&](const std::string& text) {
        auto list = parse_conf_list(text, src);
        REQUIRE_FALSE(list);
        return list.error().message;
    };
    CHECK(error_of(R"({"cniVersion": "1.0.0", "name": "x",
                       "plugins": [{"type": "bridge"}, {"bridge": "cni0"}]})") ==
          src + ": \"plugins\"[1]: missing \"type\"");
    CHECK(error_of(R"({"name": "x", "plugins": [{"type": 7}]})") ==
          src + ": \"plugins\"[0]: \"type\": not a string");
    CHECK(error_of(R"({"name": "x", "plugins": [{"type": ""}]})") ==
          src + ": \"plugins\"[0]: \"type\" is empty");
    CHECK(error_of(R"({"name": "x", "plugins": ["bridge"]})") ==
          src + ": \"plugins\"[0]: not an object");
    CHECK(error_of(R"({"name": "x", "plugins": []})") == src + ": \"plugins\" is empty");
    CHECK(error_of(R"({"name": "x", "plugins": {}})") == src + ": \"plugins\": not an array");
    CHECK(error_of(R"({"name": "x"})") == src + ": missing \"plugins\"");
    CHECK(error_of(R"({"plugins": [{"type": "bridge"}]})") == src + ": missing \"name\"");
    CHECK(error_of(R"({"name": "", "plugins": [{"type": "bridge"}]})") ==
          src + ": \"name\" is empty");
    CHECK(error_of(R"({"name": 3, "plugins": [{"type": "bridge"}]})") ==
          src + ": \"name\": not a string");
    // The name ends up in cache file names.
    CHECK(error_of(R"({"name": "../x", "plugins": [{"type": "bridge"}]})")
              .starts_with(src + ": \"name\": \"../x\" is not a valid network name"));
    CHECK(error_of(R"({"name": "x", "disableCheck": "yes", "plugins": [{"type": "b"}]})") ==
          src + ": \"disableCheck\": \"yes\" is not a boolean");
    CHECK(error_of(R"({"name": "x", "disableGC": 1, "plugins": [{"type": "b"}]})") ==
          src + ": \"disableGC\": 1 is not a boolean");
    CHECK(error_of(R"({"name": "x", "plugins": [{"type": "b", "capabilities": ["ips"]}]})") ==
          src + ": \"plugins\"[0]: \"capabilities\": not an object");
    CHECK(error_of(R"({"name": "x", "plugins": [{"type": "b", "capabilities": {"ips": 1}}]})") ==
          src + ": \"plugins\"[0]: \"capabilities\": \"ips\": not a boolean");

    std::string syntax = error_of(R"({"name": "x", )");
    CHECK(syntax.starts_with(src + ": not JSON: "));
    CHECK_FALSE(has(syntax, "[json.exception"));
    CHECK(error_of("[1, 2]") == src + ": not a JSON object");
}

TEST_CASE("a plugin type that is a path is refused") {
    for (const char* type : {"/usr/bin/evil", "../bin/bridge", "sub/bridge"}) {
        auto list = parse_conf_list(
            R"({"name": "x", "plugins": [{"type": ")" + std::string(type) + R"("}]})",
            "p.conflist");
        REQUIRE_FALSE(list);
        CHECK(list.error().message.starts_with("p.conflist: \"plugins\"[0]: \"type\": \"" +
                                               std::string(type) + "\" contains '/'"));
    }
}

TEST_CASE("a legacy .conf is wrapped into a list of one") {
    const char* text = R"({"cniVersion": "0.4.0", "name": "old", "type": "bridge",
                           "bridge": "cni1", "capabilities": {"ips": true}})";
    auto list = parse_single_conf(text, "/etc/cni/net.d/50-old.conf");
    REQUIRE(list);
    CHECK(list->name == "old");
    CHECK(list->cni_version == "0.4.0");
    CHECK(list->source.empty());
    REQUIRE(list->plugins.size() == 1);
    CHECK(list->plugins[0].type == "bridge");
    CHECK(list->plugins[0].capabilities == std::vector<std::string>{"ips"});
    // The plugin object stays whole, name and cniVersion included (libcni's ConfListFromConf).
    CHECK(list->plugins[0].raw == json::parse(text));
    json wrapped = json::parse(list->bytes);
    CHECK(wrapped == json{{"cniVersion", "0.4.0"},
                          {"name", "old"},
                          {"plugins", json::array({json::parse(text)})}});
    // The bytes are a conflist in their own right (the cache keeps them for DEL).
    auto again = parse_conf_list(list->bytes, "cached");
    REQUIRE(again);
    CHECK(again->name == "old");
    CHECK(again->cni_version == "0.4.0");
    CHECK(again->plugins[0].raw == list->plugins[0].raw);

    auto no_version = parse_single_conf(R"({"name": "v", "type": "bridge"})", "v.conf");
    REQUIRE(no_version);
    CHECK(no_version->cni_version == "0.1.0");
    CHECK_FALSE(json::parse(no_version->bytes).contains("cniVersion"));
}

TEST_CASE("legacy .conf errors name the file and its own keys") {
    auto no_type = parse_single_conf(R"({"cniVersion": "1.0.0", "name": "x"})", "a.conf");
    REQUIRE_FALSE(no_type);
    CHECK(no_type.error().message == "a.conf: missing \"type\"");
    auto list_in_conf = parse_single_conf(list_with(R"("cniVersion": "1.0.0")"), "b.conf");
    REQUIRE_FALSE(list_in_conf);
    CHECK(has(list_in_conf.error().message, "belongs in a .conflist"));
    auto no_name = parse_single_conf(R"({"type": "bridge"})", "c.json");
    REQUIRE_FALSE(no_name);
    CHECK(no_name.error().message == "c.json: missing \"name\"");
    auto slash = parse_single_conf(R"({"name": "x", "type": "a/b"})", "d.conf");
    REQUIRE_FALSE(slash);
    CHECK(slash.error().message.starts_with("d.conf: \"type\": \"a/b\" contains '/'"));
    auto version =
        parse_single_conf(R"({"name": "x", "type": "b", "cniVersion": "9.9.9"})", "e.conf");
    REQUIRE_FALSE(version);
    CHECK(version.error().message.starts_with("e.conf: \"cniVersion\": \"9.9.9\""));
}

TEST_CASE("conf dir: files in name order, the first list of a name wins") {
    TempDir dir;
    REQUIRE_FALSE(dir.path().empty());
    dir.write("20-b.conflist", R"({"cniVersion": "1.0.0", "name": "b",
                                   "plugins": [{"type": "bridge"}]})");
    std::string a_conf = dir.write("10-a.conf", R"({"cniVersion": "0.3.1", "name": "a",
                                                    "type": "bridge"})");
    dir.write("30-a-again.json", R"({"cniVersion": "1.0.0", "name": "a", "type": "macvlan"})");
    std::string broken = dir.write("05-broken.conflist", "{ not json");
    dir.write("notes.txt", "{}");
    dir.write("40-old.conf.bak", R"({"name": "bak", "type": "bridge"})");
    std::filesystem::create_directory(dir.path() + "/60-dir.conf");

    auto files = conf_files(dir.path());
    REQUIRE(files);
    CHECK(*files == std::vector<std::string>{broken, a_conf, dir.path() + "/20-b.conflist",
                                             dir.path() + "/30-a-again.json"});

    auto a = find_network(dir.path(), "a");
    REQUIRE(a);
    CHECK(a->source == a_conf);
    CHECK(a->plugins[0].type == "bridge");
    auto b = find_network(dir.path(), "b");
    REQUIRE(b);
    CHECK(b->cni_version == "1.0.0");

    // Not found: the message says which files were broken, in case one of them was meant.
    auto missing = find_network(dir.path(), "zzz");
    REQUIRE_FALSE(missing);
    CHECK(missing.error().message.starts_with("no CNI network \"zzz\" in " + dir.path()));
    CHECK(has(missing.error().message, broken + ": not JSON: "));

    std::vector<std::string> skipped;
    auto all = load_all(dir.path(), &skipped);
    REQUIRE(all);
    REQUIRE(all->size() == 2);
    CHECK((*all)[0].name == "a");
    CHECK((*all)[0].source == a_conf);
    CHECK((*all)[1].name == "b");
    REQUIRE(skipped.size() == 1);
    CHECK(skipped[0].starts_with(broken + ": not JSON: "));
    auto plain = load_all(dir.path());
    REQUIRE(plain);
    CHECK(plain->size() == 2);
}

TEST_CASE("conf dir: a broken file that names the wanted network is the answer") {
    TempDir dir;
    REQUIRE_FALSE(dir.path().empty());
    std::string typo = dir.write("10-c.conflist", R"({"cniVersion": "1.0.0", "name": "c",
                                                     "plugins": [{"typ": "bridge"}]})");
    dir.write("20-d.conflist", R"({"cniVersion": "1.0.0", "name": "d",
                                   "plugins": [{"type": "bridge"}]})");
    auto c = find_network(dir.path(), "c");
    REQUIRE_FALSE(c);
    CHECK(c.error().message == typo + ": \"plugins\"[0]: missing \"type\"");

    // A good file of the same name later on is used: broken files are skipped when there is one.
    dir.write("30-c.conflist", R"({"cniVersion": "1.0.0", "name": "c",
                                   "plugins": [{"type": "macvlan"}]})");
    auto later = find_network(dir.path(), "c");
    REQUIRE(later);
    CHECK(later->plugins[0].type == "macvlan");
}

TEST_CASE("conf dir: a missing or empty directory") {
    auto missing = conf_files("/nonexistent/podnet-cni-conf");
    REQUIRE_FALSE(missing);
    CHECK(has(missing.error().message, "/nonexistent/podnet-cni-conf"));
    auto find = find_network("/nonexistent/podnet-cni-conf", "x");
    REQUIRE_FALSE(find);
    CHECK(has(find.error().message, "/nonexistent/podnet-cni-conf"));
    CHECK_FALSE(load_all("/nonexistent/podnet-cni-conf"));

    TempDir dir;
    REQUIRE_FALSE(dir.path().empty());
    auto files = conf_files(dir.path());
    REQUIRE(files);
    CHECK(files->empty());
    auto none = find_network(dir.path(), "x");
    REQUIRE_FALSE(none);
    CHECK(none.error().message.starts_with("no CNI network \"x\" in " + dir.path()));
    auto all = load_all(dir.path());
    REQUIRE(all);
    CHECK(all->empty());
}

TEST_CASE("load_conf_file goes by extension") {
    TempDir dir;
    REQUIRE_FALSE(dir.path().empty());
    std::string list = dir.write("a.conflist", bridge_list);
    std::string single = dir.write("b.json", R"({"cniVersion": "1.1.0", "name": "b",
                                                 "type": "bridge"})");
    std::string other = dir.write("c.yaml", bridge_list);
    auto l = load_conf_file(list);
    REQUIRE(l);
    CHECK(l->plugins.size() == 2);
    CHECK(l->source == list);
    auto s = load_conf_file(single);
    REQUIRE(s);
    CHECK(s->cni_version == "1.1.0");
    CHECK(s->source == single);
    auto o = load_conf_file(other);
    REQUIRE_FALSE(o);
    CHECK(o.error().message.starts_with(other + ": "));
    auto gone = load_conf_file(dir.path() + "/gone.conflist");
    REQUIRE_FALSE(gone);
    CHECK(has(gone.error().message, dir.path() + "/gone.conflist"));
}
