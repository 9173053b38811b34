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

namespace {

// SGR codes for a cell's symbol: green allowed, red denied, the surprises in bold.
std::string_view cell_color(char symbol) {
    switch (symbol) {
        case '.':
            return "\033[32m";
        case 'X':
            return "\033[31m";
        case '!':
            return "\033[1;35m";
        case 's':
            return "\033[2m";
        default:
            return "";
    }
}

std::string paint(const std::string& cell, bool color) {
    if (!color || cell.empty()) return cell;
    std::string_view code = cell_color(cell[0]);
    std::string out =
        code.empty() ? cell.substr(0, 1) : std::string(code) + cell.substr(0, 1) + "\033[0m";
    if (cell.size() > 1) out += "\033[1;33m" + cell.substr(1) + "\033[0m";  // the "*"
    return out;
}

}  // namespace

std::string truth_tables(const std::vector<ProbeRow>& rows, bool color) {
    // Groups in order of first appearance; sources and destinations likewise.
    std::vector<std::string> groups;
    std::map<std::string, std::vector<const ProbeRow*>> by_group;
    bool observed = false, skipped = false, mismatched = false, holes = false;
    for (const auto& row : rows) {
        const auto& p = *row.evaluated->probe;
        std::string group = p.port + "/" + std::string(protocol_name(p.protocol));
        if (!by_group.contains(group)) groups.push_back(group);
        by_group[group].push_back(&row);
        observed = observed || row.observed.has_value();
    }
    const std::string corner = "from \\ to";
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
            if (!row->skipped.empty()) {
                cell = "s";
                skipped = true;
            } else if (row->observed && *row->observed != v.verdict.allowed) {
                cell = "!";
            } else {
                cell = v.verdict.allowed ? "." : "X";
            }
            if (v.mismatch()) {
                cell += "*";
                mismatched = true;
            }
            cells[{p.from, p.to}] = cell;
        }
        size_t width = corner.size();
        for (const auto& f : froms) width = std::max(width, f.size());
        size_t col = 3;
        for (const auto& t : tos) col = std::max(col, t.size() + 1);
        auto pad = [](std::string s, size_t n) {
            s.resize(std::max(s.size(), n), ' ');
            return s;
        };
        auto trim_right = [](std::string& s) {
            while (!s.empty() && s.back() == ' ') s.pop_back();
        };
        // Which connections the table is about: to port GROUP, each row a source (from),
        // each column a destination (to).
        out += "port " + group + ": a row per source (from), a column per destination (to)\n";
        std::string header = pad(corner, width + 1);
        for (const auto& t : tos) header += pad(t, col);
        trim_right(header);
        out += header + "\n";
        for (const auto& f : froms) {
            std::string line = pad(f, width + 1);
            for (size_t i = 0; i < tos.size(); ++i) {
                auto it = cells.find({f, tos[i]});
                std::string cell = it == cells.end() ? "-" : it->second;
                holes = holes || it == cells.end();
                // Padding counts what shows, so colour wraps the symbol, not the spaces.
                std::string spaces(col > cell.size() ? col - cell.size() : 0, ' ');
                line += paint(cell, color) + (i + 1 < tos.size() ? spaces : "");
            }
            trim_right(line);
            out += line + "\n";
        }
        out += "\n";
    }
    if (groups.empty()) return out;
    std::string legend =
        "legend: " + paint(".", color) + " allowed  " + paint("X", color) + " denied";
    if (observed)
        legend += "  (what the kernel did)  " + paint("!", color) +
                  " the kernel disagreed with the evaluator";
    if (skipped) legend += "  " + paint("s", color) + " not run";
    if (mismatched)
        legend +=
            std::string("  ") + (color ? "\033[1;33m*\033[0m" : "*") + " not the expected verdict";
    if (holes) legend += "  - no such probe";
    return out + legend + "\n\n";
}

}  // namespace podnet::cli
