#include "sandbox/pod_lifecycle.hpp"

#include <signal.h>
#include <unistd.h>

#include <cstdlib>

#include "common/fs.hpp"
#include "common/process.hpp"
#include "sandbox/pause_process.hpp"

namespace podnet {

Result<void> end_pause(const SandboxRecord& record, int first_signal, int grace_ms) {
    if (signal_and_wait(record.pause_pid, record.pause_start_time, first_signal, grace_ms))
        return {};
    if (signal_and_wait(record.pause_pid, record.pause_start_time, SIGKILL, 5000)) return {};
    return fail("pause process " + std::to_string(record.pause_pid) + " did not exit");
}

void unpin_all(const SandboxStore& store, const std::string& id, std::vector<Error>& errors) {
    for (auto kind : pod_namespace_kinds)
        if (auto r = unpin_namespace(store.pin_path(id, kind)); !r) errors.push_back(r.error());
}

void forget_sandbox(const SandboxStore& store, const std::string& id, const std::string& name,
                    std::vector<Error>& errors) {
    unpin_all(store, id, errors);
    // The pod directory's usual shape, removed directly; the general walk only when something
    // else is in there (container logs).
    (void)remove_file(store.exit_log_path(id));
    (void)remove_dir(store.pin_dir(id));
    if (::rmdir(store.pod_dir(id).c_str()) != 0 && errno != ENOENT)
        if (auto r = remove_tree(store.pod_dir(id)); !r) errors.push_back(r.error());
    if (!name.empty()) store.release_name(name, id);
    if (auto r = store.remove_record(id); !r) errors.push_back(r.error());
}

std::vector<TaggedPause> find_pause_processes(const std::string& run_root) {
    std::vector<TaggedPause> found;
    auto entries = list_dir("/proc");
    if (!entries) return found;
    for (const auto& entry : *entries) {
        char* end = nullptr;
        long pid = std::strtol(entry.c_str(), &end, 10);
        if (end == entry.c_str() || *end != '\0') continue;
        auto comm = read_file("/proc/" + entry + "/comm");
        if (!comm || !comm->starts_with("podnet-pause")) continue;
        auto argv = read_proc_cmdline(static_cast<pid_t>(pid));
        if (!argv) continue;
        std::string id, root;
        for (size_t i = 0; i + 1 < argv->size(); ++i) {
            if ((*argv)[i] == "--id") id = (*argv)[i + 1];
            if ((*argv)[i] == "--run-root") root = (*argv)[i + 1];
        }
        if (root == run_root && !id.empty()) found.push_back({static_cast<pid_t>(pid), id});
    }
    return found;
}

std::vector<std::pair<pid_t, int>> read_exit_log(const std::string& path) {
    std::vector<std::pair<pid_t, int>> exits;
    auto text = read_file(path);
    if (!text) return exits;
    size_t start = 0;
    while (start < text->size()) {
        size_t end = text->find('\n', start);
        if (end == std::string::npos) break;  // a line being written
        std::string line = text->substr(start, end - start);
        int pid = 0, code = 0;
        if (std::sscanf(line.c_str(), "%d %d", &pid, &code) == 2) exits.emplace_back(pid, code);
        start = end + 1;
    }
    return exits;
}

Error join_errors(const std::string& context, const std::vector<Error>& errors) {
    std::string message = context + ": ";
    for (size_t i = 0; i < errors.size(); ++i) {
        if (i > 0) message += "; ";
        message += errors[i].message;
    }
    return Error{message};
}

}  // namespace podnet
