// podnet gc: rebuild the truth from the records and the kernel, and remove what no running
// sandbox owns. Every orphan podnet can leave has a recognisable shape (see store.hpp), so this
// needs no journal: a crash at any step of create leaves a subset of {name link, pod directory
// with pins, tagged pause process}, none of them referenced by a record.

#include <signal.h>

#include <map>
#include <set>

#include "common/fs.hpp"
#include "common/process.hpp"
#include "podnet/runtime.hpp"
#include "sandbox/cni_networking.hpp"
#include "sandbox/networking.hpp"
#include "sandbox/pause_process.hpp"
#include "sandbox/pod_lifecycle.hpp"
#include "sandbox/policy_enforcement.hpp"
#include "sandbox/store.hpp"

namespace podnet {

Result<GcReport> Runtime::gc() {
    SandboxStore store(config_.run_root);
    auto lock = store.lock();
    if (!lock) return std::unexpected(lock.error());
    GcReport report;
    auto note_errors = [&](const std::vector<Error>& errors) {
        for (const auto& e : errors) report.errors.push_back(e.message);
    };

    auto pauses = find_pause_processes(config_.run_root);
    std::map<std::string, pid_t> live_pause;  // sandbox id → pid of its tagged pause
    for (const auto& p : pauses) live_pause[p.sandbox_id] = p.pid;

    auto ids = store.list_ids();
    if (!ids) return std::unexpected(ids.error());
    std::map<std::string, pid_t> running;  // sandbox id → its pause pid
    for (const auto& id : *ids) {
        auto record = store.load(id);
        if (!record) {
            if (live_pause.contains(id)) {
                report.errors.push_back(record.error().message +
                                        " (its pause process runs; "
                                        "left alone)");
                running[id] = live_pause[id];
                continue;
            }
            std::vector<Error> errors;
            forget_sandbox(store, id, {}, errors);
            note_errors(errors);
            report.actions.push_back("removed unreadable sandbox state " + store.record_path(id));
            continue;
        }
        if (record->phase == SandboxPhase::running &&
            process_running(record->pause_pid, record->pause_start_time)) {
            running[id] = record->pause_pid;
            continue;
        }
        std::vector<Error> errors;
        forget_sandbox(store, id, record->name, errors);
        note_errors(errors);
        report.actions.push_back(
            "removed sandbox " + record->name + " (" +
            (record->phase == SandboxPhase::stopped ? "stopped" : "pause process died") + ")");
    }

    for (const auto& p : pauses) {
        auto it = running.find(p.sandbox_id);
        if (it != running.end() && it->second == p.pid) continue;
        if (!signal_and_wait(p.pid, 0, SIGKILL, 5000))
            report.errors.push_back("could not end pause process " + std::to_string(p.pid));
        else
            report.actions.push_back("killed orphaned pause process " + std::to_string(p.pid) +
                                     " (sandbox " + p.sandbox_id.substr(0, 12) + ")");
    }

    if (auto pods = list_dir(store.pods_dir())) {
        for (const auto& id : *pods) {
            if (running.contains(id) || path_exists(store.record_path(id))) continue;
            std::vector<Error> errors;
            forget_sandbox(store, id, {}, errors);
            note_errors(errors);
            report.actions.push_back("removed orphaned pod directory " + store.pod_dir(id));
        }
    }
    if (auto names = list_dir(store.names_dir())) {
        for (const auto& name : *names) {
            std::string owner = store.name_owner(name);
            if (!owner.empty() && path_exists(store.record_path(owner))) continue;
            if (auto r = remove_file(store.names_dir() + "/" + name); !r)
                report.errors.push_back(r.error().message);
            else
                report.actions.push_back("released sandbox name " + name);
        }
    }
    // Whatever a crash left in the network: port claims and their nft elements, addresses,
    // host veths of sandboxes that are not running.
    std::set<std::string> live;
    for (const auto& [id, pid] : running) live.insert(id);
    SandboxNetworking(config_).collect(live, report.actions, report.errors);
    collect_cni_networks(config_, live, report.actions, report.errors);

    if (auto files = list_dir(store.records_dir())) {
        for (const auto& f : *files) {
            if (!f.ends_with(".tmp")) continue;
            if (auto r = remove_file(store.records_dir() + "/" + f); !r)
                report.errors.push_back(r.error().message);
            else
                report.actions.push_back("removed interrupted write " + f);
        }
    }
    // Policy elements of sandboxes that are gone, or a table left half-written by a crash:
    // rewrite every set from the stored policies and the running sandboxes.
    if (auto r = policy_->reload(store); !r) report.errors.push_back(r.error().message);
    return report;
}

}  // namespace podnet
