// podnet cni add | del | check | status | gc | version: the CNI runner by hand, as cnitool does
// it (NETCONFPATH and CNI_PATH from the environment win over the config; CNI_IFNAME, CNI_ARGS
// and CAP_ARGS are honoured too), printing the result JSON.

#include <cstdlib>
#include <iostream>

#include "cli/args.hpp"
#include "cli/cli.hpp"
#include "cni-runner/conf.hpp"
#include "cni-runner/runner.hpp"
#include "common/fs.hpp"
#include "sandbox/cni_networking.hpp"

namespace podnet::cli {

namespace {

constexpr const char* cni_usage =
    "usage: podnet cni add|del|check NETWORK NETNS [--container-id ID] [--ifname IF] "
    "[--cap-args JSON] [--args K=V;...] [--timeout S]\n"
    "       podnet cni status|version NETWORK\n"
    "       podnet cni gc NETWORK [--valid CONTAINER_ID/IFNAME]...";

std::string env_or(const char* name, const std::string& fallback) {
    const char* value = std::getenv(name);
    return value != nullptr && *value != '\0' ? std::string(value) : fallback;
}

Result<std::vector<std::pair<std::string, std::string>>> parse_cni_args(const std::string& text) {
    std::vector<std::pair<std::string, std::string>> out;
    size_t start = 0;
    while (start <= text.size()) {
        size_t end = text.find(';', start);
        if (end == std::string::npos) end = text.size();
        std::string item = text.substr(start, end - start);
        if (!item.empty()) {
            size_t eq = item.find('=');
            if (eq == std::string::npos || eq == 0)
                return fail("--args: \"" + item + "\" is not KEY=VALUE");
            out.emplace_back(item.substr(0, eq), item.substr(eq + 1));
        }
        start = end + 1;
    }
    return out;
}

}  // namespace

int cmd_cni(Context& ctx, Args args) {
    static const OptionSpec specs[] = {{"container-id", 0, true}, {"ifname", 0, true},
                                       {"cap-args", 0, true},     {"args", 0, true},
                                       {"valid", 0, true},        {"timeout", 0, true}};
    auto parsed = parse_args(args, specs, "cni");
    if (!parsed) return usage_error(parsed.error().message);
    const auto& pos = parsed->positionals;
    if (pos.size() < 2) return usage_error(cni_usage);
    const std::string& command = pos[0];
    bool per_container = command == "add" || command == "del" || command == "check";
    bool per_network = command == "status" || command == "version" || command == "gc";
    if (!per_container && !per_network)
        return usage_error("cni: unknown command \"" + command + "\"\n" + cni_usage);
    if ((per_container && pos.size() != 3) || (per_network && pos.size() != 2))
        return usage_error(cni_usage);

    // The same lookup as `--network cni:NAME` (sandbox/cni_networking.hpp).
    auto list = find_cni_network(ctx.config, pos[1]);
    if (!list) return report(list.error());

    cni::RunnerOptions options;
    options.plugin_dirs = cni::split_path_list(cni_search(ctx.config).plugin_path);
    options.cache_dir = ctx.config.effective_cni_cache_dir();
    options.timeout = std::chrono::seconds(ctx.config.cni_timeout_seconds);
    if (parsed->has("timeout")) {
        char* end = nullptr;
        double seconds = std::strtod(parsed->value("timeout").c_str(), &end);
        if (*end != '\0' || seconds <= 0)
            return usage_error("--timeout " + parsed->value("timeout") + ": not a positive number");
        options.timeout = std::chrono::milliseconds(static_cast<long>(seconds * 1000));
    }
    // Plugins' stderr, as cnitool lets it through.
    options.log = [](const std::string& line) { std::cerr << "podnet: cni: " << line << "\n"; };
    cni::Runner runner(std::move(options));

    if (command == "status") {
        if (auto r = runner.status(*list); !r) return report(r.error());
        return exit_ok;
    }
    if (command == "version") {
        auto answers = runner.version(*list);
        if (!answers) return report(answers.error());
        nlohmann::json out = {
            {"network", list->name}, {"cniVersion", list->cni_version}, {"plugins", *answers}};
        std::cout << out.dump(2) << "\n";
        return exit_ok;
    }
    if (command == "gc") {
        std::vector<cni::AttachmentId> valid;
        for (const auto& text : parsed->values("valid")) {
            auto slash = text.find('/');
            if (slash == std::string::npos || slash == 0 || slash + 1 == text.size())
                return usage_error("--valid " + text + ": expected CONTAINER_ID/IFNAME");
            valid.push_back({text.substr(0, slash), text.substr(slash + 1)});
        }
        auto removed = runner.gc(*list, valid);
        if (!removed) return report(removed.error());
        for (const auto& line : *removed) std::cout << line << "\n";
        return exit_ok;
    }

    cni::RuntimeConf rt;
    rt.netns = pos[2];
    if (!rt.netns.empty() && rt.netns.front() != '/') {
        // cnitool takes relative paths too; a bare name means /var/run/netns/NAME as `ip netns`.
        rt.netns = path_exists(rt.netns)
                       ? std::string(std::getenv("PWD") ? std::getenv("PWD") : ".") + "/" + rt.netns
                       : "/var/run/netns/" + rt.netns;
    }
    rt.container_id = parsed->value("container-id", cni::container_id_for_netns(rt.netns));
    rt.ifname = parsed->value("ifname", env_or("CNI_IFNAME", "eth0"));
    auto cni_args = parse_cni_args(parsed->value("args", env_or("CNI_ARGS", "")));
    if (!cni_args) return usage_error(cni_args.error().message);
    rt.args = *cni_args;
    std::string cap_text = parsed->value("cap-args", env_or("CAP_ARGS", ""));
    if (!cap_text.empty()) {
        auto caps = nlohmann::json::parse(cap_text, nullptr, false);
        if (caps.is_discarded() || !caps.is_object())
            return usage_error("--cap-args: not a JSON object: " + cap_text);
        rt.capability_args = caps;
    }
    if (auto r = make_dirs(ctx.config.effective_cni_cache_dir(), 0700); !r)
        return report(r.error());

    if (command == "add") {
        auto result = runner.add(*list, rt);
        if (!result) return report(result.error());
        std::cout << result->dump(2) << "\n";
        return exit_ok;
    }
    if (command == "del") {
        if (auto r = runner.del(*list, rt); !r) return report(r.error());
        return exit_ok;
    }
    if (auto r = runner.check(*list, rt); !r) return report(r.error());
    return exit_ok;
}

}  // namespace podnet::cli
