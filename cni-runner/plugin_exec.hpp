#pragma once
// Executing one CNI plugin the way the spec and libcni do: the binary found in the CNI_PATH
// directories, parameters in the environment, the network configuration on stdin, the result or
// an error object on stdout. The plugin runs in its own process group so a timeout kills it and
// everything it started; an exec that meets ETXTBSY (the binary is still being written, e.g.
// just installed) is retried.

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/result.hpp"

namespace podnet::cni {

// Default CNI_PATH: the usual install location first, then Debian's package location.
inline constexpr const char* default_plugin_path = "/opt/cni/bin:/usr/lib/cni";

// Split "a:b:c" (empty entries dropped).
[[nodiscard]] std::vector<std::string> split_path_list(const std::string& text);

// The first executable file `type` in `dirs`. A type containing '/' (or empty, "." or "..") is
// refused: plugins are names, never paths. Errors name the type and the directories searched.
[[nodiscard]] Result<std::string> find_plugin(const std::string& type,
                                              const std::vector<std::string>& dirs);

struct PluginInvocation {
    std::string command;       // CNI_COMMAND: ADD, DEL, CHECK, VERSION, STATUS, GC
    std::string container_id;  // empty for VERSION, STATUS, GC (then not set in the env)
    std::string netns;
    std::string ifname;
    std::vector<std::pair<std::string, std::string>> args;  // CNI_ARGS "K=V;K2=V2"
    std::vector<std::string> plugin_dirs;                   // CNI_PATH (joined with ':')
};

// The environment a plugin sees: the CNI_* variables of `call` plus PATH (the caller's PATH, or
// a standard one when unset). Nothing else of the runtime's environment leaks in.
// CNI_COMMAND and CNI_PATH are always set; CNI_CONTAINERID, CNI_NETNS and CNI_IFNAME only when
// non-empty; CNI_ARGS only when there are args.
[[nodiscard]] std::vector<std::string> plugin_environment(const PluginInvocation& call);

// A plugin's error object (spec: "Error"), or what podnet made of an unparsable failure.
struct PluginError {
    int code = 0;  // 1 incompatible version, 2 unsupported field, 3 unknown container, 4 invalid
                   // env, 5 I/O, 6 decode, 7 invalid config, 11 try again, 50 status; 100+ plugin
    std::string msg;
    std::string details;
};

struct PluginOutcome {
    int exit_status = 0;  // 0 success; 128 + N when killed by signal N (as shells report it)
    std::string stdout_text;
    std::string stderr_text;           // kept for the log; never parsed
    std::optional<PluginError> error;  // set when exit_status != 0
};

struct ExecOptions {
    std::chrono::milliseconds timeout{std::chrono::seconds(60)};
    int etxtbsy_retries = 5;  // spaced 50, 100, 200, ... ms
};

// Run `plugin_path` with `call`'s environment and `stdin_text`. Result errors are about podnet
// failing to run it (fork, exec, timeout: "plugin bridge ADD timed out after 2000 ms, killed");
// a plugin that ran and failed is a PluginOutcome with `error` set. A non-zero exit whose stdout
// is not an error object (a JSON object with an integer "code", string "msg"/"details" when
// present) becomes code 999 with the trimmed stderr (else "exit status N" / "killed by signal
// N") as msg and the trimmed stdout, cut to 512 bytes, as details.
// `options.timeout` bounds the whole call, ETXTBSY retries included; the plugin counts as done
// when its stdout and stderr are closed and it has exited, so a background process that keeps
// them open runs into the timeout. Only a timeout kills the process group. SIGPIPE is blocked
// on the calling thread while writing stdin; the process-wide disposition is left alone.
[[nodiscard]] Result<PluginOutcome> exec_plugin(const std::string& plugin_path,
                                                const PluginInvocation& call,
                                                const std::string& stdin_text,
                                                const ExecOptions& options);

// How a PluginError reads in an error message: "plugin bridge: [7] bad config (details)"
// (" (details)" only when there are details; an empty msg is replaced by the spec's meaning of
// the code, e.g. "[7] invalid network config").
[[nodiscard]] std::string describe_plugin_error(const std::string& type, const PluginError& error);

}  // namespace podnet::cni
