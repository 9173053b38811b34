// podnet run | ps | kill | logs.

#include <signal.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <iostream>
#include <thread>

#include "cli/args.hpp"
#include "cli/cli.hpp"
#include "cli/output.hpp"
#include "common/fs.hpp"

namespace podnet::cli {

namespace {

volatile sig_atomic_t forward_to = 0;

// Signals sent to `podnet run` go on to the container, as with `docker run`. Signals the
// terminal generates (si_code SI_KERNEL) already reach the container, which shares our process
// group; forwarding those would deliver them twice.
void forward_signal(int sig, siginfo_t* info, void*) {
    if (info != nullptr && info->si_code == SI_KERNEL) return;
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

}  // namespace

int cmd_run(Context& ctx, Args args) {
    static const OptionSpec specs[] = {
        {"name", 0, true},   {"detach", 'd', false}, {"env", 'e', true},   {"workdir", 'w', true},
        {"user", 'u', true}, {"seccomp", 0, true},   {"cap-add", 0, true}, {"cap-drop", 0, true},
        {"rootfs", 0, true}, {"json", 0, false}};
    auto parsed = parse_args(args, specs, "run", 1);
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
    if (parsed->has("user")) {
        auto user = parse_user(parsed->value("user"));
        if (!user) return usage_error(user.error().message);
        spec.uid = user->first;
        spec.gid = user->second;
    }
    auto rt = ctx.runtime();
    if (!rt) return report(rt.error());
    auto container = (*rt)->run_container(parsed->positionals[0], spec);
    if (!container) return report(container.error());
    if (spec.detach) {
        if (parsed->has("json"))
            std::cout << nlohmann::json{{"id", container->id}, {"pid", container->pid}}.dump()
                      << "\n";
        else
            std::cout << container->id << "\n";
        return exit_ok;
    }
    install_forwarding(container->pid);
    auto code = (*rt)->wait_container(*container);
    if (!code) return report(code.error());
    return *code;
}

int cmd_ps(Context& ctx, Args args) {
    static const OptionSpec specs[] = {{"json", 0, false}};
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
