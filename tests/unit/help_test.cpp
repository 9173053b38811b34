// The help table against the dispatcher, the --help scanner, the generated texts, and
// README.md's command table. (That the parsers accept every flag the table lists, and the
// binary's --help, completion, man page and install: tests/integration/help_test.cpp.)

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "cli/cli.hpp"
#include "cli/help.hpp"
#include "common/text.hpp"
#include "tests/support/command.hpp"

using namespace podnet::cli;

namespace {

std::set<std::string> top_level_help() {
    std::set<std::string> out;
    for (const auto& c : help_table())
        if (c.path.find(' ') == std::string_view::npos) out.insert(std::string(c.path));
    return out;
}

// Every command path a user can run (sub-commands, and top-level commands without any).
std::set<std::string> leaf_paths() {
    std::set<std::string> out;
    for (const auto& c : help_table())
        if (!is_group(c)) out.insert(std::string(c.path));
    return out;
}

bool asks(std::vector<std::string> words) {
    std::size_t used = 0;
    const HelpCommand* c = resolve_command(words, used);
    REQUIRE(c != nullptr);
    return asks_for_help(*c, std::span<const std::string>(words).subspan(used));
}

// README.md's "### Commands" table: column 1's backticked tokens whose first word is a
// top-level command, as command paths ("cni add|del|check ..." is three).
struct ReadmeCommands {
    std::set<std::string> paths;
    std::vector<std::pair<std::string, std::string>> flags;  // (path, "--flag" or "-f")
};

ReadmeCommands readme_commands(const std::set<std::string>& top) {
    std::ifstream in(podnet::test::source_dir() + "/README.md");
    REQUIRE(in);
    ReadmeCommands out;
    std::string line;
    bool in_section = false;
    while (std::getline(in, line)) {
        if (line.starts_with("#")) {
            in_section = line == "### Commands";
            continue;
        }
        if (!in_section || !line.starts_with("|")) continue;
        // Column 1 ends at the first '|' outside backticks that is not escaped.
        std::string cell;
        bool tick = false;
        for (size_t i = 1; i < line.size(); ++i) {
            if (line[i] == '`') tick = !tick;
            if (line[i] == '|' && !tick && line[i - 1] != '\\') break;
            cell += line[i];
        }
        std::vector<std::string> tokens;
        for (size_t start = cell.find('`'); start != std::string::npos;) {
            size_t end = cell.find('`', start + 1);
            if (end == std::string::npos) break;
            tokens.push_back(cell.substr(start + 1, end - start - 1));
            start = cell.find('`', end + 1);
        }
        for (auto token : tokens) {
            // Markdown's "\|" is a "|" (erase, not replace(p, 2, "|"): g++ 12 -O3 reports a
            // false -Wrestrict on that, GCC bug 105329).
            for (size_t p; (p = token.find("\\|")) != std::string::npos;) token.erase(p, 1);
            std::istringstream words(token);
            std::string first, second;
            words >> first >> second;
            if (!top.contains(first)) continue;
            std::vector<std::string> paths;
            bool group = false;
            for (const auto& c : help_table())
                if (c.path == first) group = is_group(c);
            if (!group) {
                paths.push_back(first);
            } else {
                std::stringstream subs(second);
                for (std::string sub; std::getline(subs, sub, '|');)
                    paths.push_back(first + " " + sub);
            }
            static const std::regex flag_re(R"((^|[\s\[|])(--?[a-z][a-z0-9-]*))");
            for (const auto& path : paths) {
                out.paths.insert(path);
                for (std::sregex_iterator it(token.begin(), token.end(), flag_re), end; it != end;
                     ++it)
                    out.flags.emplace_back(path, (*it)[2].str());
            }
        }
    }
    return out;
}

}  // namespace

TEST_CASE("every command the dispatcher runs has help, and nothing else does") {
    std::set<std::string> dispatched;
    for (const auto& c : command_table()) {
        CAPTURE(c.name);
        dispatched.insert(std::string(c.name));
        const HelpCommand* help = find_help(c.name);
        REQUIRE(help != nullptr);
        std::string page = help_page(*help);
        CHECK(page.find("podnet " + std::string(c.name)) != std::string::npos);
    }
    CHECK(dispatched == top_level_help());
}

TEST_CASE("every help entry has a synopsis, a summary, options described, an example") {
    for (const auto& c : help_table()) {
        CAPTURE(c.path);
        CHECK(c.synopsis.starts_with("podnet " + std::string(c.path)));
        CHECK(c.synopsis.find('\n') == std::string_view::npos);
        CHECK(!c.summary.empty());
        CHECK(!c.example.empty());
        CHECK(c.example.find("podnet") != std::string_view::npos);
        std::set<std::string_view> longs;
        std::set<char> shorts;
        for (const auto& o : c.options) {
            CAPTURE(o.flag);
            CHECK(!o.description.empty());
            CHECK(o.description.find('\n') == std::string_view::npos);
            // --help and -h are everybody's; a command's own would be shadowed.
            CHECK(o.flag != "help");
            CHECK(o.short_name != 'h');
            CHECK(longs.insert(o.flag).second);
            if (o.short_name != 0) CHECK(shorts.insert(o.short_name).second);
            // The synopsis shows every option.
            bool shown = c.synopsis.find("--" + std::string(o.flag)) != std::string_view::npos ||
                         (o.short_name != 0 && c.synopsis.find(std::string("-") + o.short_name) !=
                                                   std::string_view::npos);
            CHECK(shown);
        }
        std::string page = help_page(c);
        CHECK(page.starts_with("usage: podnet " + std::string(c.path)));
        for (const char* part : {"Options:", "-h, --help", "Example:", "Exit codes:", "0  ok",
                                 "1  failure", "2  usage error"})
            CHECK(page.find(part) != std::string::npos);
        for (const auto& o : c.options)
            CHECK(page.find("--" + std::string(o.flag)) != std::string::npos);
    }
    // The exit codes named by the brief.
    CHECK(help_page(*find_help("policy explain")).find("denied") != std::string::npos);
}

TEST_CASE("sub-commands resolve, aliases included; unknown ones stop at the group") {
    REQUIRE(find_help("sandbox create") != nullptr);
    CHECK(find_help("sandbox list") == find_help("sandbox ls"));
    CHECK(find_help("network remove") == find_help("network rm"));
    CHECK(find_help("sandbox frobnicate") == nullptr);
    CHECK(find_help("frobnicate") == nullptr);
    std::size_t used = 0;
    std::vector<std::string> words = {"sandbox", "frobnicate", "--help"};
    CHECK(resolve_command(words, used)->path == "sandbox");
    CHECK(used == 1);
    words = {"run", "web", "--", "ls"};
    CHECK(resolve_command(words, used)->path == "run");
    CHECK(used == 1);
}

TEST_CASE("--help is the command's own argument, not its value nor the container's") {
    CHECK(asks({"sandbox", "create", "--help"}));
    CHECK(asks({"sandbox", "create", "--name", "web", "-h"}));
    CHECK(asks({"sandbox", "--help"}));
    CHECK(asks({"sandbox", "frobnicate", "--help"}));
    CHECK(asks({"cni", "add", "net", "/run/netns/x", "--help"}));
    CHECK(asks({"run", "--help"}));
    CHECK(asks({"run", "web", "-d", "--help", "--", "sh"}));
    CHECK(asks({"lab", "exec", "--help"}));
    // Values of options, and everything after -- or after run's SANDBOX CMD, are not podnet's.
    CHECK_FALSE(asks({"sandbox", "create", "--name", "--help"}));
    CHECK_FALSE(asks({"policy", "apply", "-f", "-h"}));
    CHECK_FALSE(asks({"run", "web", "--", "sh", "--help"}));
    CHECK_FALSE(asks({"run", "web", "sh", "--help"}));
    CHECK_FALSE(asks({"run", "web", "-d", "sh", "-h"}));
    CHECK_FALSE(asks({"lab", "exec", "node1", "--", "podnet", "--help"}));
    CHECK_FALSE(asks({"sandbox", "create", "--name=web"}));
}

TEST_CASE("the overview lists every command") {
    std::string overview = global_usage();
    CHECK(overview.starts_with("usage: podnet [--root DIR] [--config FILE] COMMAND"));
    for (const auto& path : leaf_paths()) {
        CAPTURE(path);
        CHECK(overview.find("  " + path + " ") != std::string::npos);
    }
    CHECK(overview.find("--root DIR") != std::string::npos);
}

TEST_CASE("the man page has a section per command and escapes roff") {
    std::string man = man_page();
    CHECK(man.find(".TH PODNET 1") != std::string::npos);
    for (const char* section : {".SH NAME", ".SH SYNOPSIS", ".SH DESCRIPTION", ".SH COMMANDS",
                                ".SH EXIT STATUS", ".SH ENVIRONMENT"})
        CHECK(man.find(section) != std::string::npos);
    for (const auto& path : leaf_paths()) {
        CAPTURE(path);
        CHECK(man.find(".SS \"" + path + "\"\n") != std::string::npos);
    }
    // No line starts with a stray control character, and option dashes are escaped.
    std::istringstream lines(man);
    for (std::string line; std::getline(lines, line);) {
        CAPTURE(line);
        if (line.starts_with(".\\\"")) continue;  // a comment
        if (line.starts_with("'")) FAIL("a line starts with a quote");
        CHECK(line.find("--") == std::string::npos);
    }
}

TEST_CASE("the completion scripts know every command, sub-command and flag") {
    std::string bash = bash_completion();
    std::string zsh = zsh_completion();
    CHECK(bash.find("complete -F _podnet podnet") != std::string::npos);
    CHECK(zsh.starts_with("#compdef podnet\n"));
    for (const auto& c : help_table()) {
        CAPTURE(c.path);
        if (!is_group(c)) {
            CHECK(bash.find(podnet::quoted(c.path)) != std::string::npos);
            CHECK(zsh.find(podnet::quoted(c.path)) != std::string::npos);
        }
        for (const auto& o : c.options)
            CHECK(bash.find("--" + std::string(o.flag)) != std::string::npos);
    }
    // Dynamic names come from podnet itself.
    CHECK(bash.find("sandbox ls -q") != std::string::npos);
    CHECK(bash.find("network ls") != std::string::npos);
    CHECK(zsh.find("sandbox ls -q") != std::string::npos);
}

TEST_CASE("README's command table names exactly the commands of the help table") {
    auto readme = readme_commands(top_level_help());
    REQUIRE(!readme.paths.empty());
    auto leaves = leaf_paths();
    for (const auto& path : readme.paths) {
        CAPTURE(path);
        CHECK_MESSAGE(leaves.contains(path), "README names a command podnet does not have");
    }
    for (const auto& path : leaves) {
        CAPTURE(path);
        CHECK_MESSAGE(readme.paths.contains(path), "README's command table misses this command");
    }
    for (const auto& [path, flag] : readme.flags) {
        CAPTURE(path);
        CAPTURE(flag);
        const HelpCommand* c = find_help(path);
        if (c == nullptr) continue;  // reported above
        CHECK_MESSAGE(find_option(*c, flag) != nullptr, "README shows a flag the command lacks");
    }
}

// The parsers' OptionSpec arrays in cli/commands_*.cpp, read from the source: a flag a parser
// accepts must be in the help (with the same short name and value), and a flag the help lists
// must be accepted. (tests/integration/help_test.cpp checks the second through the binary.)
TEST_CASE("the help table and the parsers' OptionSpec arrays list the same flags") {
    struct Spec {
        std::string path;  // as given to parse_args; "port " when built at run time
        std::string flag;
        char short_name;
        bool takes_value;
    };
    std::vector<Spec> specs;
    static const std::regex block_re(R"re(OptionSpec\s+specs\[\]\s*=\s*\{([\s\S]*?)\};)re");
    static const std::regex entry_re(
        R"re(\{\s*"([a-z0-9-]+)"\s*,\s*(?:'(.)'|0)\s*,\s*(true|false)\s*\})re");
    static const std::regex call_re(R"re(parse_args\([^;]*?specs\s*,\s*"([^"]*)")re");
    for (const auto& file :
         std::filesystem::directory_iterator(podnet::test::source_dir() + "/cli")) {
        std::string name = file.path().filename().string();
        if (!name.starts_with("commands_") || !name.ends_with(".cpp")) continue;
        std::ifstream in(file.path());
        std::string text((std::istreambuf_iterator<char>(in)), {});
        for (std::sregex_iterator b(text.begin(), text.end(), block_re), end; b != end; ++b) {
            std::smatch call;
            std::string after = text.substr(static_cast<size_t>(b->position() + b->length()));
            REQUIRE_MESSAGE(std::regex_search(after, call, call_re), name);
            std::string body = (*b)[1].str();
            for (std::sregex_iterator e(body.begin(), body.end(), entry_re); e != end; ++e)
                specs.push_back({call[1].str(), (*e)[1].str(),
                                 (*e)[2].matched ? (*e)[2].str()[0] : '\0',
                                 (*e)[3].str() == "true"});
        }
    }
    REQUIRE(specs.size() > 50);

    // The help entries a parse_args call stands for: one command, or a group's sub-commands
    // ("cni" parses for all of them; "port " + verb for each).
    auto entries_for = [](const std::string& path) {
        std::vector<const HelpCommand*> out;
        std::string prefix = path.ends_with(" ") ? path : path + " ";
        for (const auto& c : help_table())
            if (c.path == path || (!is_group(c) && c.path.starts_with(prefix))) out.push_back(&c);
        if (out.size() > 1) std::erase_if(out, [](const HelpCommand* c) { return is_group(*c); });
        return out;
    };
    std::set<std::string> parsed_paths;
    for (const auto& spec : specs) {
        CAPTURE(spec.path);
        CAPTURE(spec.flag);
        auto entries = entries_for(spec.path);
        REQUIRE_MESSAGE(!entries.empty(), "parse_args for a command the help does not know");
        bool found = false;
        for (const auto* c : entries) {
            parsed_paths.insert(std::string(c->path));
            for (const auto& o : c->options) {
                if (o.flag != spec.flag) continue;
                found = true;
                CHECK(o.short_name == spec.short_name);
                CHECK(o.value.empty() != spec.takes_value);
            }
        }
        CHECK_MESSAGE(found, "the parser accepts a flag the help does not list");
    }
    for (const auto& path : parsed_paths) {
        const HelpCommand* c = find_help(path);
        REQUIRE(c != nullptr);
        for (const auto& o : c->options) {
            CAPTURE(path);
            CAPTURE(o.flag);
            bool accepted = false;
            for (const auto& spec : specs)
                for (const auto* e : entries_for(spec.path))
                    if (e == c && spec.flag == o.flag) accepted = true;
            CHECK_MESSAGE(accepted, "the help lists a flag the parser does not accept");
        }
    }
}
