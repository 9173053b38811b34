// pn-probe: small actions the integration tests run inside containers, each printing one
// plain result line so the test can assert on it.
//
//   pn-probe tcp-serve PORT MESSAGE     listen on 127.0.0.1:PORT, send MESSAGE to one client
//   pn-probe tcp-get PORT               connect to 127.0.0.1:PORT (retrying 5 s), print reply
//   pn-probe serve ADDR PORT [N [reset]] TCP and UDP on ADDR:PORT (0.0.0.0 / ::), N clients
//                                       (default 1000): each gets "<hostname> saw <peer address>";
//                                       with reset, TCP waits for the client's close and resets
//   pn-probe connect-rate ADDR PORT SECONDS   connect, read the reply, close, as fast as
//                                       possible; print connections per second
//   pn-probe get tcp|udp ADDR PORT [MS] one request (timeout MS, default 1000): print the reply or
//                                       "error ..." and exit 1
//   pn-probe msgq-send KEY TEXT         create SysV queue KEY, send TEXT
//   pn-probe msgq-recv KEY              open SysV queue KEY, print one message
//   pn-probe shm-write KEY TEXT         create SysV shm KEY, write TEXT
//   pn-probe shm-read KEY               print the text in SysV shm KEY
//   pn-probe pid1                       print the command name of PID 1 as seen here
//   pn-probe pids                       print "pid comm" for every visible process
//   pn-probe orphan                     leave a grandchild that exits after 200 ms, print its pid
//   pn-probe syscalls                   try unshare, mount, keyctl, ptrace; print NAME=errno
//   pn-probe sleep MS                   sleep, then exit 0 (exit 143 on SIGTERM)

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/ipc.h>
#include <sys/mount.h>
#include <sys/msg.h>
#include <sys/ptrace.h>
#include <sys/select.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>

#include "common/fs.hpp"

namespace {

int tcp_serve(int port, const char* message) {
    int s = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(s, 4) != 0) {
        std::printf("error %s\n", std::strerror(errno));
        return 1;
    }
    std::printf("listening\n");
    std::fflush(stdout);
    int c = ::accept(s, nullptr, nullptr);
    if (c < 0) return 1;
    (void)!::write(c, message, std::strlen(message));
    ::close(c);
    return 0;
}

int tcp_get(int port) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    for (;;) {
        int s = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(static_cast<uint16_t>(port));
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::connect(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
            char buf[256];
            ssize_t n = ::read(s, buf, sizeof buf - 1);
            buf[n > 0 ? n : 0] = '\0';
            std::printf("%s\n", buf);
            return 0;
        }
        int err = errno;
        ::close(s);
        if (std::chrono::steady_clock::now() > deadline) {
            std::printf("error %s\n", std::strerror(err));
            return 1;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
}

int msgq_send(key_t key, const char* text) {
    int q = ::msgget(key, IPC_CREAT | 0600);
    struct {
        long type;
        char text[128];
    } msg{1, {}};
    std::strncpy(msg.text, text, sizeof msg.text - 1);
    if (q < 0 || ::msgsnd(q, &msg, std::strlen(msg.text) + 1, 0) != 0) {
        std::printf("error %s\n", std::strerror(errno));
        return 1;
    }
    std::printf("sent\n");
    return 0;
}

int msgq_recv(key_t key) {
    int q = ::msgget(key, 0);
    struct {
        long type;
        char text[128];
    } msg{};
    if (q < 0 || ::msgrcv(q, &msg, sizeof msg.text, 0, IPC_NOWAIT) < 0) {
        std::printf("error %s\n", std::strerror(errno));
        return 1;
    }
    std::printf("%s\n", msg.text);
    return 0;
}

int shm_write(key_t key, const char* text) {
    int id = ::shmget(key, 4096, IPC_CREAT | 0600);
    void* mem = id < 0 ? reinterpret_cast<void*>(-1) : ::shmat(id, nullptr, 0);
    if (mem == reinterpret_cast<void*>(-1)) {
        std::printf("error %s\n", std::strerror(errno));
        return 1;
    }
    std::strncpy(static_cast<char*>(mem), text, 4095);
    std::printf("written\n");
    return 0;
}

int shm_read(key_t key) {
    int id = ::shmget(key, 0, 0);
    void* mem = id < 0 ? reinterpret_cast<void*>(-1) : ::shmat(id, nullptr, SHM_RDONLY);
    if (mem == reinterpret_cast<void*>(-1)) {
        std::printf("error %s\n", std::strerror(errno));
        return 1;
    }
    std::printf("%s\n", static_cast<const char*>(mem));
    return 0;
}

std::string comm_of(const std::string& pid) {
    auto text = podnet::read_file("/proc/" + pid + "/comm");
    if (!text) return "?";
    while (!text->empty() && text->back() == '\n') text->pop_back();
    return *text;
}

int pids() {
    auto entries = podnet::list_dir("/proc");
    if (!entries) return 1;
    for (const auto& e : *entries)
        if (!e.empty() && e.find_first_not_of("0123456789") == std::string::npos)
            std::printf("%s %s\n", e.c_str(), comm_of(e).c_str());
    return 0;
}

int orphan() {
    int fds[2];
    if (::pipe(fds) != 0) return 1;
    pid_t child = ::fork();
    if (child == 0) {
        pid_t grandchild = ::fork();
        if (grandchild == 0) {
            ::usleep(200 * 1000);
            ::_exit(0);
        }
        (void)!::write(fds[1], &grandchild, sizeof grandchild);
        ::_exit(0);  // the grandchild is now an orphan
    }
    pid_t grandchild = 0;
    (void)!::read(fds[0], &grandchild, sizeof grandchild);
    ::waitpid(child, nullptr, 0);
    std::printf("%d\n", grandchild);
    return 0;
}

const char* errno_name(long rc, int err) {
    if (rc >= 0) return "OK";
    switch (err) {
        case EPERM:
            return "EPERM";
        case ENOSYS:
            return "ENOSYS";
        case EACCES:
            return "EACCES";
        case EINVAL:
            return "EINVAL";
        default:
            return "OTHER";
    }
}

int syscalls() {
    long rc = ::unshare(CLONE_NEWUTS);
    std::printf("unshare=%s\n", errno_name(rc, errno));
    // The container's mount namespace is its own: this cannot affect anything outside it.
    rc = ::mount("none", "/mnt", "tmpfs", 0, nullptr);
    std::printf("mount=%s\n", errno_name(rc, errno));
    rc = ::syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3 /* session */, 0);
    std::printf("keyctl=%s\n", errno_name(rc, errno));
    pid_t child = ::fork();
    if (child == 0) {
        long r = ::ptrace(PTRACE_TRACEME, 0, nullptr, nullptr);
        ::_exit(r == 0 ? 0 : (errno == EPERM ? 1 : 2));
    }
    int status = 0;
    ::waitpid(child, &status, 0);
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 3;
    std::printf("ptrace=%s\n", code == 0 ? "OK" : code == 1 ? "EPERM" : "OTHER");
    std::ifstream status_file("/proc/self/status");
    std::string line;
    while (std::getline(status_file, line))
        if (line.starts_with("Seccomp:")) std::printf("seccomp=%s\n", line.substr(9).c_str());
    return 0;
}

bool fill_address(const char* text, int port, sockaddr_storage& out, socklen_t& len) {
    auto* v4 = reinterpret_cast<sockaddr_in*>(&out);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&out);
    std::memset(&out, 0, sizeof out);
    if (::inet_pton(AF_INET, text, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(static_cast<uint16_t>(port));
        len = sizeof *v4;
        return true;
    }
    if (::inet_pton(AF_INET6, text, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(static_cast<uint16_t>(port));
        len = sizeof *v6;
        return true;
    }
    return false;
}

std::string peer_text(const sockaddr_storage& peer) {
    char buf[INET6_ADDRSTRLEN] = {};
    if (peer.ss_family == AF_INET)
        ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in&>(peer).sin_addr, buf, sizeof buf);
    else
        ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6&>(peer).sin6_addr, buf,
                    sizeof buf);
    return buf;
}

// TCP and UDP on one address and port; every client is told who answered and whom it saw.
int serve(const char* addr_text, int port, int count, bool reset) {
    sockaddr_storage addr{};
    socklen_t len = 0;
    if (!fill_address(addr_text, port, addr, len)) return 2;
    int family = addr.ss_family;
    int tcp = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int udp = ::socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(tcp, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(tcp, reinterpret_cast<sockaddr*>(&addr), len) != 0 || ::listen(tcp, 64) != 0 ||
        ::bind(udp, reinterpret_cast<sockaddr*>(&addr), len) != 0) {
        std::printf("error %s\n", std::strerror(errno));
        return 1;
    }
    char host[64] = {};
    ::gethostname(host, sizeof host - 1);
    std::printf("listening\n");
    for (int served = 0; served < count;) {
        fd_set fds;
        FD_ZERO(&fds);
        FD_SET(tcp, &fds);
        FD_SET(udp, &fds);
        if (::select(std::max(tcp, udp) + 1, &fds, nullptr, nullptr, nullptr) < 0) continue;
        sockaddr_storage peer{};
        socklen_t peer_len = sizeof peer;
        if (FD_ISSET(tcp, &fds)) {
            int c = ::accept(tcp, reinterpret_cast<sockaddr*>(&peer), &peer_len);
            if (c >= 0) {
                std::string reply = std::string(host) + " saw " + peer_text(peer) + "\n";
                (void)!::write(c, reply.data(), reply.size());
                if (reset) {
                    // Benchmarks: wait for the client's close, then no TIME_WAIT here either.
                    char byte;
                    while (::read(c, &byte, 1) > 0) {
                    }
                    linger none{1, 0};
                    ::setsockopt(c, SOL_SOCKET, SO_LINGER, &none, sizeof none);
                }
                ::close(c);
                ++served;
            }
        }
        if (FD_ISSET(udp, &fds)) {
            char buf[512];
            ssize_t n =
                ::recvfrom(udp, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&peer), &peer_len);
            if (n >= 0) {
                std::string reply = std::string(host) + " saw " + peer_text(peer) + "\n";
                ::sendto(udp, reply.data(), reply.size(), 0, reinterpret_cast<sockaddr*>(&peer),
                         peer_len);
                ++served;
            }
        }
    }
    return 0;
}

int get(const char* proto, const char* addr_text, int port, int timeout_ms) {
    sockaddr_storage addr{};
    socklen_t len = 0;
    if (!fill_address(addr_text, port, addr, len)) return 2;
    bool udp = std::strcmp(proto, "udp") == 0;
    int s = ::socket(addr.ss_family, (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);
    timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    ::setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (::connect(s, reinterpret_cast<sockaddr*>(&addr), len) != 0) {
        std::printf("error %s\n", std::strerror(errno));
        return 1;
    }
    if (udp) (void)!::write(s, "?", 1);
    char buf[256];
    ssize_t n = ::read(s, buf, sizeof buf - 1);
    if (n <= 0) {
        std::printf("error %s\n", n == 0 ? "closed" : std::strerror(errno));
        return 1;
    }
    buf[n] = '\0';
    std::printf("%s", buf);
    return 0;
}

int connect_rate(const char* addr_text, int port, int seconds) {
    sockaddr_storage addr{};
    socklen_t len = 0;
    if (!fill_address(addr_text, port, addr, len)) return 2;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    long count = 0;
    char buf[256];
    while (std::chrono::steady_clock::now() < deadline) {
        int s = ::socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (::connect(s, reinterpret_cast<sockaddr*>(&addr), len) != 0) {
            std::printf("error %s\n", std::strerror(errno));
            return 1;
        }
        // Read the reply, then close with a reset: no TIME_WAIT piles up on either side, so
        // runs against different paths to the same server do not disturb each other.
        (void)!::read(s, buf, sizeof buf);
        linger none{1, 0};
        ::setsockopt(s, SOL_SOCKET, SO_LINGER, &none, sizeof none);
        ::close(s);
        ++count;
    }
    std::printf("%ld\n", count / seconds);
    return 0;
}

volatile sig_atomic_t terminated = 0;

int sleep_ms(int ms) {
    struct sigaction action {};
    action.sa_handler = [](int) { terminated = 1; };
    ::sigaction(SIGTERM, &action, nullptr);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (!terminated && std::chrono::steady_clock::now() < deadline) ::usleep(10 * 1000);
    return terminated ? 143 : 0;
}

}  // namespace

int main(int argc, char** argv) {
    std::setvbuf(stdout, nullptr, _IOLBF, 0);
    std::string cmd = argc > 1 ? argv[1] : "";
    auto arg = [&](int i) { return i < argc ? argv[i] : ""; };
    if (cmd == "tcp-serve") return tcp_serve(std::atoi(arg(2)), arg(3));
    if (cmd == "tcp-get") return tcp_get(std::atoi(arg(2)));
    if (cmd == "msgq-send") return msgq_send(std::atoi(arg(2)), arg(3));
    if (cmd == "msgq-recv") return msgq_recv(std::atoi(arg(2)));
    if (cmd == "shm-write") return shm_write(std::atoi(arg(2)), arg(3));
    if (cmd == "shm-read") return shm_read(std::atoi(arg(2)));
    if (cmd == "pid1") {
        std::printf("%s\n", comm_of("1").c_str());
        return 0;
    }
    if (cmd == "pids") return pids();
    if (cmd == "orphan") return orphan();
    if (cmd == "syscalls") return syscalls();
    if (cmd == "sleep") return sleep_ms(std::atoi(arg(2)));
    if (cmd == "serve")
        return serve(arg(2), std::atoi(arg(3)), argc > 4 ? std::atoi(arg(4)) : 1000,
                     argc > 5 && std::strcmp(arg(5), "reset") == 0);
    if (cmd == "connect-rate") return connect_rate(arg(2), std::atoi(arg(3)), std::atoi(arg(4)));
    if (cmd == "get")
        return get(arg(2), arg(3), std::atoi(arg(4)), argc > 5 ? std::atoi(arg(5)) : 1000);
    std::fprintf(stderr, "pn-probe: unknown action \"%s\"\n", cmd.c_str());
    return 2;
}
