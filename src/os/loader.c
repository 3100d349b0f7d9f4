/*
 * loader.c — which memory the dynamic loader's own early allocator gave
 * out, so that hardened mode can tell its blocks from a foreign free.
 *
 * Until libc's malloc is resolved (with the drop-in preloaded: objmem's),
 * ld.so allocates with a minimal allocator of its own (glibc's
 * elf/dl-minimal.c): it bumps a pointer from the end of ld.so's own data
 * segment (`_end`) to the end of that page, and then through fresh
 * anonymous mmaps of a few pages each.  Link maps, the initial thread's
 * TLS block and dtv live there; libc may later hand such a block to free.
 * Those blocks are therefore in one of:
 *   1. ld.so's writable PT_LOAD segments, up to the end of their last
 *      page: found from the program headers at AT_BASE (no /proc needed);
 *   2. an anonymous, unnamed read/write mapping that existed before
 *      objmem's first allocation and does not continue a file's mapping
 *      (a .bss that outgrows its file's last page does; the loader's mmaps
 *      are placed below the mappings that exist, never glued after one):
 *      found in /proc/self/maps, read once by omi_loader_note.
 * Anything else that objmem does not own (the stack, alloca, a global, an
 * address nothing maps, a block of another allocator made later) is not a
 * loader block.  The test is conservative: a pointer into ld.so's data or
 * into one of those early mappings passes without a report.
 *
 * No allocation: the maps are read with read(2) into a stack buffer.  The
 * ranges are written once, before objmem hands out its first block, and
 * only read afterwards.
 */
#include <link.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

#include "os/os.h"

#define MAX_RANGES 32

typedef struct range {
    uintptr_t start, end;
} range;

static struct {
    range r[MAX_RANGES];
    unsigned n;
    _Atomic int ready;
} ld;

static void add(uintptr_t start, uintptr_t end) {
    if (ld.n < MAX_RANGES && start < end)
        ld.r[ld.n++] = (range){start, end};
}

/* 1. ld.so's writable segments, from its program headers. */
static void note_ldso(size_t page) {
    uintptr_t base = (uintptr_t)getauxval(AT_BASE);
    if (!base)
        return; /* a static program: no loader */
    const ElfW(Ehdr) *eh = (const ElfW(Ehdr) *)base;
    if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0)
        return;
    const ElfW(Phdr) *ph = (const ElfW(Phdr) *)(base + eh->e_phoff);
    for (unsigned i = 0; i < eh->e_phnum; i++)
        if (ph[i].p_type == PT_LOAD && (ph[i].p_flags & PF_W)) {
            uintptr_t s = base + ph[i].p_vaddr, e = s + ph[i].p_memsz;
            add(s & ~(uintptr_t)(page - 1), (e + page - 1) & ~(uintptr_t)(page - 1));
        }
}

static uintptr_t hex(const char **s) {
    uintptr_t v = 0;
    for (;; (*s)++) {
        char c = **s;
        unsigned d = c >= '0' && c <= '9' ? (unsigned)(c - '0') : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10) : 16;
        if (d == 16)
            return v;
        v = v * 16 + d;
    }
}

/* One line of /proc/self/maps: "start-end perms offset dev inode [path]". */
static void note_line(const char *s, uintptr_t *prev_end, int *prev_file) {
    uintptr_t start = hex(&s);
    if (*s++ != '-')
        return;
    uintptr_t end = hex(&s);
    int rw = s[1] == 'r' && s[2] == 'w' && s[4] == 'p';
    for (int field = 0; field < 4 && *s; field++) { /* to the inode's end */
        while (*s == ' ')
            s++;
        while (*s && *s != ' ')
            s++;
    }
    int inode_zero = s[-1] == '0' && s[-2] == ' ';
    while (*s == ' ')
        s++;
    int named = *s != '\0';
    int file = !inode_zero || (named && *s != '[');
    if (rw && inode_zero && !named && !(*prev_file && *prev_end == start))
        add(start, end);
    *prev_end = end;
    *prev_file = file;
}

/* 2. The anonymous mappings that exist now. */
static void note_maps(void) {
    int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    char buf[4096], line[512];
    size_t len = 0;
    uintptr_t prev_end = 0;
    int prev_file = 0;
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0)
        for (ssize_t i = 0; i < n; i++) {
            if (buf[i] != '\n') {
                if (len < sizeof line - 1)
                    line[len++] = buf[i];
                continue;
            }
            line[len] = '\0';
            note_line(line, &prev_end, &prev_file);
            len = 0;
        }
    close(fd);
}

void omi_loader_note(void) {
    if (atomic_load(&ld.ready))
        return;
    note_ldso(omi_os_page_size());
    note_maps();
    atomic_store(&ld.ready, 1);
}

int omi_loader_block(const void *p) {
    if (!atomic_load_explicit(&ld.ready, memory_order_acquire))
        return 0;
    uintptr_t a = (uintptr_t)p;
    for (unsigned i = 0; i < ld.n; i++)
        if (a >= ld.r[i].start && a < ld.r[i].end)
            return 1;
    return 0;
}
