// The README is executable truth: its shell examples run here, in this test's private world
// (network, mount and PID namespaces of its own, state under a temporary PODNET_ROOT), so a
// README that lies fails the build. The same for examples/*/README.md.
//
// What runs, in the order written, in one shell per file (`set -e`: every command must succeed):
//   ```sh        the block as it stands;
//   ```console   each `$ COMMAND` line (a trailing `\` continues it), and the lines after it are
//                its output: each must equal the real line, where `…` stands for any text;
//   `<!-- not run: WHY -->` on the line before a fence skips that block (say why);
//   `<!-- file: PATH -->` on the line before a fence writes the block to PATH first.
// Other blocks (toml, yaml, text, …) are not run. Commands run from the source directory with
// build/bin first on PATH, PODNET_ROOT set to a fresh root and NO_COLOR=1; /tmp, /run and
// /var/lib are private tmpfs mounts here, so examples write their files under /tmp. A console
// command's output is its stdout and stderr together.

#include <sys/mount.h>

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/command.hpp"

using namespace podnet::test;

namespace {

struct Block {
    std::string lang;
    std::string text;
    int line = 0;             // of the opening fence
    std::string skip_reason;  // from <!-- not run: ... -->
    std::string file;         // from <!-- file: ... -->
};

// Without the spaces either side (support's trim() takes only trailing ones).
std::string strip(const std::string& s) {
    size_t a = s.find_first_not_of(" \t");
    size_t b = s.find_last_not_of(" \t");
    return a == std::string::npos ? std::string() : s.substr(a, b - a + 1);
}

std::vector<Block> fenced_blocks(const std::string& markdown) {
    std::vector<Block> blocks;
    std::istringstream in(markdown);
    std::string line, previous;
    int number = 0;
    Block* open = nullptr;
    while (std::getline(in, line)) {
        ++number;
        if (open == nullptr && line.starts_with("```")) {
            Block b;
            b.lang = line.substr(3);
            b.line = number;
            if (previous.starts_with("<!-- not run:"))
                b.skip_reason = previous.substr(13);
            else if (previous.starts_with("<!-- file:"))
                b.file = strip(previous.substr(10, previous.rfind("-->") - 10));
            blocks.push_back(b);
            open = &blocks.back();
        } else if (open != nullptr && line.starts_with("```")) {
            open = nullptr;
        } else if (open != nullptr) {
            open->text += line + "\n";
        }
        previous = line;
    }
    return blocks;
}

struct ConsoleCommand {
    int line = 0;
    std::string command;
    std::vector<std::string> expected;
};

// `expected` equals `actual`, where each `…` in expected stands for any text.
bool line_matches(const std::string& expected, const std::string& actual) {
    const std::string ellipsis = "…";
    size_t star = expected.find(ellipsis);
    if (star == std::string::npos) return expected == actual;
    std::string head = expected.substr(0, star);
    if (!actual.starts_with(head)) return false;
    std::string tail = expected.substr(star + ellipsis.size());
    for (size_t at = head.size(); at <= actual.size(); ++at)
        if (line_matches(tail, actual.substr(at))) return true;
    return false;
}

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> lines;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) lines.push_back(line);
    return lines;
}

// Builds the shell script for one markdown file; console commands are bracketed by markers so
// their output can be compared afterwards.
std::string script_for(const std::vector<Block>& blocks, std::vector<ConsoleCommand>& console) {
    std::string script = "set -e\n";
    for (const auto& b : blocks) {
        if (!b.skip_reason.empty()) continue;
        if (!b.file.empty()) {
            // Only into the private /tmp: a README must not write into the source tree or the
            // machine.
            const bool under_tmp = b.file.starts_with("/tmp/") &&
                                   b.file.find("..") == std::string::npos &&
                                   b.file.find('\'') == std::string::npos;
            REQUIRE_MESSAGE(under_tmp, "line " << b.line << ": <!-- file: " << b.file
                                               << " --> must name a file under /tmp");
            script += "mkdir -p \"$(dirname '" + b.file + "')\"\ncat > '" + b.file +
                      "' <<'README_FILE_EOF'\n" + b.text + "README_FILE_EOF\n";
            continue;
        }
        if (b.lang == "sh" || b.lang == "shell" || b.lang == "bash") {
            script += "printf '@@readme-block " + std::to_string(b.line) + "@@\\n'\n" + b.text;
        } else if (b.lang == "console") {
            auto lines = lines_of(b.text);
            for (size_t i = 0; i < lines.size(); ++i) {
                if (!lines[i].starts_with("$ ")) {
                    if (!console.empty() && console.back().line >= b.line)
                        console.back().expected.push_back(lines[i]);
                    continue;
                }
                ConsoleCommand c;
                c.line = b.line + 1 + static_cast<int>(i);
                c.command = lines[i].substr(2);
                while (c.command.ends_with("\\") && i + 1 < lines.size())
                    c.command += "\n" + lines[++i];
                size_t k = console.size();
                // Braces, not a subshell: an `export` in the README carries on to what follows.
                // The redirection covers the whole line (`a || b` too).
                script += "printf '@@readme %zu@@\\n'\n{ " + c.command + "\n} 2>&1\n";
                script += "printf '@@readme-end@@\\n'\n";
                script.replace(script.rfind("%zu"), 3, std::to_string(k));
                console.push_back(c);
            }
        }
    }
    return script;
}

// The output of console command k, from the marked stdout.
std::vector<std::string> output_of(const std::string& out, size_t k) {
    std::string start = "@@readme " + std::to_string(k) + "@@\n";
    size_t a = out.find(start);
    if (a == std::string::npos) return {};
    a += start.size();
    size_t b = out.find("@@readme-end@@", a);
    return lines_of(out.substr(a, b == std::string::npos ? std::string::npos : b - a));
}

// Where a script that stopped early (set -e) stopped: the last console command or sh block that
// started, as "README.md:LINE".
std::string failed_at(const std::string& out, const std::vector<ConsoleCommand>& console) {
    size_t command = out.rfind("@@readme ");
    size_t block = out.rfind("@@readme-block ");
    if (command == std::string::npos && block == std::string::npos) return "the first command";
    if (block != std::string::npos && (command == std::string::npos || block > command))
        return "the sh block at line " +
               out.substr(block + 15, out.find("@@", block + 15) - block - 15);
    size_t k = std::stoul(out.substr(command + 9));
    if (out.find("@@readme-end@@", command) != std::string::npos)
        return "what followed line " + std::to_string(console[k].line);
    return "`" + console[k].command + "` (line " + std::to_string(console[k].line) + ")";
}

void check_markdown(const std::string& relative_path) {
    std::ifstream in(source_dir() + "/" + relative_path);
    REQUIRE_MESSAGE(in.good(), relative_path);
    std::stringstream text;
    text << in.rdbuf();
    auto blocks = fenced_blocks(text.str());
    std::vector<ConsoleCommand> console;
    std::string script = script_for(blocks, console);

    std::string root = make_temp_dir("pn-readme");
    auto r =
        run_program({"/bin/sh", "-c", "cd \"$PODNET_SRC\" && " + script},
                    {.env = {"PATH=" + bin_dir() + ":/usr/sbin:/usr/bin:/sbin:/bin",
                             "PODNET_ROOT=" + root, "PODNET_SRC=" + source_dir(), "NO_COLOR=1"},
                     .only_env = false,
                     .stdin_text = {},
                     .timeout_ms = 240000});
    INFO(relative_path);
    CHECK_MESSAGE(r.exit_code == 0, relative_path << ": " << failed_at(r.out, console)
                                                  << " ended the script with exit " << r.exit_code
                                                  << "\n--- stdout\n"
                                                  << r.out << "\n--- stderr\n"
                                                  << r.err);
    for (size_t k = 0; k < console.size(); ++k) {
        auto actual = output_of(r.out, k);
        const auto& c = console[k];
        bool same = actual.size() == c.expected.size();
        for (size_t i = 0; same && i < actual.size(); ++i)
            same = line_matches(c.expected[i], actual[i]);
        std::string shown;
        for (const auto& l : actual) shown += "  " + l + "\n";
        CHECK_MESSAGE(same, relative_path << ":" << c.line << ": `" << c.command << "` printed:\n"
                                          << shown);
    }
}

}  // namespace

TEST_CASE("the ellipsis in README output stands for any text") {
    CHECK(line_matches("id …", "id 3f2a"));
    CHECK(line_matches("a…b…c", "a-x-b-y-c"));
    CHECK(line_matches("exact", "exact"));
    CHECK_FALSE(line_matches("exact", "exactly"));
    CHECK_FALSE(line_matches("a…c", "a-b"));
}

TEST_CASE("README blocks: sh runs, console lines are commands and their output, markers apply") {
    const std::string markdown =
        "text\n"
        "```sh\n"
        "echo one\n"
        "```\n"
        "<!-- not run: needs two machines -->\n"
        "```sh\n"
        "reboot\n"
        "```\n"
        "<!-- file: /tmp/x.toml -->\n"
        "```toml\n"
        "a = 1\n"
        "```\n"
        "```console\n"
        "$ echo two \\\n"
        "  three\n"
        "two three\n"
        "$ true\n"
        "```\n"
        "```yaml\n"
        "kind: List\n"
        "```\n";
    auto blocks = fenced_blocks(markdown);
    REQUIRE(blocks.size() == 5);
    CHECK(blocks[1].skip_reason == " needs two machines -->");
    CHECK(blocks[2].file == "/tmp/x.toml");
    std::vector<ConsoleCommand> console;
    std::string script = script_for(blocks, console);
    CHECK(script.find("echo one") != std::string::npos);
    CHECK(script.find("reboot") == std::string::npos);
    CHECK(script.find("cat > '/tmp/x.toml'") != std::string::npos);
    CHECK(script.find("kind: List") == std::string::npos);
    REQUIRE(console.size() == 2);
    CHECK(console[0].command == "echo two \\\n  three");
    CHECK(console[0].expected == std::vector<std::string>{"two three"});
    CHECK(console[1].expected.empty());
}

// /tmp private too: examples write their files there. And /var/lib, where state that an example
// does not redirect lands (podnet-cni's /var/lib/podnet-cni, host-local's /var/lib/cni of the
// reference conflist): an example must not change this machine.
struct PrivateTmp {
    PrivateTmp() {
        REQUIRE(::mount("tmpfs", "/tmp", "tmpfs", 0, "mode=1777") == 0);
        REQUIRE(::mount("tmpfs", "/var/lib", "tmpfs", 0, "mode=755") == 0);
    }
    ~PrivateTmp() {
        ::umount2("/var/lib", MNT_DETACH);
        ::umount2("/tmp", MNT_DETACH);
    }
};

TEST_CASE("README.md: every example runs as written") {
    PrivateTmp tmp;
    check_markdown("README.md");
}

TEST_CASE("examples/*/README.md: every example runs as written") {
    PrivateTmp tmp;
    for (const auto& entry : std::filesystem::directory_iterator(source_dir() + "/examples"))
        if (std::filesystem::exists(entry.path() / "README.md"))
            check_markdown("examples/" + entry.path().filename().string() + "/README.md");
}
