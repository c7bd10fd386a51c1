/* cmd_auto.c — `nasc auto`: from a dataset and a time budget to a trained network in one command.
 *
 * Phases (docs/AUTO.md), each recorded in OUT/phases.json when done so that --resume skips it:
 *   calibrate  measure this machine's speed (the search network; the lightest and dearest cells
 *              at retraining size; the evaluations): the only phase that measures;
 *   plan       a function of the budget and the calibration record alone: the split (search /
 *              retraining / reserve), the estimator (synflow pruning or not), the trial count, the
 *              strategy and the retraining's epochs; printed before anything else runs;
 *   search     (pruning: score random cells with synflow, keep the best fifth, auto_prune.c) a
 *              trial-based search (nasc_experiment) of the plan's trial count on a validation
 *              split held out of the training data (its database resumes);
 *   retrain    the best architecture at full size on the whole training set for the plan's epoch
 *              count (--checkpoint so a kill resumes it), then one evaluation on the test set
 *              (the only time the test set is touched);
 *   outputs    the model, its exports, the HTML report and summary.json.
 * So a run killed anywhere and resumed ends as the uninterrupted one; the clock is only a safety
 * stop (reported). Under mpirun the search's trials run on the other ranks.
 * The library does the work; this file only sequences it and does the budget arithmetic. */
#include "auto_prune.h"
#include "cmd_export_c.h"
#include "train_opts.h"

#include "nasc/arena.h"
#include "nasc/cost.h"
#include "nasc/dist.h"
#include "nasc/experiment.h"
#include "nasc/export.h"
#include "nasc/report.h"
#include "nasc/text.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* the search network: NB201 cells at a low fidelity (as scripts/demo) */
#define AUTO_SEARCH_CHANNELS 8
#define AUTO_SEARCH_CELLS 1
#define AUTO_RETRAIN_CHANNELS 16
#define AUTO_RETRAIN_CELLS 1
#define AUTO_VAL_FRACTION 0.2
#define AUTO_PROXY_MAX_CELLS 2000.0 /* cells scored by the proxy at most */
/* a cell of middling cost (3 convolutions), for the calibration */
#define AUTO_CALIB_ARCH                                                                            \
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_"        \
    "connect~2|"
/* the cheapest and the dearest cells to train (every edge pooling / every edge a 3x3
 * convolution), which bound the retraining's epoch time */
#define AUTO_LIGHT_ARCH                                                                            \
    "|avg_pool_3x3~0|+|avg_pool_3x3~0|avg_pool_3x3~1|+|avg_pool_3x3~0|avg_pool_3x3~1|avg_pool_"    \
    "3x3~2|"
#define AUTO_HEAVY_ARCH                                                                            \
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_"    \
    "3x3~2|"

/* The prior cell, retrained when the budget is too small for a search to pay (docs/AUTO.md) and
 * proposed first when searching: the best NB201 cell by CIFAR-10 validation accuracy after 12
 * epochs (data/nb201.csv's short-training column; validation, not test), a prior from another
 * data set */
#define AUTO_PRIOR_ARCH                                                                            \
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_1x1~1|nor_conv_"    \
    "3x3~2|"

/* The no-search plan's cells, best first by NB201's CIFAR-10 validation accuracy after 12 epochs
 * (data/nb201.csv), each the best of its cost there (the table's (train time, 12-epoch accuracy)
 * front): the prior (84.89 %, 4 convolutions and a 1x1), 3 convolutions (84.53 %), 2 (83.74 %),
 * one and a 1x1 (83.00 %), one (80.94 %). The plan retrains the first that gets at least
 * AUTO_MIN_EPOCHS epochs in the retraining window, else the one that gets the most (docs/AUTO.md,
 * "Which cell without a search") */
static const char *const auto_ladder[] = {
    AUTO_PRIOR_ARCH,
    "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_3x3~1|+|skip_connect~0|none~1|nor_conv_3x3~2|",
    "|nor_conv_3x3~0|+|skip_connect~0|none~1|+|none~0|nor_conv_3x3~1|skip_connect~2|",
    "|nor_conv_3x3~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|nor_conv_1x1~1|none~2|",
    "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|",
};
#define AUTO_LADDER_N ((int)(sizeof auto_ladder / sizeof *auto_ladder))
/* below this many retraining epochs accuracy still climbs steeply with epochs (Fashion-MNIST, the
 * 3-minute runs of docs/AUTO.md): a cheaper cell with more epochs wins over a better one */
#define AUTO_MIN_EPOCHS 4.0

typedef struct auto_state {
    char dir[512];
    double budget;       /* seconds */
    double spent;        /* seconds spent by finished phases (all runs) */
    double t_run;        /* cli_now() when this run started */
    double spent_at_run; /* spent when this run started */
    cJSON *phases;       /* the phase file's object */
    cli_progress bar;
    bool quiet;
    double search_end; /* this run's clock value at which the search stops */
    bool stopped_by_clock;
    nasc_experiment *ex;
    double data_s; /* seconds loading the training split took */
} auto_state;

/* Test hooks (tests/e2e/auto.sh resume): NASC_TEST_AUTO_KILL_AT=PHASE kills the run with
 * SIGKILL in the middle of that phase (calibrate: measured, not recorded; search: after the
 * second finished trial; retrain: in the middle of the second epoch, after the first epoch's
 * checkpoint; outputs: after the report, before the exports and summary.json). */
static bool kill_at(const char *phase) {
#ifdef NASC_TEST
    const char *k = getenv("NASC_TEST_AUTO_KILL_AT");
    return k && !strcmp(k, phase);
#else
    (void)phase;
    return false;
#endif
}

static nasc_experiment *running;
static void on_signal(int sig) {
    (void)sig;
    if (running)
        nasc_experiment_stop(running);
}

static double elapsed(const auto_state *s) {
    return s->spent_at_run + (cli_now() - s->t_run);
}

static void path_in(const auto_state *s, const char *name, char *buf, size_t n) {
    snprintf(buf, n, "%s/%s", s->dir, name);
}

/* Writes j to OUT/name atomically (tmp, fsync, rename). */
static nasc_status json_write(const auto_state *s, const char *name, const cJSON *j,
                              nasc_err *err) {
    char path[600], tmp[610];
    path_in(s, name, path, sizeof path);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    char *text = cJSON_Print(j);
    FILE *f = text ? fopen(tmp, "w") : NULL;
    bool ok = f && fputs(text, f) >= 0 && fputc('\n', f) != EOF && fflush(f) == 0 &&
              fsync(fileno(f)) == 0;
    if (f && fclose(f) != 0)
        ok = false;
    cJSON_free(text);
    if (!ok || rename(tmp, path) != 0) {
        remove(tmp);
        return nasc_errorf_at(err, NASC_ERR_IO, path, -1, "auto: %s: cannot write (%s)", path,
                              strerror(errno));
    }
    return NASC_OK;
}

/* Writes `first` and then lines[0..n) to path, one a line, atomically (tmp, rename). */
static nasc_status lines_write(const char *path, const char *first, char *const *lines, int n,
                               nasc_err *err) {
    char tmp[620];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    bool ok = f && fprintf(f, "%s\n", first) > 0;
    for (int i = 0; ok && i < n; i++)
        ok = fprintf(f, "%s\n", lines[i]) > 0;
    if (f && fclose(f) != 0)
        ok = false;
    if (!ok || rename(tmp, path) != 0) {
        remove(tmp);
        return nasc_errorf_at(err, NASC_ERR_IO, path, -1, "auto: %s: cannot write (%s)", path,
                              strerror(errno));
    }
    return NASC_OK;
}

static cJSON *phase_get(const auto_state *s, const char *phase) {
    return cJSON_GetObjectItem(s->phases, phase);
}

/* Marks `phase` done with its fields (consumed) and the clock, and saves the phase file. */
static nasc_status phase_done(auto_state *s, const char *phase, cJSON *fields, double t_phase0,
                              nasc_err *err) {
    cJSON_AddNumberToObject(fields, "seconds", elapsed(s) - t_phase0);
    cJSON_DeleteItemFromObject(s->phases, phase);
    cJSON_AddItemToObject(s->phases, phase, fields);
    s->spent = elapsed(s);
    cJSON_DeleteItemFromObject(s->phases, "spent_s");
    cJSON_AddNumberToObject(s->phases, "spent_s", s->spent);
    return json_write(s, "phases.json", s->phases, err);
}

static double num(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItem(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : (double)NAN;
}
static const char *str(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItem(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void show(auto_state *s, const char *phase, double frac, const char *what) {
    char line[320], el[32], eta[32];
    snprintf(line, sizeof line, "auto: %s %3.0f%% | %s | %s of %s", phase, frac * 100.0, what,
             cli_fmt_duration(elapsed(s), el, sizeof el),
             cli_fmt_duration(s->budget, eta, sizeof eta));
    cli_progress_show(&s->bar, line, 5.0, false);
}

static void on_search(const nasc_search_progress *p, void *user) {
    auto_state *s = user;
    char what[200];
    snprintf(what, sizeof what, "trial %lld/%lld, best validation %.2f%%", (long long)p->done,
             (long long)p->budget, p->best_score);
    show(s, "search", p->budget ? (double)p->done / (double)p->budget : 0.0, what);
    /* the plan fixes the trial count; the clock only stops a search that ran far past its
     * window (a machine much slower than calibrated), and the summary says so */
    if (cli_now() >= s->search_end && s->ex && p->done < p->budget) {
        s->stopped_by_clock = true;
        nasc_experiment_stop(s->ex);
    }
    /* test hook: a kill in the middle of the search */
    if (p->done_this_run == 2 && p->done < p->budget && kill_at("search"))
        raise(SIGKILL);
}

typedef struct retrain_ui {
    auto_state *s;
    int64_t steps; /* the run's, refits included */
    int64_t spe;   /* steps per epoch */
    cJSON *rfit;   /* phases.json's retrain_fit (its refits are appended before they apply) */
    bool live;     /* refit from the throughput (off with the test hook's declared speeds) */
    int64_t hook_add; /* test hook NASC_TEST_AUTO_REFIT=N: after spe + 1 steps, N more steps */
    bool hook;
    double tail_s; /* what follows the training besides the test evaluation: half the reserve */
    double eval_per_step; /* the test evaluation's time in steps of the same network: the
                           * calibrated evaluation over the calibrated step of the dearest cell */
    double t_ref;  /* cli_now() at the start of the measuring window */
    int64_t step_ref; /* steps done then (< 0: not started) */
    int check;        /* checks made */
    nasc_status st;   /* a failed record write (the run stops) */
    nasc_err err;
} retrain_ui;

/* When to check the retraining's throughput: after AUTO_REFIT_FIRST of the budget of its
 * training, then every AUTO_REFIT_EVERY of it, over at least AUTO_REFIT_MIN_STEPS steps since the
 * last check (windows of time, not of steps: a window of a few steps measured a burst of the
 * machine's load, and fractions of a count that the refits move let checks follow each other
 * 8 steps apart, docs/AUTO.md) */
#define AUTO_REFIT_FIRST 0.03
#define AUTO_REFIT_EVERY 0.08
#define AUTO_REFIT_MIN_STEPS 8
#define AUTO_REFIT_WARMUP 3   /* steps of a fresh process not measured (graph, caches) */
/* a predicted end more than this fraction of the budget, and of the time left, off is refitted
 * (the second keeps a noisy window early in the run from moving the count back and forth) */
#define AUTO_REFIT_TOL 0.015
#define AUTO_REFIT_TOL_LEFT 0.05

/* nasc_train_config.refit for the retraining (docs/AUTO.md, "Keeping the budget"): at the
 * checks, the steps left are timed at the throughput of the steps since the last check (the
 * wall clock: checkpoints and loader restarts included); when the predicted end of the run (the
 * steps left, the test evaluation, the reserve) is more than AUTO_REFIT_TOL of the budget away
 * from the budget, the count is refitted so that it ends there, and nasc_train re-anchors the
 * cosine at this step. The refit is recorded in phases.json (retrain_fit.refits) before it
 * applies, so a resume replays it (nasc_train_config.refits). */
static int64_t on_refit(const nasc_train_event *ev, void *user) {
    retrain_ui *u = user;
    if (u->st != NASC_OK)
        return 0;
    auto_state *s = u->s;
    const int64_t done = ev->global_step + 1;
    int64_t want = 0;
    double step_s = 0.0;
    if (u->hook) {
        if (done == u->spe + 1 && u->steps + u->hook_add > done)
            want = u->steps + u->hook_add;
    } else if (u->live) {
        const double now = cli_now();
        if (u->step_ref < 0 || done <= AUTO_REFIT_WARMUP) {
            u->t_ref = now;
            u->step_ref = done;
            return 0;
        }
        const int64_t n = done - u->step_ref;
        /* later windows shrink toward the end (a quarter of the time left, at least 2 % of the
         * budget): the last window's speed decides how close the end comes */
        const double left0 = s->budget - elapsed(s) - u->tail_s;
        double window = (u->check ? AUTO_REFIT_EVERY : AUTO_REFIT_FIRST) * s->budget;
        if (u->check && 0.25 * left0 < window)
            window = 0.25 * left0 > 0.02 * s->budget ? 0.25 * left0 : 0.02 * s->budget;
        if (n < AUTO_REFIT_MIN_STEPS || now - u->t_ref < window || done >= u->steps)
            return 0;
        u->check++;
        step_s = (now - u->t_ref) / (double)n;
        u->t_ref = now;
        u->step_ref = done;
        /* the time left for the steps left: the test evaluation at this speed and this
         * network's size (the calibration timed the dearest cell's, on a machine whose load
         * has changed since: 3-minute run 2 planned 14.8 s for it) */
        const double left = s->budget - elapsed(s) - u->tail_s - u->eval_per_step * step_s;
        const double pred = (double)(u->steps - done) * step_s;
        const double tol = AUTO_REFIT_TOL * s->budget > AUTO_REFIT_TOL_LEFT * left
                               ? AUTO_REFIT_TOL * s->budget
                               : AUTO_REFIT_TOL_LEFT * left;
        if (fabs(pred - left) <= tol || step_s <= 0.0)
            return 0;
        const double more = floor(left / step_s);
        want = done + (more >= 1.0 ? (more < 1e9 ? (int64_t)more : (int64_t)1e9) : 1);
    }
    if (want <= 0 || want == u->steps)
        return 0;
    cJSON *refits = cJSON_GetObjectItem(u->rfit, "refits");
    cJSON *r = cJSON_CreateObject();
    cJSON_AddNumberToObject(r, "at_step", (double)done);
    cJSON_AddNumberToObject(r, "steps", (double)want);
    cJSON_AddNumberToObject(r, "was", (double)u->steps);
    cJSON_AddNumberToObject(r, "step_ms", step_s * 1e3);
    cJSON_AddNumberToObject(r, "elapsed_s", elapsed(s));
    cJSON_AddItemToArray(refits, r);
    if ((u->st = json_write(s, "phases.json", s->phases, &u->err)) != NASC_OK)
        return 0;
    if (!s->quiet) {
        cli_progress_end(&s->bar);
        fprintf(stderr,
                "nasc auto: retraining at step %lld: %s%.1f ms a step, %.0f s of the budget "
                "left: %lld steps refitted to %lld\n",
                (long long)done, u->hook ? "(test hook) " : "", step_s * 1e3,
                s->budget - elapsed(s), (long long)u->steps, (long long)want);
    }
    u->steps = want;
    return want;
}

static bool on_train(const nasc_train_event *ev, void *user) {
    retrain_ui *u = user;
    if (u->st != NASC_OK)
        return false; /* the refit's record could not be written */
    char what[200];
    snprintf(what, sizeof what, "epoch %d/%d loss %.4f", ev->epoch + 1, ev->epochs,
             (double)ev->avg_loss);
    const double tot = (double)u->steps;
    const double frac = tot > 0 ? (double)(ev->global_step + 1) / tot : 0.0;
    show(u->s, "retrain", frac < 1.0 ? frac : 1.0, what);
    /* test hook: a kill in the middle of the second epoch (the first one's checkpoint written) */
    if (ev->kind == NASC_TRAIN_STEP && ev->epoch == 1 && ev->step == ev->steps_per_epoch / 2 &&
        kill_at("retrain"))
        raise(SIGKILL);
    return true;
}

/* The constraint list with the microcontroller bounds rewritten into the cost model's terms
 * (docs/AUTO.md): flash<=X (weight bytes of the int8 export: one byte per parameter) becomes
 * params<=X, and ram<=X (peak int8 activation bytes: a quarter of the float32 peak the cost
 * model measures) becomes memory<=4X. Units as the cost model's: KB, MB (powers of 1024) or B.
 * CLI_USAGE (printed) for a flash/ram item without a number. */
static int constraint_rewrite(const char *in, char *out, size_t n, double *flash_bytes,
                              double *ram_bytes) {
    size_t k = 0;
    *flash_bytes = *ram_bytes = 0.0;
    out[0] = '\0';
    char item[128];
    for (const char *p = in; *p;) {
        const char *e = strchr(p, ',');
        const size_t len = e ? (size_t)(e - p) : strlen(p);
        snprintf(item, sizeof item, "%.*s", (int)(len < sizeof item ? len : sizeof item - 1), p);
        p += len + (e ? 1 : 0);
        const bool flash = !strncmp(item, "flash<=", 7), ram = !strncmp(item, "ram<=", 5);
        char conv[160];
        if (flash || ram) {
            const char *v = item + (flash ? 7 : 5);
            char *end;
            const double x = strtod(v, &end);
            double mult = 0.0; /* stays 0 for any other unit */
            nasc_unit_multiplier(end, 1024.0, "B KB MB", 0, &mult);
            if (end == v || !(x > 0.0) || mult == 0.0) {
                cli_error("nasc auto: --constraint %s: expected a size such as 256KB", item);
                return CLI_USAGE;
            }
            snprintf(conv, sizeof conv, flash ? "params<=%.0f" : "memory<=%.0fB",
                     flash ? x * mult : 4.0 * x * mult);
            *(flash ? flash_bytes : ram_bytes) = x * mult;
        } else {
            snprintf(conv, sizeof conv, "%s", item);
        }
        k += (size_t)snprintf(out + k, n > k ? n - k : 0, "%s%s", k ? "," : "", conv);
    }
    if (k >= n) {
        cli_error("nasc auto: --constraint: too long");
        return CLI_USAGE;
    }
    return CLI_OK;
}

/* Test hook: NASC_TEST_AUTO_SPEED="key=value,..." replaces measured numbers of the calibration
 * record (step_ms, epoch_s, val_eval_s, retrain_light_epoch_s, retrain_heavy_epoch_s,
 * test_eval_s, elapsed_s) so that two runs on a machine of varying speed make the same plan. The
 * record says so ("speed_fixed"). CLI_USAGE for a malformed value or an unknown key. Both hooks
 * exist only in builds with NASC_TEST (cmake -DNASC_TEST_HOOKS=ON, the default). */
static int speed_override(cJSON *cal) {
#ifndef NASC_TEST
    (void)cal;
    return CLI_OK;
#endif
    const char *env = getenv("NASC_TEST_AUTO_SPEED");
    if (!env || !*env)
        return CLI_OK;
    char buf[512];
    snprintf(buf, sizeof buf, "%s", env);
    for (char *save = NULL, *kv = strtok_r(buf, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(kv, '='), *end = NULL;
        const double v = eq ? strtod(eq + 1, &end) : -1.0;
        if (eq)
            *eq = '\0';
        if (!eq || end == eq + 1 || *end || !(v >= 0.0) ||
            !cJSON_IsNumber(cJSON_GetObjectItem(cal, kv))) {
            cli_error("nasc auto: NASC_TEST_AUTO_SPEED: expected KEY=SECONDS,... with keys of the "
                      "calibration record (got '%s')",
                      env);
            return CLI_USAGE;
        }
        cJSON_ReplaceItemInObject(cal, kv, cJSON_CreateNumber(v));
    }
    cJSON_AddBoolToObject(cal, "speed_fixed", true);
    return CLI_OK;
}

/* What the calibration measures, sent back from its process through a pipe. */
typedef struct auto_calib {
    nasc_status st;
    double search_step_ms, search_epoch_s, val_eval_s; /* search network, middling cell */
    double light_epoch_s, heavy_epoch_s, test_eval_s;  /* retraining size: lightest / heaviest */
    double light_macs, heavy_macs;                     /* their multiply-adds (batch 1) */
    double search_first_s, heavy_first_s; /* a fresh run's first step (set-up, cold caches) */
    double cnn_epoch_s; /* the baseline CNN's epoch (budgets of 2 minutes and more; else 0) */
    char msg[sizeof(nasc_err){0}.msg + 8];
} auto_calib;

/* One measurement: trains a throwaway network of `arch` at size `net` for about `each` seconds on
 * train and times the evaluation of eval (nasc_train_fit_time); its MACs if macs != NULL. */
static nasc_status measure(const char *arch, const cli_net_opts *net, const nasc_dataset *train,
                           const nasc_dataset *eval, const nasc_train_config *tc, uint64_t seed,
                           double each, nasc_train_fit *fit, double *macs, nasc_err *err) {
    nasc_model *probe = NULL;
    nasc_status st = cli_model_build(arch ? "nb201" : NULL, arch, net, train->c, train->h,
                                     train->w, train->n_classes, seed, &probe, err);
    if (st == NASC_OK && macs) {
        nasc_model_cost mc;
        st = nasc_model_cost_measure(probe, &(nasc_cost_config){.repeats = -1, .threads = 1}, &mc,
                                     err);
        *macs = mc.macs;
    }
    if (st == NASC_OK)
        st = nasc_train_fit_time(probe, train, eval, tc, 1e6, each, fit, err);
    nasc_model_free(probe);
    return st;
}

/* The calibration, in a child process (multi-threaded kernels (OpenMP) started here would leave
 * the search's forked trial workers hanging at their first parallel region; the child dies with
 * this process): the search network's epoch and validation times (the middling cell), and at the
 * retraining size the epoch time of the heaviest and (budgets of 2 minutes and more) the lightest
 * NB201 cell and the test evaluation's time. Each measurement takes about 1 % of the budget (1.5
 * to 8 s). */
static int calibrate(const auto_state *s, const nasc_dataset *tr, const nasc_dataset *val,
                     const nasc_dataset *train, const nasc_dataset *test,
                     const nasc_train_config *tc, const cli_net_opts *sn, const cli_net_opts *rn,
                     uint64_t seed, auto_calib *out) {
    double each = 0.01 * s->budget;
    each = each < 1.5 ? 1.5 : (each > 8.0 ? 8.0 : each);
    memset(out, 0, sizeof *out);
    int fds[2];
    if (pipe(fds) != 0) {
        cli_error("nasc auto: calibration: pipe: %s", strerror(errno));
        return CLI_FAIL;
    }
    fflush(NULL);
    const pid_t parent = getpid(), pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(3);
        close(fds[0]);
        nasc_err e2 = {0};
        nasc_train_fit f;
        nasc_status st = measure(AUTO_CALIB_ARCH, sn, tr, val, tc, seed, each, &f, NULL, &e2);
        out->search_step_ms = f.step_seconds * 1e3;
        out->search_first_s = f.first_step_seconds;
        out->search_epoch_s = f.epoch_seconds;
        out->val_eval_s = f.eval_seconds;
        if (st == NASC_OK)
            st = measure(AUTO_HEAVY_ARCH, rn, train, test, tc, seed, each, &f, &out->heavy_macs,
                         &e2);
        out->heavy_epoch_s = f.epoch_seconds;
        out->heavy_first_s = f.first_step_seconds;
        out->test_eval_s = f.eval_seconds;
        /* under 2 minutes the lightest cell is not measured (a third of the calibration): every
         * cell is then planned at the dearest one's epoch time */
        out->light_epoch_s = out->heavy_epoch_s;
        out->light_macs = out->heavy_macs;
        if (st == NASC_OK && s->budget >= 120.0) {
            st = measure(AUTO_LIGHT_ARCH, rn, train, NULL, tc, seed, each, &f, &out->light_macs,
                         &e2);
            out->light_epoch_s = f.epoch_seconds;
        }
        /* the baseline CNN, what the plan compares its cell with (not chosen by it) */
        if (st == NASC_OK && s->budget >= 120.0) {
            const cli_net_opts cnn = {.width = 1.0f};
            st = measure(NULL, &cnn, train, NULL, tc, seed, each, &f, NULL, &e2);
            out->cnn_epoch_s = f.epoch_seconds;
        }
        out->st = st;
        snprintf(out->msg, sizeof out->msg, "%s", e2.msg);
        ssize_t w = write(fds[1], out, sizeof *out);
        _exit(w == (ssize_t)sizeof *out ? 0 : 1);
    }
    close(fds[1]);
    size_t got = 0;
    while (pid > 0 && got < sizeof *out) {
        const ssize_t r = read(fds[0], (char *)out + got, sizeof *out - got);
        if (r <= 0 && !(r < 0 && errno == EINTR))
            break;
        got += r > 0 ? (size_t)r : 0;
    }
    close(fds[0]);
    int wst = 0;
    if (pid > 0)
        waitpid(pid, &wst, 0);
    if (pid < 0 || got != sizeof *out) {
        cli_error("nasc auto: calibration: the measuring process %s",
                  pid < 0 ? "could not start" : "failed");
        return CLI_FAIL;
    }
    if (out->st != NASC_OK) {
        cli_error("%s", out->msg);
        return cli_exit_code(out->st, false);
    }
    return CLI_OK;
}

/* The multiply-adds (batch 1) of an NB201 cell's network at size net, into *macs. */
static nasc_status arch_macs(const char *arch, const cli_net_opts *net, const nasc_dataset *train,
                             uint64_t seed, double *macs, nasc_err *err) {
    nasc_model *m = NULL;
    nasc_model_cost mc;
    nasc_status st = cli_model_build("nb201", arch, net, train->c, train->h, train->w,
                                     train->n_classes, seed, &m, err);
    if (st == NASC_OK &&
        (st = nasc_model_cost_measure(m, &(nasc_cost_config){.repeats = -1, .threads = 1}, &mc,
                                      err)) == NASC_OK)
        *macs = mc.macs;
    nasc_model_free(m);
    return st;
}

/* The retraining of an architecture of `macs` multiply-adds, in optimizer steps: a function of
 * the calibration record and the plan alone (so that a resumed run retrains exactly as the
 * uninterrupted one). Its step time is the epoch time interpolated between the calibrated
 * lightest and heaviest cells (linear in multiply-adds, never below the lightest) over the steps
 * of an epoch; the count is as many steps as fit the retraining's share after the first step's
 * set-up and the test evaluation, with 2 % for the per-epoch checkpoints and loader restarts (at
 * least 1). *step_s: that step time. */
static int64_t retrain_steps(const cJSON *cal, const cJSON *plan, double macs, double *step_s) {
    const double tl = num(cal, "retrain_light_epoch_s"), th = num(cal, "retrain_heavy_epoch_s");
    const double ml = num(cal, "retrain_light_macs"), mh = num(cal, "retrain_heavy_macs");
    double x = mh > ml ? (macs - ml) / (mh - ml) : 1.0;
    x = x < 0.0 ? 0.0 : (x > 1.0 ? 1.0 : x);
    double t = tl + (th - tl) * x;
    t = t < tl ? tl : t;
    const double spe = num(plan, "retrain_steps_per_epoch");
    *step_s = spe >= 1.0 ? t / spe : t;
    const double setup = num(cal, "retrain_first_step_s") - *step_s;
    const double avail = num(plan, "retrain_s") - num(cal, "test_eval_s") - (setup > 0 ? setup : 0);
    const double n = *step_s > 0.0 ? floor(avail / (1.02 * *step_s)) : 1e9;
    return n < 1.0 ? 1 : (n > 1e9 ? (int64_t)1e9 : (int64_t)n);
}

static int auto_main(int argc, char **argv) {
    const char *data = "fashion-mnist", *budget_s = NULL, *out = "auto-out", *objective = "",
               *constraint = "", *arch_opt = NULL;
    double data_fraction = 1.0;
    int threads = 2, workers = 0;
    uint64_t seed = 1;
    bool resume = false, quiet = false;
    cli_flag flags[] = {
        {"data", CLI_STR, &data, "DATASET", "dataset (as nasc train; default fashion-mnist)"},
        {"time-budget", CLI_STR, &budget_s, "DURATION", "the whole run: 90s, 5m, 1h (required)"},
        {"out", CLI_STR, &out, "DIR", "output directory (default auto-out)"},
        {"objective", CLI_STR, &objective, "LIST", "search objectives, e.g. acc,params"},
        {"constraint", CLI_STR, &constraint, "LIST",
         "constraints, e.g. params<=1e5,flops<=20M,latency<=5ms"},
        {"data-fraction", CLI_DOUBLE, &data_fraction, "F",
         "use this share of the training set (default 1)"},
        {"threads", CLI_INT, &threads, "T", "kernel threads (default 2)"},
        {"workers", CLI_INT, &workers, "W",
         "search trials at once, forked processes (default 1; under mpirun -n N: the N-1 "
         "other ranks)"},
        {"arch", CLI_STR, &arch_opt, "TEXT",
         "no search: retrain this NB201 cell with the plan's recipe for the whole budget"},
        {"seed", CLI_U64, &seed, "S", "random seed (default 1)"},
        {"resume", CLI_BOOL, &resume, NULL, "continue the run in --out after a kill"},
        {"quiet", CLI_BOOL, &quiet, NULL, "no progress output"},
    };
    const int n_flags = (int)(sizeof flags / sizeof flags[0]);
    int rc = cli_parse("auto", argc, argv, 2, flags, n_flags,
                       "nasc auto --time-budget DURATION [--data DATASET] [--out DIR] "
                       "[--constraint LIST] [--threads T] [--resume]",
                       "Designs and trains a network for a dataset within a time budget: "
                       "calibrates, plans, searches, retrains the best architecture, evaluates "
                       "once on the test set, and writes the model, report and summary.json.");
    if (rc != CLI_OK)
        return rc == CLI_HELP ? CLI_OK : rc;
    auto_state s = {.t_run = cli_now(), .quiet = quiet};
    if (!budget_s) {
        cli_error("nasc auto: --time-budget is required (e.g. --time-budget 10m)");
        return CLI_USAGE;
    }
    if (cli_parse_duration("auto", "time-budget", budget_s, &s.budget) != CLI_OK)
        return CLI_USAGE;
    if (s.budget < 30.0) {
        cli_error("nasc auto: --time-budget: at least 30s (got %s)", budget_s);
        return CLI_USAGE;
    }
    if (!(data_fraction > 0.0 && data_fraction <= 1.0)) {
        cli_error("nasc auto: --data-fraction must be in (0, 1] (got %g)", data_fraction);
        return CLI_USAGE;
    }
    if (cli_check_int("auto", "threads", threads, 1, 256) != CLI_OK)
        return CLI_USAGE;
    /* under mpirun the search's workers are the other ranks (docs/DISTRIBUTED.md) */
    const int ranks = nasc_dist_size();
    if (ranks > 1 && workers && workers != ranks - 1) {
        cli_error("nasc auto: --workers: a run over %d MPI ranks has %d workers (ranks 1..%d); "
                  "leave --workers out",
                  ranks, ranks - 1, ranks - 1);
        return CLI_USAGE;
    }
    workers = ranks > 1 ? ranks - 1 : (workers ? workers : 1);
    if (cli_check_int("auto", "workers", workers, 1, 256) != CLI_OK)
        return CLI_USAGE;
    snprintf(s.dir, sizeof s.dir, "%s", out);
    char cons[256];
    double flash_lim = 0.0, ram_lim = 0.0; /* bytes; 0: no microcontroller bound */
    if (constraint_rewrite(constraint, cons, sizeof cons, &flash_lim, &ram_lim) != CLI_OK)
        return CLI_USAGE;

    nasc_err err = {0};
    if (arch_opt) { /* checked now, not after the calibration */
        nasc_space *sp = NULL;
        nasc_arch *a = NULL;
        nasc_status ast = nasc_space_new("nb201", NULL, &sp, &err);
        if (ast == NASC_OK)
            ast = nasc_arch_parse(sp, arch_opt, &a, &err);
        nasc_arch_free(a);
        nasc_space_free(sp);
        if (ast != NASC_OK) {
            cli_error("nasc auto: --arch: %s", err.msg);
            return CLI_USAGE;
        }
        if (cons[0]) {
            cli_error("nasc auto: --arch and --constraint: the constraints are checked by the "
                      "search, which --arch skips");
            return CLI_USAGE;
        }
    }
    nasc_status st = NASC_OK;
    nasc_dataset *full = NULL, *train = NULL, *test = NULL, *tr = NULL, *val = NULL;
    nasc_model *m = NULL;
    nasc_backend *be = NULL;
    char path[600];

    /* ---- the phase file ---- */
    path_in(&s, "phases.json", path, sizeof path);
    if (resume) {
        FILE *f = fopen(path, "r");
        char buf[16384];
        size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
        if (f)
            fclose(f);
        buf[n] = '\0';
        s.phases = f ? cJSON_Parse(buf) : NULL;
        if (!s.phases) {
            cli_error("nasc auto: --resume: %s: %s", path,
                      f ? "not a phase file of nasc auto" : "missing (nothing to resume)");
            return CLI_USAGE;
        }
        const double b = num(s.phases, "budget_s");
        if (b != s.budget) {
            cli_error("nasc auto: --resume: %s: the run had --time-budget %gs (got %gs)", path, b,
                      s.budget);
            cJSON_Delete(s.phases);
            return CLI_USAGE;
        }
        const cJSON *oc = phase_get(&s, "calibrate"), *op = phase_get(&s, "plan");
        if ((oc && !cJSON_IsNumber(cJSON_GetObjectItem(oc, "retrain_first_step_s"))) ||
            (op && !cJSON_IsNumber(cJSON_GetObjectItem(op, "retrain_steps_per_epoch")))) {
            cli_error("nasc auto: --resume: %s was written by an older nasc auto, whose plan this "
                      "one cannot continue; start a new run",
                      path);
            cJSON_Delete(s.phases);
            return CLI_USAGE;
        }
        s.spent = num(s.phases, "spent_s");
        if (!(s.spent >= 0.0))
            s.spent = 0.0;
    } else {
        if (mkdir(out, 0777) != 0 && errno != EEXIST) {
            cli_error("nasc auto: --out: cannot create %s (%s)", out, strerror(errno));
            return CLI_FAIL;
        }
        if (access(path, F_OK) == 0) {
            cli_error("nasc auto: %s holds a run already (continue it with --resume, or choose "
                      "another --out)",
                      out);
            return CLI_USAGE;
        }
        s.phases = cJSON_CreateObject();
        cJSON_AddNumberToObject(s.phases, "budget_s", s.budget);
        cJSON_AddStringToObject(s.phases, "data", data);
        cJSON_AddNumberToObject(s.phases, "seed", (double)seed);
        /* recorded at once, so that a run killed before its first phase ends (in the data
         * loading or the calibration) is continued by --resume, not refused */
        cJSON_AddNumberToObject(s.phases, "spent_s", 0.0);
        if ((st = json_write(&s, "phases.json", s.phases, &err)) != NASC_OK) {
            cJSON_Delete(s.phases);
            return cli_fail(st, &err, false);
        }
    }
    s.spent_at_run = s.spent;
    cli_progress_init(&s.bar, quiet);

    /* ---- data: the training split (reduced by --data-fraction), a validation split held out of
     * it for the search, and the test split, used once at the end ---- */
    const double t_data = cli_now();
    st = nasc_dataset_load(data, NASC_SPLIT_TRAIN, &full, &err);
    s.data_s = cli_now() - t_data;
    if (st != NASC_OK || (st = nasc_dataset_load(data, NASC_SPLIT_TEST, &test, &err)) != NASC_OK) {
        rc = cli_fail(st, &err, true);
        goto done;
    }
    if (data_fraction < 1.0) {
        if ((st = nasc_dataset_fraction(full, data_fraction, seed, &train, &err)) != NASC_OK) {
            rc = cli_fail(st, &err, true);
            goto done;
        }
    } else {
        train = full;
        full = NULL;
    }
    if ((st = nasc_dataset_split(train, AUTO_VAL_FRACTION, seed, &tr, &val, &err)) != NASC_OK) {
        rc = cli_fail(st, &err, true);
        goto done;
    }
    nasc_train_config tc;
    nasc_train_config_default(&tc);
    nasc_train_hparams cmd_hp; /* nasc train's batch and learning rate */
    nasc_train_hparams_default(&cmd_hp, NASC_TRAIN_PRESET_COMMAND);
    tc.batch = cmd_hp.batch;
    tc.lr = (float)cmd_hp.lr;
    tc.threads = threads;
    tc.seed = seed;
    if (!(be = nasc_backend_new("cpu", threads, &err))) {
        rc = cli_fail(err.code, &err, false);
        goto done;
    }
    tc.backend = be;

    /* ---- calibrate (the only phase that measures; a resume redoes it only if it was not
     * recorded, so the plan below, a function of this record, is the same on every resume) ---- */
    /* with constraints the searched (checked) network is the one retrained and delivered */
    const cli_net_opts rn = {.width = 1.0f,
                             .channels = cons[0] ? AUTO_SEARCH_CHANNELS : AUTO_RETRAIN_CHANNELS,
                             .cells = cons[0] ? AUTO_SEARCH_CELLS : AUTO_RETRAIN_CELLS};
    cJSON *cal = phase_get(&s, "calibrate");
    if (!cal) {
        const double t0 = elapsed(&s);
        const cli_net_opts sn = {
            .width = 1.0f, .channels = AUTO_SEARCH_CHANNELS, .cells = AUTO_SEARCH_CELLS};
        auto_calib c;
        if ((rc = calibrate(&s, tr, val, train, test, &tc, &sn, &rn, seed, &c)) != CLI_OK)
            goto done;
        cJSON *f = cJSON_CreateObject();
        cJSON_AddNumberToObject(f, "step_ms", c.search_step_ms);
        cJSON_AddNumberToObject(f, "epoch_s", c.search_epoch_s);
        cJSON_AddNumberToObject(f, "val_eval_s", c.val_eval_s);
        cJSON_AddNumberToObject(f, "retrain_light_epoch_s", c.light_epoch_s);
        cJSON_AddNumberToObject(f, "retrain_heavy_epoch_s", c.heavy_epoch_s);
        cJSON_AddNumberToObject(f, "retrain_light_macs", c.light_macs);
        cJSON_AddNumberToObject(f, "retrain_heavy_macs", c.heavy_macs);
        cJSON_AddNumberToObject(f, "test_eval_s", c.test_eval_s);
        cJSON_AddNumberToObject(f, "first_step_s", c.search_first_s);
        cJSON_AddNumberToObject(f, "retrain_first_step_s", c.heavy_first_s);
        cJSON_AddNumberToObject(f, "baseline_cnn_epoch_s", c.cnn_epoch_s);
        /* loading the training split: what each experiment (the search's, the proxy's) pays
         * once when it opens */
        cJSON_AddNumberToObject(f, "data_s", s.data_s);
        /* the time used before the plan (data loading and this calibration), planned with */
        cJSON_AddNumberToObject(f, "elapsed_s", elapsed(&s));
        if ((rc = speed_override(f)) != CLI_OK) {
            cJSON_Delete(f);
            goto done;
        }
        /* test hook (tests/e2e/auto.sh resume): die after measuring, before the record */
        if (kill_at("calibrate"))
            raise(SIGKILL);
        if ((st = phase_done(&s, "calibrate", f, t0, &err)) != NASC_OK) {
            rc = cli_fail(st, &err, false);
            goto done;
        }
        cal = phase_get(&s, "calibrate");
    }

    /* ---- plan (docs/AUTO.md, "The plan"): a function of the budget and the calibration record
     * alone (its measured time used so far included), so that a resumed run plans exactly as
     * the uninterrupted one did ---- */
    cJSON *plan = phase_get(&s, "plan");
    if (!plan) {
        const double left = s.budget - num(cal, "elapsed_s");
        /* the test evaluation is inside the retraining's share; the reserve covers the outputs
         * (cost measurement, model, exports, report) and the gaps between phases */
        const double reserve = 0.01 * s.budget + 3.0;
        /* a calibration that took (nearly) the whole budget (a very loaded machine) leaves a
         * minimal plan: 2 trials, 1 s each share; the run then overruns, and says so */
        const bool starved = left - reserve < 2.0;
        const double usable = starved ? 2.0 : left - reserve;
        const double epoch_s = num(cal, "epoch_s"), val_s = num(cal, "val_eval_s");
        const double step_s = num(cal, "step_ms") / 1e3, data_s = num(cal, "data_s");
        /* a trial: a forked process that builds its network and trains (its first step pays
         * the set-up: the calibrated first step beyond a steady one) plus 0.2 s for the fork and
         * the database */
        const double first_extra = num(cal, "first_step_s") - step_s;
        const double trial_setup = (first_extra > 0.0 ? first_extra : 0.0) + 0.2;
        /* the retraining's steps per epoch (the loader drops a last partial batch) */
        const double spe = train->n > tc.batch ? floor((double)train->n / tc.batch) : 1.0;
        /* W trials at once (--workers, or the other ranks under mpirun) */
        const int W = workers;
        /* search or not: a search halves the retraining. Below 5 epochs of retraining (of the
         * dearest cell) accuracy still climbs steeply with epochs, so the half a search takes
         * costs more than a search at that budget can find over a good prior cell: the plan
         * then retrains the prior (or --arch) for the whole budget. Constraints always search
         * (the prior may violate them). */
        const double heavy_epoch = num(cal, "retrain_heavy_epoch_s");
        const double half_epochs = heavy_epoch > 0.0 ? 0.5 * usable / heavy_epoch : 1e9;
        const bool search = !arch_opt && (cons[0] || half_epochs >= 5.0);
        const double search_s = search ? 0.5 * usable : 0.0;
        /* zero-cost proxy pruning (docs/AUTO.md): a tenth of the search window scores random
         * cells with synflow (a cell costs at most one training step at search size + 0.1 s of
         * process and network set-up), the trials are planned on the other nine tenths and
         * start from the best-scored fifth. It pays when at least 5 cells are scored per trial;
         * not with constraints (synflow favours large cells, which they exclude) */
        const double proxy_cell_s = step_s + 0.1;
        int64_t trials = 0;
        double frac = 1.0, per_trial = 0.0, proxy_cells = 0.0, trial_window = 0.0;
        bool prune = false;
        for (int pass = 0; search && pass < 2; pass++) { /* pass 1: with pruning, if it pays */
            /* the proxy experiment opens its own data set and scores its cells */
            const double proxy_s = pass ? 0.1 * search_s : 0.0;
            proxy_cells = pass ? floor((proxy_s - data_s) / proxy_cell_s) : 0.0;
            proxy_cells = proxy_cells > AUTO_PROXY_MAX_CELLS ? AUTO_PROXY_MAX_CELLS : proxy_cells;
            /* the search's experiment opens the data set once, then runs the trials */
            trial_window = search_s - proxy_s - data_s;
            trial_window = trial_window > 1.0 ? trial_window : 1.0;
            /* the share of the training split a trial trains on: at least 12 trials fit */
            const double per_trial_full = epoch_s + val_s + trial_setup;
            frac = trial_window / (12.0 * per_trial_full);
            frac = frac > 1.0 ? 1.0 : (frac < 0.02 ? 0.02 : frac);
            per_trial = (epoch_s + val_s) * frac + trial_setup;
            /* as many as fill the window: the plan fixes the count (so that a resume is exact) */
            trials = (int64_t)floor(trial_window / per_trial) * W;
            trials = trials < 2 ? 2 : trials;
            if (pass == 1)
                break;
            /* an MPI job's ranks serve one experiment, the search's: no proxy experiment */
            const double cells1 = floor((0.1 * search_s - data_s) / proxy_cell_s);
            if (cons[0] || ranks > 1 || cells1 < 5.0 * (double)trials)
                break;
            prune = true;
        }
        /* the trials fill their window: the share of the training split is stretched so that
         * the rounds of W trials end with it (when it is not already the whole split) */
        const int64_t rounds = search ? (trials + W - 1) / W : 0;
        if (search && frac < 1.0) {
            const double f = (trial_window / (double)rounds - trial_setup) / (epoch_s + val_s);
            frac = f > frac ? (f < 1.0 ? f : 1.0) : frac;
            per_trial = (epoch_s + val_s) * frac + trial_setup;
        }
        const double proxy_pred = prune ? data_s + proxy_cells * proxy_cell_s : 0.0;
        const double trials_pred = search ? data_s + (double)rounds * per_trial : 0.0;
        /* the retraining gets the rest, what the search's rounding left included (its step
         * count is refitted while it trains, from the throughput it sees: on_refit) */
        double retrain_s = usable - proxy_pred - trials_pred;
        retrain_s = retrain_s > 1.0 ? retrain_s : 1.0;
        const char *strategy = trials >= 20 ? "evolution" : "random";
        const int pool = prune ? (int)(proxy_cells / 5.0) : 0;
        plan = cJSON_CreateObject();
        cJSON_AddStringToObject(plan, "space", "nb201");
        cJSON_AddBoolToObject(plan, "with_search", search);
        if (search) {
            cJSON_AddStringToObject(plan, "estimator",
                                    prune ? "synflow pruning, then low-fidelity training (1 epoch, "
                                            "8 channels)"
                                          : "low-fidelity training (1 epoch, 8 channels)");
            cJSON_AddStringToObject(plan, "strategy", strategy);
            cJSON_AddNumberToObject(plan, "trials", (double)trials);
            cJSON_AddNumberToObject(plan, "trial_data_fraction", frac);
            cJSON_AddNumberToObject(plan, "trial_s", per_trial);
            /* evolution proposes W - 1 trials ahead of the results, so that W workers are busy;
             * an identity of the search (its trials do not depend on how many workers run them) */
            cJSON_AddNumberToObject(plan, "workers", W);
            cJSON_AddNumberToObject(plan, "ask_ahead", W - 1);
            if (prune) {
                cJSON_AddStringToObject(plan, "proxy", "synflow");
                cJSON_AddNumberToObject(plan, "proxy_cells", proxy_cells);
                cJSON_AddNumberToObject(plan, "pool", pool);
            }
        } else {
            cJSON_AddNumberToObject(plan, "ask_ahead", 0);
        }
        cJSON_AddNumberToObject(plan, "search_s", proxy_pred + trials_pred);
        cJSON_AddNumberToObject(plan, "retrain_s", retrain_s);
        cJSON_AddNumberToObject(plan, "retrain_steps_per_epoch", spe);
        cJSON_AddNumberToObject(plan, "reserve_s", reserve);
        /* no search: --arch, or the ladder's first cell that gets AUTO_MIN_EPOCHS epochs (else
         * the one that gets the most), compared with the baseline CNN in the same window */
        bool cnn_may_win = false;
        if (!search) {
            const char *cell = arch_opt;
            double most = -1.0, cell_epochs = 0.0;
            cJSON *lad = arch_opt ? NULL : cJSON_AddArrayToObject(plan, "cells_considered");
            for (int i = 0; i < (arch_opt ? 1 : AUTO_LADDER_N); i++) {
                const char *a = arch_opt ? arch_opt : auto_ladder[i];
                double macs = 0.0, x;
                if ((st = arch_macs(a, &rn, train, seed, &macs, &err)) != NASC_OK) {
                    cJSON_Delete(plan);
                    rc = cli_fail(st, &err, false);
                    goto done;
                }
                const double ep = (double)retrain_steps(cal, plan, macs, &x) / spe;
                if (lad) {
                    cJSON *c = cJSON_CreateObject();
                    cJSON_AddStringToObject(c, "arch", a);
                    cJSON_AddNumberToObject(c, "macs", macs);
                    cJSON_AddNumberToObject(c, "epochs", ep);
                    cJSON_AddItemToArray(lad, c);
                }
                if (arch_opt || (!cell && ep >= AUTO_MIN_EPOCHS)) {
                    cell = a;
                    cell_epochs = ep;
                }
                if (!cell && ep > most) {
                    most = ep;
                    cell_epochs = ep;
                }
            }
            if (!cell) /* none gets AUTO_MIN_EPOCHS: the one that gets the most */
                for (int i = 0; i < AUTO_LADDER_N; i++)
                    if (num(cJSON_GetArrayItem(lad, i), "epochs") == most) {
                        cell = auto_ladder[i];
                        break;
                    }
            cJSON_AddStringToObject(plan, "arch", cell);
            cJSON_AddNumberToObject(plan, "cell_epochs", cell_epochs);
            const double cnn_epoch = num(cal, "baseline_cnn_epoch_s");
            if (cnn_epoch > 0.0) {
                const double cnn_epochs =
                    (retrain_s - num(cal, "test_eval_s")) / (1.02 * cnn_epoch);
                cnn_may_win = cnn_epochs > cell_epochs && cell_epochs < AUTO_MIN_EPOCHS;
                cJSON_AddNumberToObject(plan, "baseline_cnn_epochs", cnn_epochs);
                cJSON_AddBoolToObject(plan, "baseline_cnn_may_win", cnn_may_win);
            }
        }
        double sl, sh;
        const int64_t st_light = retrain_steps(cal, plan, num(cal, "retrain_light_macs"), &sl);
        const int64_t st_heavy = retrain_steps(cal, plan, num(cal, "retrain_heavy_macs"), &sh);
        /* what the plan predicts the run takes (with the dearest cell): the phases' times
         * should sum to the budget (tests/e2e/auto.sh checks it) */
        cJSON *pred = cJSON_AddObjectToObject(plan, "predicted_s");
        cJSON_AddNumberToObject(pred, "calibration", num(cal, "elapsed_s"));
        cJSON_AddNumberToObject(pred, "proxy_scoring", proxy_pred);
        cJSON_AddNumberToObject(pred, "trials", trials_pred);
        const double setup_h = num(cal, "retrain_first_step_s") - sh;
        cJSON_AddNumberToObject(pred, "retraining",
                                (double)st_heavy * sh * 1.02 + num(cal, "test_eval_s") +
                                    (setup_h > 0 ? setup_h : 0));
        cJSON_AddNumberToObject(pred, "reserve", reserve);
        /* one-shot: a first-order DARTS search of 10 % of Fashion-MNIST took 18 min on this
         * machine (docs/ONESHOT.md), on the whole of it ~3 h; with a retraining as long, it
         * would need budgets of 6 h and more */
        if (!quiet) {
            char pr[256], body[1024];
            if (!search)
                snprintf(pr, sizeof pr, "%s", "");
            else if (prune)
                snprintf(pr, sizeof pr,
                         "  pruning: synflow scores %.0f random cells in ~%.0f s (%.2f s a "
                         "cell); the trials start from the best %d\n",
                         proxy_cells, proxy_cells * proxy_cell_s, proxy_cell_s, pool);
            else
                snprintf(pr, sizeof pr, "  no proxy pruning: %s\n",
                         cons[0]     ? "synflow favours large cells, which the constraints exclude"
                         : ranks > 1 ? "under mpirun the ranks serve one experiment, the "
                                       "search's"
                                     : "too few cells could be scored per trial (fewer than 5) to "
                                       "pay for the tenth of the search it takes");
            if (search)
                snprintf(body, sizeof body,
                         "%s"
                         "  estimator: low-fidelity training, 1 epoch on %.0f%% of the training "
                         "split, scored on the validation split (~%.1f s a trial)\n"
                         "  strategy: %s, %lld trials in %.0f s on %d worker%s (%s), the prior "
                         "cell%s first\n",
                         pr, frac * 100.0, per_trial, strategy, (long long)trials, trial_window, W,
                         W > 1 ? "s" : "",
                         trials >= 20 ? "enough trials for regularized evolution to improve on "
                                        "random sampling"
                                      : "too few trials for a model-based or evolutionary "
                                        "strategy",
                         prune ? " and the pruned pool" : "");
            else {
                char cnn[400] = "";
                if (cJSON_IsNumber(cJSON_GetObjectItem(plan, "baseline_cnn_epochs")))
                    snprintf(cnn, sizeof cnn,
                             "  baseline CNN: would train %.2f epochs in the same window%s\n",
                             num(plan, "baseline_cnn_epochs"),
                             cnn_may_win ? "; WARNING: no cell gets " "4 epochs at this budget, "
                                           "and the baseline CNN, which gets more, may well beat "
                                           "the designed network (docs/AUTO.md)"
                                         : "");
                snprintf(body, sizeof body,
                         "  no search: %s; retraining %s for the whole budget (%.2f epochs)\n%s",
                         arch_opt ? "--arch given"
                                  : "a search would leave the retraining fewer than 5 epochs "
                                    "(its half), where epochs matter more than the cell",
                         arch_opt ? "it"
                         : !strcmp(str(plan, "arch"), AUTO_PRIOR_ARCH)
                             ? "the prior cell (NB201's best at 12 epochs)"
                             : "a cheaper cell than the prior (the dearest of NB201's best-for-"
                               "their-cost cells that gets 4 epochs here, else the cheapest)",
                         num(plan, "cell_epochs"), cnn);
            }
            fprintf(stderr,
                    "nasc auto: PLAN for %.0f s on %s (%d training images, %d held out for "
                    "validation, %d test):\n"
                    "  calibration: %.1f ms per step at search size (%d channels, %d cell)\n"
                    "  space nb201 (cells of 5 ops on 6 edges; small, trains fast on 2 cores)\n"
                    "%s"
                    "  retraining: %.0f s, %d channels%s, in steps with the cosine schedule "
                    "over them: %lld steps (%.1f epochs) for the dearest cell (%.1f ms a step) "
                    "to %lld for the cheapest (%.1f ms), the winner's count from its "
                    "multiply-adds\n"
                    "  reserve: %.0f s for the outputs\n"
                    "  not chosen: one-shot supernet search (a DARTS search of Fashion-MNIST "
                    "alone takes hours on this machine, docs/ONESHOT.md)\n",
                    s.budget, tr->name, tr->n, val->n, test->n, num(cal, "step_ms"),
                    AUTO_SEARCH_CHANNELS, AUTO_SEARCH_CELLS, body, retrain_s,
                    cons[0] ? AUTO_SEARCH_CHANNELS : AUTO_RETRAIN_CHANNELS,
                    cons[0] ? " (the searched size: the constraints were checked on it)" : "",
                    (long long)st_heavy, (double)st_heavy / spe, sh * 1e3, (long long)st_light,
                    sl * 1e3, reserve);
        }
        if (starved)
            fprintf(stderr,
                    "nasc auto: warning: data loading and the calibration took %.0f s of "
                    "the %.0f s budget (a loaded machine?); the minimal plan left will "
                    "overrun it\n",
                    num(cal, "elapsed_s"), s.budget);
        if (!quiet && cJSON_IsTrue(cJSON_GetObjectItem(cal, "speed_fixed")))
            fprintf(stderr, "  (speeds fixed by NASC_TEST_AUTO_SPEED, a test hook)\n");
        if (!quiet && cons[0])
            fprintf(stderr,
                    "  constraints %s, checked on every proposed architecture before "
                    "it is trained\n",
                    cons);
        if ((st = phase_done(&s, "plan", plan, elapsed(&s), &err)) != NASC_OK) {
            rc = cli_fail(st, &err, false);
            goto done;
        }
        plan = phase_get(&s, "plan");
    }

    /* ---- search ---- */
    cJSON *srch = phase_get(&s, "search");
    if (!srch && !cJSON_IsTrue(cJSON_GetObjectItem(plan, "with_search"))) {
        /* no search (the plan's choice): the plan's architecture is the one retrained */
        cJSON *f = cJSON_CreateObject();
        cJSON_AddStringToObject(f, "best_arch", str(plan, "arch"));
        cJSON_AddBoolToObject(f, "fallback", false);
        cJSON_AddNumberToObject(f, "trials", 0);
        cJSON_AddNumberToObject(f, "failed", 0);
        cJSON_AddBoolToObject(f, "stopped_by_time", false);
        if ((st = phase_done(&s, "search", f, elapsed(&s), &err)) != NASC_OK) {
            rc = cli_fail(st, &err, false);
            goto done;
        }
        srch = phase_get(&s, "search");
    }
    if (!srch) {
        const double t0 = elapsed(&s);
        /* a safety stop, for a machine much slower than calibrated: the search's window (it
         * ends where the retraining's share of the budget begins) plus a tenth of it and 10 s */
        s.search_end = cli_now() +
                       (s.budget - num(plan, "retrain_s") - num(plan, "reserve_s") - elapsed(&s)) +
                       0.1 * num(plan, "search_s") + 10.0;
        nasc_experiment_config ec;
        nasc_config_default(&ec);
        char v[64], dbp[600];
        path_in(&s, "search.db", dbp, sizeof dbp);
        const char *strategy = str(plan, "strategy"), *sopt = "";
        if (str(plan, "proxy") && ranks > 1) {
            cli_error("nasc auto: --resume: this run's plan prunes with a proxy, which a run under "
                      "mpirun cannot do (its ranks serve one experiment); resume it without "
                      "mpirun");
            rc = CLI_USAGE;
            goto done;
        }
        /* the strategy's initial population (experiment key init-archs), proposed first: the
         * prior cell, then, with proxy pruning, the pool of the best-scored cells (its own
         * experiment, continued after a kill; the pool a function of its database) */
        char init_file[600];
        path_in(&s, "init.txt", init_file, sizeof init_file);
        char **pool = NULL;
        int kept = 0;
        if (str(plan, "proxy")) {
            char pdb[600];
            path_in(&s, "proxy.db", pdb, sizeof pdb);
            const auto_prune_config pc = {.db = pdb,
                                          .data = data,
                                          .data_fraction = data_fraction,
                                          .proxy = str(plan, "proxy"),
                                          .n = (int64_t)num(plan, "proxy_cells"),
                                          .keep = (int)num(plan, "pool"),
                                          .seed = seed,
                                          .channels = AUTO_SEARCH_CHANNELS,
                                          .cells = AUTO_SEARCH_CELLS};
            if (!quiet)
                fprintf(stderr, "nasc auto: scoring %lld cells with %s\n", (long long)pc.n,
                        pc.proxy);
            if ((st = auto_prune(&pc, &pool, &kept, &err)) != NASC_OK) {
                rc = cli_fail(st, &err, false);
                goto done;
            }
        }
        st = lines_write(init_file, AUTO_PRIOR_ARCH, pool, kept, &err);
        auto_prune_free(pool, kept);
        if (st != NASC_OK) {
            rc = cli_fail(st, &err, false);
            goto done;
        }
        struct {
            const char *k;
            const char *v;
        } kv[] = {{"space", "nb201"},     {"strategy", strategy},
                  {"strategy-opt", sopt}, {"init-archs", init_file},
                  {"data", data},         {"objective", objective},
                  {"constraint", cons},   {"db", dbp}};
        for (size_t i = 0; i < sizeof kv / sizeof kv[0] && st == NASC_OK; i++)
            st = nasc_config_set(&ec, kv[i].k, kv[i].v, &err);
        ec.seed = seed;
        ec.budget = (int64_t)num(plan, "trials"); /* the plan's count; the clock only guards */
        ec.epochs = 1;
        ec.data_fraction = num(plan, "trial_data_fraction") * data_fraction;
        ec.val_fraction = AUTO_VAL_FRACTION;
        ec.channels = AUTO_SEARCH_CHANNELS;
        ec.cells = AUTO_SEARCH_CELLS;
        ec.batch = tc.batch;
        ec.workers = workers;
        ec.ask_ahead = (int)num(plan, "ask_ahead");
        ec.threads = threads;
        ec.quiet = true;
        ec.resume = access(dbp, F_OK) == 0;
        /* a trial may take the whole window (one slower than calibrated still counts), not more */
        snprintf(v, sizeof v, "%g", num(plan, "search_s") + 10.0);
        if (st == NASC_OK)
            st = nasc_config_set(&ec, "trial-timeout", v, &err);
        if (st == NASC_OK)
            st = nasc_config_validate(&ec, &err);
        if (st == NASC_OK)
            st = nasc_experiment_open(&ec, &s.ex, &err);
        if (st != NASC_OK) {
            rc = cli_fail(st, &err, false);
            goto done;
        }
        running = s.ex;
        cli_signals sig;
        cli_signals_catch(&sig, on_signal);
        st = nasc_experiment_run(s.ex, on_search, &s, &err);
        cli_signals_restore(&sig);
        running = NULL;
        nasc_search_summary sum;
        nasc_experiment_summary(s.ex, &sum);
        cli_progress_end(&s.bar);
        /* stopped by the clock is the plan; any other failure ends the run */
        if (st == NASC_ERR_ABORTED && s.stopped_by_clock)
            st = NASC_OK;
        /* the window ran out before any trial finished (a machine much slower than calibrated):
         * retrain the calibration cell rather than nothing, and say so */
        const bool fallback = st == NASC_OK && !sum.best_arch && !cons[0] && s.stopped_by_clock;
        if (fallback && !quiet)
            fprintf(stderr,
                    "nasc auto: warning: no trial finished within the search window; "
                    "retraining the calibration cell %s\n",
                    AUTO_CALIB_ARCH);
        if (st == NASC_OK && !sum.best_arch && !fallback)
            st = nasc_errorf(
                &err, NASC_ERR_ABORTED, "auto: no trial of the search succeeded (%lld failed)%s",
                (long long)sum.n_failed, constraint[0] ? "; are the constraints satisfiable?" : "");
        if (st != NASC_OK) {
            nasc_experiment_free(s.ex);
            s.ex = NULL;
            rc = cli_fail(st, &err, false);
            goto done;
        }
        cJSON *f = cJSON_CreateObject();
        cJSON_AddStringToObject(f, "best_arch", fallback ? AUTO_CALIB_ARCH : sum.best_arch);
        cJSON_AddBoolToObject(f, "fallback", fallback);
        cJSON_AddNumberToObject(f, "best_val_acc_search", sum.best_score);
        cJSON_AddNumberToObject(f, "trials", (double)sum.trials);
        cJSON_AddNumberToObject(f, "failed", (double)sum.n_failed);
        cJSON_AddBoolToObject(f, "stopped_by_time", s.stopped_by_clock);
        nasc_experiment_free(s.ex);
        s.ex = NULL;
        if (!quiet)
            fprintf(stderr, "nasc auto: search done: %lld trials, best %s (validation %.2f%%)%s\n",
                    (long long)sum.trials, str(f, "best_arch"), num(f, "best_val_acc_search"),
                    s.stopped_by_clock ? "; STOPPED by the safety stop (the machine was slower "
                                         "than calibrated): the result is not the plan's"
                                       : "");
        if ((st = phase_done(&s, "search", f, t0, &err)) != NASC_OK) {
            rc = cli_fail(st, &err, false);
            goto done;
        }
        srch = phase_get(&s, "search");
    }

    /* ---- retrain on the whole training split (validation included), then the test set ---- */
    cJSON *ret = phase_get(&s, "retrain");
    char model_path[600], ckpt[600];
    path_in(&s, "model.nasc", model_path, sizeof model_path);
    path_in(&s, "retrain.ckpt", ckpt, sizeof ckpt);
    if (!ret) {
        const double t0 = elapsed(&s);
        const char *arch = str(srch, "best_arch");
        nasc_model_cost mc;
        if ((st = cli_model_build("nb201", arch, &rn, train->c, train->h, train->w,
                                  train->n_classes, seed, &m, &err)) != NASC_OK ||
            (st = nasc_model_cost_measure(m, &(nasc_cost_config){.repeats = -1, .threads = 1}, &mc,
                                          &err)) != NASC_OK) {
            rc = cli_fail(st, &err, false);
            goto done;
        }
        /* the step count (the cosine schedule spans these steps): the plan's for this
         * architecture's multiply-adds, refitted while it trains from the throughput it sees
         * (on_refit; docs/AUTO.md, "Keeping the budget"). The plan's count and every refit are
         * recorded (retrain_fit) before they apply, so that a resume retrains exactly as the
         * run it continues (nasc_train replays the recorded refits; a checkpoint holds them) */
        double step_s;
        const int64_t planned_steps = retrain_steps(cal, plan, mc.macs, &step_s);
        const double spe = num(plan, "retrain_steps_per_epoch");
        cJSON *rfit = phase_get(&s, "retrain_fit");
        if (!rfit) {
            cJSON *f = cJSON_CreateObject();
            cJSON_AddNumberToObject(f, "planned_steps", (double)planned_steps);
            cJSON_AddNumberToObject(f, "steps", (double)planned_steps);
            cJSON_AddArrayToObject(f, "refits");
            if ((st = phase_done(&s, "retrain_fit", f, elapsed(&s), &err)) != NASC_OK) {
                rc = cli_fail(st, &err, false);
                goto done;
            }
            rfit = phase_get(&s, "retrain_fit");
        }
        tc.steps = (int64_t)num(rfit, "steps");
        /* the recorded refits, replayed */
        const cJSON *rlist = cJSON_GetObjectItem(rfit, "refits");
        nasc_train_refit refits[NASC_TRAIN_MAX_REFITS];
        int n_refits = 0;
        int64_t cur_steps = tc.steps;
        for (const cJSON *it = rlist ? rlist->child : NULL; it && n_refits < NASC_TRAIN_MAX_REFITS;
             it = it->next) {
            refits[n_refits] = (nasc_train_refit){.at_step = (int64_t)num(it, "at_step"),
                                                  .steps = (int64_t)num(it, "steps")};
            cur_steps = refits[n_refits++].steps;
        }
        tc.refits = refits;
        tc.n_refits = n_refits;
        tc.refit = on_refit;
        tc.epochs = (int)ceil((double)tc.steps / spe);
        const bool resumed = access(ckpt, F_OK) == 0;
        if (!quiet)
            fprintf(stderr,
                    "nasc auto: retraining %s: %lld steps, %.2f epochs (~%.1f ms a step)%s%s\n",
                    arch, (long long)cur_steps, (double)cur_steps / spe, step_s * 1e3,
                    n_refits ? " (refits recorded)" : "",
                    resumed ? " (resumed from the checkpoint)" : "");
        char *meta =
            cli_meta_add_epochs(cli_model_meta(m, &rn, train), tc.epochs, num(plan, "retrain_s"));
        tc.checkpoint = ckpt;
        tc.checkpoint_meta = meta;
        /* a safety stop that leaves room for the test evaluation and the outputs, 3 % past the
         * budget at most, for when even the refitted steps run late (a machine that slowed down
         * after the last check); the summary says when it fired. Only a run whose budget leaves
         * less than a quarter of the training (a calibration on a very loaded machine) gets 1.5
         * times the training instead: a model late rather than none */
        /* (the test evaluation at the winner's size: the calibrated one is the dearest cell's;
         * unscaled, it stopped 3-minute run 3, whose winner is a third of its cost, 8 s early) */
        const double heavy_step = num(cal, "retrain_heavy_epoch_s") / spe;
        const double eval_win =
            heavy_step > 0.0 && step_s < heavy_step ? num(cal, "test_eval_s") * step_s / heavy_step
                                                    : num(cal, "test_eval_s");
        const double hard = 1.03 * s.budget - elapsed(&s) - eval_win - 2.0;
        const double want = (double)cur_steps * step_s;
        tc.max_seconds = hard >= 0.25 * want ? hard : 1.5 * want;
        retrain_ui ui = {.s = &s, .steps = cur_steps, .spe = (int64_t)spe, .rfit = rfit,
                         .live = !cJSON_IsTrue(cJSON_GetObjectItem(cal, "speed_fixed")),
                         /* half the reserve (the outputs took well under a second in the
                          * 3-minute runs; the rest of the reserve is the margin for a refit's
                          * error), so the run ends at about 99 % */
                         .tail_s = 0.5 * num(plan, "reserve_s"),
                         .eval_per_step = num(cal, "retrain_heavy_epoch_s") > 0.0
                                              ? num(cal, "test_eval_s") /
                                                    (num(cal, "retrain_heavy_epoch_s") / spe)
                                              : 0.0,
                         .step_ref = -1};
#ifdef NASC_TEST
        const char *hk = getenv("NASC_TEST_AUTO_REFIT");
        if (hk && *hk) {
            ui.hook = true;
            ui.hook_add = strtoll(hk, NULL, 10);
        }
#endif
        nasc_train_result res;
        st = meta ? nasc_train(m, train, test, &tc, on_train, &ui, &res, &err) : NASC_ERR_NOMEM;
        cli_progress_end(&s.bar);
        if (st != NASC_OK && ui.st != NASC_OK) /* the refit's record failed */
            err = ui.err, st = ui.st;
        /* the model's metadata with the epochs the refits made */
        nasc_free(meta);
        meta = st == NASC_OK ? cli_meta_add_epochs(cli_model_meta(m, &rn, train),
                                                   (int)ceil((double)ui.steps / spe),
                                                   num(plan, "retrain_s"))
                             : NULL;
        if (st == NASC_OK)
            st = meta ? nasc_weights_save(model_path, m, meta, &err) : NASC_ERR_NOMEM;
        nasc_free(meta);
        if (st != NASC_OK) {
            rc = cli_fail(st, &err, false);
            goto done;
        }
        cJSON *f = cJSON_CreateObject();
        cJSON_AddNumberToObject(f, "epochs", (double)ui.steps / spe);
        cJSON_AddNumberToObject(f, "steps", (double)ui.steps);
        cJSON_AddNumberToObject(f, "steps_done", (double)res.steps);
        cJSON_AddNumberToObject(f, "planned_steps", (double)planned_steps);
        cJSON_AddNumberToObject(f, "refits", cJSON_GetArraySize(cJSON_GetObjectItem(rfit, "refits")));
        cJSON_AddNumberToObject(f, "test_acc", res.eval_acc);
        cJSON_AddNumberToObject(f, "train_acc", res.train_acc);
        cJSON_AddNumberToObject(f, "params", (double)nasc_params_count(m->params));
        cJSON_AddBoolToObject(f, "stopped_by_time", res.steps < ui.steps);
        const nasc_cost_config cc = {.repeats = 10, .threads = 1};
        if ((st = nasc_model_cost_measure(m, &cc, &mc, &err)) != NASC_OK) {
            cJSON_Delete(f);
            rc = cli_fail(st, &err, false);
            goto done;
        }
        cJSON_AddNumberToObject(f, "flops", mc.macs);
        cJSON_AddNumberToObject(f, "latency_ms", mc.latency_ms);
        cJSON_AddNumberToObject(f, "memory_bytes", (double)mc.memory_bytes);
        cJSON_AddNumberToObject(f, "channels", rn.channels);
        /* the activation peak of the export graph's one-image order (what a static arena of
         * the C export holds), as a check of the cost model's figure used by the constraints */
        nasc_export_graph *xg = NULL;
        if (nasc_export_graph_new(m, NULL, &xg, &err) == NASC_OK) {
            size_t peak = 0;
            nasc_export_graph_memory(xg, &peak, NULL);
            cJSON_AddNumberToObject(f, "export_peak_bytes", (double)peak);
            nasc_export_graph_free(xg);
        }
        if ((st = phase_done(&s, "retrain", f, t0, &err)) != NASC_OK) {
            rc = cli_fail(st, &err, false);
            goto done;
        }
        remove(ckpt);
        ret = phase_get(&s, "retrain");
    }

    /* ---- outputs: report and summary ---- */
    {
        const double t0 = elapsed(&s);
        char dbp[600], rep[600];
        path_in(&s, "search.db", dbp, sizeof dbp);
        path_in(&s, "report.html", rep, sizeof rep);
        nasc_report_opts ro;
        nasc_report_opts_default(&ro);
        /* the report is the search's: none without a search (the summary says so) */
        const bool searched = cJSON_IsTrue(cJSON_GetObjectItem(plan, "with_search"));
        if (searched && (st = nasc_report_write_file(dbp, rep, &ro, NULL, &err)) != NASC_OK) {
            rc = cli_fail(st, &err, false);
            goto done;
        }
        /* test hook (tests/e2e/auto.sh resume): die in the middle of the outputs phase, after
         * the report and before the exports and summary.json */
        if (kill_at("outputs"))
            raise(SIGKILL);
        /* the delivered model for other runtimes: ONNX, and dependency-free C (float) */
        char onnx_path[600], c_stem[600];
        path_in(&s, "model.onnx", onnx_path, sizeof onnx_path);
        path_in(&s, "model", c_stem, sizeof c_stem); /* model.c and model.h */
        nasc_model *em = NULL;
        nasc_export_graph *exg = NULL;
        nasc_export_norm en;
        st = cli_model_from_file(model_path, &em, &err);
        if (st == NASC_OK)
            st = cli_model_norm(model_path, NULL, &en, &err);
        if (st == NASC_OK)
            st = nasc_export_graph_new(em, &en, &exg, &err);
        if (st == NASC_OK)
            st = nasc_export_onnx(exg, onnx_path, &err);
        if (st == NASC_OK)
            st = cli_export_c(model_path, exg, &en, c_stem, &(cli_export_c_opts){0}, &err);
        /* with a microcontroller bound, the int8 C export too, and its real sizes (the header's
         * NAME_WEIGHT_BYTES and NAME_ARENA_BYTES) checked against the bounds */
        const bool mcu = flash_lim > 0.0 || ram_lim > 0.0;
        char q_stem[600];
        path_in(&s, "model_int8", q_stem, sizeof q_stem); /* model_int8.c and model_int8.h */
        nasc_export_c_info qi = {0};
        if (st == NASC_OK && mcu)
            st = cli_export_c(
                model_path, exg, &en, q_stem,
                &(cli_export_c_opts){
                    .quantize = "int8", .calibration = data, .calib_images = 256, .info = &qi},
                &err);
        nasc_export_graph_free(exg);
        nasc_model_free(em);
        if (st != NASC_OK) {
            rc = cli_fail(st, &err, false);
            goto done;
        }
        cJSON *sum = cJSON_CreateObject();
        cJSON_AddStringToObject(sum, "data", data);
        cJSON_AddStringToObject(sum, "space", "nb201");
        cJSON_AddStringToObject(sum, "arch", str(srch, "best_arch"));
        cJSON_AddNumberToObject(sum, "channels", num(ret, "channels"));
        cJSON_AddNumberToObject(sum, "cells", rn.cells);
        if (cons[0])
            cJSON_AddStringToObject(sum, "constraint", cons);
        cJSON_AddNumberToObject(sum, "val_accuracy_search", num(srch, "best_val_acc_search"));
        cJSON_AddNumberToObject(sum, "test_accuracy", num(ret, "test_acc"));
        cJSON_AddNumberToObject(sum, "params", num(ret, "params"));
        cJSON_AddNumberToObject(sum, "flops", num(ret, "flops"));
        cJSON_AddNumberToObject(sum, "latency_ms", num(ret, "latency_ms"));
        /* int8 C export estimates (docs/AUTO.md): one byte per weight, a quarter of the float32
         * activation peak */
        cJSON_AddNumberToObject(sum, "flash_int8_bytes_est", num(ret, "params"));
        cJSON_AddNumberToObject(sum, "ram_int8_bytes_est", num(ret, "memory_bytes") / 4.0);
        cJSON_AddNumberToObject(sum, "export_graph_peak_float_bytes",
                                num(ret, "export_peak_bytes"));
        bool fits = true;
        if (mcu) {
            const bool flash_ok = !(flash_lim > 0.0) || (double)qi.weight_bytes <= flash_lim;
            const bool ram_ok = !(ram_lim > 0.0) || (double)qi.arena_bytes <= ram_lim;
            fits = flash_ok && ram_ok;
            cJSON *q = cJSON_AddObjectToObject(sum, "int8_c");
            cJSON_AddStringToObject(q, "c", "model_int8.c");
            cJSON_AddNumberToObject(q, "weight_bytes", (double)qi.weight_bytes);
            cJSON_AddNumberToObject(q, "arena_bytes", (double)qi.arena_bytes);
            if (flash_lim > 0.0)
                cJSON_AddNumberToObject(q, "flash_limit_bytes", flash_lim);
            if (ram_lim > 0.0)
                cJSON_AddNumberToObject(q, "ram_limit_bytes", ram_lim);
            cJSON_AddBoolToObject(q, "fits", fits);
            if (!fits)
                fprintf(stderr,
                        "nasc auto: warning: the int8 C export does not fit the bounds: weights "
                        "%zu bytes (flash bound %.0f), arena %zu bytes (ram bound %.0f); the "
                        "search's estimates (docs/AUTO.md) were too low for this network\n",
                        qi.weight_bytes, flash_lim, qi.arena_bytes, ram_lim);
        }
        cJSON_AddNumberToObject(sum, "epochs", num(ret, "epochs"));
        cJSON_AddNumberToObject(sum, "steps", num(ret, "steps"));
        /* the retraining's step count refitted while it trained (the machine's speed was not
         * the plan's); each refit recorded, so a resume gives the same result */
        cJSON_AddNumberToObject(sum, "retrain_refits", num(ret, "refits"));
        cJSON_AddNumberToObject(sum, "planned_steps", num(ret, "planned_steps"));
        /* the result is a function of the recorded plan unless a safety stop fired */
        const bool stop_search = cJSON_IsTrue(cJSON_GetObjectItem(srch, "stopped_by_time"));
        const bool stop_retrain = cJSON_IsTrue(cJSON_GetObjectItem(ret, "stopped_by_time"));
        cJSON *sbt = cJSON_AddObjectToObject(sum, "stopped_by_time");
        cJSON_AddBoolToObject(sbt, "search", stop_search);
        cJSON_AddBoolToObject(sbt, "retrain", stop_retrain);
        cJSON_AddBoolToObject(sum, "as_planned", !stop_search && !stop_retrain);
        cJSON *pl = cJSON_Duplicate(plan, true);
        cJSON_DeleteItemFromObject(pl, "seconds"); /* the plan alone (its time is nothing) */
        cJSON_AddItemToObject(sum, "plan", pl);
        cJSON *ph = cJSON_AddObjectToObject(sum, "seconds");
        const char *names[] = {"calibrate", "search", "retrain"};
        for (int i = 0; i < 3; i++)
            cJSON_AddNumberToObject(ph, names[i], num(phase_get(&s, names[i]), "seconds"));
        cJSON_AddNumberToObject(ph, "outputs", elapsed(&s) - t0);
        cJSON_AddNumberToObject(ph, "total", elapsed(&s));
        cJSON_AddNumberToObject(sum, "budget_s", s.budget);
        cJSON_AddStringToObject(sum, "model", "model.nasc");
        if (searched)
            cJSON_AddStringToObject(sum, "report", "report.html");
        else
            cJSON_AddNullToObject(sum, "report");
        cJSON_AddStringToObject(sum, "onnx", "model.onnx");
        cJSON_AddStringToObject(sum, "c", "model.c");
        if (searched)
            cJSON_AddStringToObject(sum, "database", "search.db");
        else
            cJSON_AddNullToObject(sum, "database");
        st = json_write(&s, "summary.json", sum, &err);
        if (st == NASC_OK) {
            cJSON *f = cJSON_CreateObject();
            st = phase_done(&s, "outputs", f, t0, &err);
        }
        if (st != NASC_OK) {
            cJSON_Delete(sum);
            rc = cli_fail(st, &err, false);
            goto done;
        }
        const char *best_arch = str(srch, "best_arch");
        printf("test accuracy %.2f%% (%s, %.0f parameters); %s/summary.json, model.nasc, "
               "model.onnx, model.c/.h%s%s; %.0f s of %.0f s\n",
               num(ret, "test_acc"), best_arch ? best_arch : "?", num(ret, "params"), out,
               mcu ? ", model_int8.c/.h" : "",
               searched ? ", report.html" : " (no search: no report)", elapsed(&s), s.budget);
        if (stop_search || stop_retrain)
            printf("the safety stop fired in the %s (the machine was slower than calibrated): "
                   "this result is not the plan's, a rerun may differ\n",
                   stop_search ? (stop_retrain ? "search and the retraining" : "search")
                               : "retraining");
        if (mcu)
            printf("int8 C export: weights %zu bytes, activation arena %zu bytes: %s the "
                   "bounds\n",
                   qi.weight_bytes, qi.arena_bytes, fits ? "within" : "OUTSIDE");
        cJSON_Delete(sum);
    }
    rc = CLI_OK;
done:
    nasc_model_free(m);
    nasc_backend_free(be);
    nasc_dataset_free(full);
    nasc_dataset_free(train);
    nasc_dataset_free(tr);
    nasc_dataset_free(val);
    nasc_dataset_free(test);
    cJSON_Delete(s.phases);
    return rc;
}

/* Under an MPI launcher (dist.h) rank 0 runs every phase and the other ranks evaluate the
 * search's trials (nasc_experiment_serve), as for `nasc search`. */
int cmd_auto(int argc, char **argv) {
    nasc_err err = {0};
    if (nasc_dist_init(&err) != NASC_OK) {
        cli_error("%s", err.msg);
        return CLI_USAGE;
    }
    if (nasc_dist_rank() > 0) {
        const nasc_status st = nasc_experiment_serve(&err);
        nasc_dist_finalize();
        if (st != NASC_OK) {
            cli_error("rank %d: %s", nasc_dist_rank(), err.msg);
            return CLI_FAIL;
        }
        return CLI_OK;
    }
    const int code = auto_main(argc, argv);
    nasc_experiment_dist_end();
    nasc_dist_finalize();
    return code;
}
