#include "cni-runner/plugin_exec.hpp"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <thread>

#include "common/unique_fd.hpp"

namespace podnet::cni {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// What a plugin gets when the runtime itself has no PATH (started by a bare init, env -i).
constexpr const char* fallback_path =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
// The unparsable stdout of a failed plugin is evidence, not a message: keep enough to recognise.
constexpr size_t details_limit = 512;
// Code for a failure that came without an error object (the spec leaves 100+ to plugins;
// libcni-based runtimes use 999 the same way).
constexpr int unparsed_error_code = 999;

std::string join(const std::vector<std::string>& parts, char separator) {
    std::string out;
    for (size_t i = 0; i < parts.size(); ++i) {
        if (i > 0) out.push_back(separator);
        out += parts[i];
    }
    return out;
}

std::string base_name(const std::string& path) {
    auto slash = path.rfind('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string trim(std::string_view text) {
    constexpr std::string_view space = " \t\r\n\v\f";
    auto first = text.find_first_not_of(space);
    if (first == std::string_view::npos) return {};
    auto last = text.find_last_not_of(space);
    return std::string(text.substr(first, last - first + 1));
}

// Cut at `limit` bytes without splitting a UTF-8 sequence, so the text stays valid in JSON logs.
std::string truncate_utf8(std::string text, size_t limit) {
    if (text.size() <= limit) return text;
    size_t cut = limit;
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
    text.resize(cut);
    return text;
}

const char* code_name(int code) {
    switch (code) {
        case 1:
            return "incompatible CNI version";
        case 2:
            return "unsupported field in network configuration";
        case 3:
            return "container unknown or does not exist";
        case 4:
            return "invalid necessary environment variables";
        case 5:
            return "I/O failure";
        case 6:
            return "failed to decode content";
        case 7:
            return "invalid network config";
        case 11:
            return "try again later";
        case 50:
            return "plugin not available";
        case 51:
            return "plugin not available, limited connectivity";
        default:
            return "plugin error";
    }
}

// A pipe end numbered 0..2 (possible when the runtime runs with stdio closed) would be
// clobbered by the child's dup2 onto 0..2, so move it above.
Result<void> lift_above_stdio(UniqueFd& fd) {
    if (fd.get() > 2) return {};
    int moved = ::fcntl(fd.get(), F_DUPFD_CLOEXEC, 3);
    if (moved < 0) return fail_errno("duplicate pipe descriptor", errno);
    fd.reset(moved);
    return {};
}

struct Pipe {
    UniqueFd read_end;
    UniqueFd write_end;
};

Result<Pipe> make_pipe(const char* what) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0)
        return fail_errno(std::string("create ") + what + " pipe", errno);
    Pipe p{UniqueFd(fds[0]), UniqueFd(fds[1])};
    if (auto r = lift_above_stdio(p.read_end); !r) return wrap(r.error(), what);
    if (auto r = lift_above_stdio(p.write_end); !r) return wrap(r.error(), what);
    return p;
}

// Everything the child needs, prepared before fork: after fork in a multi-threaded process only
// async-signal-safe calls are allowed, so no allocation happens there.
struct ChildSetup {
    const char* path;
    char* const* argv;
    char* const* envp;
    int stdin_fd;
    int stdout_fd;
    int stderr_fd;
    int status_fd;  // CLOEXEC: EOF tells the parent execve succeeded, an int is its errno
};

[[noreturn]] void report_and_exit(int status_fd, int err) {
    ssize_t ignored = ::write(status_fd, &err, sizeof err);
    (void)ignored;
    ::_exit(127);
}

[[noreturn]] void run_child(const ChildSetup& s) {
    // Its own process group, so a timeout kills whatever the plugin started as well.
    ::setpgid(0, 0);
    // execve keeps the signal mask and ignored dispositions; a plugin (often a shell script)
    // must not inherit a runtime's blocked signals or ignored SIGPIPE.
    sigset_t none;
    ::sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    ::sigaction(SIGPIPE, &dfl, nullptr);

    if (::dup2(s.stdin_fd, 0) < 0 || ::dup2(s.stdout_fd, 1) < 0 || ::dup2(s.stderr_fd, 2) < 0)
        report_and_exit(s.status_fd, errno);
    // All pipe ends are >= 3, so 3 is free to take the status pipe now that 0..2 are set.
    if (s.status_fd != 3 && ::dup2(s.status_fd, 3) < 0) report_and_exit(s.status_fd, errno);
    ::fcntl(3, F_SETFD, FD_CLOEXEC);
    // Really close, not just mark close-on-exec: execve checks for writers of the binary before
    // it closes CLOEXEC descriptors, so an inherited descriptor open for writing on the plugin
    // (another thread of the runtime installing it) would make this very execve fail with
    // ETXTBSY. Closing also keeps the runtime's sockets and lock files out of the plugin.
    if (::close_range(4, ~0U, 0) != 0) {
        long max_fd = ::sysconf(_SC_OPEN_MAX);
        if (max_fd < 0 || max_fd > 65536) max_fd = 65536;
        for (int fd = 4; fd < max_fd; ++fd) ::close(fd);
    }
    ::execve(s.path, s.argv, s.envp);
    report_and_exit(3, errno);
}

struct RunningChild {
    pid_t pid = -1;
    UniqueFd stdin_fd;
    UniqueFd stdout_fd;
    UniqueFd stderr_fd;
    UniqueFd status_fd;
};

Result<RunningChild> start_child(const std::string& path, char* const* argv, char* const* envp) {
    auto in = make_pipe("stdin");
    if (!in) return std::unexpected(in.error());
    auto out = make_pipe("stdout");
    if (!out) return std::unexpected(out.error());
    auto err = make_pipe("stderr");
    if (!err) return std::unexpected(err.error());
    auto status = make_pipe("exec status");
    if (!status) return std::unexpected(status.error());

    ChildSetup setup{path.c_str(),
                     argv,
                     envp,
                     in->read_end.get(),
                     out->write_end.get(),
                     err->write_end.get(),
                     status->write_end.get()};
    pid_t pid = ::fork();
    if (pid < 0) return fail_errno("fork", errno);
    if (pid == 0) run_child(setup);
    // Also from the parent, so the group exists whichever side runs first; EACCES once the
    // child has exec'd is fine, it did this itself by then.
    ::setpgid(pid, pid);

    RunningChild child;
    child.pid = pid;
    child.stdin_fd = std::move(in->write_end);
    child.stdout_fd = std::move(out->read_end);
    child.stderr_fd = std::move(err->read_end);
    child.status_fd = std::move(status->read_end);
    return child;
}

int wait_child(pid_t pid) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return status;
}

// The plugin's group, then the plugin itself should the group not exist (it had not reached
// setpgid): SIGKILL, since a hung plugin gets no say.
void kill_and_reap(pid_t pid) {
    if (::kill(-pid, SIGKILL) != 0) ::kill(pid, SIGKILL);
    wait_child(pid);
}

std::unexpected<Error> timeout_error(const std::string& what, milliseconds timeout) {
    return fail(what + " timed out after " + std::to_string(timeout.count()) + " ms, killed");
}

int remaining_ms(Clock::time_point deadline) {
    auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return 0;
    return static_cast<int>(std::min<long long>(left, 60'000));
}

// Blocks until the status pipe says how execve went: 0 when it succeeded, its errno when not,
// -1 when the deadline passed first.
Result<int> wait_for_exec(int status_fd, Clock::time_point deadline) {
    int err = 0;
    size_t got = 0;
    for (;;) {
        pollfd p{status_fd, POLLIN, 0};
        int ready = ::poll(&p, 1, remaining_ms(deadline));
        if (ready < 0) {
            if (errno == EINTR) continue;
            return fail_errno("poll exec status pipe", errno);
        }
        if (ready == 0) {
            if (Clock::now() >= deadline) return -1;
            continue;
        }
        ssize_t n = ::read(status_fd, reinterpret_cast<char*>(&err) + got, sizeof err - got);
        if (n < 0) {
            if (errno == EINTR) continue;
            return fail_errno("read exec status pipe", errno);
        }
        if (n == 0) return 0;  // closed by execve: the plugin is running
        got += static_cast<size_t>(n);
        if (got == sizeof err) return err == 0 ? EIO : err;
    }
}

// A write to a pipe whose reader is gone raises SIGPIPE, which kills the runtime unless it
// ignores it. Block it on this thread for the write and consume the one this write raised;
// the process-wide disposition belongs to the program, not to this library.
ssize_t write_without_sigpipe(int fd, const char* data, size_t size) {
    sigset_t sigpipe_only;
    ::sigemptyset(&sigpipe_only);
    ::sigaddset(&sigpipe_only, SIGPIPE);
    sigset_t old_mask;
    ::pthread_sigmask(SIG_BLOCK, &sigpipe_only, &old_mask);
    sigset_t pending;
    ::sigpending(&pending);
    bool was_pending = ::sigismember(&pending, SIGPIPE) == 1;

    ssize_t n = ::write(fd, data, size);
    int err = errno;
    if (n < 0 && err == EPIPE && !was_pending) {
        timespec zero{};
        while (::sigtimedwait(&sigpipe_only, nullptr, &zero) < 0 && errno == EINTR) {
        }
    }
    ::pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
    errno = err;
    return n;
}

// One read of what poll said is ready (a second one could block); closes `fd` at EOF or on a
// read error, either way nothing more will come.
void read_some(UniqueFd& fd, std::string& sink) {
    char buf[65536];
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n > 0) {
        sink.append(buf, static_cast<size_t>(n));
    } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
        fd.reset();
    }
}

std::optional<PluginError> parse_error_object(const std::string& text) {
    auto doc = nlohmann::json::parse(text, nullptr, false);
    if (doc.is_discarded() || !doc.is_object()) return std::nullopt;
    auto code = doc.find("code");
    if (code == doc.end() || !code->is_number_integer()) return std::nullopt;
    auto value = code->get<int64_t>();
    if (code->is_number_unsigned() && code->get<uint64_t>() > INT32_MAX) return std::nullopt;
    if (value < INT32_MIN || value > INT32_MAX) return std::nullopt;
    PluginError e;
    e.code = static_cast<int>(value);
    if (auto msg = doc.find("msg"); msg != doc.end()) {
        if (!msg->is_string()) return std::nullopt;
        e.msg = msg->get<std::string>();
    }
    if (auto details = doc.find("details"); details != doc.end()) {
        if (!details->is_string()) return std::nullopt;
        e.details = details->get<std::string>();
    }
    return e;
}

void settle_outcome(PluginOutcome& outcome, int wait_status) {
    std::string fallback;
    if (WIFEXITED(wait_status)) {
        outcome.exit_status = WEXITSTATUS(wait_status);
        fallback = "exit status " + std::to_string(outcome.exit_status);
    } else if (WIFSIGNALED(wait_status)) {
        outcome.exit_status = 128 + WTERMSIG(wait_status);
        fallback = "killed by signal " + std::to_string(WTERMSIG(wait_status));
    } else {
        outcome.exit_status = 255;
        fallback = "wait status " + std::to_string(wait_status);
    }
    if (outcome.exit_status == 0) return;
    if (auto parsed = parse_error_object(outcome.stdout_text)) {
        outcome.error = std::move(*parsed);
        return;
    }
    PluginError e;
    e.code = unparsed_error_code;
    e.msg = trim(outcome.stderr_text);
    if (e.msg.empty()) e.msg = std::move(fallback);
    e.details = truncate_utf8(trim(outcome.stdout_text), details_limit);
    outcome.error = std::move(e);
}

// Feeds stdin and collects stdout and stderr together (a plugin that writes a lot before
// reading, or fills stderr, must not deadlock against us), then reaps the child.
Result<PluginOutcome> communicate(RunningChild& child, const std::string& stdin_text,
                                  Clock::time_point deadline, const std::string& what,
                                  milliseconds timeout) {
    auto timed_out = [&]() -> Result<PluginOutcome> {
        kill_and_reap(child.pid);
        return timeout_error(what, timeout);
    };

    size_t written = 0;
    if (stdin_text.empty()) {
        child.stdin_fd.reset();
    } else if (::fcntl(child.stdin_fd.get(), F_SETFL, O_NONBLOCK) != 0) {
        int err = errno;
        kill_and_reap(child.pid);
        return fail_errno(what + ": set stdin pipe non-blocking", err);
    }

    PluginOutcome outcome;
    milliseconds exit_poll{1};
    for (;;) {
        pollfd fds[3];
        UniqueFd* owners[3];
        nfds_t count = 0;
        if (child.stdin_fd) {
            fds[count] = {child.stdin_fd.get(), POLLOUT, 0};
            owners[count++] = &child.stdin_fd;
        }
        if (child.stdout_fd) {
            fds[count] = {child.stdout_fd.get(), POLLIN, 0};
            owners[count++] = &child.stdout_fd;
        }
        if (child.stderr_fd) {
            fds[count] = {child.stderr_fd.get(), POLLIN, 0};
            owners[count++] = &child.stderr_fd;
        }

        if (count == 0) {
            // Output closed; the plugin usually exits right after. Without a pidfd there is
            // nothing to poll for that, so look at short, growing intervals.
            int status = 0;
            pid_t r = ::waitpid(child.pid, &status, WNOHANG);
            if (r == child.pid) {
                settle_outcome(outcome, status);
                return outcome;
            }
            if (r < 0 && errno != EINTR) {
                int err = errno;
                kill_and_reap(child.pid);
                return fail_errno(what + ": wait for plugin", err);
            }
            if (Clock::now() >= deadline) return timed_out();
            std::this_thread::sleep_for(
                std::min(exit_poll, milliseconds(remaining_ms(deadline)) + milliseconds(1)));
            exit_poll = std::min(exit_poll * 2, milliseconds(50));
            continue;
        }

        if (Clock::now() >= deadline) return timed_out();
        int ready = ::poll(fds, count, remaining_ms(deadline));
        if (ready < 0) {
            if (errno == EINTR) continue;
            int err = errno;
            kill_and_reap(child.pid);
            return fail_errno(what + ": poll plugin pipes", err);
        }
        for (nfds_t i = 0; i < count; ++i) {
            if (fds[i].revents == 0) continue;
            UniqueFd& fd = *owners[i];
            if (&fd == &child.stdin_fd) {
                ssize_t n = write_without_sigpipe(fd.get(), stdin_text.data() + written,
                                                  stdin_text.size() - written);
                if (n > 0) written += static_cast<size_t>(n);
                // EPIPE and the like: the plugin stopped reading; its exit status will say
                // whether it minded. Closing our end after the last byte is its EOF.
                bool retry = n < 0 && (errno == EAGAIN || errno == EINTR);
                if (written == stdin_text.size() || (n < 0 && !retry)) fd.reset();
            } else {
                read_some(fd, &fd == &child.stdout_fd ? outcome.stdout_text : outcome.stderr_text);
            }
        }
    }
}

}  // namespace

std::vector<std::string> split_path_list(const std::string& text) {
    std::vector<std::string> parts;
    size_t start = 0;
    while (start <= text.size()) {
        size_t colon = text.find(':', start);
        if (colon == std::string::npos) colon = text.size();
        if (colon > start) parts.push_back(text.substr(start, colon - start));
        start = colon + 1;
    }
    return parts;
}

Result<std::string> find_plugin(const std::string& type, const std::vector<std::string>& dirs) {
    if (type.empty() || type == "." || type == ".." ||
        type.find_first_of(std::string_view("/\0", 2)) != std::string::npos)
        return fail("invalid CNI plugin type \"" + type + "\": must be a file name, not a path");
    for (const auto& dir : dirs) {
        if (dir.empty()) continue;
        std::string candidate = dir + "/" + type;
        struct stat st {};
        if (::stat(candidate.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
        if ((st.st_mode & 0111) == 0) continue;
        if (::faccessat(AT_FDCWD, candidate.c_str(), X_OK, AT_EACCESS) != 0) continue;
        return candidate;
    }
    return fail("CNI plugin \"" + type + "\" not found in " +
                (dirs.empty() ? std::string("(no plugin directories)") : join(dirs, ':')));
}

std::vector<std::string> plugin_environment(const PluginInvocation& call) {
    std::vector<std::string> env;
    env.push_back("CNI_COMMAND=" + call.command);
    if (!call.container_id.empty()) env.push_back("CNI_CONTAINERID=" + call.container_id);
    if (!call.netns.empty()) env.push_back("CNI_NETNS=" + call.netns);
    if (!call.ifname.empty()) env.push_back("CNI_IFNAME=" + call.ifname);
    if (!call.args.empty()) {
        std::string args;
        for (const auto& [key, value] : call.args) {
            if (!args.empty()) args.push_back(';');
            args += key + "=" + value;
        }
        env.push_back("CNI_ARGS=" + args);
    }
    env.push_back("CNI_PATH=" + join(call.plugin_dirs, ':'));
    const char* path = std::getenv("PATH");
    env.push_back(std::string("PATH=") + (path != nullptr && *path != '\0' ? path : fallback_path));
    return env;
}

Result<PluginOutcome> exec_plugin(const std::string& plugin_path, const PluginInvocation& call,
                                  const std::string& stdin_text, const ExecOptions& options) {
    const std::string what = "plugin " + base_name(plugin_path) + " " + call.command;
    // One deadline for the whole call, ETXTBSY retries included: it bounds what the caller waits.
    const auto deadline = Clock::now() + options.timeout;

    std::vector<std::string> env = plugin_environment(call);
    std::vector<char*> envp;
    for (auto& entry : env) envp.push_back(entry.data());
    envp.push_back(nullptr);
    std::string argv0 = plugin_path;
    char* argv[] = {argv0.data(), nullptr};

    for (int attempt = 0;; ++attempt) {
        auto child = start_child(plugin_path, argv, envp.data());
        if (!child) return wrap(child.error(), "run " + what);
        auto exec_result = wait_for_exec(child->status_fd.get(), deadline);
        if (!exec_result) {
            kill_and_reap(child->pid);
            return wrap(exec_result.error(), "run " + what);
        }
        if (*exec_result == -1) {
            kill_and_reap(child->pid);
            return timeout_error(what, options.timeout);
        }
        if (*exec_result == 0) {
            child->status_fd.reset();
            return communicate(*child, stdin_text, deadline, what, options.timeout);
        }
        int err = *exec_result;
        wait_child(child->pid);
        // ETXTBSY: someone still has the binary open for writing (an install in progress, or
        // another thread's fork inherited such a descriptor); it is usually a moment's wait.
        if (err == ETXTBSY && attempt < options.etxtbsy_retries) {
            auto backoff = milliseconds(50) * (int64_t{1} << std::min(attempt, 16));
            if (Clock::now() + backoff < deadline) {
                std::this_thread::sleep_for(backoff);
                continue;
            }
        }
        std::string context = "exec plugin " + plugin_path;
        if (err == ETXTBSY && attempt > 0)
            context +=
                " (after " + std::to_string(attempt) + (attempt == 1 ? " retry)" : " retries)");
        return fail_errno(context, err);
    }
}

std::string describe_plugin_error(const std::string& type, const PluginError& error) {
    std::string text = "plugin " + type + ": [" + std::to_string(error.code) + "] ";
    text += error.msg.empty() ? code_name(error.code) : error.msg;
    if (!error.details.empty()) text += " (" + error.details + ")";
    return text;
}

}  // namespace podnet::cni
