/*
 * cli.h — what the objmem CLI's files share.
 *
 * main.c owns the command table; each command lives in its own file and
 * has the signature of cli_command_fn.  argv[0] is the command's name, so a
 * command parses its own options from argv[1].  A command returns the
 * process exit status: 0 success, 1 failure, 2 bad usage (CLI_USAGE);
 * `run` has env(1)'s codes instead (CLI_RUN_*), so that they cannot be
 * mistaken for its command's status.  Every command takes -h/--help.
 */
#ifndef OBJMEM_CLI_H
#define OBJMEM_CLI_H

#include <objmem.h>

#include <stdint.h>

enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2 };
/* From a parser or a command: done already (help printed), exit status 0. */
enum { CLI_DONE = -1 };
/* objmem run: its own failure, CMD found but not runnable, CMD not found. */
enum { CLI_RUN_FAILED = 125, CLI_RUN_CANNOT_INVOKE = 126, CLI_RUN_NOT_FOUND = 127 };

typedef int (*cli_command_fn)(int argc, char **argv);

/* The whole tool, `objmem ARGS...` (main.c); entry.c's main calls it. */
int cli_main(int argc, char **argv);

/* Report bad usage of `command` on stderr; returns CLI_USAGE. */
int cli_usage_error(const char *command, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Is arg -h or --help? */
int cli_is_help_option(const char *arg);

/* Print `command`'s usage and help on stdout; returns CLI_OK. */
int cli_help(const char *command);

/* Parse the only option most commands take (and -h/--help).  Returns 0
 * and sets *json; CLI_DONE after printing the help; CLI_USAGE after
 * reporting bad usage. */
int cli_parse_json_flag(int argc, char **argv, int *json);

/* Commands (tour.c, stats.c, run.c, options.c, heapmap.c). */
int cli_cmd_tour(int argc, char **argv);
int cli_cmd_heapmap(int argc, char **argv);
int cli_cmd_stats(int argc, char **argv);
int cli_cmd_run(int argc, char **argv);
int cli_cmd_options(int argc, char **argv);
int cli_cmd_report(int argc, char **argv);

/* objmem run's help text, after its usage line (run.c). */
extern const char cli_run_help[];
extern const char cli_report_help[]; /* report.c */
extern const char cli_options_help[]; /* options.c: its text for `objmem help options` */
extern const char cli_heapmap_help[]; /* heapmap.c */
extern const char cli_tour_help[];    /* tour.c */

/* The snapshots of file `in` (JSON Lines; "-": stdin) as the page out_path
 * (heapmap.c); *count (if not NULL) gets how many.  CLI_OK, or CLI_FAIL
 * after a message on stderr that starts with `who` (no snapshot at all is
 * a failure). */
int cli_heapmap_convert(const char *who, const char *in, const char *out_path, size_t *count);

/* The libobjmem-malloc.so to preload, malloc'd, or NULL after saying on
 * stderr where it looked (run_lib.c). */
char *cli_run_find_library(void);
/* The hardened build (libobjmem-malloc-secure.so) beside lib, malloc'd,
 * or NULL when it is not there (run_lib.c). */
char *cli_run_secure_library(const char *lib);

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
