// Containers in a sandbox: run, wait, signal, and the public view of sandbox records.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <thread>

#include "common/fault.hpp"
#include "common/fs.hpp"
#include "common/process.hpp"
#include "common/unique_fd.hpp"
#include "netns/namespace.hpp"
#include "podnet/runtime.hpp"
#include "sandbox/capabilities.hpp"
#include "sandbox/container_launch.hpp"
#include "sandbox/pod_lifecycle.hpp"
#include "sandbox/sandbox_info.hpp"
#include "sandbox/seccomp.hpp"
#include "sandbox/store.hpp"

namespace podnet {

namespace {

constexpr const char* default_path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

bool is_running(const SandboxRecord& record) {
    return record.phase == SandboxPhase::running &&
           process_running(record.pause_pid, record.pause_start_time);
}

Result<SeccompProgram> seccomp_for(const std::string& choice, CapabilitySet caps) {
    if (choice == "unconfined") return SeccompProgram{};
    if (choice == "default") return compile_default_seccomp(caps);
    return load_seccomp_profile_file(choice, caps);
}

// Container ids, id prefixes and names within one sandbox.
const ContainerRecord* match_container(const SandboxRecord& record, std::string_view ref) {
    const ContainerRecord* prefix_match = nullptr;
    int prefix_count = 0;
    for (const auto& c : record.containers) {
        if (c.id == ref || c.name == ref) return &c;
        if (!ref.empty() && c.id.starts_with(ref)) {
            prefix_match = &c;
            ++prefix_count;
        }
    }
    return prefix_count == 1 ? prefix_match : nullptr;
}

// Exited containers kept per sandbox (for ps -a, logs and exit codes), newest first. Without a
// bound a sandbox running many short jobs would grow its record, which every run rewrites.
constexpr size_t kept_exited_containers = 32;

void forget_logs(const ContainerRecord& c) {
    if (!c.log_path.empty()) (void)remove_file(c.log_path);
}

// Drops exited --rm containers and the exited ones beyond the newest kept_exited_containers,
// with their logs. The caller holds the lock and saves the record.
void prune_exited(SandboxRecord& record) {
    size_t kept = 0;
    std::vector<ContainerRecord> live;
    for (auto it = record.containers.rbegin(); it != record.containers.rend(); ++it) {
        bool exited = !process_running(it->pid, it->start_time);
        if (exited && (it->auto_remove || ++kept > kept_exited_containers)) {
            forget_logs(*it);
            continue;
        }
        live.push_back(std::move(*it));
    }
    record.containers.assign(std::make_move_iterator(live.rbegin()),
                             std::make_move_iterator(live.rend()));
}

// A --rm container that has exited: its record and log go. A sandbox removed meanwhile is fine.
void forget_container(const SandboxStore& store, const std::string& sandbox_id,
                      const std::string& container_id) {
    auto lock = store.lock();
    if (!lock) return;
    auto record = store.load(sandbox_id);
    if (!record) return;
    auto it = std::find_if(record->containers.begin(), record->containers.end(),
                           [&](const ContainerRecord& c) { return c.id == container_id; });
    if (it == record->containers.end()) return;
    forget_logs(*it);
    record->containers.erase(it);
    (void)store.save(*record);
}

int send_signal(pid_t pid, uint64_t start_time, int signal) {
    UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
    if (!pidfd || !process_running(pid, start_time)) return 0;
    return ::syscall(SYS_pidfd_send_signal, pidfd.get(), signal, nullptr, 0) == 0 ? 1 : 0;
}

}  // namespace

SandboxInfo sandbox_info(const SandboxStore& store, const SandboxRecord& record) {
    SandboxInfo info;
    info.id = record.id;
    info.name = record.name;
    info.k8s_namespace = record.k8s_namespace;
    info.hostname = record.hostname;
    info.labels = record.labels;
    info.network = record.network;
    for (const auto& a : record.attachments)
        info.attachments.push_back({a.network, a.interface, a.host_interface, a.ipv4, a.ipv6,
                                    a.gateway4, a.gateway6, a.mac, a.cni_result});
    info.ports = record.ports;
    info.named_ports = record.named_ports;
    bool alive = process_running(record.pause_pid, record.pause_start_time);
    info.state = record.phase == SandboxPhase::stopped ? "stopped" : alive ? "running" : "exited";
    info.pause_pid = alive ? record.pause_pid : 0;
    if (record.phase == SandboxPhase::running) info.namespace_paths = record.namespace_paths;
    info.created = record.created;
    std::vector<std::pair<pid_t, int>> exits;
    bool exits_read = false;
    for (const auto& c : record.containers) {
        ContainerInfo ci{c.id,       c.name,    c.pid,     c.pod_pid,   c.command,    c.detached,
                         c.log_path, c.created, "running", c.exit_code, c.auto_remove};
        if (!alive || !process_running(c.pid, c.start_time)) {
            // Exited --rm containers are as good as gone; their watcher (or the next run in
            // the sandbox) removes the record.
            if (c.auto_remove) continue;
            ci.status = "exited";
            ci.pid = 0;
            if (!ci.exit_code && c.detached) {
                if (!exits_read) exits = read_exit_log(store.exit_log_path(record.id));
                exits_read = true;
                for (const auto& [pid, code] : exits)
                    if (pid == c.pod_pid) ci.exit_code = code;
            }
        }
        info.containers.push_back(std::move(ci));
    }
    return info;
}

void stop_containers(const SandboxRecord& record, std::chrono::seconds timeout) {
    std::vector<UniqueFd> waiting;
    for (const auto& c : record.containers) {
        if (!process_running(c.pid, c.start_time)) continue;
        UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, c.pid, 0)));
        if (!pidfd) continue;
        if (::syscall(SYS_pidfd_send_signal, pidfd.get(), SIGTERM, nullptr, 0) == 0)
            waiting.push_back(std::move(pidfd));
    }
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (auto& fd : waiting) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) break;
        pollfd p{fd.get(), POLLIN, 0};
        while (::poll(&p, 1, static_cast<int>(left.count())) < 0 && errno == EINTR) {
        }
    }
}

Result<RunningContainer> Runtime::run_container(std::string_view sandbox_ref,
                                                const ContainerSpec& spec) {
    if (spec.command.empty()) return fail("run: no command given");
    if (!spec.name.empty())
        if (auto r = validate_name("container", spec.name); !r) return std::unexpected(r.error());
    for (const auto& e : spec.env)
        if (e.find('=') == std::string::npos || e.front() == '=')
            return fail("invalid environment variable \"" + e + "\": expected KEY=VALUE");
    auto caps = resolve_capabilities(spec.cap_add, spec.cap_drop);
    if (!caps) return std::unexpected(caps.error());
    auto seccomp = seccomp_for(spec.seccomp.empty() ? config_.seccomp : spec.seccomp, *caps);
    if (!seccomp) return std::unexpected(seccomp.error());
    if (!spec.rootfs.empty() && !path_exists(spec.rootfs + "/."))
        return fail("rootfs " + spec.rootfs + ": not a directory");
    if (spec.detach && spec.tty_fd >= 0)
        return fail("run: a terminal needs a foreground container (podnet has no attach)");

    SandboxStore store(config_.run_root);
    auto locked = store.lock_and_load(sandbox_ref);
    if (!locked) return std::unexpected(locked.error());
    SandboxRecord& record = locked->record;
    if (!is_running(record)) return fail("sandbox " + record.name + " is not running");
    prune_exited(record);

    ContainerRecord container;
    container.id = random_hex(32);
    container.name = spec.name.empty() ? container.id.substr(0, 12) : spec.name;
    for (const auto& c : record.containers)
        if (c.name == container.name)
            return fail("container name \"" + container.name + "\" is already in use in sandbox " +
                        record.name);
    container.command = spec.command;
    container.detached = spec.detach;
    container.auto_remove = spec.auto_remove;
    container.created = now_rfc3339();

    LaunchSpec launch;
    launch.argv = spec.command;
    launch.env = {std::string("PATH=") + default_path, "HOSTNAME=" + record.hostname};
    for (const auto& e : spec.env) {
        std::string key = e.substr(0, e.find('=') + 1);
        std::erase_if(launch.env, [&](const std::string& x) { return x.starts_with(key); });
        launch.env.push_back(e);
    }
    launch.workdir = spec.workdir.empty() ? "/" : spec.workdir;
    launch.uid = spec.uid;
    launch.gid = spec.gid;
    launch.capabilities = *caps;
    launch.seccomp = std::move(*seccomp);
    launch.rootfs = spec.rootfs;
    launch.detached = spec.detach;
    launch.tty_fd = spec.tty_fd;

    std::vector<UniqueFd> ns_fds;
    for (size_t i = 0; i < pod_namespace_kinds.size(); ++i) {
        auto fd = open_namespace(store.pin_path(record.id, pod_namespace_kinds[i]));
        if (!fd) return wrap(fd.error(), "run in sandbox " + record.name);
        launch.namespace_fds[i] = fd->get();
        ns_fds.push_back(std::move(*fd));
    }
    UniqueFd log;
    if (spec.detach) {
        if (auto r = make_dirs(store.logs_dir(record.id), 0700); !r)
            return std::unexpected(r.error());
        container.log_path = store.logs_dir(record.id) + "/" + container.id + ".log";
        log.reset(
            ::open(container.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
        if (!log) return fail_errno("open container log " + container.log_path, errno);
        launch.log_fd = log.get();
    }

    auto launched = launch_container(launch);
    if (!launched) return wrap(launched.error(), "run in sandbox " + record.name);
    container.pid = launched->pid;
    container.pod_pid = launched->pod_pid;
    if (auto st = read_proc_stat(launched->pid)) container.start_time = st->start_time;
    record.containers.push_back(container);
    fault_point("run.started");
    if (auto r = store.save(record); !r) {
        send_signal(container.pid, container.start_time, SIGKILL);
        if (launched->helper > 0) (void)wait_for_exit(*launched);
        return wrap(r.error(), "run in sandbox " + record.name);
    }
    return RunningContainer{record.id, container.id, launched->pid, launched->helper};
}

Result<int> Runtime::wait_container(const RunningContainer& container) {
    if (container.helper <= 0)
        return fail("wait: container " + container.id.substr(0, 12) + " is detached");
    auto code = wait_for_exit(LaunchedContainer{container.pid, 0, container.helper});
    if (!code) return code;
    // Record how it ended; the sandbox may have been removed meanwhile, which is fine.
    SandboxStore store(config_.run_root);
    if (auto lock = store.lock()) {
        if (auto record = store.load(container.sandbox_id)) {
            auto it = std::find_if(record->containers.begin(), record->containers.end(),
                                   [&](const ContainerRecord& c) { return c.id == container.id; });
            if (it != record->containers.end() && it->auto_remove) {
                forget_logs(*it);
                record->containers.erase(it);
            } else if (it != record->containers.end()) {
                it->exit_code = *code;
            }
            (void)store.save(*record);
        }
    }
    return code;
}

Result<void> Runtime::remove_after_exit(const RunningContainer& container) {
    SandboxStore store(config_.run_root);
    auto record = store.load(container.sandbox_id);
    if (!record) return {};  // the sandbox went, and the container with it
    auto it = std::find_if(record->containers.begin(), record->containers.end(),
                           [&](const ContainerRecord& c) { return c.id == container.id; });
    if (it == record->containers.end()) return {};
    // The pidfd stays readable from the container's exit on (whoever reaps it: pause does).
    UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, it->pid, 0)));
    if (pidfd && process_running(it->pid, it->start_time)) {
        pollfd p{pidfd.get(), POLLIN, 0};
        while (::poll(&p, 1, -1) < 0)
            if (errno != EINTR) return fail_errno("wait for container " + it->name, errno);
    }
    forget_container(store, container.sandbox_id, container.id);
    return {};
}

Result<int> Runtime::kill_containers(std::string_view sandbox_ref, std::string_view container_ref,
                                     int signal) {
    SandboxStore store(config_.run_root);
    auto id = store.resolve(sandbox_ref);
    if (!id) return std::unexpected(id.error());
    auto record = store.load(*id);
    if (!record) return std::unexpected(record.error());
    if (container_ref.empty()) {
        int count = 0;
        for (const auto& c : record->containers) count += send_signal(c.pid, c.start_time, signal);
        return count;
    }
    const ContainerRecord* c = match_container(*record, container_ref);
    if (c == nullptr)
        return fail("container \"" + std::string(container_ref) + "\": not in sandbox " +
                    record->name);
    if (send_signal(c->pid, c->start_time, signal) == 0)
        return fail("container " + c->name + " is not running");
    return 1;
}

Result<ContainerInfo> Runtime::find_container(std::string_view sandbox_ref,
                                              std::string_view container_ref) const {
    SandboxStore store(config_.run_root);
    auto id = store.resolve(sandbox_ref);
    if (!id) return std::unexpected(id.error());
    auto record = store.load(*id);
    if (!record) return std::unexpected(record.error());
    const ContainerRecord* c = match_container(*record, container_ref);
    if (c == nullptr)
        return fail("container \"" + std::string(container_ref) + "\": not in sandbox " +
                    record->name);
    for (auto& info : sandbox_info(store, *record).containers)
        if (info.id == c->id) return info;
    return fail("container \"" + std::string(container_ref) + "\": not found");
}

}  // namespace podnet
