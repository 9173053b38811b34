// `podnet run -it`: the container gets a pseudo-terminal as its controlling terminal, podnet
// relays between its own terminal (raw while relaying) and the pty, and window sizes follow.
// The test plays the user: podnet runs with a pty of the test's as its controlling terminal.

#include <doctest/doctest.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <regex>
#include <string>
#include <thread>

#include "common/fs.hpp"
#include "common/unique_fd.hpp"
#include "tests/support/command.hpp"

using namespace podnet::test;

namespace {

std::string create(const std::string& root, const std::string& name) {
    auto r = run_podnet(root, {"sandbox", "create", "--name", name});
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    return trim(r.out);
}

// A terminal for podnet: the test holds the master (the "keyboard and screen") and the slave
// (to set the window size and read the modes podnet leaves behind).
struct Terminal {
    podnet::UniqueFd master, slave;
    std::string seen;  // everything read from the screen so far

    Terminal() {
        master.reset(::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
        REQUIRE(master);
        REQUIRE(::grantpt(master.get()) == 0);
        REQUIRE(::unlockpt(master.get()) == 0);
        slave.reset(::open(::ptsname(master.get()), O_RDWR | O_NOCTTY | O_CLOEXEC));
        REQUIRE(slave);
    }

    void resize(unsigned short rows, unsigned short cols) {
        winsize size{rows, cols, 0, 0};
        // On the slave: the kernel sends SIGWINCH to its foreground process group (podnet).
        REQUIRE(::ioctl(slave.get(), TIOCSWINSZ, &size) == 0);
    }

    void type(const std::string& text) {
        REQUIRE(::write(master.get(), text.data(), text.size()) ==
                static_cast<ssize_t>(text.size()));
    }

    // Reads the screen until `pattern` matches what was seen since `from` (or 10 s pass): the
    // match and its groups.
    std::vector<std::string> wait_for(const std::string& pattern, size_t from = 0) {
        std::regex re(pattern);
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        for (;;) {
            std::string tail = seen.substr(from);
            std::smatch m;
            if (std::regex_search(tail, m, re)) return {m.begin(), m.end()};
            if (std::chrono::steady_clock::now() > deadline) {
                FAIL_CHECK("no \"" << pattern << "\" on the terminal; saw: " << seen);
                return std::vector<std::string>(re.mark_count() + 1);
            }
            pollfd p{master.get(), POLLIN, 0};
            if (::poll(&p, 1, 100) > 0) {
                char buf[4096];
                ssize_t n = ::read(master.get(), buf, sizeof buf);
                if (n > 0) seen.append(buf, static_cast<size_t>(n));
            }
        }
    }
};

// `podnet run ARGS...` with the terminal as its controlling terminal and stdio, as a shell
// would start it in the foreground.
pid_t start_on(Terminal& term, const std::string& root, const std::vector<std::string>& args) {
    std::vector<std::string> argv = {bin_dir() + "/podnet", "--root", root};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<char*> cargv;
    for (auto& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    pid_t pid = ::fork();
    if (pid == 0) {
        ::setsid();
        ::ioctl(term.slave.get(), TIOCSCTTY, 0);
        for (int fd = 0; fd <= 2; ++fd) ::dup2(term.slave.get(), fd);
        ::execv(cargv[0], cargv.data());
        ::_exit(127);
    }
    return pid;
}

int wait_exit(pid_t pid) {
    int status = 0;
    for (int i = 0; i < 500; ++i) {
        if (::waitpid(pid, &status, WNOHANG) == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    return -1;
}

}  // namespace

TEST_CASE("run -it: an interactive shell on a terminal of its own") {
    std::string root = make_temp_dir("pn-tty");
    create(root, "pod");
    Terminal term;
    termios before{};
    REQUIRE(::tcgetattr(term.slave.get(), &before) == 0);
    REQUIRE((before.c_lflag & ICANON) != 0);
    term.resize(33, 111);
    pid_t cli = start_on(term, root, {"run", "-it", "pod", "--", "/bin/sh"});

    term.type("echo hello-$((1+2))\n");
    term.wait_for("hello-3");

    // Its own pty as controlling terminal, with podnet's window size.
    size_t mark = term.seen.size();
    term.type("echo T=$(tty) S=$(stty size) P=$(cat /proc/1/comm)\n");
    auto m = term.wait_for(R"(T=(\S+) S=(\d+ \d+) P=(\S+))", mark);
    CHECK(std::regex_match(m[1], std::regex(R"(/dev/pts/\d+)")));
    CHECK(m[2] == "33 111");
    CHECK(m[3] == "podnet-pause");  // it really runs in the pod
    // Not podnet's own terminal.
    CHECK(m[1] != std::string(::ptsname(term.master.get())));

    // podnet's terminal is raw while it relays: the container's terminal does the echoing.
    termios during{};
    REQUIRE(::tcgetattr(term.slave.get(), &during) == 0);
    CHECK((during.c_lflag & (ICANON | ECHO)) == 0);

    // A new window size follows (SIGWINCH → podnet → the container's terminal).
    term.resize(40, 120);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    mark = term.seen.size();
    term.type("echo S2=$(stty size)\n");
    CHECK(term.wait_for(R"(S2=(\d+ \d+))", mark)[1] == "40 120");

    // ^C reaches the container's foreground job through its terminal, not podnet.
    term.type("sleep 30; echo not-$((1+1))-interrupted\n");
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    term.type("\x03");
    mark = term.seen.size();
    term.type("echo after-$((6*7))\n");
    term.wait_for("after-42", mark);
    CHECK(term.seen.find("not-2-interrupted") == std::string::npos);

    term.type("exit 3\n");
    CHECK(wait_exit(cli) == 3);
    // The modes are restored when podnet is done.
    termios after{};
    REQUIRE(::tcgetattr(term.slave.get(), &after) == 0);
    CHECK(after.c_lflag == before.c_lflag);
    CHECK(after.c_iflag == before.c_iflag);
    CHECK(after.c_oflag == before.c_oflag);

    CHECK(run_podnet(root, {"sandbox", "rm", "-f", "pod"}).exit_code == 0);
    CHECK(leftovers(root).empty());
}

TEST_CASE("run -t alone leaves podnet's terminal cooked; ^C there reaches the container") {
    std::string root = make_temp_dir("pn-tty-t");
    create(root, "pod");
    Terminal term;
    pid_t cli = start_on(
        term, root,
        {"run", "-t", "pod", "--", "/bin/sh", "-c", "echo up-$((2*4)); exec /bin/sleep 30"});
    term.wait_for("up-8");
    termios during{};
    REQUIRE(::tcgetattr(term.slave.get(), &during) == 0);
    CHECK((during.c_lflag & ICANON) != 0);
    term.type("\x03");  // the terminal sends podnet SIGINT; podnet forwards it
    CHECK(wait_exit(cli) == 130);
    CHECK(run_podnet(root, {"sandbox", "rm", "-f", "pod"}).exit_code == 0);
    CHECK(leftovers(root).empty());
}

TEST_CASE("run -t without a terminal, -i with piped input, and a rootfs") {
    std::string root = make_temp_dir("pn-tty-pipe");
    create(root, "pod");

    // Like `docker run -t` in a pipe: the container still gets a terminal.
    auto t = run_podnet(root, {"run", "-t", "pod", "--", "/bin/sh", "-c", "tty; exit 5"});
    CHECK(t.exit_code == 5);
    CHECK(std::regex_match(t.out, std::regex("/dev/pts/\\d+\r\n")));

    // Piped input is typed into the terminal; its end is the end-of-file key.
    RunOptions options;
    options.stdin_text = "echo piped-$((2+3))\n";
    auto piped = run_program(
        {bin_dir() + "/podnet", "--root", root, "run", "-i", "-t", "pod", "--", "/bin/sh"},
        options);
    CHECK(piped.exit_code == 0);
    CHECK(piped.out.find("piped-5\r\n") != std::string::npos);

    // With a rootfs the terminal is bound in, so tty(1) finds it there too.
    std::string rootfs = root + "/rootfs";
    REQUIRE(podnet::make_dirs(rootfs + "/bin", 0755));
    REQUIRE(run_command({"/bin/cp", "/bin/busybox", rootfs + "/bin/busybox"}).exit_code == 0);
    auto rooted = run_podnet(root, {"run", "-t", "pod", "--rootfs", rootfs, "--", "/bin/busybox",
                                    "sh", "-c", "busybox tty; test -e /usr/bin/id || echo own"});
    CHECK_MESSAGE(rooted.exit_code == 0, rooted.err);
    // tty(1) names the terminal by /proc/self/fd/0 when that path is reachable from the rootfs,
    // else by the first device node there that is it: /dev/console is bound to it as well
    // (seen when podnet itself runs in a chroot).
    CHECK(std::regex_match(rooted.out, std::regex("(/dev/pts/\\d+|/dev/console)\r\nown\r\n")));

    CHECK(run_podnet(root, {"sandbox", "rm", "-f", "pod"}).exit_code == 0);
    CHECK(leftovers(root).empty());
}
