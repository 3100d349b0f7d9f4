/*
 * suite.c — option parsing for the standard-workload programs (suite.h).
 */
#include "suite.h"

#include <errno.h>

const char *su_prog = "suite";

void su_opts_init(su_opts *o, const char *prog, const char *usage)
{
    memset(o, 0, sizeof *o);
    su_prog = prog;
    o->usage = usage;
}

void su_opts_add(su_opts *o, const char *name, const char *help)
{
    if (o->n == SU_MAX_OPTS)
        su_die("too many options");
    o->opt[o->n].name = name;
    o->opt[o->n].help = help;
    o->n++;
}

static void su_usage(const su_opts *o, FILE *f)
{
    fprintf(f, "usage: %s [--quick] [--OPTION VALUE]...\n%s\n", su_prog, o->usage);
    fprintf(f, "  --quick             smaller scale (a smoke test)\n");
    for (int i = 0; i < o->n; i++)
        fprintf(f, "  --%-17s %s\n", o->opt[i].name, o->opt[i].help);
}

void su_opts_parse(su_opts *o, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            su_usage(o, stdout);
            exit(0);
        }
        if (!strcmp(a, "--quick")) {
            o->quick = 1;
            continue;
        }
        int found = 0;
        if (!strncmp(a, "--", 2)) {
            for (int k = 0; k < o->n; k++) {
                if (strcmp(a + 2, o->opt[k].name))
                    continue;
                if (i + 1 >= argc) {
                    fprintf(stderr, "%s: %s needs a value\n", su_prog, a);
                    exit(64);
                }
                o->opt[k].value = argv[++i];
                found = 1;
                break;
            }
        }
        if (!found) {
            fprintf(stderr, "%s: unknown argument '%s'\n", su_prog, a);
            su_usage(o, stderr);
            exit(64);
        }
    }
}

static const su_opt *su_find(const su_opts *o, const char *name)
{
    for (int i = 0; i < o->n; i++)
        if (!strcmp(o->opt[i].name, name))
            return &o->opt[i];
    su_die("option --%s was not declared", name);
}

long su_opt_long(const su_opts *o, const char *name, long def, long quick_def, long min, long max)
{
    const su_opt *p = su_find(o, name);
    if (!p->value)
        return o->quick ? quick_def : def;
    char *end;
    errno = 0;
    long v = strtol(p->value, &end, 10);
    if (errno || end == p->value || *end || v < min || v > max) {
        fprintf(stderr, "%s: --%s wants an integer in [%ld, %ld], not '%s'\n", su_prog, name, min,
                max, p->value);
        exit(64);
    }
    return v;
}

const char *su_opt_str(const su_opts *o, const char *name, const char *def)
{
    const su_opt *p = su_find(o, name);
    return p->value ? p->value : def;
}
