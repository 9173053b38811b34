// podnet sandbox create | ls | inspect | stop | rm, and podnet gc.

#include <iostream>

#include "cli/args.hpp"
#include "cli/cli.hpp"
#include "cli/output.hpp"
#include "common/validate.hpp"

namespace podnet::cli {

namespace {

// stop and rm print each sandbox they handled, as given (docker prints names the same way).
void print_done(const nlohmann::json& refs, bool json) {
    if (json) {
        std::cout << refs.dump() << "\n";
        return;
    }
    for (const auto& ref : refs) std::cout << ref.get<std::string>() << "\n";
}

int sandbox_create(Context& ctx, Args args) {
    static const OptionSpec specs[] = {{"name", 0, true},        {"hostname", 0, true},
                                       {"namespace", 'n', true}, {"label", 'l', true},
                                       {"network", 0, true},     {"ip", 0, true},
                                       {"ip6", 0, true},         {"publish", 'p', true},
                                       {"named-port", 0, true},  {"json", 0, false}};
    auto parsed = parse_args(args, specs, "sandbox create");
    if (!parsed) return usage_error(parsed.error().message);
    if (!parsed->positionals.empty())
        return usage_error("sandbox create: unexpected argument " + parsed->positionals[0]);
    SandboxSpec spec;
    spec.name = parsed->value("name");
    spec.hostname = parsed->value("hostname");
    spec.k8s_namespace = parsed->value("namespace", "default");
    // --network is repeatable for CNI networks (eth0, eth1, ... in order); the built-in
    // network is one.
    for (const auto& n : parsed->values("network")) {
        if (n.starts_with("cni:")) {
            spec.cni_networks.push_back(n.substr(4));
        } else if (!spec.network.empty()) {
            return usage_error("--network " + n + ": only one built-in network (or cni:NAME...)");
        } else {
            spec.network = n;
        }
    }
    spec.ip = parsed->value("ip");
    spec.ip6 = parsed->value("ip6");
    spec.ports = parsed->values("publish");
    spec.named_ports = parsed->values("named-port");
    for (const auto& text : parsed->values("label")) {
        auto label = parse_label(text);
        if (!label) return report(label.error());
        spec.labels[label->first] = label->second;
    }
    auto rt = ctx.runtime();
    if (!rt) return report(rt.error());
    auto info = (*rt)->create_sandbox(spec);
    if (!info) return report(info.error());
    if (parsed->has("json"))
        std::cout << sandbox_json(*info).dump(2) << "\n";
    else
        std::cout << info->id << "\n";
    return exit_ok;
}

int sandbox_ls(Context& ctx, Args args) {
    static const OptionSpec specs[] = {{"json", 0, false}, {"quiet", 'q', false}};
    auto parsed = parse_args(args, specs, "sandbox ls");
    if (!parsed) return usage_error(parsed.error().message);
    if (!parsed->positionals.empty())
        return usage_error("sandbox ls: unexpected argument " + parsed->positionals[0]);
    // -q is for `xargs podnet sandbox rm -f`; with --json one of them would be ignored.
    if (parsed->has("json") && parsed->has("quiet"))
        return usage_error("sandbox ls: -q and --json exclude each other");
    auto rt = ctx.runtime();
    if (!rt) return report(rt.error());
    auto list = (*rt)->list_sandboxes();
    if (!list) return report(list.error());
    if (parsed->has("json")) {
        nlohmann::json out = nlohmann::json::array();
        for (const auto& s : *list) out.push_back(sandbox_json(s));
        std::cout << out.dump(2) << "\n";
        return exit_ok;
    }
    if (parsed->has("quiet")) {
        for (const auto& s : *list) std::cout << s.id << "\n";
        return exit_ok;
    }
    std::vector<std::vector<std::string>> rows = {
        {"SANDBOX ID", "NAME", "NAMESPACE", "STATE", "IP", "CONTAINERS", "CREATED"}};
    for (const auto& s : *list) {
        std::string ip = "-";
        if (!s.attachments.empty()) {
            const auto& a = s.attachments.front();
            ip = (a.ipv4.empty() ? a.ipv6 : a.ipv4);
            ip = ip.substr(0, ip.find('/'));
        }
        rows.push_back({s.id.substr(0, 12), s.name, s.k8s_namespace, s.state, ip,
                        std::to_string(s.containers.size()), s.created.substr(0, 19)});
    }
    std::cout << format_table(rows);
    return exit_ok;
}

int sandbox_inspect(Context& ctx, Args args) {
    static const OptionSpec specs[] = {{"json", 0, false}, {"oci", 0, false}};
    auto parsed = parse_args(args, specs, "sandbox inspect");
    if (!parsed) return usage_error(parsed.error().message);
    const auto& refs = parsed->positionals;
    if (refs.empty()) return usage_error("usage: podnet sandbox inspect SANDBOX... [--oci]");
    if (parsed->has("oci") && refs.size() != 1)
        return usage_error("sandbox inspect --oci: one sandbox at a time");
    auto rt = ctx.runtime();
    if (!rt) return report(rt.error());
    if (parsed->has("oci")) {
        auto info = (*rt)->inspect_sandbox(refs[0]);
        if (!info) return report(info.error());
        if (info->state != "running")
            return report(Error{"sandbox " + info->name + " is " + info->state +
                                ": its namespaces are gone"});
        std::cout << oci_namespaces_json(*info).dump(2) << "\n";
        return exit_ok;
    }
    // inspect is for reading details; JSON is the one complete form (as docker inspect). One
    // sandbox prints its object, as podnet always has (scripts index it directly); several
    // print an array in the order asked, like docker inspect, the missing ones reported on
    // stderr and the exit code 1 (docker does the same).
    int code = exit_ok;
    nlohmann::json found = nlohmann::json::array();
    for (const auto& ref : refs) {
        auto info = (*rt)->inspect_sandbox(ref);
        if (!info)
            code = report(info.error());
        else
            found.push_back(sandbox_json(*info));
    }
    if (refs.size() == 1) {
        if (code == exit_ok) std::cout << found[0].dump(2) << "\n";
        return code;
    }
    std::cout << found.dump(2) << "\n";
    return code;
}

int sandbox_stop(Context& ctx, Args args) {
    static const OptionSpec specs[] = {{"timeout", 't', true}, {"json", 0, false}};
    auto parsed = parse_args(args, specs, "sandbox stop");
    if (!parsed) return usage_error(parsed.error().message);
    if (parsed->positionals.empty())
        return usage_error("usage: podnet sandbox stop SANDBOX... [--timeout S]");
    int timeout = ctx.config.stop_timeout_seconds;
    if (parsed->has("timeout")) {
        try {
            size_t used = 0;
            std::string t = parsed->value("timeout");
            timeout = std::stoi(t, &used);
            if (used != t.size() || timeout < 0) throw std::invalid_argument(t);
        } catch (const std::exception&) {
            return usage_error("--timeout " + parsed->value("timeout") +
                               ": expected whole seconds >= 0");
        }
    }
    auto rt = ctx.runtime();
    if (!rt) return report(rt.error());
    int code = exit_ok;
    nlohmann::json done = nlohmann::json::array();
    for (const auto& ref : parsed->positionals) {
        if (auto r = (*rt)->stop_sandbox(ref, std::chrono::seconds(timeout)); !r)
            code = report(r.error());
        else
            done.push_back(ref);
    }
    print_done(done, parsed->has("json"));
    return code;
}

int sandbox_rm(Context& ctx, Args args) {
    static const OptionSpec specs[] = {{"force", 'f', false}, {"json", 0, false}};
    auto parsed = parse_args(args, specs, "sandbox rm");
    if (!parsed) return usage_error(parsed.error().message);
    if (parsed->positionals.empty()) return usage_error("usage: podnet sandbox rm [-f] SANDBOX...");
    auto rt = ctx.runtime();
    if (!rt) return report(rt.error());
    int code = exit_ok;
    nlohmann::json done = nlohmann::json::array();
    for (const auto& ref : parsed->positionals) {
        if (auto r = (*rt)->remove_sandbox(ref, parsed->has("force")); !r)
            code = report(r.error());
        else
            done.push_back(ref);
    }
    print_done(done, parsed->has("json"));
    return code;
}

}  // namespace

int cmd_sandbox(Context& ctx, Args args) {
    if (args.empty()) return usage_error("usage: podnet sandbox create|ls|inspect|stop|rm ...");
    const std::string& verb = args[0];
    Args rest = args.subspan(1);
    if (verb == "create") return sandbox_create(ctx, rest);
    if (verb == "ls" || verb == "list") return sandbox_ls(ctx, rest);
    if (verb == "inspect") return sandbox_inspect(ctx, rest);
    if (verb == "stop") return sandbox_stop(ctx, rest);
    if (verb == "rm" || verb == "remove") return sandbox_rm(ctx, rest);
    return usage_error("unknown command \"sandbox " + verb + "\" (see podnet --help)");
}

int cmd_gc(Context& ctx, Args args) {
    static const OptionSpec specs[] = {{"json", 0, false}};
    auto parsed = parse_args(args, specs, "gc");
    if (!parsed) return usage_error(parsed.error().message);
    if (!parsed->positionals.empty())
        return usage_error("gc: unexpected argument " + parsed->positionals[0]);
    auto rt = ctx.runtime();
    if (!rt) return report(rt.error());
    auto result = (*rt)->gc();
    if (!result) return report(result.error());
    if (parsed->has("json")) {
        std::cout << nlohmann::json{{"actions", result->actions}, {"errors", result->errors}}.dump(
                         2)
                  << "\n";
    } else {
        for (const auto& a : result->actions) std::cout << a << "\n";
        for (const auto& e : result->errors) std::cerr << "podnet: gc: " << e << "\n";
    }
    return result->errors.empty() ? exit_ok : exit_failure;
}

}  // namespace podnet::cli
