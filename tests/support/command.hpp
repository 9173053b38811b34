#pragma once
// Running programs from tests: the podnet CLI, examples, helpers.

#include <string>
#include <vector>

namespace podnet::test {

struct CommandResult {
    int exit_code = -1;  // 128+N when killed by signal N; -1 when it could not start
    std::string out;
    std::string err;
    double ms = 0;  // fork to reaped
};

struct RunOptions {
    std::vector<std::string> env;  // "K=V", added to this process's environment...
    bool only_env = false;         // ...or, when set, the whole environment
    std::string stdin_text;        // written to its stdin (otherwise /dev/null); keep it < 64 KiB
    int timeout_ms = 30000;        // then SIGKILL
};

CommandResult run_program(const std::vector<std::string>& argv, const RunOptions& options);

// Runs argv with optional extra environment ("K=V"), waits at most `timeout_ms` (then SIGKILL).
CommandResult run_command(const std::vector<std::string>& argv,
                          const std::vector<std::string>& extra_env = {}, int timeout_ms = 30000);

// The build's bin directory (podnet, podnet-pause, test helpers, examples).
std::string bin_dir();
std::string source_dir();

// A fresh directory under $TMPDIR (a private tmpfs inside the isolated tests).
std::string make_temp_dir(const std::string& prefix);

// `podnet --root ROOT args...`
CommandResult run_podnet(const std::string& root, const std::vector<std::string>& args,
                         const std::vector<std::string>& extra_env = {});

std::string trim(std::string s);

// prefix followed by n: numbered("node", 3) is "node3". (Not `"node" + std::to_string(n)`: g++ 12
// at -O3 reports a false -Wrestrict on a literal prepended to a temporary, GCC bug 105329.)
inline std::string numbered(std::string prefix, long n) {
    prefix += std::to_string(n);
    return prefix;
}

}  // namespace podnet::test

namespace podnet::test {
// Everything a podnet root still holds in the kernel and on disk: mounts under it, sandbox
// records, name links, pod directories, pause processes tagged with it. Empty when clean.
std::vector<std::string> leftovers(const std::string& root);
}  // namespace podnet::test
