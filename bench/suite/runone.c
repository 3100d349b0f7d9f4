/*
 * runone.c — run one command and report its wall time, CPU time and
 * maximum resident set size.
 *
 *   runone [-o OUT] [-e ERR] [-i IN] [-s NAME=VALUE]... [-u NAME]...
 *          [-t SECONDS] [-p PIDFILE] -- COMMAND [ARG]...
 *
 * The command is started with fork + execvp, with the environment
 * changes applied in the child only (so LD_PRELOAD given with -s reaches
 * the benchmarked program and never this wrapper), in a process group of
 * its own.  Its stdout goes to OUT (default /dev/null), its stderr to ERR
 * (default: inherited), its stdin comes from IN (default /dev/null).  The
 * child is reaped with wait4, whose rusage covers the child and every
 * descendant it waited for (gcc's cc1 and as, for instance): user and
 * system time are summed over them, and ru_maxrss is the largest of
 * their peaks.  Then one line goes to stdout:
 *
 *   wall_s=W cpu_s=C user_s=U sys_s=S maxrss_kb=K rc=N
 *
 * rc is the exit status, or 128 + the signal number when the child was
 * killed; with -t the whole group is killed after SECONDS and the line
 * ends with timeout=1.  SIGINT and SIGTERM are passed on to the group.
 * runone exits 0 when it could run the command (the caller reads rc), 64
 * on a usage error and 70 when fork or exec fails.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>

static volatile sig_atomic_t child_pid;
static volatile sig_atomic_t timed_out;

static void on_signal(int sig)
{
    if (child_pid > 0)
        kill(-child_pid, sig);
}

static void on_alarm(int sig)
{
    (void)sig;
    timed_out = 1;
    if (child_pid > 0)
        kill(-child_pid, SIGKILL);
}

static void usage(FILE *f)
{
    fputs("usage: runone [-o OUT] [-e ERR] [-i IN] [-s NAME=VALUE]... [-u NAME]...\n"
          "              [-t SECONDS] [-p PIDFILE] -- COMMAND [ARG]...\n"
          "Runs COMMAND and prints: wall_s= cpu_s= user_s= sys_s= maxrss_kb= rc=\n",
          f);
}

static void redirect(const char *path, int fd, int flags)
{
    int f = open(path, flags, 0644);
    if (f < 0) {
        fprintf(stderr, "runone: cannot open %s: %s\n", path, strerror(errno));
        _exit(70);
    }
    if (dup2(f, fd) < 0)
        _exit(70);
    close(f);
}

static double seconds(struct timeval tv)
{
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

int main(int argc, char **argv)
{
    const char *out = "/dev/null", *err = NULL, *in = "/dev/null", *pidfile = NULL;
    long timeout = 0;
    char *set[64];
    char *unset[64];
    int nset = 0, nunset = 0;
    int c;
    while ((c = getopt(argc, argv, "+o:e:i:s:u:t:p:h")) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 'e': err = optarg; break;
        case 'i': in = optarg; break;
        case 'p': pidfile = optarg; break;
        case 's':
            if (nset == 64 || !strchr(optarg, '=')) {
                usage(stderr);
                return 64;
            }
            set[nset++] = optarg;
            break;
        case 'u':
            if (nunset == 64) {
                usage(stderr);
                return 64;
            }
            unset[nunset++] = optarg;
            break;
        case 't': timeout = atol(optarg); break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 64;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return 64;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid_t pid = fork();
    if (pid < 0) {
        perror("runone: fork");
        return 70;
    }
    if (pid == 0) {
        setpgid(0, 0);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        for (int i = 0; i < nunset; i++)
            unsetenv(unset[i]);
        for (int i = 0; i < nset; i++) {
            char *eq = strchr(set[i], '=');
            *eq = '\0';
            setenv(set[i], eq + 1, 1);
        }
        redirect(in, 0, O_RDONLY);
        redirect(out, 1, O_WRONLY | O_CREAT | O_TRUNC);
        if (err)
            redirect(err, 2, O_WRONLY | O_CREAT | O_TRUNC);
        execvp(argv[optind], argv + optind);
        fprintf(stderr, "runone: cannot run %s: %s\n", argv[optind], strerror(errno));
        _exit(70);
    }
    setpgid(pid, pid); /* also from here, so the group exists before any kill */
    child_pid = pid;
    if (pidfile) {
        FILE *f = fopen(pidfile, "w");
        if (f) {
            fprintf(f, "%ld\n", (long)pid);
            fclose(f);
        }
    }
    if (timeout > 0)
        alarm((unsigned)timeout);

    int status;
    struct rusage ru;
    pid_t r;
    do
        r = wait4(pid, &status, 0, &ru);
    while (r < 0 && errno == EINTR);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    alarm(0);
    if (r < 0) {
        perror("runone: wait4");
        return 70;
    }
    int rc = WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
    double wall = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    double user = seconds(ru.ru_utime), sys = seconds(ru.ru_stime);
    printf("wall_s=%.4f cpu_s=%.4f user_s=%.4f sys_s=%.4f maxrss_kb=%ld rc=%d%s\n", wall,
           user + sys, user, sys, ru.ru_maxrss, rc, timed_out ? " timeout=1" : "");
    return 0;
}
