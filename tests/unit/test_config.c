/* test_config.c — the experiment configuration: typed keys, canonical text, validation messages,
 * the YAML loader (values, nesting, errors with key path and line) and the round trip through a
 * database's config table. */
#include "test.h"

#include <sys/stat.h>
#include <unistd.h>

#include "nasc/arena.h"
#include "nasc/experiment.h"

static char dir[256];

static void write_file(const char *p, const char *text) {
    FILE *f = fopen(p, "wb");
    fputs(text, f);
    fclose(f);
}

static const char *get(const nasc_experiment_config *c, const char *key) {
    static char buf[600];
    const nasc_config_key *k = nasc_config_key_find(key);
    CHECK_MSG(k != NULL, "no key %s", key);
    if (!k)
        return "";
    nasc_config_get(c, k, buf, sizeof buf);
    return buf;
}

static void test_set_get(void) {
    nasc_experiment_config c;
    nasc_config_default(&c);
    nasc_err err = {0};
    CHECK(!strcmp(get(&c, "strategy"), "random") && !strcmp(get(&c, "seed"), "1"));
    CHECK_STATUS(nasc_config_set(&c, "seed", "18446744073709551615", &err), NASC_OK);
    CHECK(!strcmp(get(&c, "seed"), "18446744073709551615"));
    CHECK_STATUS(nasc_config_set(&c, "seed", "-1", &err), NASC_ERR_ARG);
    CHECK_STR_CONTAINS(err.msg, "seed: expected a non-negative integer (got '-1')");
    nasc_err_clear(&err);
    CHECK_STATUS(nasc_config_set(&c, "data-fraction", "0.1", &err), NASC_OK);
    CHECK(!strcmp(get(&c, "data-fraction"), "0.1"));
    CHECK_STATUS(nasc_config_set(&c, "data-fraction", "1e-3", &err), NASC_OK);
    CHECK(!strcmp(get(&c, "data-fraction"), "0.001"));
    CHECK_STATUS(nasc_config_set(&c, "lr", "nan", &err), NASC_ERR_ARG);
    nasc_err_clear(&err);
    CHECK_STATUS(nasc_config_set(&c, "epochs", "3.5", &err), NASC_ERR_ARG);
    CHECK_STR_CONTAINS(err.msg, "epochs: expected an integer (got '3.5')");
    nasc_err_clear(&err);
    CHECK_STATUS(nasc_config_set(&c, "median-stop", "yes", &err), NASC_OK);
    CHECK(c.median_stop && !strcmp(get(&c, "median-stop"), "true"));
    CHECK_STATUS(nasc_config_set(&c, "median-stop", "maybe", &err), NASC_ERR_ARG);
    CHECK_STR_CONTAINS(err.msg, "expected true or false");
    nasc_err_clear(&err);
    CHECK_STATUS(nasc_config_set(&c, "colour", "red", &err), NASC_ERR_ARG);
    CHECK_STR_CONTAINS(err.msg, "unknown key 'colour'");
    nasc_err_clear(&err);
    char big[700];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    CHECK_STATUS(nasc_config_set(&c, "space", big, &err), NASC_ERR_ARG);
    CHECK_STR_CONTAINS(err.msg, "too long");
}

static void test_validate(void) {
    nasc_experiment_config c;
    nasc_err err = {0};
    struct {
        const char *key, *value, *msg;
    } cases[] = {
        {"budget", "0", "budget: required: --budget N, the number of trials (at least 1)"},
        {"budget", "-3", "budget: must be at least 1 (got -3)"},
        {"workers", "300", "workers: must be in [1, 256]"},
        {"threads", "0", "threads: must be in"},
        {"epochs", "0", "epochs: must be in"},
        {"data-fraction", "0", "data-fraction: must be in (0, 1]"},
        {"val-fraction", "1", "val-fraction: must be in (0, 1)"},
        {"ask-ahead", "-2", "ask-ahead: must be >= 0 or auto"},
        {"lr", "0", "lr: must be > 0"},
        {"lr-min", "1", "lr-min: must be in [0, lr]"},
        {"optimizer", "lbfgs", "optimizer: expected sgd, adam or adamw"},
        {"trial-timeout", "-2", "trial-timeout: must be >= 0"},
        {"strategy", "bogo", "strategy: unknown strategy 'bogo'"},
        {"strategy", "evolutoin", "unknown strategy 'evolutoin'; did you mean 'evolution'? "
                                  "(strategies: random, grid, evolution"},
        {"strategy", "sopos", "did you mean 'spos'? (strategies: "},
        {"strategy-opt", "size=3", "unknown option 'size'"},
        {"space", "", "space: required"},
        {"benchmark", "", "exactly one evaluator"},
        {"momentum", "1.5", "momentum in [0, 1)"},
        /* nasc/limits.h (issue 22, defects 4 and 5) */
        {"channels", "1000000000", "channels: must be in [0, 4096] (got 1000000000)"},
        {"cells", "1000000", "cells: must be in [0, 256] (got 1000000)"},
        {"batch", "1000000", "batch: must be in [1, 65536] (got 1000000)"},
        {"threads", "1000000", "threads: must be in [1, 256] (got 1000000)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        nasc_config_default(&c);
        nasc_config_set(&c, "space", "nb201", NULL);
        nasc_config_set(&c, "benchmark", "nb201:cifar10", NULL);
        nasc_config_set(&c, "budget", "10", NULL);
        CHECK_STATUS(nasc_config_validate(&c, &err), NASC_OK);
        CHECK_STATUS(nasc_config_set(&c, cases[i].key, cases[i].value, &err), NASC_OK);
        CHECK_STATUS(nasc_config_validate(&c, &err), NASC_ERR_ARG);
        CHECK_MSG(strstr(err.msg, cases[i].msg) != NULL, "%s=%s: '%s' lacks '%s'", cases[i].key,
                  cases[i].value, err.msg, cases[i].msg);
        nasc_err_clear(&err);
    }
}

static void test_yaml(void) {
    char y[400];
    snprintf(y, sizeof y, "%s/e.yaml", dir);
    write_file(y, "space: nb201\n"
                  "strategy: evolution\n"
                  "strategy-opt: {sample: 4, population: 12}\n"
                  "benchmark: 'nb201:cifar100'\n"
                  "budget: 77\n"
                  "median-stop: on\n"
                  "data-fraction: 0.25\n");
    nasc_experiment_config c;
    nasc_config_default(&c);
    int n_keys;
    const nasc_config_key *keys = nasc_config_keys(&n_keys);
    bool given[96] = {0};
    nasc_err err = {0};
    CHECK_STATUS(nasc_config_load_yaml(&c, y, given, &err), NASC_OK);
    if (err.code)
        fprintf(stderr, "%s\n", err.msg);
    CHECK(!strcmp(c.space, "nb201") && !strcmp(c.strategy, "evolution") && c.budget == 77);
    CHECK(!strcmp(c.benchmark, "nb201:cifar100") && c.median_stop && c.data_fraction == 0.25);
    CHECK_MSG(!strcmp(c.strategy_opt, "sample=4,population=12"), "strategy-opt '%s'",
              c.strategy_opt);
    int n_given = 0;
    for (int i = 0; i < n_keys; i++)
        n_given += given[i];
    CHECK(n_given == 7 && given[nasc_config_key_find("budget") - keys]);
    CHECK(!given[nasc_config_key_find("seed") - keys]);

    /* errors: the message names file, line and key path */
    struct {
        const char *text, *msg;
    } bad[] = {
        {"space: nb201\n\nbudgte: 4\n", "e.yaml:3: unknown key 'budgte'"},
        {"budget: 4.5\n", "e.yaml:1: budget: expected an integer (got '4.5')"},
        {"budget:\n", "e.yaml:1: budget: expected an integer (got null)"},
        {"json: 'true'\n", "e.yaml:1: json: expected true or false (got the string \"true\")"},
        {"strategy: ga\nstrategy-opt:\n  elite: 2\n  selection: best\n",
         "e.yaml:4: strategy-opt.selection: strategy ga: option selection: expected one of"},
        {"strategy: ga\nstrategy-opt: 'elite=2,popsize=3'\n",
         "e.yaml:2: strategy-opt: strategy ga: unknown option 'popsize'"},
        {"resume: true\n", "e.yaml:1: resume: only on the command line"},
        {"space: nb201\n  budget: 3\n", "e.yaml:"},
        {"budget: 3\nbudget: 4\n", "e.yaml:2: budget: key given twice"},
        /* issue 22, defect 8: a second document, tags, range errors with file:line */
        {"budget: 3\n---\nbudget: 4\n", "e.yaml:2: a second YAML document"},
        {"budget: !!int 3\n", "e.yaml:1: YAML tags are not accepted (got 'tag:yaml.org,2002:int')"},
        {"space: !custom nb201\n", "e.yaml:1: YAML tags are not accepted"},
        {"strategy-opt: !x {a: 1}\n", "e.yaml:1: YAML tags are not accepted"},
        {"space: nb201\nepochs: -3\n", "e.yaml:2: epochs: must be in [1, 256] (got -3)"},
        {"space: nb201\n\nworkers: 300\n", "e.yaml:3: workers: must be in [1, 256] (got 300)"},
        {"channels: 1000000000\n", "e.yaml:1: channels: must be in [0, 4096] (got 1000000000)"},
        {"space: [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]"
         "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]\n",
         "e.yaml:1: nested deeper than 64 levels"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_file(y, bad[i].text);
        nasc_config_default(&c);
        CHECK_STATUS(nasc_config_load_yaml(&c, y, NULL, &err), NASC_ERR_FORMAT);
        CHECK_MSG(strstr(err.msg, bad[i].msg) != NULL, "case %zu: '%s' lacks '%s'", i, err.msg,
                  bad[i].msg);
        CHECK(err.line > 0 && strstr(err.path, "e.yaml"));
        nasc_err_clear(&err);
    }
    /* 100,000 levels of flow sequences in 200 KB: refused at level 65, in linear time (the
     * document loader alone took over a minute) */
    {
        const int deep = 100000;
        char *text = malloc((size_t)deep * 2 + 16);
        memcpy(text, "space: ", 7);
        memset(text + 7, '[', (size_t)deep);
        memset(text + 7 + deep, ']', (size_t)deep);
        strcpy(text + 7 + 2 * deep, "\n");
        write_file(y, text);
        free(text);
        nasc_config_default(&c);
        CHECK_STATUS(nasc_config_load_yaml(&c, y, NULL, &err), NASC_ERR_FORMAT);
        CHECK_STR_CONTAINS(err.msg, "e.yaml:1: nested deeper than 64 levels");
        nasc_err_clear(&err);
    }
    /* a file over NASC_MAX_CONFIG_BYTES is refused before it is read */
    {
        FILE *f = fopen(y, "wb");
        for (int i = 0; i < (1 << 20) / 16 + 1; i++)
            fputs("# padding.......\n", f);
        fclose(f);
        CHECK_STATUS(nasc_config_load_yaml(&c, y, NULL, &err), NASC_ERR_IO);
        CHECK_STR_CONTAINS(err.msg, "more than the 1048576 this input may have");
        nasc_err_clear(&err);
    }
    /* defect 9: a directory says so; a FIFO is refused at once instead of blocking */
    CHECK_STATUS(nasc_config_load_yaml(&c, dir, NULL, &err), NASC_ERR_IO);
    CHECK_STR_CONTAINS(err.msg, "is a directory");
    nasc_err_clear(&err);
    {
        char fifo[300];
        snprintf(fifo, sizeof fifo, "%s/fifo.yaml", dir);
        CHECK(mkfifo(fifo, 0600) == 0);
        CHECK_STATUS(nasc_config_load_yaml(&c, fifo, NULL, &err), NASC_ERR_IO);
        CHECK_STR_CONTAINS(err.msg, "not a regular file");
        nasc_err_clear(&err);
        unlink(fifo);
    }
    /* an empty file sets nothing */
    write_file(y, "");
    nasc_config_default(&c);
    CHECK_STATUS(nasc_config_load_yaml(&c, y, NULL, &err), NASC_OK);
    CHECK(c.budget == 0 && !strcmp(c.strategy, "random"));
}

/* The stored configuration comes back exactly (the --resume path). */
static void test_db_round_trip(void) {
    nasc_experiment_config c, d;
    nasc_config_default(&c);
    nasc_err err = {0};
    nasc_config_set(&c, "space", "nb201", NULL);
    nasc_config_set(&c, "strategy", "ga", NULL);
    nasc_config_set(&c, "strategy-opt", "population=6", NULL);
    nasc_config_set(&c, "benchmark", "nb201:cifar10", NULL);
    nasc_config_set(&c, "budget", "9", NULL);
    nasc_config_set(&c, "seed", "12345678901234", NULL);
    nasc_config_set(&c, "lr", "0.1", NULL);
    char db[400];
    snprintf(db, sizeof db, "%s/rt.db", dir);
    snprintf(c.db, sizeof c.db, "%s", db);
    nasc_experiment *ex = NULL;
    CHECK_STATUS(nasc_experiment_open(&c, &ex, &err), NASC_OK);
    if (err.code)
        fprintf(stderr, "%s\n", err.msg);
    nasc_experiment_free(ex);
    nasc_config_default(&d);
    CHECK_STATUS(nasc_config_load_db(&d, db, NULL, &err), NASC_OK);
    /* the default ask-ahead ("auto") is stored as the number it stands for: 0 with one worker */
    CHECK(d.ask_ahead == 0);
    c.ask_ahead = nasc_ask_ahead_auto(c.strategy, c.workers);
    int n_keys;
    const nasc_config_key *keys = nasc_config_keys(&n_keys);
    for (int i = 0; i < n_keys; i++) {
        if (!(keys[i].flags & NASC_CFG_STORED))
            continue;
        char a[600], b[600];
        nasc_config_get(&c, &keys[i], a, sizeof a);
        nasc_config_get(&d, &keys[i], b, sizeof b);
        CHECK_MSG(!strcmp(a, b), "%s: '%s' stored, '%s' loaded", keys[i].name, a, b);
    }
    /* with 3 workers it is 2 x (3 - 1), and that number stays when resumed with other workers */
    nasc_config_default(&c);
    nasc_config_set(&c, "space", "nb201", NULL);
    nasc_config_set(&c, "benchmark", "nb201:cifar10", NULL);
    nasc_config_set(&c, "budget", "4", NULL);
    nasc_config_set(&c, "workers", "3", NULL);
    char auto_text[32];
    nasc_config_get(&c, nasc_config_key_find("ask-ahead"), auto_text, sizeof auto_text);
    CHECK_MSG(!strcmp(auto_text, "auto"), "ask-ahead default printed as %s", auto_text);
    snprintf(c.db, sizeof c.db, "%s/auto.db", dir);
    CHECK_STATUS(nasc_experiment_open(&c, &ex, &err), NASC_OK);
    nasc_experiment_free(ex);
    nasc_config_default(&d);
    CHECK_STATUS(nasc_config_load_db(&d, c.db, NULL, &err), NASC_OK);
    CHECK_MSG(d.ask_ahead == 2 * (3 - 1), "ask-ahead auto with 3 workers stored as %d",
              d.ask_ahead);
    CHECK_STATUS(nasc_config_set(&c, "ask-ahead", "auto", &err), NASC_OK);
    CHECK(c.ask_ahead == NASC_ASK_AHEAD_AUTO);
    /* ASHA's trials are as uneven as its fidelities: 8 x (workers - 1) */
    CHECK(nasc_ask_ahead_auto("bohb", 3) == 16 && nasc_ask_ahead_auto("hyperband", 1) == 0);
    char missing[400];
    snprintf(missing, sizeof missing, "%s/none.db", dir);
    CHECK_STATUS(nasc_config_load_db(&d, missing, NULL, &err), NASC_ERR_IO);
    CHECK_STR_CONTAINS(err.msg, "nothing to resume");
}

int main(void) {
    snprintf(dir, sizeof dir, "%s/test_config.XXXXXX", NASC_BINARY_DIR);
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_set_get();
    test_validate();
    test_yaml();
    test_db_round_trip();
    if (!test_failures) {
        char cmd[400];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", dir);
    }
    return test_done("test_config");
}
