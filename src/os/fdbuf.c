/*
 * fdbuf.c — output to a file descriptor through a fixed buffer inside the
 * caller's struct: no allocation, so the reports of a process whose
 * malloc is objmem (snapshots, tracing) can be written from anywhere.
 * The first write error stays in err (EIO for a write that wrote
 * nothing); later output is dropped.  printf output longer than 1 KiB is
 * cut there.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "os/os.h"

void omi_fdbuf_flush(omi_fdbuf *w) {
    for (size_t done = 0; done < w->len && !w->err;) {
        ssize_t n = write(w->fd, w->buf + done, w->len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            w->err = n < 0 ? errno : EIO;
        else
            done += (size_t)n;
    }
    w->len = 0;
}

void omi_fdbuf_put(omi_fdbuf *w, const char *s, size_t n) {
    while (n) {
        if (w->len == sizeof w->buf)
            omi_fdbuf_flush(w);
        size_t k = sizeof w->buf - w->len < n ? sizeof w->buf - w->len : n;
        memcpy(w->buf + w->len, s, k);
        w->len += k, s += k, n -= k;
    }
}

void omi_fdbuf_printf(omi_fdbuf *w, const char *fmt, ...) {
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0)
        omi_fdbuf_put(w, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

void omi_fdbuf_json_str(omi_fdbuf *w, const char *s) {
    omi_fdbuf_put(w, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            omi_fdbuf_put(w, e, 2);
        } else if (c < 0x20) {
            omi_fdbuf_printf(w, "\\u%04x", c);
        } else {
            omi_fdbuf_put(w, s, 1);
        }
    }
    omi_fdbuf_put(w, "\"", 1);
}
