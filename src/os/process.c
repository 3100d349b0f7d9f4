/*
 * process.c — the process objmem runs in: which copy of objmem speaks for
 * it, and how a report names it.
 *
 * A process can hold two copies of objmem: a program linked with libobjmem
 * and run with the drop-in (libobjmem-malloc.so) preloaded.  Both read the
 * same OBJMEM_* variables and both have destructors, so one copy speaks
 * (option warnings, the option list, the report at exit) and the other
 * stays silent.  The copy that speaks is the one whose om_option_get the
 * process calls: the dynamic loader binds every reference to that name, in
 * both copies, to one definition (a preloaded library's first).  This file
 * does not define om_option_get, so the compiler takes its address from
 * the GOT, as the loader bound it; options.c's hidden alias is this copy's
 * own.  A program that links the static libobjmem.a and also preloads the
 * drop-in holds two copies that cannot see each other (an executable's
 * symbols are not exported): both speak there, one allocator each.
 *
 * A report names its process by pid and command line, read from
 * /proc/self/cmdline into the caller's buffer (program_invocation_name
 * when /proc is not mounted): no allocation, safe in a destructor and
 * inside malloc.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "os/os.h"

int omi_process_speaks(void) {
    long (*volatile bound)(om_option) = om_option_get;
    return bound == omi_option_get_own;
}

/* At most cap - 1 bytes of the command line, arguments separated by spaces
 * (not NUL-terminated). */
size_t omi_process_command(char *buf, size_t cap) {
    size_t n = 0;
    int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        while (n + 1 < cap) {
            ssize_t r = read(fd, buf + n, cap - 1 - n);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                break;
            n += (size_t)r;
        }
        close(fd);
    }
    while (n > 0 && buf[n - 1] == '\0')
        n--;
    for (size_t i = 0; i < n; i++)
        if (buf[i] == '\0' || buf[i] == '\n')
            buf[i] = ' ';
    if (n == 0 && program_invocation_name)
        for (const char *s = program_invocation_name; *s && n + 1 < cap; s++)
            buf[n++] = *s;
    return n;
}

void omi_process_describe(char *buf, size_t cap) {
    char digits[24];
    size_t nd = 0, n = 0;
    if (cap == 0)
        return;
    unsigned long pid = (unsigned long)getpid();
    do
        digits[nd++] = (char)('0' + pid % 10);
    while ((pid /= 10) && nd < sizeof digits);
    static const char pre[] = "pid ";
    for (size_t i = 0; i < sizeof pre - 1 && n + 1 < cap; i++)
        buf[n++] = pre[i];
    while (nd && n + 1 < cap)
        buf[n++] = digits[--nd];
    if (n + 3 < cap) {
        buf[n++] = ' ';
        buf[n++] = '(';
        n += omi_process_command(buf + n, cap - n - 1);
        buf[n++] = ')';
    }
    buf[n] = '\0';
}
