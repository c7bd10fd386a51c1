/* bench_coord.c — how many workers one coordinator (rank 0 of a distributed search) can keep
 * busy: measures what rank 0 spends per trial, then predicts worker utilization at 4 .. 10,000
 * workers with a discrete-event simulation.
 *
 *   build/bench/bench_coord [SECONDS_PER_TRIAL...]      (default: 1 60)
 *
 * 1. Measure. For each strategy, a search on the NB201 table runs in this process (one worker,
 *    --ask-ahead 0, trial database in a file under /tmp): the time between two finished trials is
 *    everything rank 0 does for one trial — ask (model fits included), the three transactions
 *    (insert, start, finish), tell — plus a table lookup (microseconds). The cost c(n) of trial n
 *    (CPU time) is kept as a curve over the history size and extrapolated past the measured range
 *    by a power law (see cost_model; a GP refit is cubic in n).
 * 2. Simulate. W workers; trial durations drawn from the table's simulated training times
 *    (what --sim-sleep sleeps), scaled to a mean of S seconds; rank 0 is one serial server: when a
 *    worker reports, rank 0 (once free) spends c(n) and the worker starts its next trial. Budget
 *    20 W trials; utilization = Σ durations / (W x makespan), over the steady part (up to the last
 *    trial's start) as bench/dist/util.sh reports it.
 *    "prefetch" is the remedy modelled: rank 0 asks the next proposal while every worker is busy,
 *    so a reporting worker waits only for the commit and tell, not for the ask (the ask still
 *    occupies rank 0). "batch B": model-based strategies fit once per B proposals.
 *    "ahead K": the strategy's own wait as well: trial n starts only once trials 0 .. n-1-K have
 *    ended (results are told in trial order; --ask-ahead K), with K = 2 (W-1), the default, and
 *    K = 8 (W-1) (ASHA's default). Random search never waits, synchronous bohb waits for whole
 *    rungs (their rows are "as is" only).
 *    bananas pipeline=on: the ensemble trains in a thread; c(n) is then the main thread's CPU time
 *    and the fit's (the other threads' CPU time per fit, f) is modelled on a core of its own:
 *    the fit started at batch b's first proposal must be done before batch b+1's.
 *    COORD_ONLY=bananas,bohb measures only those strategies. The costs include the three commits
 *    per trial of a single process; a distributed rank 0 batches them (so rank 0's true cost is
 *    lower, most of all for the cheap strategies).
 * Compare the simulated utilization at 4-64 workers with bench/dist/util.sh's measured one. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "nasc/arena.h"
#include "nasc/estimate.h"
#include "nasc/experiment.h"

#define MAX_N 4096

/* CPU time of the calling (main) thread: what rank 0 spends on its search loop, without the
 * time the machine's other load took the core (run with OPENBLAS_NUM_THREADS=1 so that a fit's
 * time is all counted here). */
static double cpu_s(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
static double now_s(void) {
    return cpu_s(CLOCK_THREAD_CPUTIME_ID);
}
/* CPU time of the process's other threads: bananas' pipelined fits (pipeline=on), which run on
 * a core of their own in the model below. */
static double others_s(void) {
    return cpu_s(CLOCK_PROCESS_CPUTIME_ID) - cpu_s(CLOCK_THREAD_CPUTIME_ID);
}

typedef struct run {
    double t_last, c_last;
    double cost[MAX_N];  /* seconds rank 0 spent on trial n */
    double child[MAX_N]; /* CPU seconds of the fit thread during trial n */
    double sim[MAX_N];   /* the trial's simulated training time */
    int n;
} run;

static run R;

static void on_trial(const nasc_search_progress *p, void *user) {
    (void)p;
    (void)user;
    double t = now_s(), c = others_s();
    if (R.n < MAX_N) {
        R.child[R.n] = c - R.c_last;
        R.cost[R.n++] = t - R.t_last;
    }
    R.t_last = t;
    R.c_last = c;
}

/* Runs a search in process; fills R. */
static int measure(const char *strategy, const char *opt, int budget) {
    nasc_experiment_config cfg;
    nasc_config_default(&cfg);
    nasc_err err = {0};
    char db[128], bud[32];
    snprintf(db, sizeof db, "/tmp/bench_coord.%d.db", (int)getpid());
    unlink(db);
    snprintf(bud, sizeof bud, "%d", budget);
    if (nasc_config_set(&cfg, "space", "nb201", &err) ||
        nasc_config_set(&cfg, "strategy", strategy, &err) ||
        nasc_config_set(&cfg, "strategy-opt", opt, &err) ||
        nasc_config_set(&cfg, "benchmark", "nb201:cifar10", &err) ||
        nasc_config_set(&cfg, "budget", bud, &err) || nasc_config_set(&cfg, "db", db, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    nasc_experiment *ex = NULL;
    if (nasc_experiment_open(&cfg, &ex, &err) != NASC_OK) {
        fprintf(stderr, "%s: %s\n", strategy, err.msg);
        return 1;
    }
    R.n = 0;
    R.t_last = now_s();
    R.c_last = others_s();
    nasc_status st = nasc_experiment_run(ex, on_trial, NULL, &err);
    if (st == NASC_OK) { /* the simulated training times, for the durations */
        nasc_trial_record *t = NULL;
        int64_t n = 0;
        if (nasc_db_trials_load(nasc_experiment_db(ex), &t, &n, &err) == NASC_OK)
            for (int64_t i = 0; i < n && i < MAX_N; i++)
                R.sim[i] = t[i].sim_seconds;
        nasc_db_trials_free(t, n);
    }
    nasc_experiment_free(ex);
    char side[160];
    unlink(db);
    snprintf(side, sizeof side, "%s-wal", db);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", db);
    unlink(side);
    if (st != NASC_OK)
        fprintf(stderr, "%s: %s\n", strategy, err.msg);
    return st != NASC_OK;
}

/* c(n): the mean of the measured costs over a window of 2h trials around n, h = max(16, batch)
 * (a model fit once per batch is spread over the batch), and past the measured range a power law c
 * = A n^p fitted to those means over the last half (log-log least squares, p clamped to [0, 3]: a
 * GP refit is cubic in n, evolution's and random's asks do not grow). */
typedef struct cost_model {
    double *c;
    int n;
    int h; /* half window */
    double A, p;
} cost_model;

static double window_mean(const cost_model *m, long n) {
    long h = m->h;
    long lo = n - h < 0 ? 0 : n - h, hi = n + h > m->n ? m->n : n + h;
    if (hi - lo < 2 * h) /* near the ends: a full window */
        lo = hi - 2 * h < 0 ? 0 : hi - 2 * h, hi = lo + 2 * h > m->n ? m->n : lo + 2 * h;
    double s = 0;
    for (long i = lo; i < hi; i++)
        s += m->c[i];
    return s / (double)(hi - lo);
}

static void fit(cost_model *m) {
    double sx = 0, sy = 0, sxx = 0, sxy = 0;
    int k = 0;
    for (int i = m->n / 2; i < m->n; i += 8) {
        double x = log((double)i), y = log(window_mean(m, i));
        sx += x, sy += y, sxx += x * x, sxy += x * y, k++;
    }
    double p = (k * sxy - sx * sy) / (k * sxx - sx * sx);
    m->p = p < 0 ? 0 : p > 3 ? 3 : p;
    m->A = exp((sy - m->p * sx) / k);
}

static double cost_at(const cost_model *m, long n) {
    if (n < m->n)
        return window_mean(m, n);
    return m->A * pow((double)n, m->p);
}

/* min-heap of worker-free times */
static void heap_push(double *h, int *n, double v) {
    int i = (*n)++;
    h[i] = v;
    while (i > 0 && h[(i - 1) / 2] > h[i]) {
        double t = h[i];
        h[i] = h[(i - 1) / 2];
        h[(i - 1) / 2] = t;
        i = (i - 1) / 2;
    }
}
static double heap_pop(double *h, int *n) {
    double top = h[0];
    h[0] = h[--*n];
    int i = 0;
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < *n && h[l] < h[m])
            m = l;
        if (r < *n && h[r] < h[m])
            m = r;
        if (m == i)
            break;
        double t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
    return top;
}

/* bananas' pipeline (pipeline=on): fit calls at trials n_init + k B; the first (k = 0) runs in
 * rank 0 (it is in c(n)), call k >= 1 starts a fit of f seconds on another core and call k + 1
 * waits for it. */
typedef struct pipe_model {
    int B, n_init; /* 0: no pipeline */
    double f;
} pipe_model;

/* Simulated steady utilization of W workers; ask_frac: the part of c(n) that is the ask
 * (prefetch hides it from the worker's wait). */
static double simulate(const cost_model *m, const double *dur_pool, int n_pool, long W, double S,
                       bool prefetch, double ask_frac, long ahead, const pipe_model *pm,
                       unsigned seed) {
    double fit_ready = 0; /* when the running pipelined fit is done */
    long budget = 20 * W;
    double *h = malloc(sizeof(double) * (size_t)W);
    int nh = 0;
    double t_coord = 0, busy = 0, t_last_start = 0;
    double *starts = malloc(sizeof(double) * (size_t)budget);
    double *ends = malloc(sizeof(double) * (size_t)budget);
    double *done_by = malloc(sizeof(double) * (size_t)budget); /* max(ends[0..i]) */
    long n = 0;
    for (; n < budget; n++) {
        double ready = n < W ? 0 : heap_pop(h, &nh);
        if (ahead >= 0 && n - 1 - ahead >= 0 && done_by[n - 1 - ahead] > ready)
            ready = done_by[n - 1 - ahead]; /* the strategy waits for the result in order */
        double c = cost_at(m, n);
        double start;
        if (pm && pm->B > 0 && n >= pm->n_init + pm->B && (n - pm->n_init) % pm->B == 0) {
            if (t_coord < fit_ready) /* the ask that needs the previous fit joins it */
                t_coord = fit_ready;
            double launch = ready > t_coord ? ready : t_coord;
            fit_ready = launch + pm->f;
        }
        if (prefetch) { /* the ask was done while waiting; the worker waits for the rest */
            double wait_part = c * (1.0 - ask_frac);
            double begin = ready > t_coord ? ready : t_coord;
            start = begin + wait_part;
            t_coord = start + c * ask_frac; /* then the next ask, ahead */
        } else {
            double begin = ready > t_coord ? ready : t_coord;
            start = begin + c;
            t_coord = start;
        }
        seed = seed * 1103515245u + 12345u;
        double d = S * dur_pool[(seed >> 8) % (unsigned)n_pool];
        starts[n] = start;
        ends[n] = start + d;
        done_by[n] = n > 0 && done_by[n - 1] > ends[n] ? done_by[n - 1] : ends[n];
        heap_push(h, &nh, start + d);
        t_last_start = start;
    }
    double t0 = budget > 0 ? starts[0] : 0.0; /* budget = 20 W >= 20: set by the loop above */
    for (long i = 0; i < budget; i++) {
        double a = starts[i] > t0 ? starts[i] : t0,
               b = ends[i] < t_last_start ? ends[i] : t_last_start;
        if (b > a)
            busy += b - a;
    }
    free(h);
    free(starts);
    free(ends);
    free(done_by);
    return busy / ((double)W * (t_last_start - t0));
}

int main(int argc, char **argv) {
    double S_list[8] = {1, 60};
    int n_S = 2;
    if (argc > 1) {
        n_S = 0;
        for (int i = 1; i < argc && n_S < 8; i++)
            S_list[n_S++] = atof(argv[i]);
    }
    struct {
        const char *name, *opt;
        int budget;
        double ask_frac; /* part of the per-trial cost that is the ask (model fit) */
        int batch;       /* proposals per model fit (bo-gp's default 1, bananas' 5) */
        bool pipeline;   /* bananas pipeline=on: fits in a thread */
    } strategies[] = {
        {"random", "", 1500, 0.0, 1},        {"evolution", "", 1500, 0.0, 1},
        {"bo-gp", "", 300, 1.0, 1},          {"bo-gp", "batch=16", 300, 1.0, 16},
        {"bo-gp", "batch=64", 400, 1.0, 64}, {"bananas", "", 300, 1.0, 5},
        /* a cheaper surrogate past a history size: fitted on at most 128 results */
        {"bo-gp", "batch=64,max-fit=128", 1000, 1.0, 64},
        {"bananas", "batch=64,max-fit=128", 1000, 1.0, 64},
        /* the fit off rank 0's loop (a thread on another core), a batch scored by the
         * previous fit; and batches that grow with the workers (more candidates per fit) */
        {"bananas", "batch=64,max-fit=128,pipeline=on", 1000, 1.0, 64, true},
        {"bananas", "batch=512,mutations=100,max-fit=128,pipeline=on", 4000, 1.0, 512, true},
        {"bohb", "", 1500, 0.0, 1},          {"bohb", "schedule=async", 1500, 0.0, 1},
        /* the densities rebuilt once per 64 model proposals */
        {"bohb", "schedule=async,batch=64", 4000, 0.0, 1},
    };
    const char *only = getenv("COORD_ONLY"); /* e.g. COORD_ONLY=bananas,bohb */
    const long W_list[] = {4, 16, 64, 100, 1000, 10000};
    printf("coordinator cost per trial (rank 0: ask + 3 commits + tell), measured in process; "
           "then simulated steady utilization\n");
    static double pool[MAX_N];
    for (size_t s = 0; s < sizeof strategies / sizeof strategies[0]; s++) {
        if (only) {
            char want[256];
            snprintf(want, sizeof want, ",%s,", only);
            char me[64];
            snprintf(me, sizeof me, ",%s,", strategies[s].name);
            if (!strstr(want, me))
                continue;
        }
        if (measure(strategies[s].name, strategies[s].opt, strategies[s].budget))
            return 1;
        static double c[MAX_N];
        memcpy(c, R.cost, sizeof(double) * (size_t)R.n);
        cost_model m = {.c = c, .n = R.n, .h = strategies[s].batch > 16 ? strategies[s].batch : 16};
        fit(&m);
        double mean_sim = 0;
        int n_pool = 0;
        for (int i = 0; i < R.n; i++)
            if (isfinite(R.sim[i]) && R.sim[i] > 0) {
                pool[n_pool++] = R.sim[i];
                mean_sim += R.sim[i];
            }
        mean_sim /= n_pool;
        pipe_model pm = {0};
        if (strategies[s].pipeline) {
            /* f: the fit thread's CPU time per fit. Fit call k (k >= 1) starts a fit at trial
             * n_init + kB, joined at trial n_init + (k+1)B: its time is what the other threads
             * spent over those trials (the mean over the complete ones). */
            const int B = strategies[s].batch, n_init = 10;
            double sum = 0;
            int nf = 0;
            for (int k = 1; n_init + (k + 1) * B < R.n; k++, nf++)
                for (int i = n_init + k * B; i <= n_init + (k + 1) * B; i++)
                    sum += R.child[i];
            pm = (pipe_model){.B = B, .n_init = n_init, .f = nf ? sum / nf : 0};
        }
        for (int i = 0; i < n_pool; i++)
            pool[i] /= mean_sim;
        char label[96];
        snprintf(label, sizeof label, "%s%s%s", strategies[s].name, strategies[s].opt[0] ? " " : "",
                 strategies[s].opt);
        printf("\n%-18s c(n) ms: n=10 %.3f  n=100 %.3f  n=%d %.3f | c ~ n^%.2f: n=1000 %.1f  "
               "n=10000 %.1f\n",
               label, 1e3 * cost_at(&m, 10), 1e3 * cost_at(&m, 100), R.n - 1,
               1e3 * cost_at(&m, R.n - 1), m.p, 1e3 * cost_at(&m, 1000), 1e3 * cost_at(&m, 10000));
        if (pm.B)
            printf("%-18s pipelined fit (thread) %.1f ms per fit of %d proposals\n", "", 1e3 * pm.f,
                   pm.B);
        for (int k = 0; k < n_S; k++) {
            printf("  S=%4gs  workers:", S_list[k]);
            for (size_t w = 0; w < sizeof W_list / sizeof W_list[0]; w++)
                printf(" %5ld", W_list[w]);
            printf("\n     as is        ");
            for (size_t w = 0; w < sizeof W_list / sizeof W_list[0]; w++)
                printf(" %4.0f%%", 100 * simulate(&m, pool, n_pool, W_list[w], S_list[k], false,
                                                  strategies[s].ask_frac, -1, &pm, 7));
            if (strategies[s].ask_frac > 0) {
                printf("\n     prefetch     ");
                for (size_t w = 0; w < sizeof W_list / sizeof W_list[0]; w++)
                    printf(" %4.0f%%", 100 * simulate(&m, pool, n_pool, W_list[w], S_list[k], true,
                                                      strategies[s].ask_frac, -1, &pm, 7));
            }
            /* random never waits; synchronous bohb waits for rungs, not for ask-ahead */
            bool waits = strcmp(strategies[s].name, "random") &&
                         (strcmp(strategies[s].name, "bohb") || strcmp(strategies[s].opt, ""));
            for (int mult = 2; mult <= 8 && waits; mult *= 4) {
                printf("\n     ahead %d(W-1)", mult);
                for (size_t w = 0; w < sizeof W_list / sizeof W_list[0]; w++)
                    printf(" %4.0f%%",
                           100 * simulate(&m, pool, n_pool, W_list[w], S_list[k],
                                          strategies[s].ask_frac > 0, strategies[s].ask_frac,
                                          mult * (W_list[w] - 1), &pm, 7));
            }
            printf("\n");
        }
    }
    return 0;
}
