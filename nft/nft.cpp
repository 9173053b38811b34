#include "nft/nft.hpp"

#include <fcntl.h>
#include <linux/netlink.h>
#include <nftables/libnftables.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <mutex>
#include <optional>
#include <system_error>
#include <thread>
#include <vector>

#include "common/unique_fd.hpp"
#include "nft/elements.hpp"

namespace podnet {

namespace {

// libnftables keeps a little process-wide state (its interface cache, one-time library setup),
// so calls into it are serialized; transactions are milliseconds and rare.
std::mutex& library_mutex() {
    static std::mutex m;
    return m;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
        s.remove_suffix(1);
    return s;
}

bool is_caret_line(std::string_view line) {
    return !line.empty() && line.find_first_not_of(" \t^~") == std::string_view::npos;
}

bool is_netfilter_socket(int fd) {
    int domain = 0, protocol = 0;
    socklen_t len = sizeof domain;
    if (::getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) != 0) return false;
    len = sizeof protocol;
    if (::getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &protocol, &len) != 0) return false;
    return domain == AF_NETLINK && protocol == NETLINK_NETFILTER;
}

}  // namespace

std::string summarize_nft_error(std::string_view output) {
    std::vector<std::string_view> lines;
    for (size_t start = 0; start < output.size();) {
        size_t end = output.find('\n', start);
        if (end == std::string_view::npos) end = output.size();
        lines.push_back(trim(output.substr(start, end - start)));
        start = end + 1;
    }
    for (size_t i = 0; i < lines.size(); ++i) {
        // "/proc/self/fd/7:2:1-20: Error: why" or "Error: why"; the next line is the command.
        size_t at = lines[i].find("Error: ");
        if (at == std::string_view::npos) continue;
        std::string out(lines[i].substr(at + 7));
        if (i + 1 < lines.size() && !lines[i + 1].empty() && !is_caret_line(lines[i + 1]))
            out += ": " + std::string(lines[i + 1]);
        return out;
    }
    for (auto line : lines)
        if (!line.empty()) return std::string(line);
    return "failed without an error message";
}

void NftContext::Free::operator()(nft_ctx* ctx) const {
    std::lock_guard lock(library_mutex());
    nft_ctx_free(ctx);
}

Result<NftContext> NftContext::open() {
    // libnftables calls exit() when it cannot open its netlink socket, so open one first: if
    // that fails we return the reason instead of ending the process. Its number is then free
    // again and is, in practice, the one libnftables takes; that socket is opened without
    // close-on-exec, so set it here rather than leak a host netfilter socket into the
    // processes podnet starts. (If some other thread took the number, setting close-on-exec on
    // a netfilter socket is harmless.)
    int probe = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
    if (probe < 0) return fail_errno("open nftables netlink socket", errno);
    ::close(probe);

    std::lock_guard lock(library_mutex());
    nft_ctx* ctx = nft_ctx_new(NFT_CTX_DEFAULT);
    if (ctx == nullptr)
        return fail("create nftables context: libnftables unavailable or out of memory");
    if (is_netfilter_socket(probe)) ::fcntl(probe, F_SETFD, FD_CLOEXEC);
    // Both streams go to buffers: the library never prints.
    if (nft_ctx_buffer_output(ctx) != 0 || nft_ctx_buffer_error(ctx) != 0) {
        nft_ctx_free(ctx);
        return fail("create nftables context: cannot buffer its output");
    }
    return NftContext(ctx);
}

Result<NftContext> NftContext::open_in(int netns_fd) {
    std::optional<Result<NftContext>> result;
    try {
        std::thread worker([&] {
            if (::setns(netns_fd, CLONE_NEWNET) != 0)
                result.emplace(fail_errno("nftables: enter network namespace", errno));
            else
                result.emplace(open());
        });
        worker.join();
    } catch (const std::system_error& e) {
        return fail("nftables: enter network namespace: start thread: " + std::string(e.what()));
    }
    return std::move(*result);
}

Result<std::string> NftContext::execute(const std::string& text, bool as_file) {
    // A script runs from a file (an anonymous memfd) like `nft -f`: nft 1.0.6 quotes the first
    // line of a buffer in its errors whichever line failed, but the right line of a file.
    UniqueFd file;
    std::string path;
    if (as_file) {
        file = UniqueFd(::memfd_create("podnet.nft", MFD_CLOEXEC));
        if (!file) return fail_errno("nftables: create script file", errno);
        for (size_t done = 0; done < text.size();) {
            ssize_t n = ::write(file.get(), text.data() + done, text.size() - done);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) return fail_errno("nftables: write script file", errno);
            done += static_cast<size_t>(n);
        }
        path = "/proc/self/fd/" + std::to_string(file.get());
    }
    std::lock_guard lock(library_mutex());
    int rc = as_file ? nft_run_cmd_from_filename(ctx_.get(), path.c_str())
                     : nft_run_cmd_from_buffer(ctx_.get(), text.c_str());
    // Reading a buffer also rewinds it for the next command.
    std::string output = nft_ctx_get_output_buffer(ctx_.get());
    std::string errors = nft_ctx_get_error_buffer(ctx_.get());
    if (rc != 0) return fail("nftables: " + summarize_nft_error(errors));
    return output;
}

Result<void> NftContext::run(const std::string& script) {
    bool empty = true;
    for (size_t start = 0; start < script.size() && empty;) {
        size_t end = script.find('\n', start);
        if (end == std::string::npos) end = script.size();
        auto line = trim(std::string_view(script).substr(start, end - start));
        empty = line.empty() || line.front() == '#';
        start = end + 1;
    }
    if (empty) return {};
    for (const char* verb : {"delete ", "flush ", "destroy "})
        if (script.find(verb) != std::string::npos) note_nft_deletion();
    auto r = execute(script, true);
    if (!r) return std::unexpected(r.error());
    return {};
}

Result<std::string> NftContext::run_capture(const std::string& command, NftOutput format) {
    unsigned int flags = nft_ctx_output_get_flags(ctx_.get());
    if (format == NftOutput::json)
        nft_ctx_output_set_flags(ctx_.get(), flags | NFT_CTX_OUTPUT_JSON);
    auto r = execute(command, false);
    nft_ctx_output_set_flags(ctx_.get(), flags);
    return r;
}

Result<NftContext*> NftContext::shared() {
    // Never destroyed: the kernel closes the socket at exit, and no destructor then runs into
    // libraries or statics already torn down.
    static auto* mutex = new std::mutex;
    static NftContext* context = nullptr;
    std::lock_guard lock(*mutex);
    if (context == nullptr) {
        auto opened = open();
        if (!opened) return std::unexpected(opened.error());
        context = new NftContext(std::move(*opened));
    }
    return context;
}

}  // namespace podnet
