/*
 * victim.h — what the debug-mode victims (victim.c, victim_cxx.cpp) share:
 * objmem's API reached from a program that only preloads the drop-in
 * (weak references, NULL without objmem) or links it (VICTIM_STATIC), and
 * an error handler that prints each report as one line on stdout and
 * returns, so that the program goes on and the test counts the reports.
 *
 *   report code=NAME serial=N size=N family=C free_family=C
 *   message TEXT                    (the report's message)
 *   site=FILE:LINE                  (the line that allocated the block)
 *   block serial=N size=N          (the victim's own view of its block)
 *   check=N                         (om_debug_check's count at the end)
 */
#ifndef VICTIM_H
#define VICTIM_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "objmem.h"

#ifndef VICTIM_STATIC
#pragma weak om_set_error_handler
#pragma weak om_error_name
#pragma weak om_debug_check
#pragma weak om_debug_serial
#pragma weak om_debug_enabled
#endif

static char victim_letter(int c) { return c ? (char)c : '-'; }

static void victim_on_error(const om_error_info *info, void *arg) {
    (void)arg;
    printf("report code=%s serial=%llu size=%zu family=%c free_family=%c\n", om_error_name(info->code),
           (unsigned long long)info->serial, info->requested_size, victim_letter(info->family),
           victim_letter(info->free_family));
    printf("message %s\n", info->message);
    fflush(stdout);
}

/* Where the block of the error was allocated: the test finds it in the
 * report ("allocated at f (.../victim.c:N)"). */
static void victim_site(const char *file, int line) {
    const char *slash = strrchr(file, '/');
    printf("site=%s:%d\n", slash ? slash + 1 : file, line);
    fflush(stdout);
}

/* The handler above (or the default one, which aborts, for "abort"); exit
 * 2 when objmem is not the malloc or debug mode is off. */
static void victim_start(int keep_default) {
#ifdef VICTIM_STATIC
    int loaded = 1;
#else
    int loaded = om_set_error_handler != NULL && om_debug_enabled != NULL;
#endif
    if (!loaded || !om_debug_enabled()) {
        fprintf(stderr, "victim: objmem's debug mode is not on\n");
        exit(2);
    }
    if (!keep_default)
        om_set_error_handler(victim_on_error, NULL);
}

static void victim_block(const void *p, size_t size) {
    printf("block serial=%llu size=%zu\n", (unsigned long long)om_debug_serial(p), size);
    fflush(stdout);
}

static void victim_end(void) {
    printf("check=%d\n", om_debug_check());
    fflush(stdout);
}

#endif
