// podnet run | ps | kill | logs.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <iostream>
#include <optional>
#include <thread>

#include "cli/args.hpp"
#include "cli/cli.hpp"
#include "cli/output.hpp"
#include "common/fs.hpp"
#include "common/unique_fd.hpp"

namespace podnet::cli {

namespace {

volatile sig_atomic_t forward_to = 0;
volatile sig_atomic_t own_terminal = 0;  // -t: the container is in a session of its own
volatile sig_atomic_t window_changed = 0;

// Signals sent to `podnet run` go on to the container, as with `docker run`. Signals the
// terminal generates (si_code SI_KERNEL) already reach the container, which shares our process
// group; forwarding those would deliver them twice. With -t the container has its own terminal:
// a new window size is copied to it (whose kernel then sends SIGWINCH) and the rest is forwarded.
void forward_signal(int sig, siginfo_t* info, void*) {
    if (own_terminal && sig == SIGWINCH) {
        window_changed = 1;
        return;
    }
    if (!own_terminal && info != nullptr && info->si_code == SI_KERNEL) return;
    if (forward_to > 0) ::kill(forward_to, sig);
}

void install_forwarding(pid_t pid) {
    forward_to = pid;
    struct sigaction action {};
    action.sa_sigaction = forward_signal;
    action.sa_flags = SA_SIGINFO | SA_RESTART;
    for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH})
        ::sigaction(sig, &action, nullptr);
}

Result<int> parse_signal(const std::string& text) {
    static const std::pair<const char*, int> names[] = {
        {"HUP", SIGHUP},   {"INT", SIGINT},     {"QUIT", SIGQUIT}, {"KILL", SIGKILL},
        {"USR1", SIGUSR1}, {"USR2", SIGUSR2},   {"TERM", SIGTERM}, {"STOP", SIGSTOP},
        {"CONT", SIGCONT}, {"WINCH", SIGWINCH}, {"ALRM", SIGALRM}};
    std::string name = text;
    for (auto& c : name) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (name.starts_with("SIG")) name = name.substr(3);
    for (const auto& [n, sig] : names)
        if (name == n) return sig;
    char* end = nullptr;
    long number = std::strtol(text.c_str(), &end, 10);
    if (!text.empty() && *end == '\0' && number > 0 && number < NSIG)
        return static_cast<int>(number);
    return fail("unknown signal \"" + text + "\"");
}

Result<std::pair<uid_t, std::optional<gid_t>>> parse_user(const std::string& text) {
    auto colon = text.find(':');
    auto number = [](const std::string& s) -> std::optional<unsigned long> {
        if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos || s.size() > 10)
            return std::nullopt;
        unsigned long v = std::stoul(s);
        return v <= 0xfffffffeUL ? std::optional(v) : std::nullopt;
    };
    auto uid = number(text.substr(0, colon));
    if (!uid) return fail("--user " + text + ": expected UID[:GID] as numbers");
    std::optional<gid_t> gid;
    if (colon != std::string::npos) {
        auto g = number(text.substr(colon + 1));
        if (!g) return fail("--user " + text + ": expected UID[:GID] as numbers");
        gid = static_cast<gid_t>(*g);
    }
    return std::pair{static_cast<uid_t>(*uid), gid};
}

// `podnet run -d --rm`: a small process of its own session, without our stdio (whoever reads
// our output sees its end now), waits for the container and forgets it, as Docker's daemon
// or podman's conmon would. Only this path forks.
void watch_for_removal(Runtime& runtime, const RunningContainer& container) {
    pid_t pid = ::fork();
    if (pid != 0) return;  // a failed fork leaves it to the next run in the sandbox
    ::setsid();
    int devnull = ::open("/dev/null", O_RDWR);
    for (int fd = 0; fd <= 2; ++fd) ::dup2(devnull, fd);
    if (devnull > 2) ::close(devnull);
    (void)runtime.remove_after_exit(container);
    ::_exit(0);
}

// `podnet run -it`: a pty whose slave end the container gets; podnet relays between its own
// stdio and the master.
struct Pty {
    UniqueFd master, slave;
};

Result<Pty> open_pty() {
    UniqueFd master(::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
    if (!master) return fail_errno("open a pseudo-terminal", errno);
    if (::grantpt(master.get()) != 0 || ::unlockpt(master.get()) != 0)
        return fail_errno("unlock the pseudo-terminal", errno);
    char name[64];
    if (int rc = ::ptsname_r(master.get(), name, sizeof name); rc != 0)
        return fail_errno("name the pseudo-terminal", rc);
    UniqueFd slave(::open(name, O_RDWR | O_NOCTTY | O_CLOEXEC));
    if (!slave) return fail_errno(std::string("open ") + name, errno);
    return Pty{std::move(master), std::move(slave)};
}

// The size of podnet's own terminal (stdin's, else stdout's) onto the container's.
void copy_window_size(int master) {
    winsize size{};
    if (::ioctl(0, TIOCGWINSZ, &size) == 0 || ::ioctl(1, TIOCGWINSZ, &size) == 0)
        ::ioctl(master, TIOCSWINSZ, &size);
}

// Raw mode on podnet's terminal while relaying: keys go to the container's terminal, which
// does the echoing and line editing and turns ^C into SIGINT. Restored on every way out.
class RawMode {
  public:
    RawMode() {
        if (::tcgetattr(0, &saved_) != 0) return;
        termios raw = saved_;
        ::cfmakeraw(&raw);
        active_ = ::tcsetattr(0, TCSANOW, &raw) == 0;
    }
    ~RawMode() {
        if (active_) ::tcsetattr(0, TCSADRAIN, &saved_);
    }
    RawMode(const RawMode&) = delete;
    RawMode& operator=(const RawMode&) = delete;

  private:
    termios saved_{};
    bool active_ = false;
};

bool write_all(int fd, const char* data, size_t size) {
    while (size > 0) {
        ssize_t n = ::write(fd, data, size);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        data += n;
        size -= static_cast<size_t>(n);
    }
    return true;
}

// Copies the master's output to stdout and (with -i) stdin to the master until the container's
// helper exits, then drains what the container wrote last. stdout stays blocking (it may be
// shared with other processes); the master, ours alone, is non-blocking.
void relay(int master, pid_t helper, bool interactive) {
    UniqueFd exited(static_cast<int>(::syscall(SYS_pidfd_open, helper, 0)));
    ::fcntl(master, F_SETFL, ::fcntl(master, F_GETFL) | O_NONBLOCK);
    std::string pending;  // stdin bytes the master has not taken yet
    bool stdin_open = interactive, master_open = true;
    char buf[8192];
    auto drain_master = [&] {
        for (;;) {
            ssize_t n = ::read(master, buf, sizeof buf);
            if (n > 0 && write_all(1, buf, static_cast<size_t>(n))) continue;
            if (n < 0 && errno == EINTR) continue;
            // EAGAIN: nothing more now; EIO: every slave end is closed.
            if (n == 0 || (n < 0 && errno != EAGAIN)) master_open = false;
            return;
        }
    };
    for (;;) {
        if (window_changed) {
            window_changed = 0;
            copy_window_size(master);
        }
        pollfd fds[3] = {{exited.get(), POLLIN, 0},
                         {master, static_cast<short>(master_open ? POLLIN : 0), 0},
                         {0, static_cast<short>(stdin_open && pending.empty() ? POLLIN : 0), 0}};
        if (master_open && !pending.empty()) fds[1].events |= POLLOUT;
        if (::poll(fds, 3, -1) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) drain_master();
        if (fds[2].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t n = ::read(0, buf, sizeof buf);
            if (n > 0) {
                pending.assign(buf, static_cast<size_t>(n));
            } else if (n == 0 || errno != EINTR) {
                // End of input reaches the container as its terminal's end-of-file key.
                stdin_open = false;
                termios t{};
                pending = std::string(1, ::tcgetattr(master, &t) == 0 ? char(t.c_cc[VEOF]) : 4);
            }
        }
        if (master_open && !pending.empty()) {
            ssize_t n = ::write(master, pending.data(), pending.size());
            if (n > 0)
                pending.erase(0, static_cast<size_t>(n));
            else if (n < 0 && errno != EAGAIN && errno != EINTR)
                pending.clear();
        }
        if (!exited || (fds[0].revents & POLLIN)) {
            drain_master();
            break;
        }
    }
}

// Short options bundled as Docker users type them (-it, -dit) → one each. Only options without
// a value bundle; the values of the others, and everything from the command on, stay as they
// are (`podnet run pod -- ls -dit` keeps its -dit).
std::vector<std::string> unbundle_flags(Args args, std::span<const OptionSpec> specs) {
    auto find = [&](std::string_view a) -> const OptionSpec* {
        for (const auto& s : specs)
            if ((a.starts_with("--") && a.substr(2) == s.name) ||
                (a.size() == 2 && a[0] == '-' && a[1] == s.short_name && s.short_name != 0))
                return &s;
        return nullptr;
    };
    std::vector<std::string> out;
    size_t positionals = 0;
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        bool is_option = a.size() >= 2 && a[0] == '-';
        if (a == "--" || (!is_option && ++positionals > 1)) {
            out.insert(out.end(), args.begin() + static_cast<ptrdiff_t>(i), args.end());
            break;
        }
        bool bundle = is_option && a.size() > 2 && a[1] != '-';
        for (size_t k = 1; bundle && k < a.size(); ++k) {
            const OptionSpec* s = find(std::string{'-', a[k]});
            bundle = s != nullptr && !s->takes_value;
        }
        if (bundle) {
            for (size_t k = 1; k < a.size(); ++k) out.push_back(std::string{'-', a[k]});
            continue;
        }
        out.push_back(a);
        if (const OptionSpec* s = find(a); s != nullptr && s->takes_value && i + 1 < args.size())
            out.push_back(args[++i]);
    }
    return out;
}

}  // namespace

int cmd_run(Context& ctx, Args args) {
    static const OptionSpec specs[] = {
        {"name", 0, true},          {"detach", 'd', false}, {"env", 'e', true},
        {"workdir", 'w', true},     {"user", 'u', true},    {"seccomp", 0, true},
        {"cap-add", 0, true},       {"cap-drop", 0, true},  {"rootfs", 0, true},
        {"json", 0, false},         {"rm", 0, false},       {"tty", 't', false},
        {"interactive", 'i', false}};
    std::vector<std::string> unbundled = unbundle_flags(args, specs);
    auto parsed = parse_args(unbundled, specs, "run", 1);
    if (!parsed) return usage_error(parsed.error().message);
    if (parsed->positionals.size() != 1 || parsed->rest.empty())
        return usage_error("usage: podnet run SANDBOX [options] -- CMD ARGS...");
    ContainerSpec spec;
    spec.name = parsed->value("name");
    spec.command = parsed->rest;
    spec.env = parsed->values("env");
    spec.workdir = parsed->value("workdir", "/");
    spec.seccomp = parsed->value("seccomp");
    spec.cap_add = parsed->values("cap-add");
    spec.cap_drop = parsed->values("cap-drop");
    spec.rootfs = parsed->value("rootfs");
    spec.detach = parsed->has("detach");
    spec.auto_remove = parsed->has("rm");
    bool tty = parsed->has("tty"), interactive = parsed->has("interactive");
    if (spec.detach && (tty || interactive))
        return usage_error("run: -t and -i need a foreground container (podnet has no attach)");
    if (parsed->has("user")) {
        auto user = parse_user(parsed->value("user"));
        if (!user) return usage_error(user.error().message);
        spec.uid = user->first;
        spec.gid = user->second;
    }
    auto rt = ctx.runtime();
    if (!rt) return report(rt.error());
    Pty pty;
    if (tty) {
        auto opened = open_pty();
        if (!opened) return report(opened.error());
        pty = std::move(*opened);
        copy_window_size(pty.master.get());
        spec.tty_fd = pty.slave.get();
    }
    auto container = (*rt)->run_container(parsed->positionals[0], spec);
    if (!container) return report(container.error());
    if (spec.detach) {
        if (parsed->has("json"))
            std::cout << nlohmann::json{{"id", container->id}, {"pid", container->pid}}.dump()
                      << "\n";
        else
            std::cout << container->id << "\n";
        std::cout.flush();
        if (spec.auto_remove) watch_for_removal(**rt, *container);
        return exit_ok;
    }
    own_terminal = tty;
    install_forwarding(container->pid);
    if (tty) {
        pty.slave.reset();  // the container's now: EIO on the master once it is gone
        // Raw only when our keys go to the container (-i), as Docker does: with -t alone ^C
        // stays podnet's SIGINT, which is forwarded.
        std::optional<RawMode> raw;
        if (interactive) raw.emplace();
        relay(pty.master.get(), container->helper, interactive);
    }
    auto code = (*rt)->wait_container(*container);
    if (!code) return report(code.error());
    return *code;
}

int cmd_ps(Context& ctx, Args args) {
    static const OptionSpec specs[] = {{"json", 0, false}, {"all", 'a', false}};
    auto parsed = parse_args(args, specs, "ps");
    if (!parsed) return usage_error(parsed.error().message);
    auto rt = ctx.runtime();
    if (!rt) return report(rt.error());
    std::vector<SandboxInfo> sandboxes;
    if (parsed->positionals.empty()) {
        auto list = (*rt)->list_sandboxes();
        if (!list) return report(list.error());
        sandboxes = std::move(*list);
    } else {
        for (const auto& ref : parsed->positionals) {
            auto info = (*rt)->inspect_sandbox(ref);
            if (!info) return report(info.error());
            sandboxes.push_back(std::move(*info));
        }
    }
    // Like `docker ps`: running containers unless -a.
    if (!parsed->has("all"))
        for (auto& s : sandboxes)
            std::erase_if(s.containers,
                          [](const ContainerInfo& c) { return c.status != "running"; });
    if (parsed->has("json")) {
        nlohmann::json out = nlohmann::json::array();
        for (const auto& s : sandboxes)
            for (const auto& c : s.containers) {
                auto j = container_json(c);
                j["sandbox_id"] = s.id;
                j["sandbox"] = s.name;
                out.push_back(j);
            }
        std::cout << out.dump(2) << "\n";
        return exit_ok;
    }
    std::vector<std::vector<std::string>> rows = {
        {"SANDBOX", "CONTAINER ID", "NAME", "PID", "STATUS", "COMMAND"}};
    for (const auto& s : sandboxes)
        for (const auto& c : s.containers) {
            std::string status = c.status;
            if (c.exit_code) status += " (" + std::to_string(*c.exit_code) + ")";
            rows.push_back({s.name, c.id.substr(0, 12), c.name, c.pid ? std::to_string(c.pid) : "-",
                            status, join(c.command, " ")});
        }
    std::cout << format_table(rows);
    return exit_ok;
}

int cmd_kill(Context& ctx, Args args) {
    static const OptionSpec specs[] = {{"signal", 's', true}};
    auto parsed = parse_args(args, specs, "kill");
    if (!parsed) return usage_error(parsed.error().message);
    if (parsed->positionals.empty() || parsed->positionals.size() > 2)
        return usage_error("usage: podnet kill [--signal SIG] SANDBOX [CONTAINER]");
    auto sig = parse_signal(parsed->value("signal", "KILL"));
    if (!sig) return usage_error(sig.error().message);
    auto rt = ctx.runtime();
    if (!rt) return report(rt.error());
    std::string container = parsed->positionals.size() == 2 ? parsed->positionals[1] : "";
    auto count = (*rt)->kill_containers(parsed->positionals[0], container, *sig);
    if (!count) return report(count.error());
    return exit_ok;
}

int cmd_logs(Context& ctx, Args args) {
    static const OptionSpec specs[] = {{"follow", 'f', false}};
    auto parsed = parse_args(args, specs, "logs");
    if (!parsed) return usage_error(parsed.error().message);
    if (parsed->positionals.size() != 2)
        return usage_error("usage: podnet logs [-f] SANDBOX CONTAINER");
    auto rt = ctx.runtime();
    if (!rt) return report(rt.error());
    auto info = (*rt)->find_container(parsed->positionals[0], parsed->positionals[1]);
    if (!info) return report(info.error());
    if (!info->detached)
        return report(Error{"container " + info->name +
                            " ran in the foreground: its output went to the terminal"});
    std::ifstream log(info->log_path, std::ios::binary);
    if (!log) return report(Error{"log " + info->log_path + ": cannot open"});
    char buf[8192];
    for (;;) {
        while (log.read(buf, sizeof buf) || log.gcount() > 0) {
            std::cout.write(buf, log.gcount());
            if (log.eof()) break;
        }
        std::cout.flush();
        if (!parsed->has("follow")) break;
        auto now = (*rt)->find_container(parsed->positionals[0], parsed->positionals[1]);
        bool running = now && now->status == "running";
        log.clear();
        if (!running) {
            // Drain what the container wrote before it ended.
            while (log.read(buf, sizeof buf) || log.gcount() > 0) {
                std::cout.write(buf, log.gcount());
                if (log.eof()) break;
            }
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    std::cout.flush();
    return exit_ok;
}

}  // namespace podnet::cli
