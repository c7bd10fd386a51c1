/* main.c — `nasc <command> [options]`: dispatch to the commands. */
#include "cli.h"

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
};

static void usage(FILE *f) {
    fprintf(f, "usage: nasc <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n'nasc <command> --help' describes a command's options; 'nasc --version' (-V) "
               "prints the version.\n");
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

int main(int argc, char **argv) {
    prefer_passive_openmp(argv);
    if (argc < 2) {
        usage(stderr);
        return CLI_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return CLI_OK;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
        printf("nasc %s\n", NASC_VERSION_STRING);
        return CLI_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].run(argc, argv);
    cli_error("unknown command '%s' (see 'nasc --help')", argv[1]);
    return CLI_USAGE;
}
