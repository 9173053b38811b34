// Sandbox create/rm cost: podnet's C++ API and CLI beside the kernel floor, in one run.
//
//   podnet-bench-sandbox BIN_DIR OUT.json [N]      (bench/run calls it in private namespaces)
//
// Each round creates N sandboxes (all alive at once, so growth with N shows), then removes
// them, for the floor (bench/floor.c), the API and the CLI in turn. The kernel frees a network
// namespace asynchronously (a kworker, after RCU grace periods), and that work competes with
// whatever runs next; so each phase starts after a pause for the previous one's cleanup, and
// the order rotates between rounds so no contender always follows the same neighbour.

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench_util.hpp"
#include "common/fs.hpp"
#include "common/process.hpp"
#include "podnet/runtime.hpp"

using nlohmann::json;
using namespace podnet::bench;

namespace {

struct Samples {
    std::vector<double> create, remove;
};

// Run argv, return stdout; exit on failure.
std::string run_capture(const std::vector<std::string>& argv) {
    int fds[2];
    if (::pipe(fds) != 0) std::exit(1);
    pid_t pid = ::fork();
    if (pid == 0) {
        ::dup2(fds[1], 1);
        ::close(fds[0]);
        std::vector<char*> args;
        for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        ::execv(args[0], args.data());
        ::_exit(127);
    }
    ::close(fds[1]);
    std::string out;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fds[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
    ::close(fds[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        std::fprintf(stderr, "bench: %s failed\n", argv[0].c_str());
        std::exit(1);
    }
    return out;
}

// fork + exec + wait, silenced; the time of a whole command.
double timed_exec(const std::vector<std::string>& argv) {
    auto t0 = Clock::now();
    pid_t pid = ::fork();
    if (pid == 0) {
        int devnull = ::open("/dev/null", O_WRONLY);
        ::dup2(devnull, 1);
        std::vector<char*> args;
        for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        ::execv(args[0], args.data());
        ::_exit(127);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    double ms = ms_since(t0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        std::fprintf(stderr, "bench: %s exited with %d\n", argv[0].c_str(), status);
        std::exit(1);
    }
    return ms;
}

void floor_round(const std::string& bin, int n, Samples& s) {
    std::string dir = "/run/bench-floor";
    (void)podnet::make_dirs(dir, 0700);
    std::string out = run_capture({bin + "/podnet-bench-floor", dir, std::to_string(n)});
    char kind[16];
    long long ns = 0;
    size_t pos = 0;
    while (pos < out.size()) {
        size_t end = out.find('\n', pos);
        if (std::sscanf(out.c_str() + pos, "%15s %lld", kind, &ns) == 2)
            (std::string(kind) == "create" ? s.create : s.remove)
                .push_back(static_cast<double>(ns) / 1e6);
        pos = end == std::string::npos ? out.size() : end + 1;
    }
}

long pause_rss_kib = 0;

void api_round(const std::string& bin, int n, Samples& s, std::vector<double>& ordered) {
    podnet::Config config;
    podnet::place_under_root(config, "/run/bench-api");
    config.pause_binary = bin + "/podnet-pause";
    auto rt = podnet::Runtime::open(config);
    if (!rt) {
        std::fprintf(stderr, "bench: %s\n", rt.error().message.c_str());
        std::exit(1);
    }
    std::vector<std::string> ids;
    for (int i = 0; i < n; ++i) {
        auto t0 = Clock::now();
        podnet::SandboxSpec spec;
        spec.network = "none";  // this benchmark is the namespace work alone
        auto info = rt->create_sandbox(spec);
        double ms = ms_since(t0);
        if (!info) {
            std::fprintf(stderr, "bench: %s\n", info.error().message.c_str());
            std::exit(1);
        }
        s.create.push_back(ms);
        ordered.push_back(ms);
        ids.push_back(info->id);
        if (i == 0) {
            auto status = podnet::read_file("/proc/" + std::to_string(info->pause_pid) + "/status");
            auto at = status ? status->find("VmRSS:") : std::string::npos;
            if (at != std::string::npos)
                pause_rss_kib = std::strtol(status->c_str() + at + 6, nullptr, 10);
        }
    }
    for (const auto& id : ids) {
        auto t0 = Clock::now();
        auto r = rt->remove_sandbox(id, true);
        s.remove.push_back(ms_since(t0));
        if (!r) {
            std::fprintf(stderr, "bench: %s\n", r.error().message.c_str());
            std::exit(1);
        }
    }
}

void cli_round(const std::string& bin, int n, Samples& s) {
    std::string podnet = bin + "/podnet";
    // Appended, not name(i): g++ 12 -O3 false -Wrestrict (GCC bug 105329).
    auto name = [](int i) { return std::string("c").append(std::to_string(i)); };
    for (int i = 0; i < n; ++i)
        s.create.push_back(timed_exec({podnet, "--root", "/run/bench-cli", "sandbox", "create",
                                       "--network", "none", "--name", name(i)}));
    for (int i = 0; i < n; ++i)
        s.remove.push_back(
            timed_exec({podnet, "--root", "/run/bench-cli", "sandbox", "rm", "-f", name(i)}));
}

std::string markdown(const json& r) {
    auto row = [&](const char* what, const json& st) {
        char line[160];
        std::snprintf(line, sizeof line, "| %s | %.3f | %.3f |\n", what,
                      st["median_ms"].get<double>(), st["p99_ms"].get<double>());
        return std::string(line);
    };
    std::string md = "# Sandbox create / rm (no network)\n\n";
    md += "Run " + r["date"].get<std::string>() + ": " + std::to_string(r["rounds"].get<int>()) +
          " rounds of " + std::to_string(r["sandboxes_per_round"].get<int>()) +
          " sandboxes alive at once, per contender; milliseconds.\n\n";
    md += "| operation | median | p99 |\n|---|---|---|\n";
    md += row("floor create (clone 4 ns + 4 pins)", r["floor"]["create"]);
    md += row("floor teardown (kill + wait + 4 umount)", r["floor"]["teardown"]);
    md += row("API create", r["api"]["create"]);
    md += row("API rm -f", r["api"]["rm"]);
    md += row("CLI create", r["cli"]["create"]);
    md += row("CLI rm -f", r["cli"]["rm"]);
    md += row("fork+exec /bin/true", r["fork_exec_true"]);
    const json& q = r["ratios"];
    char tail[768];
    std::snprintf(
        tail, sizeof tail,
        "\n| target | measured | goal |\n|---|---|---|\n"
        "| API create / floor create | %.2fx | <= 2x |\n"
        "| API rm / floor teardown | %.2fx | <= 2x |\n"
        "| CLI create - API create | %.2f ms | <= 1.5 ms |\n"
        "| CLI rm - API rm | %.2f ms | <= 1.5 ms |\n"
        "| create #191-200 / #1-10 (mean) | %.2fx | <= 1.2x |\n"
        "| pause RSS | %ld KiB | < 1024 KiB |\n",
        q["api_create_vs_floor"].get<double>(), q["api_rm_vs_floor_teardown"].get<double>(),
        q["cli_create_minus_api_ms"].get<double>(), q["cli_rm_minus_api_ms"].get<double>(),
        q["last_vs_first_create"].get<double>(), r["pause_rss_kib"].get<long>());
    return md + tail;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: podnet-bench-sandbox BIN_DIR OUT.json [N]\n");
        return 2;
    }
    std::string bin = argv[1];
    int n = argc > 3 ? std::atoi(argv[3]) : 200;
    constexpr int rounds = 3;
    Samples floor, api, cli;
    std::vector<std::vector<double>> api_ordered(rounds);
    std::vector<double> fork_exec;
    auto settle = [] { std::this_thread::sleep_for(std::chrono::seconds(1)); };
    for (int round = 0; round < rounds; ++round) {
        for (int phase = 0; phase < 3; ++phase) {
            settle();
            switch ((round + phase) % 3) {
                case 0:
                    floor_round(bin, n, floor);
                    break;
                case 1:
                    api_round(bin, n, api, api_ordered[static_cast<size_t>(round)]);
                    break;
                case 2:
                    cli_round(bin, n, cli);
                    break;
            }
        }
        for (int i = 0; i < 50; ++i) fork_exec.push_back(timed_exec({"/bin/true"}));
    }
    // Growth: the 10 creates around the first vs around the N-th, per round, averaged.
    double first = 0, last = 0;
    for (const auto& o : api_ordered) {
        first += mean(o, 0, 10) / rounds;
        last += mean(o, o.size() - 10, 10) / rounds;
    }
    double floor_create = percentile(floor.create, 0.5);
    double floor_teardown = percentile(floor.remove, 0.5);
    json out = {
        {"benchmark", "sandbox create/rm, no network"},
        {"sandboxes_per_round", n},
        {"rounds", rounds},
        {"date", podnet::now_rfc3339()},
        {"floor", {{"create", stats(floor.create)}, {"teardown", stats(floor.remove)}}},
        {"api", {{"create", stats(api.create)}, {"rm", stats(api.remove)}}},
        {"cli", {{"create", stats(cli.create)}, {"rm", stats(cli.remove)}}},
        {"fork_exec_true", stats(fork_exec)},
        {"api_create_first10_mean_ms", first},
        {"api_create_last10_mean_ms", last},
        {"pause_rss_kib", pause_rss_kib},
        {"ratios",
         {{"api_create_vs_floor", percentile(api.create, 0.5) / floor_create},
          {"api_rm_vs_floor_teardown", percentile(api.remove, 0.5) / floor_teardown},
          {"cli_create_minus_api_ms", percentile(cli.create, 0.5) - percentile(api.create, 0.5)},
          {"cli_rm_minus_api_ms", percentile(cli.remove, 0.5) - percentile(api.remove, 0.5)},
          {"last_vs_first_create", last / first}}},
        {"targets",
         {{"api_create_vs_floor", "<= 2"},
          {"api_rm_vs_floor_teardown", "<= 2"},
          {"cli_minus_api_ms", "<= 1.5"},
          {"last_vs_first_create", "<= 1.2"},
          {"pause_rss_kib", "< 1024"}}}};
    std::ofstream(argv[2]) << out.dump(2) << "\n";
    std::string md_path = argv[2];
    md_path = md_path.substr(0, md_path.rfind('.')) + ".md";
    std::ofstream(md_path) << markdown(out);
    std::printf("%s", markdown(out).c_str());
    return 0;
}
