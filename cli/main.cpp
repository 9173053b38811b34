// podnet: the command line. Global options come before the command. What each command accepts
// is described once, in cli/help.cpp; this file dispatches, answers --help for every command,
// and gives every usage error the synopsis of the command it was about.

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "cli/args.hpp"
#include "cli/cli.hpp"
#include "cli/help.hpp"
#include "common/config.hpp"

namespace podnet::cli {

namespace {

// The command (or sub-command) being run, for usage_error's synopsis. One per process.
const HelpCommand* current_command = nullptr;

int cmd_config(Context& ctx, Args args) {
    if (args.size() != 1 || args[0] != "show") return usage_error("usage: podnet config show");
    std::cout << config_to_toml(ctx.config);
    return exit_ok;
}

int cmd_help(Context&, Args args) {
    static const OptionSpec specs[] = {{"man", 0, false}};
    auto parsed = parse_args(args, specs, "help");
    if (!parsed) return usage_error(parsed.error().message);
    if (parsed->has("man")) {
        if (!parsed->positionals.empty())
            return usage_error("help --man: the man page covers every command; give none");
        std::cout << man_page();
        return exit_ok;
    }
    const auto& words = parsed->positionals;
    if (words.empty()) {
        std::cout << global_usage();
        return exit_ok;
    }
    std::size_t used = 0;
    const HelpCommand* command = resolve_command(words, used);
    if (command == nullptr || used != words.size() || words.size() > 2) {
        std::string asked;
        for (const auto& w : words) asked += (asked.empty() ? "" : " ") + w;
        return usage_error("help: unknown command \"" + asked + "\" (see podnet --help)");
    }
    std::cout << help_page(*command);
    return exit_ok;
}

int cmd_completion(Context&, Args args) {
    if (args.size() != 1) return usage_error("usage: podnet completion bash|zsh");
    if (args[0] == "bash") {
        std::cout << bash_completion();
        return exit_ok;
    }
    if (args[0] == "zsh") {
        std::cout << zsh_completion();
        return exit_ok;
    }
    return usage_error("completion: unknown shell \"" + args[0] + "\" (bash or zsh)");
}

// Every top-level command. `help` and `completion` need no configuration, so they work
// whatever state podnet.toml is in.
constexpr CommandEntry commands[] = {
    {"sandbox", cmd_sandbox, true}, {"run", cmd_run, true},
    {"ps", cmd_ps, true},           {"kill", cmd_kill, true},
    {"logs", cmd_logs, true},       {"network", cmd_network, true},
    {"port", cmd_port, true},       {"cni", cmd_cni, true},
    {"policy", cmd_policy, true},   {"namespace", cmd_namespace, true},
    {"overlay", cmd_overlay, true}, {"lab", cmd_lab, true},
    {"gc", cmd_gc, true},           {"config", cmd_config, true},
    {"help", cmd_help, false},      {"completion", cmd_completion, false},
};

constexpr std::string_view global_synopsis = "podnet [--root DIR] [--config FILE] COMMAND ...";

}  // namespace

std::span<const CommandEntry> command_table() {
    return commands;
}

Result<Runtime*> Context::runtime() {
    if (!runtime_) {
        auto rt = Runtime::open(config);
        if (!rt) return std::unexpected(rt.error());
        runtime_.emplace(std::move(*rt));
    }
    return &*runtime_;
}

int report(const Error& error, int code) {
    std::fprintf(stderr, "podnet: %s\n", error.message.c_str());
    return code;
}

// One line still (errors are one line): what is wrong, then the synopsis of the command it was
// about, from the help table. A command's own "usage: ..." text gives way to the table's.
int usage_error(const std::string& message) {
    std::string line = message.substr(0, message.find('\n'));
    std::string synopsis(current_command != nullptr ? current_command->synopsis : global_synopsis);
    if (line.starts_with("usage:"))
        line = "usage: " + synopsis;
    else
        line += "; usage: " + synopsis;
    return report(Error{line}, exit_usage);
}

int run_main(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    std::string root, config_path;
    size_t i = 0;
    for (; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (a == "-h" || a == "--help") {
            std::cout << global_usage();
            return exit_ok;
        }
        if (a == "--version") {
            std::cout << "podnet 0.1.0\n";
            return exit_ok;
        }
        if ((a == "--root" || a == "--config") && i + 1 < args.size()) {
            (a == "--root" ? root : config_path) = args[++i];
        } else if (a.starts_with("--root=")) {
            root = a.substr(7);
        } else if (a.starts_with("--config=")) {
            config_path = a.substr(9);
        } else if (a.starts_with("-")) {
            return usage_error("unknown global option " + a + " (see podnet --help)");
        } else {
            break;
        }
    }
    if (i >= args.size()) {
        std::cerr << global_usage();
        return exit_usage;
    }

    const std::string command = args[i];
    const CommandEntry* entry = nullptr;
    for (const auto& c : commands)
        if (c.name == command) entry = &c;
    if (entry == nullptr)
        return usage_error("unknown command \"" + command + "\" (see podnet --help)");

    // --help anywhere among the command's own arguments: its page, before any work.
    Args words(args.data() + i, args.size() - i);
    std::size_t used = 0;
    current_command = resolve_command(words, used);
    if (current_command != nullptr && asks_for_help(*current_command, words.subspan(used))) {
        std::cout << help_page(*current_command);
        return exit_ok;
    }

    Context ctx;
    if (entry->needs_config) {
        // `podnet lab exec NODE -- podnet ...` runs podnet as if on that node: its config and
        // root.
        if (config_path.empty())
            if (const char* env = std::getenv("PODNET_CONFIG"); env != nullptr && *env != '\0')
                config_path = env;
        auto config = load_config(config_path.empty() ? default_config_path : config_path,
                                  !config_path.empty());
        if (!config) return report(config.error());
        ctx.config = *config;
        if (root.empty())
            if (const char* env = std::getenv("PODNET_ROOT"); env != nullptr && *env != '\0')
                root = env;
        if (!root.empty()) {
            if (root.front() != '/') return usage_error("--root " + root + ": must be absolute");
            place_under_root(ctx.config, root);
        }
    }
    return entry->handler(ctx, words.subspan(1));
}

}  // namespace podnet::cli
