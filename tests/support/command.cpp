#include "tests/support/command.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>

extern char** environ;

namespace podnet::test {

CommandResult run_command(const std::vector<std::string>& argv,
                          const std::vector<std::string>& extra_env, int timeout_ms) {
    RunOptions options;
    options.env = extra_env;
    options.timeout_ms = timeout_ms;
    return run_program(argv, options);
}

CommandResult run_program(const std::vector<std::string>& argv, const RunOptions& options) {
    CommandResult result;
    int out_pipe[2], err_pipe[2], in_pipe[2];
    if (::pipe2(out_pipe, O_CLOEXEC) != 0 || ::pipe2(err_pipe, O_CLOEXEC) != 0 ||
        ::pipe2(in_pipe, O_CLOEXEC) != 0)
        return result;
    std::vector<std::string> env_strings;
    if (!options.only_env)
        for (char** e = environ; *e != nullptr; ++e) env_strings.emplace_back(*e);
    for (const auto& e : options.env) env_strings.push_back(e);
    std::vector<char*> envp, args;
    for (auto& e : env_strings) envp.push_back(e.data());
    envp.push_back(nullptr);
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);

    bool feed = !options.stdin_text.empty();
    auto start = std::chrono::steady_clock::now();
    pid_t pid = ::fork();
    if (pid == 0) {
        ::dup2(feed ? in_pipe[0] : ::open("/dev/null", O_RDONLY), 0);
        ::dup2(out_pipe[1], 1);
        ::dup2(err_pipe[1], 2);
        ::execve(args[0], args.data(), envp.data());
        std::fprintf(stderr, "exec %s: %s\n", args[0], std::strerror(errno));
        ::_exit(127);
    }
    ::close(out_pipe[1]);
    ::close(err_pipe[1]);
    ::close(in_pipe[0]);
    if (feed) (void)!::write(in_pipe[1], options.stdin_text.data(), options.stdin_text.size());
    ::close(in_pipe[1]);
    auto deadline = start + std::chrono::milliseconds(options.timeout_ms);
    pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
    int open_count = 2;
    bool killed = false;
    while (open_count > 0) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                        deadline - std::chrono::steady_clock::now())
                        .count();
        if (left <= 0 && !killed) {
            ::kill(pid, SIGKILL);
            killed = true;
        }
        int rc = ::poll(fds, 2, left > 0 ? static_cast<int>(std::min<long>(left, 50)) : 50);
        if (rc < 0 && errno == EINTR) continue;
        for (int i = 0; i < 2; ++i) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP))) continue;
            char buf[4096];
            ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
            if (n <= 0) {
                ::close(fds[i].fd);
                fds[i].fd = -1;
                --open_count;
            } else {
                (i == 0 ? result.out : result.err).append(buf, static_cast<size_t>(n));
            }
        }
        // Output pipes may be held open by a detached grandchild: stop once ours has exited.
        int status = 0;
        if (::waitpid(pid, &status, WNOHANG) == pid) {
            result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            pid = -1;
            // Drain what is already buffered, without waiting for other holders of the pipe.
            for (int i = 0; i < 2; ++i) {
                if (fds[i].fd < 0) continue;
                ::fcntl(fds[i].fd, F_SETFL, O_NONBLOCK);
                char buf[4096];
                ssize_t n;
                while ((n = ::read(fds[i].fd, buf, sizeof buf)) > 0)
                    (i == 0 ? result.out : result.err).append(buf, static_cast<size_t>(n));
                ::close(fds[i].fd);
                fds[i].fd = -1;
            }
            break;
        }
    }
    if (pid > 0) {
        int status = 0;
        ::waitpid(pid, &status, 0);
        result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    result.ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    return result;
}

std::string bin_dir() {
    return PODNET_TEST_BIN_DIR;
}
std::string source_dir() {
    return PODNET_TEST_SOURCE_DIR;
}

std::string make_temp_dir(const std::string& prefix) {
    const char* tmpdir = std::getenv("TMPDIR");
    std::string tmpl = std::string(tmpdir != nullptr ? tmpdir : "/tmp") + "/" + prefix + "-XXXXXX";
    char* dir = ::mkdtemp(tmpl.data());
    return dir != nullptr ? std::string(dir) : std::string();
}

CommandResult run_podnet(const std::string& root, const std::vector<std::string>& args,
                         const std::vector<std::string>& extra_env) {
    std::vector<std::string> argv = {bin_dir() + "/podnet", "--root", root};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_command(argv, extra_env);
}

std::string trim(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
}

}  // namespace podnet::test

#include "common/fs.hpp"
#include "common/process.hpp"

namespace podnet::test {

std::vector<std::string> leftovers(const std::string& root) {
    std::vector<std::string> found;
    if (auto mounts = read_file("/proc/self/mountinfo")) {
        size_t start = 0;
        while (start < mounts->size()) {
            size_t end = mounts->find('\n', start);
            std::string line = mounts->substr(start, end - start);
            if (line.find(" " + root + "/") != std::string::npos) found.push_back("mount: " + line);
            if (end == std::string::npos) break;
            start = end + 1;
        }
    }
    for (const char* dir : {"/run/sandboxes", "/run/names", "/run/pods", "/run/ports"}) {
        auto names = list_dir(root + dir);
        if (names)
            for (const auto& n : *names)
                found.push_back(std::string("file: ") + root + dir + "/" + n);
    }
    auto procs = list_dir("/proc");
    if (procs) {
        for (const auto& p : *procs) {
            if (p.find_first_not_of("0123456789") != std::string::npos) continue;
            auto argv = read_proc_cmdline(std::stoi(p));
            if (!argv || argv->empty() || !(*argv)[0].ends_with("podnet-pause")) continue;
            for (const auto& a : *argv)
                if (a == root + "/run") {
                    auto st = read_proc_stat(std::stoi(p));
                    if (st && st->state != 'Z') found.push_back("process: pause " + p);
                }
        }
    }
    return found;
}

}  // namespace podnet::test
