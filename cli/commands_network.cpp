// podnet network create | ls | inspect | rm, and podnet port add | rm | ls.

#include <iostream>

#include "cli/args.hpp"
#include "cli/cli.hpp"
#include "cli/output.hpp"

namespace podnet::cli {

namespace {

int network_create(Context& ctx, Args args) {
    static const OptionSpec specs[] = {
        {"subnet", 0, true}, {"gateway", 0, true},        {"mtu", 0, true},
        {"bridge", 0, true}, {"no-masquerade", 0, false}, {"json", 0, false}};
    auto parsed = parse_args(args, specs, "network create");
    if (!parsed) return usage_error(parsed.error().message);
    if (parsed->positionals.size() != 1)
        return usage_error("usage: podnet network create NAME [--subnet CIDR]... [...]");
    NetworkRequest request;
    request.name = parsed->positionals[0];
    request.subnets = parsed->values("subnet");
    request.gateway = parsed->value("gateway");
    request.bridge = parsed->value("bridge");
    request.masquerade = !parsed->has("no-masquerade");
    if (parsed->has("mtu")) {
        std::string text = parsed->value("mtu");
        if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos ||
            text.size() > 6)
            return usage_error("--mtu " + text + ": expected a number");
        request.mtu = std::stoi(text);
    }
    auto rt = ctx.runtime();
    if (!rt) return report(rt.error());
    auto info = (*rt)->create_network(request);
    if (!info) return report(info.error());
    if (parsed->has("json"))
        std::cout << network_json(*info).dump(2) << "\n";
    else
        std::cout << info->name << "\n";
    return exit_ok;
}

int network_ls(Context& ctx, Args args) {
    static const OptionSpec specs[] = {{"json", 0, false}, {"quiet", 'q', false}};
    auto parsed = parse_args(args, specs, "network ls");
    if (!parsed) return usage_error(parsed.error().message);
    if (!parsed->positionals.empty())
        return usage_error("network ls: unexpected argument " + parsed->positionals[0]);
    if (parsed->has("json") && parsed->has("quiet"))
        return usage_error("network ls: -q and --json exclude each other");
    auto rt = ctx.runtime();
    if (!rt) return report(rt.error());
    auto list = (*rt)->list_networks();
    if (!list) return report(list.error());
    if (parsed->has("json")) {
        nlohmann::json out = nlohmann::json::array();
        for (const auto& n : *list) out.push_back(network_json(n));
        std::cout << out.dump(2) << "\n";
        return exit_ok;
    }
    // Networks are named by their names (they have no ids): -q prints those, one a line.
    if (parsed->has("quiet")) {
        for (const auto& n : *list) std::cout << n.name << "\n";
        return exit_ok;
    }
    std::vector<std::vector<std::string>> rows = {{"NAME", "BRIDGE", "SUBNETS", "SANDBOXES"}};
    for (const auto& n : *list) {
        std::vector<std::string> subnets;
        for (const auto& [subnet, gw] : n.subnets) subnets.push_back(subnet);
        rows.push_back({n.name, n.bridge, join(subnets, ","), std::to_string(n.sandboxes.size())});
    }
    std::cout << format_table(rows);
    return exit_ok;
}

int network_inspect(Context& ctx, Args args) {
    static const OptionSpec specs[] = {{"json", 0, false}};
    auto parsed = parse_args(args, specs, "network inspect");
    if (!parsed) return usage_error(parsed.error().message);
    if (parsed->positionals.size() != 1) return usage_error("usage: podnet network inspect NAME");
    auto rt = ctx.runtime();
    if (!rt) return report(rt.error());
    auto info = (*rt)->inspect_network(parsed->positionals[0]);
    if (!info) return report(info.error());
    std::cout << network_json(*info).dump(2) << "\n";
    return exit_ok;
}

int network_rm(Context& ctx, Args args) {
    static const OptionSpec specs[] = {{"json", 0, false}};
    auto parsed = parse_args(args, specs, "network rm");
    if (!parsed) return usage_error(parsed.error().message);
    if (parsed->positionals.empty()) return usage_error("usage: podnet network rm NAME...");
    auto rt = ctx.runtime();
    if (!rt) return report(rt.error());
    int code = exit_ok;
    for (const auto& name : parsed->positionals) {
        if (auto r = (*rt)->remove_network(name); !r)
            code = report(r.error());
        else
            std::cout << name << "\n";
    }
    return code;
}

int print_ports(const std::vector<std::string>& ports, bool json) {
    if (json)
        std::cout << nlohmann::json(ports).dump() << "\n";
    else
        for (const auto& p : ports) std::cout << p << "\n";
    return exit_ok;
}

}  // namespace

int cmd_network(Context& ctx, Args args) {
    if (args.empty()) return usage_error("usage: podnet network create|ls|inspect|rm ...");
    const std::string& verb = args[0];
    Args rest = args.subspan(1);
    if (verb == "create") return network_create(ctx, rest);
    if (verb == "ls" || verb == "list") return network_ls(ctx, rest);
    if (verb == "inspect") return network_inspect(ctx, rest);
    if (verb == "rm" || verb == "remove") return network_rm(ctx, rest);
    return usage_error("unknown command \"network " + verb + "\" (see podnet --help)");
}

int cmd_port(Context& ctx, Args args) {
    if (args.empty()) return usage_error("usage: podnet port add|rm|ls SANDBOX ...");
    static const OptionSpec specs[] = {{"json", 0, false}};
    const std::string verb = args[0];
    // The command line is checked whole before the runtime is opened (which needs root).
    if (verb != "ls" && verb != "add" && verb != "rm" && verb != "remove")
        return usage_error("unknown command \"port " + verb + "\" (see podnet --help)");
    auto parsed = parse_args(args.subspan(1), specs, "port " + verb);
    if (!parsed) return usage_error(parsed.error().message);
    if (parsed->positionals.empty()) return usage_error("usage: podnet port " + verb + " SANDBOX");
    std::string sandbox = parsed->positionals[0];
    std::vector<std::string> mappings(parsed->positionals.begin() + 1, parsed->positionals.end());
    if (verb == "ls" && !mappings.empty())
        return usage_error("port ls: unexpected argument " + mappings[0]);
    if (verb != "ls" && mappings.empty())
        return usage_error("usage: podnet port " + verb +
                           " SANDBOX [HOSTIP:][HOSTPORT:]PORT[/PROTO]...");
    auto rt = ctx.runtime();
    if (!rt) return report(rt.error());
    bool json = parsed->has("json");
    if (verb == "ls") {
        auto info = (*rt)->inspect_sandbox(sandbox);
        if (!info) return report(info.error());
        return print_ports(info->ports, json);
    }
    if (verb == "add") {
        auto ports = (*rt)->add_ports(sandbox, mappings);
        if (!ports) return report(ports.error());
        return print_ports(*ports, json);
    }
    if (verb == "rm" || verb == "remove") {
        auto ports = (*rt)->remove_ports(sandbox, mappings);
        if (!ports) return report(ports.error());
        return print_ports(*ports, json);
    }
    return usage_error("unknown command \"port " + verb + "\" (see podnet --help)");
}

}  // namespace podnet::cli
