#pragma once
// The runtime side of CNI, as libcni does it for containerd and CRI-O: a network configuration
// list executed plugin by plugin. ADD runs the plugins in order, each getting the previous
// result as prevResult; DEL runs them in reverse with the cached result of ADD; CHECK (>= 0.4.0)
// in order with the cached result; STATUS and GC only for lists of version >= 1.1.0. Results
// are cached in libcni's format so DEL works from another process, after a restart.

#include <chrono>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "cni-runner/cache.hpp"
#include "cni-runner/conf.hpp"
#include "cni-runner/plugin_exec.hpp"
#include "common/result.hpp"

namespace podnet::cni {

// What libcni calls RuntimeConf: one attachment of a container to a network.
struct RuntimeConf {
    std::string container_id;
    std::string netns;  // path of the network namespace (may be gone at DEL)
    std::string ifname = "eth0";
    std::vector<std::pair<std::string, std::string>> args;  // CNI_ARGS
    // Capability arguments offered by the runtime ("portMappings", "ips", "mac", "bandwidth",
    // "ipRanges", "dns", "aliases", ...); each plugin sees only those it declared.
    nlohmann::json capability_args = nlohmann::json::object();
};

struct AttachmentId {  // an entry of cni.dev/valid-attachments
    std::string container_id;
    std::string ifname;
};

struct RunnerOptions {
    std::vector<std::string> plugin_dirs = split_path_list(default_plugin_path);
    std::string cache_dir = "/var/lib/cni";
    std::chrono::milliseconds timeout{std::chrono::seconds(60)};
    // Receives each plugin's stderr (prefixed with its type and command) and notes such as a
    // corrupt cache entry; library code does not print, the caller decides where it goes.
    std::function<void(const std::string&)> log;
};

// The configuration one plugin reads on stdin: its own object with the list's name and
// cniVersion, prevResult when given, and runtimeConfig = its declared capabilities ∩ the
// runtime's capability args (absent when that is empty), as libcni's buildOneConfig does.
[[nodiscard]] nlohmann::json plugin_stdin(const NetworkConfList& list, const PluginConf& plugin,
                                          const std::optional<nlohmann::json>& prev_result,
                                          const nlohmann::json& capability_args);

// Refuse what libcni refuses before running anything: empty or malformed container id,
// interface names the kernel would not take, a missing netns path where one is needed.
[[nodiscard]] Result<void> validate_runtime_conf(const RuntimeConf& rt, bool need_netns);

// A container id for callers that have none (cnitool-style, stable for one netns path).
[[nodiscard]] std::string container_id_for_netns(const std::string& netns);

class Runner {
  public:
    explicit Runner(RunnerOptions options);

    // The final result, in the list's cniVersion. On failure every plugin gets DEL (in reverse,
    // with the result so far) so nothing leaks, and the error names the plugin that failed.
    [[nodiscard]] Result<nlohmann::json> add(const NetworkConfList& list, const RuntimeConf& rt);
    // Idempotent. An empty or corrupt cache entry is logged and DEL runs without prevResult.
    [[nodiscard]] Result<void> del(const NetworkConfList& list, const RuntimeConf& rt);
    [[nodiscard]] Result<void> check(const NetworkConfList& list, const RuntimeConf& rt);
    // A no-op for lists older than 1.1.0 (no plugin is run).
    [[nodiscard]] Result<void> status(const NetworkConfList& list);
    // DEL for every cached attachment of `list` not in `valid`, then (>= 1.1.0, unless
    // disableGC) GC to each plugin with cni.dev/valid-attachments. Returns what it removed.
    [[nodiscard]] Result<std::vector<std::string>> gc(const NetworkConfList& list,
                                                      const std::vector<AttachmentId>& valid);
    // Each plugin's VERSION answer: [{"type", "supportedVersions", "compatible"}].
    [[nodiscard]] Result<nlohmann::json> version(const NetworkConfList& list);

    // The cached result of an attachment (nullopt: none, or unreadable).
    [[nodiscard]] std::optional<nlohmann::json> cached_result(const std::string& network,
                                                              const RuntimeConf& rt) const;
    [[nodiscard]] const ResultCache& cache() const { return cache_; }

  private:
    struct CallOutput {
        std::optional<nlohmann::json> result;  // parsed stdout, when there was any
        bool refused_version = false;          // only with tolerate_version_refusal
    };
    [[nodiscard]] Result<CallOutput> call(const NetworkConfList& list, const PluginConf& plugin,
                                          const std::string& command, const RuntimeConf* rt,
                                          const nlohmann::json& config,
                                          bool tolerate_version_refusal = false);
    // DEL to every plugin in reverse. A plain DEL stops at the first failure (as libcni does;
    // the caller retries, DEL is idempotent). The cleanup after a failed ADD goes on through
    // all plugins, so one failing plugin cannot strand what the others made, and ignores
    // plugins that refuse the list's version: they refused the ADD too and made nothing.
    enum class DelMode { stop_at_failure, cleanup };
    [[nodiscard]] Result<void> del_plugins(const NetworkConfList& list, const RuntimeConf& rt,
                                           const std::optional<nlohmann::json>& prev_result,
                                           DelMode mode = DelMode::stop_at_failure);
    // Why a plugin refused the list's version, in words (asks the plugin for its versions).
    [[nodiscard]] std::string incompatibility(const NetworkConfList& list,
                                              const PluginConf& plugin);
    void log(const std::string& line) const;

    RunnerOptions options_;
    ResultCache cache_;
};

}  // namespace podnet::cni
