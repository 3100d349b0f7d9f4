/*
 * symbols.c — return addresses to function, file:line, when a report is
 * written (never while tracing: an allocation records addresses only).
 *
 * elfutils' libdwfl does the work: the process's modules are reported
 * from /proc/PID/maps (dwfl_linux_proc_report), a module's function from
 * its symbol table (dwfl_module_addrinfo) and its file:line from the
 * DWARF line table (dwfl_module_getsrc), with separate debug files found
 * the standard way (build-id, .debug directories); an object without
 * .debug_aranges has its units walked instead.  Each address looked
 * up is ra - 1: a return address is the instruction after the call, which
 * may already belong to the next line or, after a noreturn call, to the
 * next function.
 *
 * libdw allocates (through malloc, which may be objmem): callers suspend
 * observation (alloc.h) around a symbolizer's use.  Built without libdw
 * (OM_TRACE_LIBDW undefined), a frame is named by its module and offset
 * (dladdr), or by its address.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "trace/trace.h"

static int in_public_header(const omi_symbol *s);
static void copy(char *dst, size_t cap, const char *src);

#ifdef OM_TRACE_LIBDW
#include <dwarf.h>

/* The compilation unit of pc in m into *cu (and the module's bias): by
 * the address ranges, else by walking the units, for objects without
 * .debug_aranges (clang does not emit them by default), where libdwfl
 * finds no unit.  0 if none. */
static int unit_of(Dwfl_Module *m, Dwarf_Addr pc, Dwarf_Die *cu, Dwarf_Addr *bias) {
    Dwarf_Die *found = omi_tl.dwfl_module_addrdie(m, pc, bias);
    if (found) {
        *cu = *found;
        return 1;
    }
    Dwarf *dw = omi_tl.dwfl_module_getdwarf(m, bias);
    Dwarf_Off off = 0, next;
    size_t hsize;
    for (; dw && omi_tl.dwarf_nextcu(dw, off, &next, &hsize, NULL, NULL, NULL) == 0; off = next)
        if (omi_tl.dwarf_offdie(dw, off + hsize, cu) && omi_tl.dwarf_haspc(cu, pc - *bias) == 1)
            return 1;
    return 0;
}

/* The line of pc in m from its unit's line table (when
 * dwfl_module_getsrc found none). */
static Dwarf_Line *line_by_units(Dwfl_Module *m, Dwarf_Addr pc) {
    Dwarf_Die cu;
    Dwarf_Addr bias;
    return unit_of(m, pc, &cu, &bias) ? omi_tl.dwarf_getsrc_die(&cu, pc - bias) : NULL;
}

/* pc's line is inside an inline function of objmem.h (om_new's fast
 * path) built into the program: name the line that called it instead,
 * from the innermost inlined scope's DW_AT_call_file and _line. */
static void call_site(Dwfl_Module *m, Dwarf_Addr pc, omi_symbol *out) {
    Dwarf_Addr bias;
    Dwarf_Die unit, *cu = &unit, *scopes = NULL;
    int n = unit_of(m, pc, &unit, &bias) ? omi_tl.dwarf_getscopes(cu, pc - bias, &scopes) : -1;
    for (int i = 0; i < n; i++) {
        Dwarf_Attribute fa, la;
        Dwarf_Word fi, li;
        Dwarf_Files *files;
        size_t nfiles;
        const char *file;
        if (omi_tl.dwarf_tag(&scopes[i]) != DW_TAG_inlined_subroutine)
            continue;
        if (omi_tl.dwarf_attr(&scopes[i], DW_AT_call_file, &fa) &&
            omi_tl.dwarf_attr(&scopes[i], DW_AT_call_line, &la) &&
            omi_tl.dwarf_formudata(&fa, &fi) == 0 && omi_tl.dwarf_formudata(&la, &li) == 0 &&
            omi_tl.dwarf_getsrcfiles(cu, &files, &nfiles) == 0 && fi < nfiles &&
            (file = omi_tl.dwarf_filesrc(files, fi, NULL, NULL)) != NULL) {
            copy(out->file, sizeof out->file, file);
            out->line = (int)li;
        }
        break;
    }
    free(scopes); /* libdw's, from malloc */
}
#endif

struct omi_symbolizer {
#ifdef OM_TRACE_LIBDW
    Dwfl *dwfl;
#endif
    int unused;
};

static void copy(char *dst, size_t cap, const char *src) {
    size_t n = src ? strlen(src) : 0;
    if (n >= cap)
        n = cap - 1;
    if (n)
        memcpy(dst, src, n);
    dst[n] = '\0';
}

static const char *base_name(const char *path) {
    const char *slash = path ? strrchr(path, '/') : NULL;
    return slash ? slash + 1 : (path ? path : "");
}

omi_symbolizer *omi_symbolizer_open(void) {
    omi_symbolizer *s = omi_trace_mem_alloc(sizeof *s);
#ifdef OM_TRACE_LIBDW
    static char *debuginfo_path = NULL;
    static Dwfl_Callbacks callbacks;
    omi_trace_libs_load();
    callbacks.find_elf = omi_tl.dwfl_linux_proc_find_elf;
    callbacks.find_debuginfo = omi_tl.dwfl_standard_find_debuginfo;
    callbacks.debuginfo_path = &debuginfo_path;
    if (s)
        s->dwfl = NULL;
    if (s && omi_tl.dwfl_begin && (s->dwfl = omi_tl.dwfl_begin(&callbacks)) != NULL) {
        if (omi_tl.dwfl_linux_proc_report(s->dwfl, getpid()) != 0 || omi_tl.dwfl_report_end(s->dwfl, NULL, NULL) != 0) {
            omi_tl.dwfl_end(s->dwfl);
            s->dwfl = NULL;
        }
    }
#endif
    return s;
}

void omi_symbolizer_close(omi_symbolizer *s) {
    if (!s)
        return;
#ifdef OM_TRACE_LIBDW
    if (s->dwfl)
        omi_tl.dwfl_end(s->dwfl);
#endif
    omi_trace_mem_free(s);
}

/* Module and offset from the loader (no debug information needed). */
static void from_loader(const void *ra, omi_symbol *out) {
    Dl_info info;
    if (dladdr(ra, &info) && info.dli_fname) {
        copy(out->module, sizeof out->module, base_name(info.dli_fname));
        out->offset = (uintptr_t)ra - (uintptr_t)info.dli_fbase;
        if (info.dli_sname && !out->function[0])
            copy(out->function, sizeof out->function, info.dli_sname);
    }
}

void omi_symbolize(omi_symbolizer *s, const void *ra, omi_symbol *out) {
    memset(out, 0, sizeof *out);
    uintptr_t pc = (uintptr_t)ra - 1;
#ifdef OM_TRACE_LIBDW
    Dwfl_Module *m = s && s->dwfl ? omi_tl.dwfl_addrmodule(s->dwfl, pc) : NULL;
    if (m) {
        GElf_Off off;
        GElf_Sym sym;
        const char *name = omi_tl.dwfl_module_addrinfo(m, pc, &off, &sym, NULL, NULL, NULL);
        if (name)
            copy(out->function, sizeof out->function, name);
        Dwfl_Line *line = omi_tl.dwfl_module_getsrc(m, pc);
        int lineno = 0;
        const char *file = line ? omi_tl.dwfl_lineinfo(line, NULL, &lineno, NULL, NULL, NULL) : NULL;
        Dwarf_Line *dline = file ? NULL : line_by_units(m, pc);
        if (dline && (file = omi_tl.dwarf_linesrc(dline, NULL, NULL)) != NULL)
            omi_tl.dwarf_lineno(dline, &lineno);
        if (file) {
            copy(out->file, sizeof out->file, file);
            out->line = lineno;
            if (in_public_header(out))
                call_site(m, pc, out);
        }
    }
#else
    (void)s;
#endif
    from_loader(ra, out);
}

void omi_symbol_format(const omi_symbol *sym, const void *ra, char *buf, size_t cap) {
    const char *fn = sym->function[0] ? sym->function : "?";
    if (sym->file[0])
        snprintf(buf, cap, "%s (%s:%d)", fn, sym->file, sym->line);
    else if (sym->module[0])
        snprintf(buf, cap, "%s (%s+0x%lx)", fn, sym->module, (unsigned long)sym->offset);
    else
        snprintf(buf, cap, "%s (%p)", fn, ra);
}

/* A frame in objmem.h's inline wrappers (om_new's fast path, built into
 * the program) is objmem's, not the program's call site. */
static int in_public_header(const omi_symbol *s) {
    size_t n = strlen(s->file);
    return n >= 8 && strcmp(s->file + n - 8, "objmem.h") == 0 && (n == 8 || s->file[n - 9] == '/');
}

const void *omi_trace_site(omi_symbolizer *sym, const omi_trace *t, omi_symbol *out) {
    if (!t || !t->nframes) {
        memset(out, 0, sizeof *out);
        return NULL;
    }
    for (uint32_t i = 0; i < t->nframes; i++) {
        omi_symbolize(sym, t->frames[i], out);
        if (!in_public_header(out) || i + 1 == t->nframes)
            return t->frames[i];
    }
    return NULL; /* not reached */
}
