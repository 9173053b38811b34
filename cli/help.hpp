#pragma once
// The one description of podnet's command line: every command's synopsis, options, example and
// exit codes. `--help`, `podnet help`, the man page and the bash/zsh completions are all
// generated from it, so they cannot drift apart. The table is constant data: an ordinary
// `podnet` invocation pays nothing for it beyond a few string comparisons.

#include <cstddef>
#include <span>
#include <string>
#include <string_view>

namespace podnet::cli {

struct HelpOption {
    std::string_view flag;         // long name without dashes: "name" for --name
    char short_name = 0;           // 'd' for -d, 0 for none
    std::string_view value;        // the value's name ("N"), empty when the option takes none
    std::string_view description;  // one line
    // What completes the value: "@sandbox", "@network", "@file", "@dir", or literal words
    // separated by spaces; empty for nothing.
    std::string_view complete = {};
};

struct HelpCommand {
    std::string_view path;      // "sandbox create"; a group ("sandbox") or a top-level command
    std::string_view synopsis;  // one line, starting with "podnet <path>"
    std::string_view summary;   // one line, for lists
    std::span<const HelpOption> options = {};
    std::string_view example = {};  // one command line (or a few, newline-separated)
    // Extra lines after the usual 0/1/2 ("1  also when the connection would be denied").
    std::string_view exit_codes = {};
    // What completes positionals: "@sandbox", "@network", "@command", "@file", or words.
    std::string_view positional = {};
    // After this many positionals the rest is a command to run (`run SANDBOX CMD...`): options
    // there belong to it, so `--help` is not looked for. 0 when unlimited.
    std::size_t max_positionals = 0;
    std::string_view section = {};  // heading in the overview, on top-level entries
    std::string_view aliases = {};  // other names of a sub-command ("list"), space-separated
    std::string_view details = {};  // a longer description (man page and --help), may be empty
};

// Every command, group and sub-command, in the order the overview shows them.
std::span<const HelpCommand> help_table();

// The entry for "sandbox create" (aliases resolved: "sandbox list" finds "sandbox ls"), or
// nullptr.
const HelpCommand* find_help(std::string_view path);

// The path of the deepest known command named by the leading words of `words`: {"sandbox",
// "create", "--name", "x"} gives "sandbox create" (2 words used); unknown sub-commands stop at
// the group. `used` is set to the number of words consumed. nullptr when words[0] is unknown.
template <typename Range>
const HelpCommand* resolve_command(const Range& words, std::size_t& used);

bool is_group(const HelpCommand& command);

// The options that take a value, for the --help scanner: the option named by `arg` ("--name",
// "-n"), or nullptr.
const HelpOption* find_option(const HelpCommand& command, std::string_view arg);

// Whether `-h`/`--help` appears among the command's own arguments (before "--", and not inside
// the command a `run SANDBOX CMD...` runs).
template <typename Range>
bool asks_for_help(const HelpCommand& command, const Range& args);

// The generated texts.
std::string global_usage();  // podnet --help
std::string help_page(const HelpCommand& command);
std::string man_page();
std::string bash_completion();
std::string zsh_completion();

// ---- templates ----

const HelpCommand* resolve_words(std::string_view first, std::string_view second, bool has_second,
                                 std::size_t& used);

template <typename Range>
const HelpCommand* resolve_command(const Range& words, std::size_t& used) {
    used = 0;
    auto it = std::begin(words);
    if (it == std::end(words)) return nullptr;
    std::string_view first = *it;
    ++it;
    bool has_second = it != std::end(words);
    std::string_view second = has_second ? std::string_view(*it) : std::string_view();
    return resolve_words(first, second, has_second, used);
}

template <typename Range>
bool asks_for_help(const HelpCommand& command, const Range& args) {
    std::size_t positionals = 0;
    bool skip_value = false;
    for (const auto& item : args) {
        std::string_view arg = item;
        if (skip_value) {
            skip_value = false;
            continue;
        }
        if (arg == "--") return false;
        bool is_option = arg.size() >= 2 && arg[0] == '-';
        if (!is_option) {
            // The parser hands everything from here on to the container's command.
            if (command.max_positionals != 0 && positionals >= command.max_positionals)
                return false;
            ++positionals;
            continue;
        }
        if (arg == "-h" || arg == "--help") return true;
        const HelpOption* option = find_option(command, arg);
        if (option != nullptr && !option->value.empty() && arg.find('=') == std::string_view::npos)
            skip_value = true;
    }
    return false;
}

}  // namespace podnet::cli
