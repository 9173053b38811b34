#pragma once
// A fresh directory under $TMPDIR (or /tmp), removed with everything in it when the test ends.

#include <doctest/doctest.h>

#include <string>

#include "common/fs.hpp"
#include "tests/support/command.hpp"

namespace podnet::test {

struct TempDir {
    std::string path;
    explicit TempDir(const std::string& prefix = "podnet-test") : path(make_temp_dir(prefix)) {
        REQUIRE_MESSAGE(!path.empty(), "cannot create a temporary directory");
    }
    ~TempDir() { (void)remove_tree(path); }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
};

}  // namespace podnet::test
