/*
 * The kernel floor for a sandbox: the namespace work alone, with no podnet around it.
 *   create   = clone() with CLONE_NEWNET|NEWIPC|NEWUTS|NEWPID (the child just waits)
 *              + four bind-mount pins of /proc/PID/ns/{net,ipc,uts,pid}
 *   teardown = SIGKILL + waitpid + four umounts + unlink
 * N sandboxes are created (all alive at once, like podnet's benchmark), then torn down.
 * Prints one line per operation: "create <ns>" / "teardown <ns>".
 *
 *   podnet-bench-floor DIR N
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char* kinds[4] = {"net", "ipc", "uts", "pid"};

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static char stack[64 * 1024] __attribute__((aligned(16)));

static int child(void* arg) {
    (void)arg;
    for (;;) pause();
    return 0;
}

int main(int argc, char** argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s DIR N\n", argv[0]);
        return 2;
    }
    const char* dir = argv[1];
    int n = atoi(argv[2]);
    pid_t* pids = calloc((size_t)n, sizeof *pids);
    char path[512], source[64];
    for (int i = 0; i < n; ++i) {
        long long t0 = now_ns();
        pids[i] = clone(child, stack + sizeof stack,
                        CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWPID | SIGCHLD, NULL);
        if (pids[i] < 0) {
            perror("clone");
            return 1;
        }
        for (int k = 0; k < 4; ++k) {
            snprintf(path, sizeof path, "%s/%d-%s", dir, i, kinds[k]);
            snprintf(source, sizeof source, "/proc/%d/ns/%s", pids[i], kinds[k]);
            int fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
            if (fd < 0 || close(fd) != 0 || mount(source, path, NULL, MS_BIND, NULL) != 0) {
                perror(path);
                return 1;
            }
        }
        printf("create %lld\n", now_ns() - t0);
    }
    for (int i = 0; i < n; ++i) {
        long long t0 = now_ns();
        kill(pids[i], SIGKILL);
        waitpid(pids[i], NULL, 0);
        for (int k = 0; k < 4; ++k) {
            snprintf(path, sizeof path, "%s/%d-%s", dir, i, kinds[k]);
            if (umount2(path, MNT_DETACH) != 0 || unlink(path) != 0) {
                perror(path);
                return 1;
            }
        }
        printf("teardown %lld\n", now_ns() - t0);
    }
    free(pids);
    return 0;
}
