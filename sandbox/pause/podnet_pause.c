/*
 * podnet-pause: PID 1 of a pod. It holds the pod's namespaces, reaps every process reparented
 * to it, and exits cleanly on SIGTERM or SIGINT (which makes the kernel kill the rest of the
 * pod's PID namespace).
 *
 * libc only, linked statically, no heap: its resident set stays far below 1 MiB.
 *
 * podnet sets the pod up before exec (hostname, lo up, SIGTERM/SIGINT/SIGCHLD blocked, so a
 * signal sent in the first microseconds waits for us instead of being dropped — the kernel drops
 * signals a namespace's init leaves at SIG_DFL). Arguments only tag the process for
 * `podnet gc`:  podnet-pause --id SANDBOX_ID --run-root DIR
 *
 * File descriptor 3, when open, is an append-only file: each reaped child adds
 * "<pid> <status>\n", where status is the exit code or 128+signal, so podnet can report how
 * detached containers ended.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

enum { exit_log_fd = 3 };

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

int main(void) {
    sigset_t wanted;
    sigemptyset(&wanted);
    sigaddset(&wanted, SIGCHLD);
    sigaddset(&wanted, SIGTERM);
    sigaddset(&wanted, SIGINT);
    sigprocmask(SIG_BLOCK, &wanted, NULL);
    /* Handlers as well, so these signals count as handled once unblocked; sigwaitinfo() takes
     * them synchronously. */
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = ignore_signal;
    sigaction(SIGCHLD, &action, NULL);
    sigaction(SIGTERM, &action, NULL);
    sigaction(SIGINT, &action, NULL);

    int log_ok = fcntl(exit_log_fd, F_GETFD) >= 0;
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
