/* main.c — `nasc <command> [options]`: dispatch to the commands. */
#include "cli.h"

#include "nasc/text.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv); /* argv[0] is "nasc", argv[1] the command */
    const char *summary;
} command;

static const command commands[] = {
    {"train", cmd_train, "train a network (baseline CNN or an architecture) and report accuracy"},
    {"eval", cmd_eval, "evaluate a saved model on a dataset"},
    {"show", cmd_show, "an architecture's structure, cost and Graphviz drawing"},
    {"search", cmd_search, "search a space for the best architecture (strategies, trial database)"},
    {"trials", cmd_trials, "list the trials of an experiment database"},
    {"report", cmd_report, "an experiment as one self-contained HTML page (plots, top trials)"},
    {"auto", cmd_auto, "from a dataset and a time budget to a trained network (search + retrain)"},
    {"predict", cmd_predict, "top-k classes and raw logits of a saved model on images"},
    {"export", cmd_export, "a saved model as ONNX, PyTorch or dependency-free C (float or int8)"},
};

static void usage(FILE *f) {
    fprintf(f, "usage: nasc <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n'nasc <command> --help' (or 'nasc help <command>') describes a command's options;\n"
               "'nasc --version' (-V) prints the version.\n");
}

/* OpenMP threads that wait for work by spinning (libgomp's default) hold their core while another
 * thread or process needs it: on this project's 2-core machines, with a data-prefetch thread, a
 * second worker or any other load, a training step ran 1.5-2.5x slower than with sleeping waits,
 * which cost about 5 % on an idle machine (docs/ARCH.md, "Threads"). libgomp reads its policy once,
 * when it is loaded, so nasc sets it and starts itself again (same pid, same arguments) unless the
 * user chose a policy. If the new start fails, nasc simply goes on with the default. */
static void prefer_passive_openmp(char **argv) {
    if (getenv("OMP_WAIT_POLICY") || getenv("GOMP_SPINCOUNT"))
        return;
    if (setenv("OMP_WAIT_POLICY", "passive", 1) != 0)
        return;
    execv("/proc/self/exe", argv);
}

#define N_COMMANDS (sizeof commands / sizeof commands[0])

static const command *find_command(const char *name) {
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (!strcmp(name, commands[i].name))
            return &commands[i];
    return NULL;
}

/* "unknown command 'serach'; did you mean 'search'? (see 'nasc --help')" */
static int unknown_command(const char *name) {
    char names[256] = "", hint[96];
    for (size_t i = 0, k = 0; i < N_COMMANDS && k < sizeof names; i++)
        k += (size_t)snprintf(names + k, sizeof names - k, "%s ", commands[i].name);
    cli_error("unknown command '%s'%s (see 'nasc --help')", name,
              nasc_did_you_mean(name, names, hint, sizeof hint));
    return CLI_USAGE;
}

int main(int argc, char **argv) {
    prefer_passive_openmp(argv);
    if (argc < 2) {
        usage(stderr);
        return CLI_USAGE;
    }
    if (!strcmp(argv[1], "help") && argc > 2 && strcmp(argv[2], "help")) {
        /* `nasc help CMD` = `nasc CMD --help` */
        const command *c = find_command(argv[2]);
        if (!c)
            return unknown_command(argv[2]);
        char help_flag[] = "--help";
        char *args[] = {argv[0], argv[2], help_flag, NULL};
        return c->run(3, args);
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return CLI_OK;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
        printf("nasc %s\n", NASC_VERSION_STRING);
        return CLI_OK;
    }
    const command *c = find_command(argv[1]);
    return c ? c->run(argc, argv) : unknown_command(argv[1]);
}
