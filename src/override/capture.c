/*
 * capture.c — OBJMEM_SNAPSHOT_FILE=FILE: the drop-in appends heap
 * snapshots (om_heap_snapshot_write, one JSON line each) to FILE, so that
 * `objmem heapmap FILE` shows any program's heap over its life:
 *
 *   constructor   FILE opened (O_APPEND; "%p" becomes the process id), the
 *                 first snapshot, and, if OBJMEM_SNAPSHOT_EVERY_MS > 0,
 *                 a detached thread (every signal blocked) that takes
 *                 one every OBJMEM_SNAPSHOT_EVERY_MS
 *   destructor    the last snapshot (exit() or a return from main; not
 *                 _exit() or a fatal signal), then FILE closed
 *
 * Several processes may append to one FILE (a command's children inherit
 * the variable): each snapshot is written under flock(LOCK_EX), so lines
 * never interleave.  A child made by fork() without exec keeps the file
 * but not the thread: it writes its last snapshot at exit.
 *
 * State: one struct; `lock` orders the thread's snapshots against the
 * destructor's, which marks the capture done so that no snapshot follows
 * the last.  The snapshot itself allocates nothing (diag/snapshot.c), so
 * the thread needs no heap of its own.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "override/override.h"

static struct {
    pthread_mutex_t lock;
    int fd;         /* -1: no capture */
    int done;       /* the last snapshot is written */
    long every_ms;
} cap = {PTHREAD_MUTEX_INITIALIZER, -1, 0, 0};

static void report_failure(const char *path, int error) { omi_report_write_failure("heap snapshots", path, error); }

/* One snapshot, whole, under the file lock (lock held). */
static void snapshot_locked(void) {
    if (cap.fd < 0 || cap.done)
        return;
    flock(cap.fd, LOCK_EX);
    om_heap_snapshot_write(cap.fd, 0);
    flock(cap.fd, LOCK_UN);
}

static void *capture_thread(void *arg) {
    (void)arg;
    struct timespec ts = {cap.every_ms / 1000, (cap.every_ms % 1000) * 1000000L};
    for (;;) {
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
            ;
        ts = (struct timespec){cap.every_ms / 1000, (cap.every_ms % 1000) * 1000000L};
        pthread_mutex_lock(&cap.lock);
        int done = cap.done;
        snapshot_locked();
        pthread_mutex_unlock(&cap.lock);
        if (done)
            return NULL;
    }
}

/* The timer thread, with every signal blocked: the program's signals go
 * to its own threads. */
static void start_thread(void) {
    sigset_t all, old;
    pthread_t t;
    pthread_attr_t attr;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &attr, capture_thread, NULL) != 0) {
        static const char msg[] = "objmem: cannot start the heap snapshot thread; snapshots at start and exit only\n";
        ssize_t w = write(2, msg, sizeof msg - 1);
        (void)w;
    }
    pthread_attr_destroy(&attr);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

void omi_capture_start(void) {
    const char *pattern = omi_option_string("SNAPSHOT_FILE");
    char path[4096];
    if (!pattern || !*pattern || cap.fd >= 0)
        return;
    if (!omi_expand_pid(pattern, path, sizeof path)) {
        report_failure(pattern, 0);
        return;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
        report_failure(path, errno);
        return;
    }
    pthread_mutex_lock(&cap.lock);
    cap.fd = fd;
    cap.every_ms = omi_option_value(OM_OPTION_SNAPSHOT_EVERY_MS);
    snapshot_locked();
    pthread_mutex_unlock(&cap.lock);
    if (cap.every_ms > 0)
        start_thread();
}

void omi_capture_end(void) {
    pthread_mutex_lock(&cap.lock);
    snapshot_locked();
    if (cap.fd >= 0)
        close(cap.fd);
    cap.fd = -1;
    cap.done = 1;
    pthread_mutex_unlock(&cap.lock);
}
