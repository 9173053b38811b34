// How `podnet policy eval | probe` draw their truth tables, and when they colour them.

#include <doctest/doctest.h>

#include "cli/output.hpp"
#include "cli/policy_output.hpp"

using namespace podnet;
using namespace podnet::cli;

namespace {

struct Fixture {
    std::vector<policy::Probe> probes;
    std::vector<policy::ProbeVerdict> verdicts;
    std::vector<ProbeRow> rows;

    // from, to, allowed by the evaluator, expected (optional), observed (optional)
    void add(std::string from, std::string to, bool allowed, std::optional<bool> expected = {},
             std::optional<bool> observed = {}) {
        probes.push_back({std::move(from), std::move(to), "80", policy::Protocol::tcp, expected});
        observed_.push_back(observed);
        allowed_.push_back(allowed);
    }
    std::string draw(bool color) {
        verdicts.clear();
        rows.clear();
        for (size_t i = 0; i < probes.size(); ++i) {
            policy::ProbeVerdict v;
            v.probe = &probes[i];
            v.port = 80;
            v.verdict.allowed = allowed_[i];
            verdicts.push_back(v);
        }
        for (size_t i = 0; i < probes.size(); ++i)
            rows.push_back({&verdicts[i], observed_[i], "", ""});
        return truth_tables(rows, color);
    }

  private:
    std::vector<std::optional<bool>> observed_;
    std::vector<bool> allowed_;
};

}  // namespace

TEST_CASE("truth tables say which axis is which and what the symbols mean") {
    Fixture f;
    f.add("x/a", "x/web", true);
    f.add("x/b", "x/web", false, true);  // expected allowed: a "*"
    f.add("x/a", "x/db", false);
    std::string out = f.draw(false);
    CHECK(out ==
          "port 80/TCP: a row per source (from), a column per destination (to)\n"
          "from \\ to x/web x/db\n"
          "x/a       .     X\n"
          "x/b       X*    -\n"
          "\n"
          "legend: . allowed  X denied  * not the expected verdict  - no such probe\n\n");
    CHECK(out.find('\033') == std::string::npos);
}

TEST_CASE("probe tables add the kernel's disagreement to the legend") {
    Fixture f;
    f.add("x/a", "x/web", true, {}, false);
    std::string out = f.draw(false);
    CHECK(out.find("x/a       !") != std::string::npos);
    CHECK(out.find("! the kernel disagreed with the evaluator") != std::string::npos);
}

TEST_CASE("colour only on the symbols, the columns still line up") {
    Fixture f;
    f.add("x/a", "x/web", true);
    f.add("x/a", "x/db", false);
    f.add("x/b", "x/db", true);  // x/b -> x/web: no probe, a plain "-"
    std::string plain = f.draw(false);
    std::string colored = f.draw(true);
    CHECK(colored.find("x/b       -     \033[32m.\033[0m\n") != std::string::npos);
    CHECK(colored.find("\033[32m.\033[0m") != std::string::npos);
    CHECK(colored.find("\033[31mX\033[0m") != std::string::npos);
    // Stripped of its escape sequences, the coloured table is the plain one.
    std::string stripped;
    for (size_t i = 0; i < colored.size(); ++i) {
        if (colored[i] == '\033') {
            i = colored.find('m', i);
            continue;
        }
        stripped += colored[i];
    }
    CHECK(stripped == plain);
}

TEST_CASE("colour only on a terminal, and never with NO_COLOR set") {
    CHECK(color_wanted(true, nullptr));
    CHECK(color_wanted(true, ""));  // no-color.org: an empty NO_COLOR does not count
    CHECK_FALSE(color_wanted(true, "1"));
    CHECK_FALSE(color_wanted(false, nullptr));
    CHECK_FALSE(color_wanted(false, ""));
}
