#include <doctest/doctest.h>

#include "common/validate.hpp"

using namespace podnet;

TEST_CASE("names follow Docker's rule") {
    for (const char* ok : {"a", "web", "web-1", "Web_1.x", "0abc"})
        CHECK(validate_name("sandbox", ok));
    std::string long_name(64, 'a');
    for (std::string bad : {std::string(""), std::string("../x"), std::string("-a"),
                            std::string(".a"), std::string("a/b"), std::string("a b"), long_name}) {
        CAPTURE(bad);
        auto r = validate_name("sandbox", bad);
        REQUIRE_FALSE(r);
        CHECK(r.error().message.find("invalid sandbox name") == 0);
    }
    CHECK(validate_name("sandbox", std::string(63, 'a')));
}

TEST_CASE("labels follow Kubernetes' rules") {
    CHECK(parse_label("run=nginx"));
    CHECK(parse_label("app.kubernetes.io/name=web"));
    CHECK(parse_label("empty="));
    CHECK(parse_label("k=a.b_c-d"));
    auto kv = parse_label("access=true");
    REQUIRE(kv);
    CHECK(kv->first == "access");
    CHECK(kv->second == "true");
    for (const char* bad : {"noequals", "=v", "bad key=v", "k=-v", "k=v-", "Upper.Prefix/k=v",
                            "/k=v", "a/b/c=v", "k=has space"}) {
        CAPTURE(bad);
        CHECK_FALSE(parse_label(bad));
    }
    CHECK_FALSE(parse_label("k=" + std::string(64, 'v')));
    CHECK(parse_label("k=" + std::string(63, 'v')));
    CHECK_FALSE(parse_label(std::string(64, 'k') + "=v"));
}

TEST_CASE("namespaces are DNS labels") {
    CHECK(validate_namespace_name("default"));
    CHECK(validate_namespace_name("kube-system"));
    CHECK_FALSE(validate_namespace_name("Prod"));
    CHECK_FALSE(validate_namespace_name("-x"));
    CHECK_FALSE(validate_namespace_name("a.b"));
    CHECK_FALSE(validate_namespace_name(""));
}
