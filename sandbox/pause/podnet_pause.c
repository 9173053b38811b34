/*
 * podnet-pause: PID 1 of a pod. It holds the pod's namespaces, reaps every process reparented
 * to it, and exits cleanly on SIGTERM or SIGINT (which makes the kernel kill the rest of the
 * pod's PID namespace).
 *
 * libc only, linked statically, no heap: its resident set stays far below 1 MiB.
 *
 * Usage (podnet passes these; other arguments are ignored so podnet can tag the process):
 *   podnet-pause [--hostname NAME] [--id SANDBOX_ID] [--run-root DIR]
 * File descriptors set up by podnet:
 *   3  write end of the ready pipe: "ok\n" once the hostname is set and lo is up, or
 *      "error: <what>: <errno text>\n" before exiting with status 1.
 *   4  (optional) an append-only file; each reaped child adds "<pid> <status>\n", where status
 *      is the exit code or 128+signal, so podnet can report how detached containers ended.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

enum { ready_fd = 3, exit_log_fd = 4 };

static void report_and_exit(const char* what) {
    char line[256];
    int n = snprintf(line, sizeof line, "error: %s: %s\n", what, strerror(errno));
    if (n > 0) (void)!write(ready_fd, line, (size_t)n);
    _exit(1);
}

static int bring_loopback_up(void) {
    int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (sock < 0) return -1;
    struct ifreq req;
    memset(&req, 0, sizeof req);
    strncpy(req.ifr_name, "lo", IFNAMSIZ - 1);
    int rc = ioctl(sock, SIOCGIFFLAGS, &req);
    if (rc == 0) {
        req.ifr_flags |= IFF_UP;
        rc = ioctl(sock, SIOCSIFFLAGS, &req);
    }
    int saved = errno;
    close(sock);
    errno = saved;
    return rc;
}

static void reap_children(int log_ok) {
    for (;;) {
        int status = 0;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid <= 0) return;
        if (!log_ok) continue;
        int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        char line[48];
        int n = snprintf(line, sizeof line, "%d %d\n", (int)pid, code);
        if (n > 0) (void)!write(exit_log_fd, line, (size_t)n);
    }
}

static void ignore_signal(int sig) {
    (void)sig;
}

int main(int argc, char** argv) {
    const char* hostname = NULL;
    for (int i = 1; i + 1 < argc; ++i) {
        if (strcmp(argv[i], "--hostname") == 0) hostname = argv[++i];
    }

    /* Block before anything can arrive; sigwaitinfo() takes them synchronously. Handlers are
     * installed as well because the kernel drops signals that a namespace's init leaves at
     * SIG_DFL, even when they come from the parent namespace. */
    sigset_t wanted;
    sigemptyset(&wanted);
    sigaddset(&wanted, SIGCHLD);
    sigaddset(&wanted, SIGTERM);
    sigaddset(&wanted, SIGINT);
    sigprocmask(SIG_BLOCK, &wanted, NULL);
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = ignore_signal;
    sigaction(SIGCHLD, &action, NULL);
    sigaction(SIGTERM, &action, NULL);
    sigaction(SIGINT, &action, NULL);

    if (hostname != NULL && sethostname(hostname, strlen(hostname)) != 0)
        report_and_exit("set hostname");
    if (bring_loopback_up() != 0) report_and_exit("bring lo up");

    int log_ok = fcntl(exit_log_fd, F_GETFD) >= 0;
    static const char ok[] = "ok\n";
    (void)!write(ready_fd, ok, sizeof ok - 1);
    close(ready_fd);

    for (;;) {
        siginfo_t info;
        int sig = sigwaitinfo(&wanted, &info);
        if (sig == SIGCHLD) {
            reap_children(log_ok);
        } else if (sig == SIGTERM || sig == SIGINT) {
            /* sigwaitinfo returns SIGTERM before a pending SIGCHLD: log children that already
             * exited, or their status is lost when the namespace goes. */
            reap_children(log_ok);
            return 0;
        }
    }
}
