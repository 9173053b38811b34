#pragma once
// What podnet remembers about a sandbox: one JSON document per sandbox, written atomically.

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "common/validate.hpp"

namespace podnet {

struct ContainerRecord {
    std::string id;
    std::string name;
    pid_t pid = 0;      // in podnet's PID namespace
    pid_t pod_pid = 0;  // the same process as seen inside the pod (pause reports these)
    uint64_t start_time = 0;
    std::vector<std::string> command;
    bool detached = false;
    std::string log_path;  // detached only
    std::string created;
    std::optional<int> exit_code;  // known once it ended (foreground: from podnet run)
    bool auto_remove = false;      // --rm: forgotten (with its log) once it has exited
};

struct AttachmentRecord {
    std::string network;
    std::string interface;
    std::string host_interface;
    std::string ipv4, ipv6, gateway4, gateway6;  // textual, as shown
    std::string mac;
    std::string cni_result;  // CNI networks: the result JSON of ADD, as the plugins returned it
};

enum class SandboxPhase { running, stopped };

struct SandboxRecord {
    std::string id;
    std::string name;
    std::string k8s_namespace = "default";
    std::string hostname;
    Labels labels;
    std::string network = "none";
    std::vector<AttachmentRecord> attachments;
    std::vector<std::string> ports;        // canonical -p texts of the host port mappings
    std::vector<std::string> named_ports;  // "http=80/tcp": container ports NetworkPolicy can name
    SandboxPhase phase = SandboxPhase::running;
    pid_t pause_pid = 0;
    uint64_t pause_start_time = 0;
    std::map<std::string, std::string> namespace_paths;  // "net" → pin path
    std::vector<ContainerRecord> containers;
    std::string created;
};

[[nodiscard]] std::string record_to_json(const SandboxRecord& record);
[[nodiscard]] Result<SandboxRecord> record_from_json(const std::string& text,
                                                     const std::string& source);

}  // namespace podnet
