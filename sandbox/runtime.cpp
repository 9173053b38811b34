// Sandbox lifecycle: create, inspect, list, stop, remove.

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fault.hpp"
#include "common/fs.hpp"
#include "common/process.hpp"
#include "common/rollback.hpp"
#include "netns/namespace.hpp"
#include "podnet/runtime.hpp"
#include "sandbox/cni_networking.hpp"
#include "sandbox/networking.hpp"
#include "sandbox/pause_process.hpp"
#include "sandbox/pod_lifecycle.hpp"
#include "sandbox/policy_enforcement.hpp"
#include "sandbox/record.hpp"
#include "sandbox/sandbox_info.hpp"
#include "sandbox/store.hpp"

namespace podnet {

namespace {

#ifndef PODNET_PAUSE_FROM_BINDIR
#define PODNET_PAUSE_FROM_BINDIR "../libexec/podnet/podnet-pause"
#endif

// podnet-pause next to podnet (the build tree), else where `make install` puts it relative to
// podnet's bin directory (<prefix>/libexec/podnet), so an installed podnet needs no config.
// The install layout is tried only when the build tree's place is empty.
//
// The directory comes from /proc/self/exe, which names the file by its path from the mount
// namespace's root. In a chroot (a debootstrap root, as a fresh-machine check uses) a process
// that entered a new mount namespace can see there the path from the real root
// ("/var/tmp/x/root/src/build/bin/podnet"); then the shortest tail of it that is the very same
// file here (device and inode) is the path that works.
std::string own_directory() {
    char exe[4096];
    ssize_t n = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return {};
    std::string path(exe, static_cast<size_t>(n));
    struct stat self {};
    if (::stat("/proc/self/exe", &self) == 0) {
        for (size_t at = 0; at != std::string::npos; at = path.find('/', at + 1)) {
            struct stat st {};
            std::string tail = path.substr(at);
            if (::stat(tail.c_str(), &st) == 0 && st.st_dev == self.st_dev &&
                st.st_ino == self.st_ino) {
                path = tail;
                break;
            }
        }
    }
    return path.substr(0, path.rfind('/') + 1);
}

std::string default_pause_binary() {
    std::string dir = own_directory();
    if (dir.empty()) return "podnet-pause";
    std::string beside = dir + "podnet-pause";
    if (::access(beside.c_str(), X_OK) == 0) return beside;
    std::string installed = dir + PODNET_PAUSE_FROM_BINDIR;
    if (::access(installed.c_str(), X_OK) == 0) return installed;
    return beside;  // the error then names the usual place
}

Result<void> validate_hostname(const std::string& hostname) {
    bool ok = !hostname.empty() && hostname.size() <= 64 && hostname.front() != '-' &&
              hostname.front() != '.';
    for (char c : hostname)
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.') ok = false;
    if (!ok)
        return fail("invalid hostname \"" + hostname +
                    "\": at most 64 of letters, digits, '-' and '.'");
    return {};
}

Result<void> validate_spec(const SandboxSpec& spec) {
    if (!spec.name.empty())
        if (auto r = validate_name("sandbox", spec.name); !r) return r;
    if (!spec.hostname.empty())
        if (auto r = validate_hostname(spec.hostname); !r) return r;
    if (auto r = validate_namespace_name(spec.k8s_namespace); !r) return r;
    for (const auto& [key, value] : spec.labels) {
        if (auto r = validate_label_key(key); !r) return r;
        if (auto r = validate_label_value(key, value); !r) return r;
    }
    if (!spec.network.empty() && spec.network != "none")
        if (auto r = validate_name("network", spec.network); !r) return r;
    if (!spec.cni_networks.empty() && !spec.network.empty())
        return fail("--network cni:NAME cannot be combined with the built-in network " +
                    spec.network);
    for (const auto& name : spec.cni_networks)
        if (name.empty()) return fail("--network cni:: the CNI network name is empty");
    if (spec.network == "none" && (!spec.ip.empty() || !spec.ip6.empty() || !spec.ports.empty()))
        return fail("--network none: no --ip, --ip6 or -p without a network");
    for (const auto& text : spec.named_ports)
        if (auto r = parse_named_port(text); !r) return std::unexpected(r.error());
    return {};
}

// CNI attachments get DEL (while the pinned namespace still exists), then the built-in network
// releases what is left. Host ports of a CNI sandbox belong to its plugins (portmap), so they
// are not podnet's to unpublish.
void release_all_networks(const Config& config, SandboxRecord& record, std::vector<Error>& errors) {
    bool on_cni = record.network.starts_with(cni_network_prefix);
    detach_cni_networks(config, record, errors);
    if (on_cni) {
        if (!record.attachments.empty()) return;  // a DEL failed: keep what it needs to retry
        record.ports.clear();
    }
    release_network(config, record, errors);
}

}  // namespace

Runtime::Runtime(Config config)
    : config_(std::move(config)),
      pause_binary_(config_.pause_binary.empty() ? default_pause_binary() : config_.pause_binary),
      policy_(std::make_shared<PolicyEnforcer>(config_)) {}

Result<Runtime> Runtime::open(Config config) {
    if (::geteuid() != 0) return fail("podnet needs root (namespaces and mounts)");
    Runtime runtime(std::move(config));
    SandboxStore store(runtime.config_.run_root);
    if (auto r = store.ensure_layout(); !r) return std::unexpected(r.error());
    if (::access(runtime.pause_binary_.c_str(), X_OK) != 0)
        return fail_errno("pause binary " + runtime.pause_binary_, errno);
    return runtime;
}

Result<SandboxInfo> Runtime::create_sandbox(const SandboxSpec& spec) {
    if (auto r = validate_spec(spec); !r) return std::unexpected(r.error());
    auto ports = parse_port_specs(spec.ports);
    if (!ports) return std::unexpected(ports.error());
    SandboxStore store(config_.run_root);
    auto lock = store.lock();
    if (!lock) return std::unexpected(lock.error());
    SandboxNetworking networking(config_);
    bool on_cni = !spec.cni_networks.empty();
    // CNI's portMappings capability has no "pick one" (hostPort is required).
    for (const auto& m : *ports)
        if (on_cni && m.host_port == 0)
            return fail("-p " + format_port_mapping(m) +
                        ": a random host port needs podnet's own network; on CNI networks give "
                        "HOSTPORT:PORT");
    auto network = on_cni ? Result<std::optional<NetworkConfig>>(std::nullopt)
                          : networking.resolve(spec.network);
    if (!network) return std::unexpected(network.error());

    SandboxRecord record;
    record.id = random_hex(32);
    record.name = spec.name.empty() ? record.id.substr(0, 12) : spec.name;
    record.hostname = spec.hostname.empty() ? record.name : spec.hostname;
    record.k8s_namespace = spec.k8s_namespace;
    record.labels = spec.labels;
    for (const auto& text : spec.named_ports)
        record.named_ports.push_back(format_named_port(*parse_named_port(text)));
    record.network = *network ? (*network)->name : "none";
    if (on_cni) {
        record.network.clear();
        for (const auto& name : spec.cni_networks) {
            if (!record.network.empty()) record.network += ',';
            record.network += cni_network_prefix;
            record.network += name;
        }
    }
    record.created = now_rfc3339();
    const std::string& id = record.id;

    // A crash at any point below leaves only what gc recognises as orphaned: a name link with no
    // record, a pod directory with no record, a pause process tagged with this run root.
    Rollback rollback;
    if (auto r = store.claim_name(record.name, id); !r) return std::unexpected(r.error());
    rollback.push([&] { store.release_name(record.name, id); });
    fault_point("create.name-claimed");

    if (auto r = make_dirs(store.pin_dir(id), 0700); !r) return std::unexpected(r.error());
    rollback.push([&] { (void)remove_tree(store.pod_dir(id)); });

    PauseSpec pause_spec{pause_binary_, record.hostname, id, config_.run_root,
                         store.exit_log_path(id)};
    pause_spec.disable_ipv6 = *network && (*network)->v6() == nullptr;
    auto pause = spawn_pause(pause_spec);
    if (!pause) return wrap(pause.error(), "create sandbox " + record.name);
    record.pause_pid = pause->pid;
    record.pause_start_time = pause->start_time;
    rollback.push([&] { (void)end_pause(record, SIGKILL, 5000); });
    fault_point("create.pause-started");

    for (auto kind : pod_namespace_kinds) {
        std::string pin = store.pin_path(id, kind);
        if (auto r = pin_namespace(pause->pid, kind, pin); !r)
            return wrap(r.error(), "create sandbox " + record.name);
        rollback.push([pin] { (void)unpin_namespace(pin); });
        record.namespace_paths[std::string(namespace_proc_name(kind))] = pin;
        fault_point(kind == NamespaceKind::net ? "create.net-pinned" : "create.pinning");
    }
    fault_point("create.pinned");

    if (*network) {
        auto netns = open_namespace(store.pin_path(id, NamespaceKind::net));
        if (!netns) return wrap(netns.error(), "create sandbox " + record.name);
        auto attachment =
            networking.attach(**network, id, spec.ip, spec.ip6, netns->get(), rollback);
        if (!attachment) return wrap(attachment.error(), "create sandbox " + record.name);
        record.attachments.push_back(std::move(*attachment));
        fault_point("create.network-attached");
        if (auto r = networking.publish(record, *ports, rollback); !r)
            return wrap(r.error(), "create sandbox " + record.name);
        for (const auto& m : *ports) record.ports.push_back(format_port_mapping(m));
        fault_point("create.ports-published");
    }

    if (on_cni) {
        CniAttachRequest request{
            spec.cni_networks, id, store.pin_path(id, NamespaceKind::net), *ports, {}};
        if (!spec.ip.empty()) request.ips.push_back(spec.ip);
        if (!spec.ip6.empty()) request.ips.push_back(spec.ip6);
        auto attachments = attach_cni_networks(config_, request, rollback);
        if (!attachments) return wrap(attachments.error(), "create sandbox " + record.name);
        record.attachments = std::move(*attachments);
        for (const auto& m : *ports) record.ports.push_back(format_port_mapping(m));
        fault_point("create.network-attached");
    }

    if (auto r = store.save(record); !r) return wrap(r.error(), "create sandbox " + record.name);
    rollback.push([&] { (void)store.remove_record(id); });
    fault_point("create.saved");
    // The pod's processes start only after this returns, so nothing it serves or sends can slip
    // through before its policy is in place.
    if (auto r = policy_->pod_changed(store, record); !r)
        return wrap(r.error(), "create sandbox " + record.name);
    rollback.commit();
    return sandbox_info(store, record);
}

Result<SandboxInfo> Runtime::inspect_sandbox(std::string_view ref) const {
    SandboxStore store(config_.run_root);
    auto id = store.resolve(ref);
    if (!id) return std::unexpected(id.error());
    auto record = store.load(*id);
    if (!record) return std::unexpected(record.error());
    return sandbox_info(store, *record);
}

Result<std::vector<SandboxInfo>> Runtime::list_sandboxes() const {
    SandboxStore store(config_.run_root);
    auto ids = store.list_ids();
    if (!ids) return std::unexpected(ids.error());
    std::vector<SandboxInfo> out;
    for (const auto& id : *ids) {
        // A record removed between listing and reading is simply gone.
        if (auto record = store.load(id)) out.push_back(sandbox_info(store, *record));
    }
    std::sort(out.begin(), out.end(),
              [](const auto& a, const auto& b) { return a.created < b.created; });
    return out;
}

Result<void> Runtime::stop_sandbox(std::string_view ref, std::chrono::seconds timeout) {
    SandboxStore store(config_.run_root);
    auto locked = store.lock_and_load(ref);
    if (!locked) return std::unexpected(locked.error());
    SandboxRecord& record = locked->record;
    if (record.phase == SandboxPhase::stopped) return {};

    // Containers first, so they can shut down gracefully; then pause, whose exit makes the
    // kernel SIGKILL whatever is left in the pod's PID namespace.
    stop_containers(record, timeout);
    std::vector<Error> errors;
    if (auto r = end_pause(record, SIGTERM, 2000); !r) errors.push_back(r.error());
    release_all_networks(config_, record, errors);
    unpin_all(store, record.id, errors);
    record.phase = SandboxPhase::stopped;
    if (auto r = store.save(record); !r) errors.push_back(r.error());
    if (auto r = policy_->pod_removed(store, record); !r) errors.push_back(r.error());
    if (!errors.empty()) return std::unexpected(join_errors("stop sandbox " + record.name, errors));
    return {};
}

Result<void> Runtime::remove_sandbox(std::string_view ref, bool force) {
    SandboxStore store(config_.run_root);
    auto lock = store.lock();
    if (!lock) return std::unexpected(lock.error());
    auto id = store.resolve(ref);
    if (!id) return std::unexpected(id.error());
    auto record = store.load(*id);
    if (!record) {
        if (!force) return std::unexpected(record.error());
        // Unreadable state: remove by layout; gc ends a pause process left behind.
        std::vector<Error> errors;
        forget_sandbox(store, *id, {}, errors);
        if (!errors.empty()) return std::unexpected(join_errors("remove sandbox", errors));
        return {};
    }
    bool alive = process_running(record->pause_pid, record->pause_start_time);
    if (alive && record->phase == SandboxPhase::running && !force)
        return fail("sandbox " + record->name + " is running: stop it first, or use rm -f");
    std::vector<Error> errors;
    if (alive)
        if (auto r = end_pause(*record, SIGKILL, 5000); !r) errors.push_back(r.error());
    if (errors.empty()) {
        release_all_networks(config_, *record, errors);
        forget_sandbox(store, *id, record->name, errors);
        if (auto r = policy_->pod_removed(store, *record); !r) errors.push_back(r.error());
    }
    if (!errors.empty())
        return std::unexpected(join_errors("remove sandbox " + record->name, errors));
    return {};
}

}  // namespace podnet
