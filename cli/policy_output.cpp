#include "cli/policy_output.hpp"

#include <algorithm>
#include <map>

namespace podnet::cli {

nlohmann::ordered_json probes_json(const std::vector<ProbeRow>& rows) {
    nlohmann::ordered_json list = nlohmann::ordered_json::array();
    for (const auto& row : rows) {
        const auto& v = *row.evaluated;
        nlohmann::ordered_json item = {{"from", v.probe->from},
                                       {"to", v.probe->to},
                                       {"port", v.probe->port},
                                       {"protocol", std::string(protocol_name(v.probe->protocol))},
                                       {"allowed", v.verdict.allowed},
                                       {"reason", v.verdict.reason}};
        if (v.probe->port != std::to_string(v.port)) item["resolved_port"] = v.port;
        if (v.probe->expected) item["expected"] = *v.probe->expected;
        if (row.observed) {
            item["observed"] = *row.observed;
            item["agrees"] = *row.observed == v.verdict.allowed;
        }
        if (!row.skipped.empty()) item["skipped"] = row.skipped;
        if (!row.detail.empty()) item["detail"] = row.detail;
        list.push_back(std::move(item));
    }
    return {{"probes", list}};
}

std::string truth_tables(const std::vector<ProbeRow>& rows) {
    // Groups in order of first appearance; sources and destinations likewise.
    std::vector<std::string> groups;
    std::map<std::string, std::vector<const ProbeRow*>> by_group;
    for (const auto& row : rows) {
        const auto& p = *row.evaluated->probe;
        std::string group = p.port + "/" + std::string(protocol_name(p.protocol));
        if (!by_group.contains(group)) groups.push_back(group);
        by_group[group].push_back(&row);
    }
    std::string out;
    for (const auto& group : groups) {
        std::vector<std::string> froms, tos;
        std::map<std::pair<std::string, std::string>, std::string> cells;
        for (const ProbeRow* row : by_group[group]) {
            const auto& v = *row->evaluated;
            const auto& p = *v.probe;
            if (std::find(froms.begin(), froms.end(), p.from) == froms.end())
                froms.push_back(p.from);
            if (std::find(tos.begin(), tos.end(), p.to) == tos.end()) tos.push_back(p.to);
            std::string cell;
            if (!row->skipped.empty())
                cell = "s";
            else if (row->observed && *row->observed != v.verdict.allowed)
                cell = "!";
            else
                cell = v.verdict.allowed ? "." : "X";
            if (v.mismatch()) cell += "*";
            cells[{p.from, p.to}] = cell;
        }
        size_t width = group.size();
        for (const auto& f : froms) width = std::max(width, f.size());
        size_t col = 3;
        for (const auto& t : tos) col = std::max(col, t.size() + 1);
        auto pad = [](std::string s, size_t n) {
            s.resize(std::max(s.size(), n), ' ');
            return s;
        };
        std::string header = pad(group, width + 1);
        for (const auto& t : tos) header += pad(t, col);
        while (header.back() == ' ') header.pop_back();
        out += header + "\n";
        for (const auto& f : froms) {
            out += pad(f, width + 1);
            for (const auto& t : tos) {
                auto it = cells.find({f, t});
                out += pad(it == cells.end() ? "-" : it->second, col);
            }
            while (!out.empty() && out.back() == ' ') out.pop_back();
            out += "\n";
        }
        out += "\n";
    }
    return out;
}

}  // namespace podnet::cli
