#pragma once
// Shared pieces of the podnet command: only cli/ prints and chooses exit codes.

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/config.hpp"
#include "common/result.hpp"
#include "podnet/runtime.hpp"

namespace podnet::cli {

inline constexpr int exit_ok = 0;
inline constexpr int exit_failure = 1;
inline constexpr int exit_usage = 2;

struct Context {
    Config config;
    // Opened on first use, so `podnet config show` and usage errors need no root.
    [[nodiscard]] Result<Runtime*> runtime();

  private:
    std::optional<Runtime> runtime_;
};

using Args = std::span<const std::string>;

// One line on stderr: "podnet: <message>".
int report(const Error& error, int code = exit_failure);
int usage_error(const std::string& message);

int cmd_sandbox(Context& ctx, Args args);
int cmd_run(Context& ctx, Args args);
int cmd_ps(Context& ctx, Args args);
int cmd_kill(Context& ctx, Args args);
int cmd_logs(Context& ctx, Args args);
int cmd_gc(Context& ctx, Args args);
int cmd_network(Context& ctx, Args args);
int cmd_port(Context& ctx, Args args);
int cmd_cni(Context& ctx, Args args);
int cmd_policy(Context& ctx, Args args);
int cmd_namespace(Context& ctx, Args args);
int cmd_overlay(Context& ctx, Args args);
int cmd_lab(Context& ctx, Args args);

// The top-level commands run_main dispatches to; every one has an entry in the help table
// (cli/help.hpp), which the tests check.
struct CommandEntry {
    std::string_view name;
    int (*handler)(Context& ctx, Args args);
    bool needs_config;  // false: runs without reading podnet.toml (help, completion)
};
std::span<const CommandEntry> command_table();

// podnet's main(): global options, then the command.
int run_main(int argc, char** argv);

}  // namespace podnet::cli
