// podnet-cni: the CNI plugin binary (cli/cni_plugin.hpp). The runtime gives the parameters in
// CNI_* variables and the network configuration on stdin; the result, or an error object
// {"cniVersion","code","msg","details"} with exit status 1, goes to stdout.

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>

#include "cli/cni_plugin.hpp"
#include "nft/socket_release.hpp"

namespace {

using namespace podnet::cni_plugin;

bool write_all(int fd, const std::string& text) {
    size_t done = 0;
    while (done < text.size()) {
        ssize_t n = ::write(fd, text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        done += static_cast<size_t>(n);
    }
    return true;
}

std::optional<std::string> read_stdin() {
    std::string text;
    char buf[16384];
    for (;;) {
        ssize_t n = ::read(0, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return std::nullopt;
        if (n == 0) return text;
        text.append(buf, static_cast<size_t>(n));
    }
}

}  // namespace

int main() {
    Environment env;
    for (const char* name :
         {"CNI_COMMAND", "CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_ARGS", "CNI_PATH"})
        if (const char* value = std::getenv(name)) env[name] = value;

    if (!env.contains("CNI_COMMAND")) {
        // As libcni's skel: run by hand, say what this is.
        std::string about =
            "podnet-cni: podnet's bridge network and host ports as a CNI plugin\n"
            "CNI protocol versions supported: ";
        for (size_t i = 0; i < supported_versions.size(); ++i)
            about += (i > 0 ? ", " : "") + std::string(supported_versions[i]);
        write_all(2, about + "\n");
        return 0;
    }
    std::string input;
    if (env["CNI_COMMAND"] != "VERSION") {
        auto text = read_stdin();
        if (!text) {
            write_all(1, error_json({io_failure, "error reading from stdin", ""}, ""));
            return 1;
        }
        input = std::move(*text);
    }
    auto request = parse_request(env, input);
    if (!request) {
        write_all(1, error_json(request.error(), input));
        return 1;
    }
    bool used_nft = false;
    auto output = run(*request, used_nft);
    if (!output) {
        write_all(1, error_json(output.error(), input));
        return 1;
    }
    bool written = write_all(1, *output);
    // The runtime waits for this process: the socket-close wait is a child's
    // (nft/socket_release.hpp).
    if (used_nft) podnet::leave_socket_close_to_a_child();
    if (!written) return 1;
    return 0;
}
