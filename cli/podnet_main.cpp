// The podnet executable: everything is in the podnet_cli library, so tests link the same code.

#include <fcntl.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include "cli/cli.hpp"
#include "nft/elements.hpp"

namespace {

// A command that deleted nftables elements (sandbox rm, port rm) has committed the deletion, but
// the kernel frees what was deleted after an RCU grace period (10-15 ms here) and makes the last
// close of a netfilter netlink socket wait for that — at this process's exit, so the user would
// wait for memory to be freed. A long-running embedder keeps its socket and never waits; for the
// command, a child keeps a copy of the sockets until this process has gone, then exits, and the
// wait is the child's. It holds no stdio (a caller reading our output sees its end at once) and
// is reaped by whoever reaps orphans (init, a subreaper, the tests' namespace init).
void leave_the_wait_to_a_child() {
    int gate[2];
    if (::pipe2(gate, O_CLOEXEC) != 0) return;  // then this process waits itself: still correct
    std::fflush(nullptr);
    pid_t pid = ::fork();
    if (pid < 0) {
        ::close(gate[0]);
        ::close(gate[1]);
        return;
    }
    if (pid == 0) {
        ::prctl(PR_SET_NAME, "podnet-release");
        int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
        for (int fd = 0; fd <= 2; ++fd) ::dup2(null, fd);
        ::close(gate[1]);
        char byte;
        while (::read(gate[0], &byte, 1) < 0 && errno == EINTR) {
        }
        ::_exit(0);  // the parent has gone: this exit closes the last copy, and waits
    }
    ::close(gate[0]);  // gate[1] closes with this process, which opens the gate
}

}  // namespace

int main(int argc, char** argv) {
    int code = podnet::cli::run_main(argc, argv);
    if (podnet::nft_deleted_anything()) leave_the_wait_to_a_child();
    return code;
}
