/*
 * main.c — the objmem command-line tool: finds the subcommand and runs it.
 *
 * Commands are rows of one table (name, options, one-line summary,
 * function), so adding `run` or `heapmap` is one row and one file.  The
 * usage message is generated from the same table.  Exit status: 0 success,
 * 1 failure, 2 bad usage (unknown command or option).
 */
#include "cli.h"

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
    {"tour", "[--json]", "the live allocator explained step by step", cli_cmd_tour},
    {"stats", "[--json]", "statistics report after a small demo allocation pattern", cli_cmd_stats},
    {"run", "[--stats] [--json FILE] -- CMD [ARGS...]", "run a program with objmem as its malloc",
     cli_cmd_run},
    {"options", "[--json]", "every OBJMEM_* option: value in force and where it came from",
     cli_cmd_options},
    {"help", "[command]", "show this message, or one command's usage", cmd_help},
    {"version", "", "print objmem's version", cmd_version},
};

enum { NCOMMANDS = (int)(sizeof commands / sizeof commands[0]) };

static void print_usage(FILE *f)
{
    fprintf(f, "usage: objmem <command> [options]\n\n"
               "objmem is CPython's memory allocator (pymalloc: arenas -> pools -> blocks)\n"
               "as a thread-safe C library.  This tool shows it at work.\n\n"
               "commands:\n");
    for (int i = 0; i < NCOMMANDS; i++) {
        char head[64];
        snprintf(head, sizeof head, "%s %s", commands[i].name, commands[i].args);
        if (strlen(head) > 18) /* a long synopsis gets its own line */
            fprintf(f, "  %s\n  %-18s %s\n", head, "", commands[i].summary);
        else
            fprintf(f, "  %-18s %s\n", head, commands[i].summary);
    }
    fprintf(f, "\nexit status: 0 success, 1 failure, 2 bad usage.\n"
               "start with:  objmem tour\n");
}

int cli_usage_error(const char *command, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "objmem%s%s: ", command ? " " : "", command ? command : "");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    for (int i = 0; command && i < NCOMMANDS; i++)
        if (strcmp(commands[i].name, command) == 0)
            fprintf(stderr, "usage: objmem %s%s%s\n", commands[i].name,
                    commands[i].args[0] ? " " : "", commands[i].args);
    fprintf(stderr, "run 'objmem help' for the list of commands.\n");
    return CLI_USAGE;
}

int cli_parse_json_flag(int argc, char **argv, int *json)
{
    *json = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            *json = 1;
        else
            return cli_usage_error(argv[0], "unknown option '%s'", argv[i]);
    }
    return 0;
}

static const cli_command *find_command(const char *name);

/* `objmem help` lists every command; `objmem help CMD` shows one. */
static int cmd_help(int argc, char **argv)
{
    const cli_command *cmd;

    if (argc > 2)
        return cli_usage_error("help", "too many arguments");
    if (argc < 2) {
        print_usage(stdout);
        return CLI_OK;
    }
    cmd = find_command(argv[1]);
    if (cmd == NULL)
        return cli_usage_error("help", "unknown command '%s'", argv[1]);
    printf("usage: objmem %s%s%s\n  %s\n", cmd->name, cmd->args[0] ? " " : "", cmd->args,
           cmd->summary);
    return CLI_OK;
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

int main(int argc, char **argv)
{
    const cli_command *cmd;

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
    return cmd->fn(argc - 1, argv + 1);
}
