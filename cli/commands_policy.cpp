// podnet policy eval | probe | apply | ls | rm | explain, and podnet namespace label | ls.

#include <algorithm>
#include <iostream>
#include <iterator>

#include "cli/args.hpp"
#include "cli/cli.hpp"
#include "cli/output.hpp"
#include "cli/policy_output.hpp"
#include "common/fs.hpp"
#include "policy/scenario.hpp"
#include "sandbox/policy_probe.hpp"

namespace podnet::cli {

namespace {

constexpr const char* policy_usage =
    "usage: podnet policy eval|probe --scenario FILE [--json]\n"
    "       podnet policy apply -f FILE|DIR...\n"
    "       podnet policy ls [-n NS] [--json] | policy rm NAME [-n NS]\n"
    "       podnet policy explain SRC DST PORT[/PROTO]";

int policy_eval(Args args) {
    static const OptionSpec specs[] = {{"scenario", 0, true}, {"json", 0, false}};
    auto parsed = parse_args(args, specs, "policy eval");
    if (!parsed) return usage_error(parsed.error().message);
    if (!parsed->has("scenario") || !parsed->positionals.empty())
        return usage_error("usage: podnet policy eval --scenario FILE [--json]");
    auto scenario = policy::load_scenario(parsed->value("scenario"));
    if (!scenario) return report(scenario.error());
    auto verdicts = policy::evaluate_scenario(*scenario);
    if (!verdicts) return report(verdicts.error().wrap(parsed->value("scenario")));
    std::vector<ProbeRow> rows;
    int mismatches = 0;
    for (const auto& v : *verdicts) {
        rows.push_back({&v, std::nullopt, "", ""});
        if (v.mismatch()) ++mismatches;
    }
    if (parsed->has("json")) {
        std::cout << probes_json(rows).dump(2) << "\n";
    } else {
        if (!scenario->description.empty()) std::cout << scenario->description << "\n\n";
        std::cout << truth_tables(rows, use_color());
        for (const auto& v : *verdicts)
            if (v.mismatch())
                std::cout << "MISMATCH " << v.probe->from << " -> " << v.probe->to << " "
                          << v.probe->port << "/" << protocol_name(v.probe->protocol)
                          << ": expected " << (*v.probe->expected ? "allowed" : "denied")
                          << ", evaluated " << (v.verdict.allowed ? "allowed" : "denied") << ": "
                          << v.verdict.reason << "\n";
        std::cout << verdicts->size() << " probes, " << mismatches
                  << " differ from their expected verdict\n";
    }
    if (mismatches > 0) {
        std::cerr << "podnet: " << mismatches << " of " << verdicts->size()
                  << " probes differ from their expected verdict\n";
        return exit_failure;
    }
    return exit_ok;
}

void print_mismatches(const std::vector<ProbeRow>& rows) {
    for (const auto& row : rows) {
        const auto& v = *row.evaluated;
        std::string what = v.probe->from + " -> " + v.probe->to + " " + v.probe->port + "/" +
                           std::string(protocol_name(v.probe->protocol));
        if (row.observed && *row.observed != v.verdict.allowed)
            std::cout << "DISAGREE " << what << ": kernel "
                      << (*row.observed ? "connected" : "refused (" + row.detail + ")")
                      << ", evaluator " << (v.verdict.allowed ? "allowed" : "denied") << ": "
                      << v.verdict.reason << "\n";
        if (v.mismatch())
            std::cout << "MISMATCH " << what << ": expected "
                      << (*v.probe->expected ? "allowed" : "denied") << ", evaluated "
                      << (v.verdict.allowed ? "allowed" : "denied") << "\n";
    }
}

int policy_probe(Context& ctx, Args args) {
    static const OptionSpec specs[] = {
        {"scenario", 0, true}, {"json", 0, false}, {"timeout-ms", 0, true}};
    auto parsed = parse_args(args, specs, "policy probe");
    if (!parsed) return usage_error(parsed.error().message);
    if (!parsed->has("scenario") || !parsed->positionals.empty())
        return usage_error("usage: podnet policy probe --scenario FILE [--json] [--timeout-ms MS]");
    int timeout_ms = 1000;
    if (parsed->has("timeout-ms")) {
        std::string t = parsed->value("timeout-ms");
        if (t.empty() || t.size() > 6 || t.find_first_not_of("0123456789") != std::string::npos)
            return usage_error("--timeout-ms " + t + ": expected milliseconds");
        timeout_ms = std::stoi(t);
    }
    std::string path = parsed->value("scenario");
    auto scenario = policy::load_scenario(path);
    if (!scenario) return report(scenario.error());
    auto verdicts = policy::evaluate_scenario(*scenario);
    if (!verdicts) return report(verdicts.error().wrap(path));
    bool json = parsed->has("json");
    auto code = run_in_private_world([&]() -> int {
        Config config = ctx.config;
        place_under_root(config, "/run/podnet-probe");
        auto rt = Runtime::open(config);
        if (!rt) return report(rt.error());
        auto observed = probe_scenario(*rt, *scenario, *verdicts, timeout_ms);
        if (!observed) return report(observed.error());
        std::vector<ProbeRow> rows;
        int disagree = 0, mismatch = 0, ran = 0, skipped = 0;
        for (size_t i = 0; i < verdicts->size(); ++i) {
            const auto& o = (*observed)[i];
            rows.push_back({&(*verdicts)[i], o.connected, o.skipped, o.detail});
            if (o.connected)
                ++ran;
            else
                ++skipped;
            if (o.connected && *o.connected != (*verdicts)[i].verdict.allowed) ++disagree;
            if ((*verdicts)[i].mismatch()) ++mismatch;
        }
        if (json) {
            std::cout << probes_json(rows).dump(2) << "\n";
        } else {
            if (!scenario->description.empty()) std::cout << scenario->description << "\n\n";
            std::cout << truth_tables(rows, use_color());
            print_mismatches(rows);
            std::cout << ran << " probes ran, " << skipped << " skipped; " << disagree
                      << " disagree with the evaluator, " << mismatch
                      << " differ from their expected verdict\n";
        }
        std::cout.flush();
        if (disagree + mismatch > 0) {
            std::cerr << "podnet: " << path << ": " << disagree
                      << " probes where the kernel and the evaluator disagree, " << mismatch
                      << " that differ from their expected verdict\n";
            return exit_failure;
        }
        return exit_ok;
    });
    if (!code) return report(code.error());
    return *code;
}

// -f FILE, -f DIR (its *.yaml, *.yml and *.json by name), -f - (stdin).
Result<std::vector<PolicySource>> read_sources(const std::vector<std::string>& paths) {
    std::vector<PolicySource> out;
    for (const auto& path : paths) {
        if (path == "-") {
            std::string text(std::istreambuf_iterator<char>(std::cin), {});
            out.push_back({text, "<stdin>"});
            continue;
        }
        std::vector<std::string> files{path};
        if (auto names = list_dir(path); names && !names->empty()) {
            files.clear();
            std::sort(names->begin(), names->end());
            for (const auto& n : *names)
                if (n.ends_with(".yaml") || n.ends_with(".yml") || n.ends_with(".json"))
                    files.push_back(path + "/" + n);
        }
        for (const auto& file : files) {
            auto text = read_file(file);
            if (!text) return std::unexpected(text.error());
            out.push_back({*text, file});
        }
    }
    return out;
}

int policy_apply(Context& ctx, Args args) {
    static const OptionSpec specs[] = {{"filename", 'f', true}};
    auto parsed = parse_args(args, specs, "policy apply");
    if (!parsed) return usage_error(parsed.error().message);
    if (!parsed->has("filename") || !parsed->positionals.empty())
        return usage_error("usage: podnet policy apply -f FILE|DIR|-...");
    auto sources = read_sources(parsed->values("filename"));
    if (!sources) return report(sources.error());
    auto rt = ctx.runtime();
    if (!rt) return report(rt.error());
    auto applied = (*rt)->apply_policies(*sources);
    if (!applied) return report(applied.error());
    for (const auto& a : *applied)
        std::cout << "networkpolicy " << a.key << " " << a.action << "\n";
    return exit_ok;
}

int policy_ls(Context& ctx, Args args) {
    static const OptionSpec specs[] = {{"namespace", 'n', true}, {"json", 0, false}};
    auto parsed = parse_args(args, specs, "policy ls");
    if (!parsed) return usage_error(parsed.error().message);
    if (!parsed->positionals.empty())
        return usage_error("policy ls: unexpected argument " + parsed->positionals[0]);
    auto rt = ctx.runtime();
    if (!rt) return report(rt.error());
    auto list = (*rt)->list_policies(parsed->value("namespace"));
    if (!list) return report(list.error());
    if (parsed->has("json")) {
        nlohmann::json out = nlohmann::json::array();
        for (const auto& p : *list) out.push_back(nlohmann::json::parse(p.object_json));
        std::cout << out.dump(2) << "\n";
        return exit_ok;
    }
    std::vector<std::vector<std::string>> rows = {
        {"NAMESPACE", "NAME", "POD-SELECTOR", "TYPES", "INGRESS", "EGRESS"}};
    for (const auto& p : *list)
        rows.push_back({p.ns, p.name, p.pod_selector, join(p.types, ","),
                        std::to_string(p.ingress_rules), std::to_string(p.egress_rules)});
    std::cout << format_table(rows);
    return exit_ok;
}

int policy_rm(Context& ctx, Args args) {
    static const OptionSpec specs[] = {{"namespace", 'n', true}};
    auto parsed = parse_args(args, specs, "policy rm");
    if (!parsed) return usage_error(parsed.error().message);
    if (parsed->positionals.empty()) return usage_error("usage: podnet policy rm NAME... [-n NS]");
    auto rt = ctx.runtime();
    if (!rt) return report(rt.error());
    std::string ns = parsed->value("namespace", "default");
    // Every name is tried, as kubectl delete and sandbox rm do; any failure makes it exit 1.
    int code = exit_ok;
    for (const auto& name : parsed->positionals) {
        if (auto r = (*rt)->remove_policy(ns, name); !r)
            code = report(r.error());
        else
            std::cout << "networkpolicy " << ns << "/" << name << " deleted\n";
    }
    return code;
}

int policy_explain(Context& ctx, Args args) {
    static const OptionSpec specs[] = {{"json", 0, false}};
    auto parsed = parse_args(args, specs, "policy explain");
    if (!parsed) return usage_error(parsed.error().message);
    if (parsed->positionals.size() != 3)
        return usage_error("usage: podnet policy explain SRC DST PORT[/PROTO]");
    const auto& pos = parsed->positionals;
    auto rt = ctx.runtime();
    if (!rt) return report(rt.error());
    auto e = (*rt)->explain_policy(pos[0], pos[1], pos[2]);
    if (!e) return report(e.error());
    if (parsed->has("json")) {
        nlohmann::ordered_json out = {{"from", e->from},       {"to", e->to},
                                      {"port", e->port},       {"protocol", e->protocol},
                                      {"allowed", e->allowed}, {"reason", e->reason}};
        std::cout << out.dump(2) << "\n";
    } else {
        std::cout << (e->allowed ? "allowed" : "denied") << ": " << e->from << " -> " << e->to
                  << " " << e->port << "/" << e->protocol << ": " << e->reason << "\n";
    }
    // As `kubectl auth can-i`: the answer is the exit code too, so a script can branch on it.
    // A failure to answer (no such sandbox, bad port) is also 1, and says so on stderr.
    return e->allowed ? exit_ok : exit_failure;
}

int namespace_label(Context& ctx, Args args) {
    if (args.size() < 2)
        return usage_error("usage: podnet namespace label NS KEY=VALUE... [KEY-]...");
    Labels set;
    std::vector<std::string> remove;
    for (size_t i = 1; i < args.size(); ++i) {
        if (args[i].ends_with("-") && args[i].find('=') == std::string::npos) {
            remove.push_back(args[i].substr(0, args[i].size() - 1));
            continue;
        }
        auto label = parse_label(args[i]);
        if (!label) return report(label.error());
        set[label->first] = label->second;
    }
    auto rt = ctx.runtime();
    if (!rt) return report(rt.error());
    auto info = (*rt)->label_namespace(args[0], set, remove);
    if (!info) return report(info.error());
    std::cout << "namespace " << info->name << " labeled\n";
    return exit_ok;
}

int namespace_ls(Context& ctx, Args args) {
    static const OptionSpec specs[] = {{"json", 0, false}};
    auto parsed = parse_args(args, specs, "namespace ls");
    if (!parsed) return usage_error(parsed.error().message);
    if (!parsed->positionals.empty())
        return usage_error("namespace ls: unexpected argument " + parsed->positionals[0]);
    auto rt = ctx.runtime();
    if (!rt) return report(rt.error());
    auto list = (*rt)->list_namespaces();
    if (!list) return report(list.error());
    if (parsed->has("json")) {
        nlohmann::json out = nlohmann::json::array();
        for (const auto& n : *list)
            out.push_back({{"name", n.name},
                           {"labels", n.labels},
                           {"sandboxes", n.sandboxes},
                           {"policies", n.policies}});
        std::cout << out.dump(2) << "\n";
        return exit_ok;
    }
    std::vector<std::vector<std::string>> rows = {{"NAME", "LABELS", "SANDBOXES", "POLICIES"}};
    for (const auto& n : *list) {
        std::vector<std::string> labels;
        for (const auto& [k, v] : n.labels) labels.push_back(k + "=" + v);
        rows.push_back({n.name, labels.empty() ? "-" : join(labels, ","),
                        std::to_string(n.sandboxes), std::to_string(n.policies)});
    }
    std::cout << format_table(rows);
    return exit_ok;
}

}  // namespace

int cmd_policy(Context& ctx, Args args) {
    if (args.empty()) return usage_error(policy_usage);
    const std::string& sub = args[0];
    Args rest = args.subspan(1);
    if (sub == "eval") return policy_eval(rest);
    if (sub == "probe") return policy_probe(ctx, rest);
    if (sub == "apply") return policy_apply(ctx, rest);
    if (sub == "ls") return policy_ls(ctx, rest);
    if (sub == "rm") return policy_rm(ctx, rest);
    if (sub == "explain") return policy_explain(ctx, rest);
    return usage_error(policy_usage);
}

int cmd_namespace(Context& ctx, Args args) {
    if (args.empty()) return usage_error("usage: podnet namespace label|ls ...");
    if (args[0] == "label") return namespace_label(ctx, args.subspan(1));
    if (args[0] == "ls") return namespace_ls(ctx, args.subspan(1));
    return usage_error("usage: podnet namespace label NS KEY=VALUE... | namespace ls");
}

}  // namespace podnet::cli
