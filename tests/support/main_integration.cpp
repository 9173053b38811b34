#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include "tests/support/isolate.hpp"

int main(int argc, char** argv) {
    return podnet::test::run_isolated(argc, argv, [](int c, char** v) {
        doctest::Context context(c, v);
        return context.run();
    });
}
