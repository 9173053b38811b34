#include "nft/socket_release.hpp"

#include <fcntl.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

namespace podnet {

void leave_socket_close_to_a_child() {
    int gate[2];
    if (::pipe2(gate, O_CLOEXEC) != 0) return;
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
        // End of file once the parent, the only writer, has exited.
        while (::read(gate[0], &byte, 1) < 0 && errno == EINTR) {
        }
        ::_exit(0);  // closes the last copies of the sockets, and waits
    }
    ::close(gate[0]);  // the write end closes with this process
}

}  // namespace podnet
