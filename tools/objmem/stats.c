/*
 * stats.c — `objmem stats [--json]` and the demo allocation pattern.
 *
 * A fresh process has an empty heap, so the report would be all zeros.
 * The demo gives it a shape like a small Python program's: mostly 16–64
 * byte objects, some up to 512, a few medium blocks, two large ones; then
 * every third block is freed, leaving free blocks inside used pools.  The
 * sizes come from a fixed linear congruential sequence, so two runs report
 * the same counts (addresses aside).
 *
 * The demo's pointer array comes from libc: only the blocks themselves are
 * objmem's, so the report shows exactly what the pattern did.
 */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { DEMO_BLOCKS = 20000, DEMO_LARGE = 2 };

static uint32_t demo_next(uint32_t *state)
{
    *state = *state * 1664525u + 1013904223u;
    return *state >> 8;
}

/* Python-shaped sizes: 55% 16..64, 30% 65..512, 13% medium, 2% up to 64K. */
static size_t demo_size(uint32_t *state)
{
    uint32_t pick = demo_next(state) % 100, r = demo_next(state);

    if (pick < 55)
        return 16 + r % 49;
    if (pick < 85)
        return 65 + r % 448;
    if (pick < 98)
        return 513 + r % (8192 - 512);
    return 8193 + r % (65536 - 8192);
}

int cli_demo_begin(cli_demo *d)
{
    static const size_t large[DEMO_LARGE] = {200 * 1024, 1024 * 1024};
    uint32_t state = 12345;

    d->count = DEMO_BLOCKS + DEMO_LARGE;
    d->live = 0;
    d->blocks = calloc(d->count, sizeof *d->blocks);
    if (d->blocks == NULL)
        return ENOMEM;
    for (size_t i = 0; i < d->count; i++) {
        size_t n = i < DEMO_BLOCKS ? demo_size(&state) : large[i - DEMO_BLOCKS];
        d->blocks[i] = om_malloc(n);
        if (d->blocks[i] == NULL) {
            cli_demo_end(d);
            return ENOMEM;
        }
        memset(d->blocks[i], 0x5a, n < 64 ? n : 64); /* touch it, as a program would */
        d->live++;
    }
    for (size_t i = 0; i < DEMO_BLOCKS; i += 3) {
        om_free(d->blocks[i]);
        d->blocks[i] = NULL;
        d->live--;
    }
    return 0;
}

void cli_demo_end(cli_demo *d)
{
    for (size_t i = 0; d->blocks && i < d->count; i++)
        om_free(d->blocks[i]);
    free(d->blocks);
    d->blocks = NULL;
    d->count = d->live = 0;
}

int cli_cmd_stats(int argc, char **argv)
{
    cli_demo demo;
    int json, rc;

    rc = cli_parse_json_flag(argc, argv, &json);
    if (rc != 0)
        return rc;
    if (cli_demo_begin(&demo) != 0) {
        fprintf(stderr, "objmem stats: out of memory running the demo pattern\n");
        return CLI_FAIL;
    }
    if (!json)
        printf("Demo pattern: %zu blocks allocated (16 B .. 1 MiB), every third small\n"
               "or medium one freed, %zu live.\n\n",
               demo.count, demo.live);
    fflush(stdout);
    rc = om_stats_write(1, json ? OM_REPORT_JSON : OM_REPORT_TEXT);
    cli_demo_end(&demo);
    if (rc != 0) {
        fprintf(stderr, "objmem stats: writing the report: %s\n", strerror(rc));
        return CLI_FAIL;
    }
    return CLI_OK;
}
