// The podnet binary's help, usage errors, completion scripts and man page. What the help says a
// command accepts, its parser accepts: every flag of every help page is run through podnet.
// Runs inside private namespaces (tests/support/isolate.hpp), with state under a temp root.

#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include "common/fs.hpp"
#include "tests/support/command.hpp"

using namespace podnet::test;

namespace {

std::string podnet_bin() {
    return bin_dir() + "/podnet";
}

CommandResult run_pn(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {podnet_bin()};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_command(argv);
}

std::vector<std::string> split_words(const std::string& text) {
    std::istringstream in(text);
    std::vector<std::string> out;
    for (std::string w; in >> w;) out.push_back(w);
    return out;
}

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
}

// The command paths the overview (`podnet help`) lists: "  sandbox create   summary".
std::vector<std::string> listed_commands() {
    auto r = run_pn({"help"});
    REQUIRE(r.exit_code == 0);
    std::vector<std::string> out;
    bool in_commands = false;
    for (const auto& line : lines_of(r.out)) {
        if (line.starts_with("Global options")) break;
        if (!line.empty() && line.back() == ':' && line[0] != ' ') in_commands = true;
        if (!in_commands || !line.starts_with("  ") || line.size() < 3 || line[2] == ' ') continue;
        out.push_back(line.substr(2, line.find("  ", 2) - 2));
    }
    return out;
}

struct PageOption {
    std::string long_flag;
    std::string short_flag;  // may be empty
    bool takes_value = false;
};

// The "Options:" section of a help page.
std::vector<PageOption> page_options(const std::string& page) {
    std::vector<PageOption> out;
    bool in_options = false;
    for (const auto& line : lines_of(page)) {
        if (line == "Options:") {
            in_options = true;
            continue;
        }
        if (!in_options) continue;
        if (line.empty()) break;
        if (!line.starts_with("  -")) continue;  // a wrapped description
        std::string label = line.substr(2, line.find("  ", 2) - 2);
        auto words = split_words(label);
        PageOption o;
        size_t k = 0;
        if (words[0].size() == 3 && words[0].back() == ',') {
            o.short_flag = words[0].substr(0, 2);
            k = 1;
        }
        REQUIRE(k < words.size());
        o.long_flag = words[k];
        o.takes_value = words.size() > k + 1;
        if (o.long_flag != "--help") out.push_back(o);
    }
    return out;
}

std::string joined(const std::vector<std::string>& args) {
    std::string out;
    for (const auto& a : args) out += (out.empty() ? "" : " ") + a;
    return out;
}

std::vector<std::string> with_path(const std::string& path, std::vector<std::string> tail) {
    auto words = split_words(path);
    words.insert(words.end(), tail.begin(), tail.end());
    return words;
}

}  // namespace

TEST_CASE("every command and sub-command answers help, --help and -h") {
    auto commands = listed_commands();
    REQUIRE(commands.size() > 40);
    std::set<std::string> groups;
    for (const auto& path : commands) {
        if (path.find(' ') != std::string::npos) groups.insert(path.substr(0, path.find(' ')));
        for (const auto& args : {with_path("help " + path, {}), with_path(path, {"--help"}),
                                 with_path(path, {"-h"})}) {
            CAPTURE(joined(args));
            auto r = run_pn(args);
            CHECK(r.exit_code == 0);
            CHECK(r.err.empty());
            CHECK(r.out.find("podnet " + path) != std::string::npos);
            CHECK(r.out.find("Options:") != std::string::npos);
            CHECK(r.out.find("Example:") != std::string::npos);
            CHECK(r.out.find("Exit codes:") != std::string::npos);
        }
    }
    for (const auto& group : groups) {
        for (const auto& args : std::vector<std::vector<std::string>>{
                 {"help", group}, {group, "--help"}, {group, "-h"}}) {
            CAPTURE(joined(args));
            auto r = run_pn(args);
            CHECK(r.exit_code == 0);
            CHECK(r.out.find("podnet " + group) != std::string::npos);
            CHECK(r.out.find("Commands:") != std::string::npos);
        }
    }
    // The ones the issue found missing, and the overview.
    for (const auto& args : std::vector<std::vector<std::string>>{{"sandbox", "--help"},
                                                                  {"run", "--help"},
                                                                  {"help", "policy"},
                                                                  {"policy", "apply", "--help"}}) {
        CAPTURE(joined(args));
        auto r = run_pn(args);
        CHECK(r.exit_code == 0);
        CHECK(r.out.find("podnet " + args[args[0] == "help" ? 1 : 0]) != std::string::npos);
        CHECK(!r.out.starts_with("usage: podnet [--root DIR]"));
    }
    for (const auto& args : std::vector<std::vector<std::string>>{{"--help"}, {"help"}, {"-h"}}) {
        auto r = run_pn(args);
        CHECK(r.exit_code == 0);
        CHECK(r.out.starts_with("usage: podnet [--root DIR] [--config FILE] COMMAND"));
    }
    // --help of the container's command is the container's: this runs /bin/echo.
    std::string root = make_temp_dir("pn-help-run");
    auto r = run_podnet(root, {"run", "nosuch", "--", "/bin/echo", "--help"});
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("no such sandbox") != std::string::npos);
    CHECK(run_pn({"help", "sandbox", "frobnicate"}).exit_code == 2);
}

TEST_CASE("every flag the help lists is accepted by the command's parser") {
    // Each flag is followed by an unknown one, so the parser stops with a usage error before
    // any work; it must complain about the unknown flag, not the listed one.
    std::string root = make_temp_dir("pn-help-flags");
    const std::string bogus = "--podnet-test-bogus";
    int checked = 0;
    for (const auto& path : listed_commands()) {
        auto page = run_pn(with_path(path, {"--help"}));
        REQUIRE(page.exit_code == 0);
        for (const auto& o : page_options(page.out)) {
            for (const auto& flag : {o.long_flag, o.short_flag}) {
                if (flag.empty()) continue;
                std::vector<std::string> tail = {flag};
                if (o.takes_value) tail.push_back("x");
                tail.push_back(bogus);
                auto args = with_path(path, tail);
                CAPTURE(joined(args));
                auto r = run_podnet(root, args);
                CHECK(r.exit_code == 2);
                CHECK(r.err.find("unknown option " + bogus) != std::string::npos);
                CHECK(r.err.find("unknown option " + flag + " ") == std::string::npos);
                CHECK(r.err.find("option " + flag + " takes no value") == std::string::npos);
                ++checked;
            }
        }
    }
    CHECK(checked > 80);
    CHECK(leftovers(root).empty());
}

TEST_CASE("a wrong flag names the flag and gives the command's synopsis, exit 2") {
    std::string root = make_temp_dir("pn-help-usage");
    struct Case {
        std::vector<std::string> args;
        std::string expect;
    };
    const Case cases[] = {
        {{"sandbox", "create", "--bogus"}, "--bogus"},
        {{"network", "ls", "-z"}, "-z"},
        {{"policy", "apply", "--frob"}, "--frob"},
        {{"run", "--frob", "web", "--", "true"}, "--frob"},
        {{"cni", "add", "--frob"}, "--frob"},
        {{"overlay", "leases", "--frob"}, "--frob"},
        {{"gc", "--frob"}, "--frob"},
        {{"completion", "fish"}, "fish"},
        {{"help", "frobnicate"}, "frobnicate"},
    };
    for (const auto& c : cases) {
        CAPTURE(joined(c.args));
        auto r = run_podnet(root, c.args);
        CHECK(r.exit_code == 2);
        CHECK(r.out.empty());
        CHECK(r.err.starts_with("podnet: "));
        CHECK(r.err.find(c.expect) != std::string::npos);
        CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
        // The synopsis is the help page's first line.
        std::vector<std::string> help_args = c.args;
        help_args.erase(std::remove_if(help_args.begin(), help_args.end(),
                                       [](const std::string& a) { return a.starts_with("-"); }),
                        help_args.end());
        if (c.args[0] == "help") continue;
        if (c.args[0] == "run" || c.args[0] == "completion") help_args.resize(1);
        if (c.args[0] == "cni") help_args.resize(2);
        help_args.insert(help_args.begin(), "help");
        auto page = run_pn(help_args);
        REQUIRE(page.exit_code == 0);
        std::string first = page.out.substr(0, page.out.find('\n'));
        CHECK(r.err.find(first) != std::string::npos);
    }
    auto r = run_podnet(root, {"sandbox", "create", "--bogus"});
    CHECK(r.err.find("unknown option --bogus for 'sandbox create'; usage: podnet sandbox create "
                     "[--name N]") != std::string::npos);
    r = run_podnet(root, {"sandbox", "frobnicate"});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("usage: podnet sandbox create|ls|inspect|stop|rm") != std::string::npos);
    r = run_podnet(root, {"frobnicate"});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("usage: podnet [--root DIR]") != std::string::npos);
    CHECK(leftovers(root).empty());
}

TEST_CASE("bash completion loads and completes commands, flags, sandboxes and networks") {
    std::string dir = make_temp_dir("pn-help-bash");
    std::string script = dir + "/podnet.bash";
    auto gen = run_pn({"completion", "bash"});
    REQUIRE(gen.exit_code == 0);
    std::ofstream(script) << gen.out;

    auto loaded =
        run_command({"/bin/bash", "-c", "source \"$1\" && complete -p podnet", "_", script});
    REQUIRE_MESSAGE(loaded.exit_code == 0, loaded.err);
    CHECK(loaded.err.empty());
    CHECK(loaded.out.find("complete -F _podnet podnet") != std::string::npos);

    std::string root = make_temp_dir("pn-help-comp");
    auto net = run_podnet(root, {"network", "create", "compnet", "--subnet", "10.99.0.0/24"});
    REQUIRE_MESSAGE(net.exit_code == 0, net.err);
    auto sb = run_podnet(root, {"sandbox", "create", "--network", "none", "--name", "compsb"});
    REQUIRE_MESSAGE(sb.exit_code == 0, sb.err);
    std::string id = trim(sb.out);

    // COMP_WORDS as bash would set them; the last word is the one being completed.
    auto complete = [&](std::vector<std::string> words) {
        std::string array;
        for (const auto& w : words) array += " '" + w + "'";
        auto r = run_command({"/bin/bash", "-c",
                              "source \"$1\"; COMP_WORDS=(" + array +
                                  "); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _podnet; "
                                  "printf '%s\\n' \"${COMPREPLY[@]}\"",
                              "_", script});
        CHECK_MESSAGE(r.exit_code == 0, r.err);
        std::set<std::string> out;
        for (const auto& line : lines_of(r.out))
            if (!line.empty()) out.insert(line);
        return out;
    };
    const std::string p = podnet_bin();
    CHECK(complete({p, "sand"}) == std::set<std::string>{"sandbox"});
    CHECK(complete({p, "sandbox", "cr"}) == std::set<std::string>{"create"});
    CHECK(complete({p, "sandbox", "create", "--na"}) ==
          std::set<std::string>{"--name", "--namespace", "--named-port"});
    CHECK(complete({p, "help", "sandbox", "i"}) == std::set<std::string>{"inspect"});
    CHECK(complete({p, "lab", "up", "--backend", ""}) ==
          std::set<std::string>{"vxlan", "host-gw", "udp"});
    CHECK(complete({p, "completion", ""}) == std::set<std::string>{"bash", "zsh"});
    CHECK(complete({p, "--root", root, "sandbox", "rm", ""}).contains(id));
    CHECK(complete({p, "--root", root, "sandbox", "create", "--network", ""}).contains("compnet"));
    CHECK(complete({p, "--root", root, "network", "rm", "comp"}) ==
          std::set<std::string>{"compnet"});
    CHECK(complete({p, "run", "web", "bas"}).contains("bash"));
    CHECK(complete({p, "run", "web", "--", "bas"}).contains("bash"));
    // After run's SANDBOX and --, the words are the container's: no podnet flags.
    CHECK(!complete({p, "run", "web", "--", "/bin/true", "--na"}).contains("--name"));

    CHECK(run_podnet(root, {"sandbox", "rm", "-f", "compsb"}).exit_code == 0);
    CHECK(run_podnet(root, {"network", "rm", "compnet"}).exit_code == 0);
    CHECK(leftovers(root).empty());
}

TEST_CASE("zsh completion parses, and the build's generated files are the binary's") {
    auto zsh = run_pn({"completion", "zsh"});
    REQUIRE(zsh.exit_code == 0);
    CHECK(zsh.out.starts_with("#compdef podnet\n"));
    std::string dir = make_temp_dir("pn-help-zsh");
    std::ofstream(dir + "/_podnet") << zsh.out;
    bool zsh_checked = false;
    for (const char* shell : {"/usr/bin/zsh", "/bin/zsh"}) {
        if (::access(shell, X_OK) != 0) continue;
        auto r = run_command({shell, "-n", dir + "/_podnet"});
        CHECK_MESSAGE(r.exit_code == 0, r.err);
        zsh_checked = true;
        break;
    }
    // Without zsh, bash -n still checks quoting and the if/case/function structure: the script
    // keeps zsh-only syntax inside parameter expansions, which bash parses without evaluating.
    auto bash = run_command({"/bin/bash", "-n", dir + "/_podnet"});
    CHECK_MESSAGE(bash.exit_code == 0, bash.err);
    if (!zsh_checked) MESSAGE("zsh is not installed: the zsh script was checked with bash -n");

    // CMake generated these at build time from the same binary.
    std::string share = bin_dir() + "/../share";
    struct Generated {
        std::string file;
        std::vector<std::string> args;
    };
    for (const auto& g : {Generated{"/man/man1/podnet.1", {"help", "--man"}},
                          Generated{"/bash-completion/completions/podnet", {"completion", "bash"}},
                          Generated{"/zsh/vendor-completions/_podnet", {"completion", "zsh"}}}) {
        CAPTURE(g.file);
        auto text = podnet::read_file(share + g.file);
        if (!text) {
            MESSAGE("not built (target podnet-docs): " << share + g.file);
            continue;
        }
        CHECK(*text == run_pn(g.args).out);
    }
}

TEST_CASE("the man page renders without warnings") {
    auto man = run_pn({"help", "--man"});
    REQUIRE(man.exit_code == 0);
    CHECK(man.out.find(".TH PODNET 1") != std::string::npos);
    std::string dir = make_temp_dir("pn-help-man");
    std::string file = dir + "/podnet.1";
    std::ofstream(file) << man.out;
    if (::access("/usr/bin/groff", X_OK) != 0) {
        MESSAGE("groff is not installed: structure checked by the unit test only");
        return;
    }
    auto r = run_command({"/usr/bin/groff", "-man", "-Tutf8", "-ww", "-z", file});
    CHECK_MESSAGE(r.exit_code == 0, r.err);
    CHECK_MESSAGE(r.err.empty(), r.err);
    auto text = run_command({"/usr/bin/groff", "-man", "-Tascii", "-P", "-cbou", file});
    REQUIRE(text.exit_code == 0);
    CHECK(text.out.find("podnet sandbox create") != std::string::npos);
    CHECK(text.out.find("--network NAME|none|cni:NAME") != std::string::npos);
    CHECK(text.out.find("EXIT STATUS") != std::string::npos);
    if (::access("/usr/bin/man", X_OK) == 0) {
        auto m = run_command({"/usr/bin/man", "-l", file},
                             {"MANPAGER=cat", "PAGER=cat", "MANWIDTH=100"});
        CHECK_MESSAGE(m.exit_code == 0, m.err);
        CHECK(m.out.find("sandbox create") != std::string::npos);
    }
}
