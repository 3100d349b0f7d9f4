/*
 * main.c — the objmem command-line tool: finds the subcommand and runs it
 * (cli_main; entry.c's main calls it, so that the fuzz harnesses, fuzz/,
 * link every command with a main of their own).
 *
 * Commands are rows of one table (name, options, one-line summary,
 * function), so adding a command is one row and one file.  The
 * usage message is generated from the same table; a command's help
 * (`objmem help CMD`, `objmem CMD --help`) is its row's usage line, then
 * its text in command_help[] if it has more to say.
 *
 * Exit status: 0 success, 1 failure, 2 bad usage (unknown command or
 * option); `run` has env(1)'s codes (run.c).  Output that cannot be
 * written is a failure: stdout is flushed, checked and closed before
 * exit, as coreutils' close_stdout does, since stdio reports a full disk
 * only there.
 */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

typedef struct cli_command {
    const char *name;
    const char *args;
    const char *summary;
    cli_command_fn fn;
} cli_command;

static int cmd_help(int argc, char **argv);
static int cmd_version(int argc, char **argv);

static const cli_command commands[] = {
    {"tour", "[--json] [--heapmap DIR]", "the live allocator explained step by step", cli_cmd_tour},
    {"stats", "[--json]", "statistics report after a small demo allocation pattern", cli_cmd_stats},
    {"run", "[--stats] [--json FILE] [--debug] [--secure] [--trace[=N]] [--heapmap FILE.html [--every MS]] -- CMD [ARGS...]",
     "run a program with objmem as its malloc", cli_cmd_run},
    {"heapmap", "SNAPSHOTS.json -o FILE.html", "heap snapshots made into one interactive HTML page",
     cli_cmd_heapmap},
    {"report", "[--diff] FILE.json [FILE2.json]", "print a saved tracing report, or compare two",
     cli_cmd_report},
    {"options", "[--json]", "every OBJMEM_* option: value in force and where it came from",
     cli_cmd_options},
    {"help", "[command]", "show this message, or one command's usage", cmd_help},
    {"version", "", "print objmem's version", cmd_version},
};

enum { NCOMMANDS = (int)(sizeof commands / sizeof commands[0]) };

/* Help beyond the usage line, for the commands that have more to say. */
static const struct {
    const char *name, *text;
} command_help[] = {
    {"tour", cli_tour_help},
    {"stats", "options:\n"
              "  --json      the report as JSON\n"
              "  -h, --help  this message\n"},
    {"run", cli_run_help},
    {"report", cli_report_help},
    {"options", cli_options_help},
    {"heapmap", cli_heapmap_help},
};

static void print_usage(FILE *f)
{
    fprintf(f, "usage: objmem <command> [options]\n\n"
               "objmem is CPython's memory allocator (pymalloc: arenas -> pools -> blocks)\n"
               "as a thread-safe C library.  This tool shows it at work.\n\n"
               "commands:\n");
    for (int i = 0; i < NCOMMANDS; i++) {
        char head[128];
        snprintf(head, sizeof head, "%s %s", commands[i].name, commands[i].args);
        if (strlen(head) > 18) /* a long synopsis gets its own line */
            fprintf(f, "  %s\n  %-18s %s\n", head, "", commands[i].summary);
        else
            fprintf(f, "  %-18s %s\n", head, commands[i].summary);
    }
    fprintf(f, "\nEvery command takes -h/--help.\n\n"
               "exit status:\n"
               "  0 success; 1 failure (a write error on stdout included); 2 bad usage.\n"
               "  objmem run: the command's own status once it runs; 125 objmem run failed\n"
               "  (bad usage, library not found, --json FILE cannot be written); 126 the\n"
               "  command cannot be run; 127 the command was not found.\n"
               "\nstart with:  objmem tour\n");
}

static const cli_command *find_command(const char *name);

int cli_usage_error(const char *command, const char *fmt, ...)
{
    const cli_command *cmd = command ? find_command(command) : NULL;
    va_list ap;

    fprintf(stderr, "objmem%s%s: ", command ? " " : "", command ? command : "");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    if (cmd != NULL)
        fprintf(stderr, "usage: objmem %s%s%s\nrun 'objmem help %s' for more.\n", cmd->name,
                cmd->args[0] ? " " : "", cmd->args, cmd->name);
    else
        fprintf(stderr, "run 'objmem help' for the list of commands.\n");
    return CLI_USAGE;
}

int cli_is_help_option(const char *arg)
{
    return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0;
}

int cli_help(const char *command)
{
    const cli_command *cmd = find_command(command);

    if (cmd == NULL)
        return CLI_OK;
    printf("usage: objmem %s%s%s\n  %s\n", cmd->name, cmd->args[0] ? " " : "", cmd->args,
           cmd->summary);
    for (size_t i = 0; i < sizeof command_help / sizeof command_help[0]; i++)
        if (strcmp(command_help[i].name, cmd->name) == 0)
            printf("\n%s", command_help[i].text);
    return CLI_OK;
}

int cli_parse_json_flag(int argc, char **argv, int *json)
{
    *json = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            *json = 1;
        else if (cli_is_help_option(argv[i]))
            return cli_help(argv[0]) == CLI_OK ? CLI_DONE : CLI_FAIL;
        else
            return cli_usage_error(argv[0], "unknown option '%s'", argv[i]);
    }
    return 0;
}

/* `objmem help` lists every command; `objmem help CMD` shows one. */
static int cmd_help(int argc, char **argv)
{
    if (argc > 2)
        return cli_usage_error("help", "too many arguments");
    if (argc < 2) {
        print_usage(stdout);
        return CLI_OK;
    }
    if (find_command(argv[1]) == NULL)
        return cli_usage_error("help", "unknown command '%s'", argv[1]);
    return cli_help(argv[1]);
}

static int cmd_version(int argc, char **argv)
{
    if (argc > 1)
        return cli_usage_error("version", "unexpected argument '%s'", argv[1]);
    printf("objmem %s\n", om_version());
    return CLI_OK;
}

static const cli_command *find_command(const char *name)
{
    static const struct {
        const char *alias, *name;
    } aliases[] = {{"-h", "help"}, {"--help", "help"}, {"-V", "version"}, {"--version", "version"}};

    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
        if (strcmp(name, aliases[i].alias) == 0)
            name = aliases[i].name;
    for (int i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

/* Flush and close stdout; status, or `failure` if what was printed could
 * not be written.  A stdout closed by the caller (>&-) is no error when
 * nothing was printed. */
static int close_stdout(int status, int failure)
{
    const char *why = NULL;

    if (fflush(stdout) != 0)
        why = strerror(errno);
    else if (ferror(stdout))
        why = ""; /* an earlier write failed; its errno is gone */
    else if (fclose(stdout) != 0 && errno != EBADF)
        why = strerror(errno);
    if (why == NULL)
        return status;
    fprintf(stderr, "objmem: write error%s%s\n", why[0] ? ": " : "", why);
    return status != CLI_OK ? status : failure;
}

int cli_main(int argc, char **argv)
{
    const cli_command *cmd;
    int status;

    if (argc < 2) {
        print_usage(stderr);
        return CLI_USAGE;
    }
    cmd = find_command(argv[1]);
    if (cmd == NULL) {
        fprintf(stderr, "objmem: unknown command '%s'\n\n", argv[1]);
        print_usage(stderr);
        return CLI_USAGE;
    }
    /* `objmem CMD --help` for every command, whatever its parser does */
    if (argc > 2 && cli_is_help_option(argv[2]))
        status = cli_help(cmd->name);
    else
        status = cmd->fn(argc - 1, argv + 1);
    if (status == CLI_DONE)
        status = CLI_OK;
    return close_stdout(status, cmd->fn == cli_cmd_run ? CLI_RUN_FAILED : CLI_FAIL);
}
