#include "sandbox/record.hpp"

#include <nlohmann/json.hpp>

namespace podnet {

using nlohmann::json;

std::string record_to_json(const SandboxRecord& r) {
    json containers = json::array();
    for (const auto& c : r.containers) {
        json jc = {{"id", c.id},
                   {"name", c.name},
                   {"pid", c.pid},
                   {"pod_pid", c.pod_pid},
                   {"start_time", c.start_time},
                   {"command", c.command},
                   {"detached", c.detached},
                   {"log_path", c.log_path},
                   {"created", c.created}};
        if (c.exit_code) jc["exit_code"] = *c.exit_code;
        if (c.auto_remove) jc["auto_remove"] = true;
        containers.push_back(std::move(jc));
    }
    json attachments = json::array();
    for (const auto& a : r.attachments) {
        json ja = {{"network", a.network},
                   {"interface", a.interface},
                   {"host_interface", a.host_interface},
                   {"ipv4", a.ipv4},
                   {"ipv6", a.ipv6},
                   {"gateway4", a.gateway4},
                   {"gateway6", a.gateway6},
                   {"mac", a.mac}};
        if (!a.cni_result.empty()) ja["cni_result"] = json::parse(a.cni_result, nullptr, false);
        attachments.push_back(std::move(ja));
    }
    json j = {{"version", 1},
              {"id", r.id},
              {"name", r.name},
              {"namespace", r.k8s_namespace},
              {"hostname", r.hostname},
              {"labels", r.labels},
              {"network", r.network},
              {"attachments", attachments},
              {"ports", r.ports},
              {"named_ports", r.named_ports},
              {"phase", r.phase == SandboxPhase::running ? "running" : "stopped"},
              {"pause_pid", r.pause_pid},
              {"pause_start_time", r.pause_start_time},
              {"namespace_paths", r.namespace_paths},
              {"containers", containers},
              {"created", r.created}};
    return j.dump(2) + "\n";
}

Result<SandboxRecord> record_from_json(const std::string& text, const std::string& source) {
    try {
        json j = json::parse(text);
        SandboxRecord r;
        r.id = j.at("id").get<std::string>();
        r.name = j.at("name").get<std::string>();
        r.k8s_namespace = j.at("namespace").get<std::string>();
        r.hostname = j.at("hostname").get<std::string>();
        r.labels = j.at("labels").get<Labels>();
        r.network = j.value("network", "none");
        for (const auto& ja : j.value("attachments", json::array())) {
            AttachmentRecord a;
            a.network = ja.at("network").get<std::string>();
            a.interface = ja.value("interface", "");
            a.host_interface = ja.value("host_interface", "");
            a.ipv4 = ja.value("ipv4", "");
            a.ipv6 = ja.value("ipv6", "");
            a.gateway4 = ja.value("gateway4", "");
            a.gateway6 = ja.value("gateway6", "");
            a.mac = ja.value("mac", "");
            if (ja.contains("cni_result")) a.cni_result = ja["cni_result"].dump();
            r.attachments.push_back(std::move(a));
        }
        r.ports = j.value("ports", std::vector<std::string>{});
        r.named_ports = j.value("named_ports", std::vector<std::string>{});
        r.phase = j.at("phase").get<std::string>() == "running" ? SandboxPhase::running
                                                                : SandboxPhase::stopped;
        r.pause_pid = j.at("pause_pid").get<pid_t>();
        r.pause_start_time = j.at("pause_start_time").get<uint64_t>();
        r.namespace_paths = j.at("namespace_paths").get<std::map<std::string, std::string>>();
        r.created = j.at("created").get<std::string>();
        for (const auto& jc : j.at("containers")) {
            ContainerRecord c;
            c.id = jc.at("id").get<std::string>();
            c.name = jc.at("name").get<std::string>();
            c.pid = jc.at("pid").get<pid_t>();
            c.pod_pid = jc.value("pod_pid", 0);
            c.start_time = jc.at("start_time").get<uint64_t>();
            c.command = jc.at("command").get<std::vector<std::string>>();
            c.detached = jc.at("detached").get<bool>();
            c.log_path = jc.value("log_path", "");
            c.created = jc.value("created", "");
            if (jc.contains("exit_code")) c.exit_code = jc.at("exit_code").get<int>();
            c.auto_remove = jc.value("auto_remove", false);
            r.containers.push_back(std::move(c));
        }
        return r;
    } catch (const json::exception& e) {
        return fail("sandbox state " + source + ": " + e.what());
    }
}

}  // namespace podnet
