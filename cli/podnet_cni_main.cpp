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

// After an nftables transaction that deleted anything, the kernel makes whoever drops the last
// reference to an nfnetlink socket wait for an RCU grace period (nf_tables flushes its destroy
// work on NETLINK_URELEASE): ~10-15 ms here, and any nft socket closed within that time, even by
// another process, pays it. The runtime waits for this process; so a child inherits the sockets,
// lets go of stdout at once, and holds them until this process has exited, paying the wait where
// nobody waits for it. (A failed fork only costs the wait.)
void hand_over_netlink_sockets() {
    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return;
    pid_t pid = ::fork();
    if (pid == 0) {
        int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
        for (int fd = 0; fd < 3; ++fd) ::dup2(null, fd);
        ::close(pipe_fds[1]);
        char c;
        // Returns at end of file: when the parent, the only writer, has exited.
        while (::read(pipe_fds[0], &c, 1) < 0 && errno == EINTR) {
        }
        ::_exit(0);
    }
    ::close(pipe_fds[0]);  // the write end stays open until exit
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
    if (used_nft) hand_over_netlink_sockets();
    if (!written) return 1;
    return 0;
}
