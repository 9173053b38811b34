// Embedding podnet: what a CRI runtime does with the C++ API instead of the CLI.
//
//   podnet-embed ROOT     (all state under ROOT; podnet-pause is found next to this binary)
//
// Creates a sandbox, runs a detached server and a foreground client in it (they meet on the
// pod's localhost), inspects it, and removes it.

#include <cstdio>

#include "podnet/runtime.hpp"

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: podnet-embed ROOT\n");
        return 2;
    }
    podnet::Config config;
    podnet::place_under_root(config, argv[1]);
    auto runtime = podnet::Runtime::open(config);
    if (!runtime) {
        std::fprintf(stderr, "podnet-embed: %s\n", runtime.error().message.c_str());
        return 1;
    }

    podnet::SandboxSpec pod;
    pod.name = "embedded";
    pod.hostname = "embedded-pod";
    pod.labels = {{"app", "embed"}};
    auto sandbox = runtime->create_sandbox(pod);
    if (!sandbox) {
        std::fprintf(stderr, "podnet-embed: %s\n", sandbox.error().message.c_str());
        return 1;
    }
    std::printf("created sandbox %s (pause pid %d, netns %s)\n", sandbox->name.c_str(),
                sandbox->pause_pid, sandbox->namespace_paths.at("net").c_str());

    int code = 1;
    podnet::ContainerSpec server_spec;
    server_spec.name = "server";
    server_spec.command = {"/bin/busybox", "sh", "-c",
                           "echo hello from $HOSTNAME | busybox nc -l -p 9000"};
    server_spec.detach = true;
    podnet::ContainerSpec client_spec;
    client_spec.name = "client";
    // The server may not be listening yet: retry for a second.
    client_spec.command = {"/bin/busybox", "sh", "-c",
                           "for i in 1 2 3 4 5 6 7 8 9 10; do "
                           "busybox nc 127.0.0.1 9000 </dev/null && exit 0; sleep 0.1; done; "
                           "exit 1"};
    auto server = runtime->run_container("embedded", server_spec);
    auto client = server
                      ? runtime->run_container("embedded", client_spec)
                      : podnet::Result<podnet::RunningContainer>(std::unexpected(server.error()));
    if (client) {
        auto exit_code = runtime->wait_container(*client);
        code = exit_code ? *exit_code : 1;
        std::printf("client exited with %d\n", code);
    } else {
        std::fprintf(stderr, "podnet-embed: %s\n", client.error().message.c_str());
    }

    if (auto info = runtime->inspect_sandbox("embedded"))
        std::printf("sandbox %s is %s with %zu containers\n", info->name.c_str(),
                    info->state.c_str(), info->containers.size());
    if (auto removed = runtime->remove_sandbox("embedded", true); !removed) {
        std::fprintf(stderr, "podnet-embed: %s\n", removed.error().message.c_str());
        return 1;
    }
    std::printf("removed sandbox embedded\n");
    return code;
}
