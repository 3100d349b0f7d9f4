/*
 * cli.h — what the objmem CLI's files share.
 *
 * main.c owns the command table; each command lives in its own file and
 * has the signature of cli_command_fn.  argv[0] is the command's name, so a
 * command parses its own options from argv[1].  A command returns the
 * process exit status: 0 success, 1 failure, 2 bad usage (CLI_USAGE).
 */
#ifndef OBJMEM_CLI_H
#define OBJMEM_CLI_H

#include <objmem.h>

#include <stdint.h>

enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2 };

typedef int (*cli_command_fn)(int argc, char **argv);

/* Report bad usage of `command` on stderr; returns CLI_USAGE. */
int cli_usage_error(const char *command, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Parse the only option most commands take.  Returns 0 and sets *json, or
 * CLI_USAGE after reporting the problem. */
int cli_parse_json_flag(int argc, char **argv, int *json);

/* Commands (tour.c, stats.c, run.c, options.c). */
int cli_cmd_tour(int argc, char **argv);
int cli_cmd_stats(int argc, char **argv);
int cli_cmd_run(int argc, char **argv);
int cli_cmd_options(int argc, char **argv);

/* The demo allocation pattern (stats.c): a small, Python-shaped mix of
 * live blocks, so that a report has something to show.  Deterministic. */
typedef struct cli_demo {
    void **blocks;
    size_t count;
    size_t live;
} cli_demo;

int cli_demo_begin(cli_demo *d);   /* 0, or ENOMEM */
void cli_demo_end(cli_demo *d);    /* frees every block still live */

#endif /* OBJMEM_CLI_H */
