/*
 * options.c — `objmem options [--json]`: every OBJMEM_* option, the value
 * in force in this process, its default and where the value came from
 * (default, environment, om_option_set), from om_option_describe.
 *
 * The values are those objmem reads from this command's environment, so
 * `OBJMEM_LARGE_CACHE_MB=2G objmem options` shows what a program started
 * with the same environment would get; a bad value or an unknown OBJMEM_
 * name has already been warned about on stderr when this command starts.
 * The variables that are not options (OBJMEM_STATS_JSON, OBJMEM_MALLOC_LIB,
 * OBJMEM_SNAPSHOT_FILE) follow as text.
 */
#include "cli.h"
#include "out.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char cli_options_help[] =
    "options:\n"
    "  --json      the list as JSON\n"
    "  -h, --help  this message\n"
    "\n"
    "Each option: the value in force, its default, and where it came from\n"
    "(default, environment, om_option_set).\n"
    "\n"
    "values:\n"
    "  switch  1, yes, true, on  or  0, no, false, off (any case)\n"
    "  ms      decimal digits: milliseconds\n"
    "  MiB     decimal digits: MiB; may end in M (MiB) or G (GiB)\n"
    "  no sign, fraction or hex.  A value outside this keeps the default, a\n"
    "  number above the maximum is clamped to it, an unknown OBJMEM_ name is\n"
    "  ignored: each with a warning on stderr when objmem starts.\n"
    "\n"
    "The reports at exit (OBJMEM_STATS, OBJMEM_STATS_JSON) are written by\n"
    "exit() and a return from main, never by _exit() or a fatal signal.\n";

static const out_col option_cols[] = {
    {"name", "option", 22, 0},
    {"value", "value", 13, 0},
    {"origin", "from", 13, 0},
    {"default", "default", 7, 0},
    {"max", "max", 0, OUT_JSON_ONLY},
    {"kind", "unit", 6, 0},
    {"summary", "meaning", 0, 0},
};

enum { NCOLS = (int)(sizeof option_cols / sizeof option_cols[0]) };

/* A variable that is not an option: its value, or none. */
static void other_row(out *o, const char *name, const char *kind, const char *summary)
{
    const char *v = getenv(name);
    out_val row[NCOLS] = {OV_S(name), v ? OV_S(v) : OV_NA, OV_S(v ? "environment" : "not set"),
                          OV_NA, OV_NA, OV_S(kind), OV_S(summary)};
    out_row(o, row);
}

static void write_options(out *o)
{
    out_doc_begin(o, "objmem options in force (OBJMEM_* environment variables)");
    out_table_begin(o, "options", option_cols, NCOLS);
    for (int i = 0; i < OM_OPTION_COUNT; i++) {
        om_option_info info;
        if (om_option_describe((om_option)i, &info) != 0)
            continue;
        out_val row[NCOLS] = {OV_S(info.name), OV_I(info.value), OV_S(om_option_origin_name(info.origin)),
                              OV_I(info.default_value), OV_I(info.max), OV_S(info.kind),
                              OV_S(info.summary)};
        out_row(o, row);
    }
    other_row(o, "OBJMEM_STATS_JSON", "file", "drop-in: the JSON report at exit, %p = pid");
    other_row(o, "OBJMEM_MALLOC_LIB", "file", "objmem run: the drop-in malloc to preload");
    other_row(o, "OBJMEM_SNAPSHOT_FILE", "file", "drop-in: heap snapshots appended (JSON Lines), %p = pid");
    out_table_end(o);
    out_para(o, "Reports at exit are written by exit() and a return from main, not by _exit() "
                "or a fatal signal.  'objmem options --help' gives the grammar of values.");
    out_fact(o, "exit_reports", NULL,
             OV_S("written by exit() and a return from main, not by _exit() or a fatal signal"));
    out_doc_end(o);
}

int cli_cmd_options(int argc, char **argv)
{
    out o;
    int json = 0;

    for (int i = 1; i < argc; i++) {
        if (cli_is_help_option(argv[i]))
            return cli_help("options");
    }
    int rc = cli_parse_json_flag(argc, argv, &json);
    if (rc != 0)
        return rc;
    out_init(&o, stdout, json);
    write_options(&o);
    return ferror(stdout) ? CLI_FAIL : CLI_OK;
}
