/*
 * test_fork.c — fork() from a threaded parent while other threads are
 * allocating: the child must allocate, free and pass om_heap_check, and
 * the parent must carry on.  (objmem holds its shared locks across fork;
 * heaps of threads that do not exist in the child are left alone.)
 */
#include <pthread.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "objmem.h"

static atomic_int stop;

static void *churn(void *arg) {
    unsigned seed = (unsigned)(uintptr_t)arg;
    void *slots[256] = {0};
    while (!atomic_load(&stop)) {
        seed = seed * 1103515245u + 12345u;
        unsigned i = (seed >> 8) & 255;
        om_free(slots[i]);
        /* every 4th a large block: those take the runtime lock */
        slots[i] = om_malloc((seed & 3) == 0 ? 200000 + (seed >> 20) % 100000 : (seed >> 16) % 3000 + 1);
    }
    for (int i = 0; i < 256; i++)
        om_free(slots[i]);
    return NULL;
}

static int child_work(void) {
    void *p[4096];
    for (int round = 0; round < 20; round++) {
        for (int i = 0; i < 4096; i++)
            if (!(p[i] = om_malloc((size_t)(i % 700) + 1 + (i % 97 == 0 ? 200000 : 0))))
                return 2;
        for (int i = 0; i < 4096; i++)
            om_free(p[i]);
    }
    return om_heap_check(1) == 0 ? 0 : 3;
}

static void test_fork_while_threads_allocate(void) {
    enum { THREADS = 3, FORKS = OM_TEST_SANITIZED ? 3 : 20 };
    pthread_t t[THREADS];
    atomic_store(&stop, 0);
    for (int i = 0; i < THREADS; i++)
        REQUIRE(pthread_create(&t[i], NULL, churn, (void *)(uintptr_t)(i + 1)) == 0);
    for (int f = 0; f < FORKS; f++) {
        void *mine = om_malloc(100);
        pid_t pid = fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            om_free(mine); /* a block the parent allocated before fork */
            _exit(child_work());
        }
        int status = 0;
        REQUIRE(waitpid(pid, &status, 0) == pid);
        CHECK(WIFEXITED(status));
        CHECK_EQ(WEXITSTATUS(status), 0);
        om_free(mine);
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    CHECK_EQ(om_heap_check(1), 0);
}

int main(int argc, char **argv) {
    static const check_case cases[] = {CHECK_CASE(test_fork_while_threads_allocate)};
    return check_main(cases, CHECK_COUNT(cases), argc, argv);
}
