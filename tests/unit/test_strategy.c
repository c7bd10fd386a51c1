/* test_strategy.c — the ask/tell strategies: options, determinism, the "wait" contract,
 * exhaustion, snapshots, failed trials, every space, and the NAS-Bench-201 benchmark numbers
 * (searched on validation accuracy, the test accuracy of the best reported: random search matches
 * the table's exact expectation; evolution, GA and local search beat it and evolution reaches
 * 94.1 on CIFAR-10), with tolerances from the standard error. */
#include "test.h"

#include <math.h>

#include "nasc/arena.h"
#include "nasc/strategy.h"

static nasc_space *nb201;
static nasc_evaluator *c10;

static nasc_strategy *make(const char *name, const nasc_space *sp, uint64_t seed, int budget,
                           const char *opts) {
    nasc_strategy_config sc = {.seed = seed, .budget = budget, .max_fidelity = 1};
    nasc_strategy *st = NULL;
    nasc_err err = {0};
    nasc_status s = nasc_strategy_new(name, sp, &sc, opts, &st, &err);
    CHECK_MSG(s == NASC_OK, "%s(%s): %s", name, opts ? opts : "", err.msg);
    return st;
}

/* ---- a synthetic evaluator: a score from the architecture's hash; NaN for every 3rd trial ---- */

typedef struct synth {
    bool nan_every_3rd;
} synth;

static nasc_status synth_eval(nasc_evaluator *ev, const nasc_eval_request *req,
                              nasc_trial_result *out, nasc_err *err) {
    (void)err;
    synth *s = ev->impl;
    out->status = NASC_TRIAL_OK;
    out->score = (double)(nasc_arch_hash(req->arch) % 10000) / 100.0;
    if (s->nan_every_3rd && req->trial % 3 == 2)
        out->score = NAN;
    return NASC_OK;
}

static nasc_evaluator *synth_new(const nasc_space *sp, bool nan3) {
    synth *s = nasc_malloc(sizeof *s);
    s->nan_every_3rd = nan3;
    static const nasc_evaluator_i iface = {
        .kind = "synthetic", .evaluate = synth_eval, .free_impl = nasc_free};
    return nasc_evaluator_new(&iface, s, sp);
}

/* ---- recording a run ---- */

typedef struct trace {
    uint64_t h[512];
    int n, n_failed;
} trace;

static void on_trial(int64_t k, const nasc_arch *a, const nasc_trial_result *r, void *user) {
    trace *t = user;
    if (k < 512)
        t->h[k] = nasc_arch_hash(a) ^ (uint64_t)(r->status == NASC_TRIAL_OK ? 0 : 1);
    t->n = (int)k + 1;
    t->n_failed += r->status != NASC_TRIAL_OK;
}

static double run(const char *name, const char *opts, const nasc_space *sp, nasc_evaluator *ev,
                  uint64_t seed, int budget, trace *tr) {
    nasc_strategy *st = make(name, sp, seed, budget, opts);
    if (!st)
        return NAN;
    nasc_run_summary rs = {.best_score = NAN};
    nasc_err err = {0};
    const nasc_run_config rc = {.budget = budget, .on_trial = tr ? on_trial : NULL, .user = tr};
    CHECK_STATUS(nasc_strategy_run(st, ev, &rc, &rs, &err), NASC_OK);
    nasc_strategy_free(st);
    return rs.best_score;
}

static void test_options(void) {
    nasc_err err = {0};
    nasc_strategy *st = NULL;
    nasc_strategy_config sc = {.seed = 1, .budget = 10};
    CHECK_STATUS(nasc_strategy_new("nope", nb201, &sc, NULL, &st, &err), NASC_ERR_ARG);
    CHECK_STR_CONTAINS(err.msg, "evolution");
    nasc_err_clear(&err);
    CHECK_STATUS(nasc_strategy_new("evolution", nb201, &sc, "populatoin=5", &st, &err),
                 NASC_ERR_ARG);
    CHECK_STR_CONTAINS(err.msg, "unknown option 'populatoin'");
    CHECK_STR_CONTAINS(err.msg, "'populatoin'; did you mean 'population'? (options: ");
    CHECK_STR_CONTAINS(err.msg, "population, sample");
    nasc_err_clear(&err);
    CHECK_STATUS(nasc_strategy_new("evolution", nb201, &sc, "population=0", &st, &err),
                 NASC_ERR_ARG);
    CHECK_STR_CONTAINS(err.msg, "population");
    nasc_err_clear(&err);
    CHECK_STATUS(nasc_strategy_new("evolution", nb201, &sc, "population=5,sample=9", &st, &err),
                 NASC_ERR_ARG);
    nasc_err_clear(&err);
    CHECK_STATUS(nasc_strategy_new("ga", nb201, &sc, "selection=roulette", &st, &err),
                 NASC_ERR_ARG);
    CHECK_STR_CONTAINS(err.msg, "tournament|rank|proportional");
    nasc_err_clear(&err);
    CHECK_STATUS(nasc_strategy_new("ga", nb201, &sc, "crossover=1.5", &st, &err), NASC_ERR_ARG);
    nasc_err_clear(&err);
    CHECK_STATUS(nasc_strategy_new("random", nb201, &sc, "x", &st, &err), NASC_ERR_ARG);
    nasc_err_clear(&err);
    char canon[128];
    CHECK_STATUS(nasc_strategy_opts_canonical("ga", " mutation=0.25 ,population=12", canon,
                                              sizeof canon, &err),
                 NASC_OK);
    CHECK_MSG(!strcmp(canon, "population=12,mutation=0.25"), "canonical '%s'", canon);
    CHECK_STATUS(
        nasc_strategy_new("ga", nb201, &sc, "population=4,elite=2,selection=rank", &st, &err),
        NASC_OK);
    if (st)
        CHECK(nasc_strategy_opt_int(st, "population") == 4 &&
              nasc_strategy_opt_choice(st, "selection") == 1 &&
              nasc_strategy_opt_double(st, "crossover") == 0.5);
    nasc_strategy_free(st);
}

/* Same seed, same trials; another seed, other trials. */
static void test_determinism(void) {
    static const char *const names[] = {"random", "evolution", "ga", "local", "grid"};
    static const char *const opts[] = {"", "", "", "", "order=shuffle"};
    for (int i = 0; i < 5; i++) {
        trace a = {0}, b = {0}, c = {0};
        double ba = run(names[i], opts[i], nb201, c10, 11, 150, &a);
        double bb = run(names[i], opts[i], nb201, c10, 11, 150, &b);
        run(names[i], opts[i], nb201, c10, 12, 150, &c);
        CHECK_MSG(a.n == 150 && b.n == 150, "%s: %d and %d trials", names[i], a.n, b.n);
        CHECK_MSG(!memcmp(a.h, b.h, sizeof a.h) && ba == bb, "%s: same seed, other trials",
                  names[i]);
        CHECK_MSG(memcmp(a.h, c.h, sizeof a.h) != 0, "%s: another seed, the same trials", names[i]);
    }
}

/* max-fit (model-based strategies): the surrogate sees at most N results. Up to N results told it
 * changes nothing; past it the proposals differ; it stays deterministic. */
static void test_max_fit(void) {
    trace all = {0}, big = {0}, a = {0}, b = {0};
    run("bo-gp", "fit-iters=5", nb201, c10, 5, 40, &all);
    run("bo-gp", "fit-iters=5,max-fit=1000", nb201, c10, 5, 40, &big);
    run("bo-gp", "fit-iters=5,max-fit=16", nb201, c10, 5, 40, &a);
    run("bo-gp", "fit-iters=5,max-fit=16", nb201, c10, 5, 40, &b);
    CHECK_MSG(all.n == 40 && a.n == 40 && b.n == 40, "max-fit: %d, %d, %d trials", all.n, a.n,
              b.n);
    CHECK_MSG(!memcmp(all.h, big.h, sizeof all.h), "max-fit above the history changed trials");
    CHECK_MSG(!memcmp(a.h, b.h, sizeof a.h), "max-fit=16: same seed, other trials");
    /* trial k's fit sees the k results before it (batch 1, ask-ahead 0): the same up to k = 16 */
    CHECK_MSG(!memcmp(all.h, a.h, sizeof(uint64_t) * 17), "max-fit=16 changed trials 0..16");
    CHECK_MSG(memcmp(all.h + 17, a.h + 17, sizeof(uint64_t) * 23) != 0,
              "max-fit=16 changed nothing past 16 results");
}

/* A "wait" changes nothing; results must come in order. */
static void test_wait_contract(void) {
    nasc_strategy_config sc = {.seed = 3, .budget = 100, .ask_ahead = 0};
    nasc_strategy *st = NULL;
    nasc_err err = {0};
    CHECK_STATUS(nasc_strategy_new("evolution", nb201, &sc, "population=4,sample=2", &st, &err),
                 NASC_OK);
    if (!st)
        return;
    nasc_arch *archs[6] = {0};
    for (int k = 0; k < 4; k++) {
        nasc_proposal p;
        CHECK_STATUS(nasc_strategy_ask(st, &p, &err), NASC_OK);
        CHECK(p.arch != NULL);
        archs[k] = p.arch;
    }
    nasc_rng before = st->rng;
    nasc_proposal p;
    CHECK_STATUS(nasc_strategy_ask(st, &p, &err), NASC_OK);
    CHECK(p.arch == NULL); /* needs the population's results first */
    CHECK(!memcmp(&before, &st->rng, sizeof before) && st->n_asked == 4);
    nasc_trial_result r;
    nasc_trial_result_init(&r);
    r.status = NASC_TRIAL_OK;
    r.score = 50;
    CHECK_STATUS(nasc_strategy_tell(st, 1, archs[1], 0, &r, &err), NASC_ERR_ARG); /* order */
    nasc_err_clear(&err);
    for (int k = 0; k < 3; k++)
        CHECK_STATUS(nasc_strategy_tell(st, k, archs[k], 0, &r, &err), NASC_OK);
    CHECK_STATUS(nasc_strategy_ask(st, &p, &err), NASC_OK);
    CHECK(p.arch == NULL); /* trial 4 needs trials 0..3 */
    CHECK_STATUS(nasc_strategy_tell(st, 3, archs[3], 0, &r, &err), NASC_OK);
    CHECK_STATUS(nasc_strategy_tell(st, 4, archs[3], 0, &r, &err), NASC_ERR_ARG); /* not asked */
    nasc_err_clear(&err);
    CHECK_STATUS(nasc_strategy_ask(st, &p, &err), NASC_OK);
    CHECK(p.arch != NULL);
    nasc_arch_free(p.arch);
    for (int k = 0; k < 4; k++)
        nasc_arch_free(archs[k]);
    nasc_strategy_free(st);

    /* with ask_ahead = 2, trial P may be proposed when trials 0..P-3 are known */
    sc.ask_ahead = 2;
    CHECK_STATUS(nasc_strategy_new("evolution", nb201, &sc, "population=4,sample=2", &st, &err),
                 NASC_OK);
    for (int k = 0; k < 4; k++) {
        CHECK_STATUS(nasc_strategy_ask(st, &p, &err), NASC_OK);
        archs[k] = p.arch;
    }
    CHECK_STATUS(nasc_strategy_ask(st, &p, &err), NASC_OK);
    CHECK(p.arch == NULL);
    CHECK_STATUS(nasc_strategy_tell(st, 0, archs[0], 0, &r, &err), NASC_OK);
    CHECK_STATUS(nasc_strategy_tell(st, 1, archs[1], 0, &r, &err), NASC_OK);
    CHECK_STATUS(nasc_strategy_ask(st, &p, &err), NASC_OK);
    CHECK(p.arch != NULL); /* trial 4: 4 - 2 = 2 results known */
    nasc_arch_free(p.arch);
    for (int k = 0; k < 4; k++)
        nasc_arch_free(archs[k]);
    nasc_strategy_free(st);
}

static void test_grid(void) {
    nasc_evaluator *ev = synth_new(nb201, false);
    nasc_strategy *st = make("grid", nb201, 1, 20000, NULL);
    if (!st || !ev)
        return;
    nasc_run_summary rs = {0};
    nasc_err err = {0};
    CHECK_STATUS(nasc_strategy_run(st, ev, &(nasc_run_config){.budget = 20000}, &rs, &err),
                 NASC_OK);
    int64_t n = rs.n;
    CHECK_MSG(n == 15625, "grid ran %lld trials on a 15625-architecture space", (long long)n);
    nasc_strategy_free(st);
    nasc_evaluator_free(ev);
    /* grid refuses an infinite space */
    nasc_space *chain = NULL;
    if (nasc_space_new("chain", NULL, &chain, &err) == NASC_OK) {
        nasc_strategy_config sc = {.seed = 1, .budget = 5};
        nasc_strategy *g = NULL;
        nasc_status s = nasc_strategy_new("grid", chain, &sc, NULL, &g, &err);
        if (nasc_space_size(chain) == 0) {
            CHECK_STATUS(s, NASC_ERR_ARG);
            CHECK_STR_CONTAINS(err.msg, "finite");
        }
        nasc_strategy_free(g);
        nasc_space_free(chain);
    }
}

/* Evolution's snapshot: a strategy loaded from it proposes exactly what the original does. */
static void test_snapshot(void) {
    nasc_strategy *a = make("evolution", nb201, 5, 80, NULL);
    if (!a)
        return;
    nasc_err err = {0};
    nasc_arch *archs[80] = {0};
    nasc_trial_result res[80];
    int64_t asked = 0;
    void *snap = NULL;
    size_t snap_len = 0;
    int64_t snap_asked = 0;
    /* drive it by hand with lazy tells, saving after 30 tells */
    while (asked < 80) {
        nasc_proposal p;
        CHECK_STATUS(nasc_strategy_ask(a, &p, &err), NASC_OK);
        if (p.arch) {
            archs[asked] = p.arch;
            nasc_evaluator_evaluate(c10, &(nasc_eval_request){.trial = asked, .arch = p.arch},
                                    &res[asked], &err);
            asked++;
            continue;
        }
        int64_t k = a->n_told;
        CHECK_STATUS(nasc_strategy_tell(a, k, archs[k], 0, &res[k], &err), NASC_OK);
        if (a->n_told == 30) {
            CHECK_STATUS(nasc_strategy_save(a, &snap, &snap_len, &err), NASC_OK);
            snap_asked = a->n_asked;
        }
    }
    CHECK(snap != NULL);
    nasc_strategy *b = make("evolution", nb201, 5, 80, NULL);
    if (snap && b) {
        CHECK_STATUS(nasc_strategy_load(b, snap, snap_len, &err), NASC_OK);
        CHECK(b->n_told == 30 && b->n_asked == snap_asked);
        /* replay from the snapshot: same proposals as the original from snap_asked on */
        int64_t k = snap_asked;
        while (k < 80) {
            nasc_proposal p;
            CHECK_STATUS(nasc_strategy_ask(b, &p, &err), NASC_OK);
            if (p.arch) {
                CHECK_MSG(nasc_arch_equal(p.arch, archs[k]), "trial %lld differs after load",
                          (long long)k);
                nasc_arch_free(p.arch);
                k++;
                continue;
            }
            int64_t t = b->n_told;
            CHECK_STATUS(nasc_strategy_tell(b, t, archs[t], 0, &res[t], &err), NASC_OK);
        }
        /* a damaged snapshot is refused */
        nasc_strategy *c = make("evolution", nb201, 5, 80, NULL);
        CHECK_STATUS(nasc_strategy_load(c, snap, snap_len - 3, &err), NASC_ERR_FORMAT);
        nasc_err_clear(&err);
        ((unsigned char *)snap)[0] ^= 1;
        CHECK_STATUS(nasc_strategy_load(c, snap, snap_len, &err), NASC_ERR_FORMAT);
        nasc_strategy_free(c);
    }
    nasc_free(snap);
    nasc_strategy_free(b);
    for (int i = 0; i < 80; i++)
        nasc_arch_free(archs[i]);
    nasc_strategy_free(a);
}

/* NaN scores become failed trials; every strategy finishes its budget regardless. */
static void test_failed_trials(void) {
    nasc_evaluator *ev = synth_new(nb201, true);
    static const char *const names[] = {"random", "evolution", "ga", "local",
                                        "grid",   "hyperband", "sh"};
    for (int i = 0; i < 7 && ev; i++) {
        trace t = {0};
        double best = run(names[i], NULL, nb201, ev, 4, 90, &t);
        CHECK_MSG(t.n == 90, "%s stopped after %d trials", names[i], t.n);
        CHECK_MSG(t.n_failed == 30, "%s: %d failed trials, expected 30", names[i], t.n_failed);
        CHECK(isfinite(best));
    }
    nasc_evaluator_free(ev);
}

/* Every strategy works on every space (synthetic scores; grid only where the space is finite). */
static void test_every_space(void) {
    static const char *const spaces[] = {"nb201", "darts", "chain", "macro", "morph", "mobilenet"};
    static const char *const names[] = {"random", "evolution", "ga", "local", "grid"};
    for (int s = 0; s < 6; s++) {
        nasc_space *sp = NULL;
        nasc_err err = {0};
        if (nasc_space_new(spaces[s], NULL, &sp, &err) != NASC_OK) {
            fprintf(stderr, "note: space %s not available: %s\n", spaces[s], err.msg);
            continue;
        }
        nasc_evaluator *ev = synth_new(sp, false);
        for (int i = 0; i < 5; i++) {
            if (!strcmp(names[i], "grid") && nasc_space_size(sp) == 0)
                continue;
            trace t = {0};
            double best = run(names[i], "", sp, ev, 2, 40, &t);
            CHECK_MSG(t.n == 40 && isfinite(best), "%s on %s: %d trials", names[i], spaces[s], t.n);
        }
        nasc_evaluator_free(ev);
        nasc_space_free(sp);
    }
}

/* Hyperband's schedule (R = 27, eta = 3: brackets of 27, 12, 6 and 4 configurations) with a
 * score that grows with fidelity; the configurations promoted are the best of their rung. */
typedef struct hb_trace {
    double fid[200];
    uint64_t h[200];
    double score[200];
    int n;
} hb_trace;

static void on_hb(int64_t k, const nasc_arch *a, const nasc_trial_result *r, void *user) {
    hb_trace *t = user;
    if (k < 200) {
        t->fid[k] = r->fidelity;
        t->h[k] = nasc_arch_hash(a);
        t->score[k] = r->status == NASC_TRIAL_OK ? r->score : (double)NAN;
    }
    t->n = (int)k + 1;
}

static nasc_status fid_eval(nasc_evaluator *ev, const nasc_eval_request *req,
                            nasc_trial_result *out, nasc_err *err) {
    (void)ev, (void)err;
    out->status = NASC_TRIAL_OK;
    out->score = (double)(nasc_arch_hash(req->arch) % 1000) + req->fidelity * 1000.0;
    out->fidelity = req->fidelity;
    return NASC_OK;
}

static void test_hyperband(void) {
    static const nasc_evaluator_i fid_i = {.kind = "fidelity", .evaluate = fid_eval};
    nasc_evaluator *ev = nasc_evaluator_new(&fid_i, NULL, nb201);
    nasc_strategy_config sc = {.seed = 1, .budget = 69, .max_fidelity = 27};
    nasc_strategy *st = NULL;
    nasc_err err = {0};
    CHECK_STATUS(nasc_strategy_new("hyperband", nb201, &sc, NULL, &st, &err), NASC_OK);
    hb_trace t = {0};
    nasc_run_summary rs;
    if (st)
        CHECK_STATUS(
            nasc_strategy_run(
                st, ev, &(nasc_run_config){.budget = 69, .on_trial = on_hb, .user = &t}, &rs, &err),
            NASC_OK);
    nasc_strategy_free(st);
    /* bracket s=3: 27 @1, 9 @3, 3 @9, 1 @27; s=2: 12 @3, 4 @9, 1 @27; s=1: 6 @9, 2 @27;
     * s=0: 4 @27 */
    static const int rungs[][2] = {{27, 1}, {9, 3},  {3, 9}, {1, 27}, {12, 3},
                                   {4, 9},  {1, 27}, {6, 9}, {2, 27}, {4, 27}};
    int k = 0, bad = 0;
    for (size_t r = 0; r < sizeof rungs / sizeof rungs[0]; r++)
        for (int i = 0; i < rungs[r][0]; i++, k++)
            bad += t.fid[k] != rungs[r][1];
    CHECK_MSG(t.n == 69 && k == 69 && bad == 0, "hyperband schedule: %d trials, %d wrong", t.n,
              bad);
    /* rung 1 of the first bracket holds the 9 best of rung 0 (score order, ties by position) */
    double thr[27];
    memcpy(thr, t.score, sizeof thr);
    for (int i = 1; i < 27; i++)
        for (int j = i; j > 0 && thr[j] > thr[j - 1]; j--) {
            double x = thr[j];
            thr[j] = thr[j - 1];
            thr[j - 1] = x;
        }
    for (int i = 27; i < 36; i++) {
        int pos = -1;
        for (int j = 0; j < 27; j++)
            if (t.h[j] == t.h[i])
                pos = j;
        CHECK_MSG(pos >= 0 && t.score[pos] >= thr[8], "promoted trial %d is not a top-9 config", i);
    }
    /* sh repeats the most aggressive bracket */
    CHECK_STATUS(nasc_strategy_new("sh", nb201, &sc, "eta=3,min-fidelity=3", &st, &err), NASC_OK);
    memset(&t, 0, sizeof t);
    if (st)
        CHECK_STATUS(
            nasc_strategy_run(
                st, ev, &(nasc_run_config){.budget = 26, .on_trial = on_hb, .user = &t}, &rs, &err),
            NASC_OK);
    nasc_strategy_free(st);
    static const int sh[][2] = {{9, 3}, {3, 9}, {1, 27}, {9, 3}, {3, 9}, {1, 27}};
    k = bad = 0;
    for (size_t r = 0; r < sizeof sh / sizeof sh[0]; r++)
        for (int i = 0; i < sh[r][0]; i++, k++)
            bad += t.fid[k] != sh[r][1];
    CHECK_MSG(bad == 0 && t.n == 26, "sh schedule: %d wrong", bad);
    CHECK_STATUS(nasc_strategy_new("sh", nb201, &sc, "min-fidelity=30", &st, &err), NASC_ERR_ARG);
    nasc_evaluator_free(ev);
}

/* ASHA (schedule=async): every proposal is checked against a plain re-implementation that looks
 * only at the trials' recorded results: trial k promotes the best not yet promoted configuration
 * in the top floor(n/eta) of the n results of its rung among trials 0 .. k-1-ask_ahead (brackets
 * in order, the highest rung first), or starts a new configuration in the bracket the cycle of
 * bracket sizes gives. Every 7th trial fails (never promoted). */
static nasc_status asha_eval(nasc_evaluator *ev, const nasc_eval_request *req,
                             nasc_trial_result *out, nasc_err *err) {
    (void)ev, (void)err;
    out->fidelity = req->fidelity;
    if (req->trial % 7 == 3) {
        out->status = NASC_TRIAL_FAILED;
        return NASC_OK;
    }
    out->status = NASC_TRIAL_OK;
    out->score = (double)(nasc_arch_hash(req->arch) % 1000) + req->fidelity * 1000.0;
    return NASC_OK;
}

/* ladder 1, 3, 9, 27 (R = 27, eta = 3): bracket b (s = 3 - b) has rungs ladder[b .. 3] */
static const double asha_ladder[4] = {1, 3, 9, 27};

static int asha_check(const hb_trace *t, bool hyperband, int lag) {
    static const int br_n[4] = {27, 12, 6, 4}; /* Hyperband's n_s, s = 3 .. 0 */
    int n_br = hyperband ? 4 : 1, bad = 0;
    int64_t n_new = 0;
    int first[200], bracket[200], rung[200]; /* trial -> config's first trial, bracket, rung */
    bool promoted[200] = {0};                /* trial's (config, rung) result was promoted */
    for (int k = 0; k < t->n; k++) {
        int known = k - lag; /* results of trials 0 .. known-1 */
        int exp_src = -1, exp_b = -1, exp_i = -1;
        for (int b = 0; b < n_br && exp_src < 0; b++)
            for (int i = 3 - b - 1; i >= 0 && exp_src < 0; i--) {
                /* the rung's results, best first, ties in trial order, failed last */
                int idx[200], n = 0;
                for (int j = 0; j < known; j++)
                    if (bracket[j] == b && rung[j] == i)
                        idx[n++] = j;
                for (int x = 1; x < n; x++)
                    for (int y = x; y > 0; y--) {
                        double a = isfinite(t->score[idx[y]]) ? t->score[idx[y]] : -INFINITY;
                        double c =
                            isfinite(t->score[idx[y - 1]]) ? t->score[idx[y - 1]] : -INFINITY;
                        if (a <= c)
                            break;
                        int z = idx[y];
                        idx[y] = idx[y - 1];
                        idx[y - 1] = z;
                    }
                int keep = (int)floor(n / 3.0 + 1e-9);
                for (int x = 0; x < keep; x++)
                    if (!promoted[idx[x]] && isfinite(t->score[idx[x]])) {
                        exp_src = idx[x], exp_b = b, exp_i = i + 1;
                        break;
                    }
            }
        if (exp_src >= 0) {
            promoted[exp_src] = true;
            first[k] = first[exp_src], bracket[k] = exp_b, rung[k] = exp_i;
            bad += t->h[k] != t->h[exp_src] || t->fid[k] != asha_ladder[exp_b + exp_i];
        } else {
            int b = 0;
            if (hyperband) {
                int64_t p = n_new % 49;
                while (p >= br_n[b])
                    p -= br_n[b++];
            }
            n_new++;
            first[k] = k, bracket[k] = b, rung[k] = 0;
            bad += t->fid[k] != asha_ladder[b];
        }
    }
    return bad;
}

static void test_asha(void) {
    static const nasc_evaluator_i asha_i = {.kind = "fidelity", .evaluate = asha_eval};
    nasc_evaluator *ev = nasc_evaluator_new(&asha_i, NULL, nb201);
    static const struct {
        const char *name, *opts;
        int lag;
    } cases[] = {
        {"sh", "eta=3,schedule=async", 0},         {"sh", "eta=3", 5}, /* auto: async */
        {"hyperband", "eta=3,schedule=async", 0},  {"hyperband", "eta=3", 7},
        {"hyperband", "eta=3,schedule=async", 40},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        hb_trace t[2];
        for (int rep = 0; rep < 2; rep++) {
            nasc_strategy_config sc = {
                .seed = 3, .budget = 200, .max_fidelity = 27, .ask_ahead = cases[c].lag};
            nasc_strategy *st = NULL;
            nasc_err err = {0};
            CHECK_STATUS(nasc_strategy_new(cases[c].name, nb201, &sc, cases[c].opts, &st, &err),
                         NASC_OK);
            memset(&t[rep], 0, sizeof t[rep]);
            for (int k = 0; k < 200; k++)
                t[rep].score[k] = NAN;
            nasc_run_summary rs;
            if (st)
                CHECK_STATUS(
                    nasc_strategy_run(
                        st, ev,
                        &(nasc_run_config){.budget = 200, .on_trial = on_hb, .user = &t[rep]}, &rs,
                        &err),
                    NASC_OK);
            nasc_strategy_free(st);
        }
        int bad = asha_check(&t[0], !strcmp(cases[c].name, "hyperband"), cases[c].lag);
        int n_top = 0;
        for (int k = 0; k < t[0].n; k++)
            n_top += t[0].fid[k] == 27;
        CHECK_MSG(t[0].n == 200 && bad == 0, "%s %s lag %d: %d trials, %d unlike ASHA",
                  cases[c].name, cases[c].opts, cases[c].lag, t[0].n, bad);
        CHECK_MSG(n_top > 0, "%s %s lag %d: no configuration reached the full fidelity",
                  cases[c].name, cases[c].opts, cases[c].lag);
        CHECK_MSG(!memcmp(t[0].h, t[1].h, sizeof t[0].h) &&
                      !memcmp(t[0].fid, t[1].fid, sizeof t[0].fid),
                  "%s lag %d: not deterministic", cases[c].name, cases[c].lag);
    }
    /* schedule=sync with ask_ahead > 0 keeps the synchronous brackets (27 at fidelity 1 first) */
    nasc_strategy_config sc = {.seed = 3, .budget = 30, .max_fidelity = 27, .ask_ahead = 7};
    nasc_strategy *st = NULL;
    nasc_err err = {0};
    CHECK_STATUS(nasc_strategy_new("sh", nb201, &sc, "eta=3,schedule=sync", &st, &err), NASC_OK);
    hb_trace t = {0};
    nasc_run_summary rs;
    if (st)
        CHECK_STATUS(
            nasc_strategy_run(
                st, ev, &(nasc_run_config){.budget = 30, .on_trial = on_hb, .user = &t}, &rs, &err),
            NASC_OK);
    nasc_strategy_free(st);
    int bad = 0;
    for (int k = 0; k < 30; k++)
        bad += t.fid[k] != (k < 27 ? 1 : 3);
    CHECK_MSG(bad == 0, "sh schedule=sync with ask_ahead: %d trials off the sync schedule", bad);
    nasc_evaluator_free(ev);
}

/* The benchmark: S seeds x 100 queries on the CIFAR-10 table, searched on validation accuracy;
 * the test accuracy of the best-on-validation architecture is what is compared. */
static void bench_row(const char *name, const char *opts, int seeds, double *mean, double *se) {
    double s1 = 0, s2 = 0;
    for (int seed = 1; seed <= seeds; seed++) {
        nasc_strategy *st = make(name, nb201, (uint64_t)seed, 100, opts);
        nasc_run_summary rs = {.best_test = NAN};
        nasc_err err = {0};
        if (st)
            CHECK_STATUS(nasc_strategy_run(st, c10, &(nasc_run_config){.budget = 100}, &rs, &err),
                         NASC_OK);
        nasc_strategy_free(st);
        s1 += rs.best_test;
        s2 += rs.best_test * rs.best_test;
    }
    *mean = s1 / seeds;
    double var = (s2 - s1 * s1 / seeds) / (seeds - 1);
    *se = sqrt(var / seeds);
}

static void test_benchmark(void) {
    const int seeds = 100;
    const nasc_table *t = nasc_evaluator_table(c10);
    double exact, exact_sd;
    /* column 0 is the validation accuracy searched on, column 1 the test accuracy reported */
    nasc_table_expected_best(t, 100, 0, 1, &exact, &exact_sd);
    CHECK_CLOSE(exact, 93.79, 0, 0.02); /* the reference (200 seeds), from the table */
    double m_rand, se_rand;
    bench_row("random", "", seeds, &m_rand, &se_rand);
    /* the sample mean of `seeds` runs is within 4 standard errors of the exact expectation */
    double se_exact = exact_sd / sqrt(seeds);
    CHECK_MSG(fabs(m_rand - exact) <= 4 * se_exact, "random %.3f vs exact %.3f (SE %.3f)", m_rand,
              exact, se_exact);
    static const char *const names[] = {"evolution", "ga", "local"};
    for (int i = 0; i < 3; i++) {
        double m, se;
        bench_row(names[i], "", seeds, &m, &se);
        double se_diff = sqrt(se * se + se_rand * se_rand);
        CHECK_MSG(m - m_rand > 3 * se_diff, "%s %.3f is not clearly better than random %.3f",
                  names[i], m, m_rand);
        if (!strcmp(names[i], "evolution")) /* the reference: 94.13 for P=10, S=3 */
            CHECK_MSG(m >= 94.1, "evolution averages %.3f < 94.1 (SE %.3f)", m, se);
        printf("%-10s %.3f +- %.3f (SE)\n", names[i], m, se);
    }
    printf("%-10s %.3f +- %.3f (SE); exact expectation %.3f\n", "random", m_rand, se_rand, exact);
}

/* The initial population (cfg.init): evolution proposes its first min(P, n_init) entries in order
 * and fills the rest of its first P with random samples; random proposes all of them first; the
 * other strategies refuse a list; a text that does not parse is an ARG error naming its entry. */
static void test_initial_population(void) {
    static const char *const init[] = {
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_1x1~1|nor_"
        "conv_3x3~2|",
        "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_"
        "connect~2|",
        "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
    };
    nasc_err err = {0};
    const struct {
        const char *name, *opts;
        int expect_first; /* trials that must be the list's */
        bool then_sample; /* the next trial is a random sample: the first of a run without list */
    } cases[] = {{"evolution", "population=2,sample=2", 2, false},
                 {"evolution", "population=5,sample=2", 3, true},
                 {"random", "", 3, true}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        nasc_strategy_config sc = {.seed = 5, .budget = 20, .init = init, .n_init = 3};
        nasc_strategy *st = NULL;
        CHECK_STATUS(nasc_strategy_new(cases[c].name, nb201, &sc, cases[c].opts, &st, &err),
                     NASC_OK);
        if (!st)
            continue;
        /* the first proposal of the same strategy without a list */
        nasc_strategy *plain = make(cases[c].name, nb201, 5, 20, cases[c].opts);
        nasc_proposal q = {0};
        CHECK_STATUS(nasc_strategy_ask(plain, &q, &err), NASC_OK);
        for (int k = 0; k <= cases[c].expect_first; k++) {
            nasc_proposal p = {0};
            CHECK_STATUS(nasc_strategy_ask(st, &p, &err), NASC_OK);
            if (!p.arch)
                break;
            char *t = nasc_arch_to_string(p.arch);
            if (k < cases[c].expect_first)
                CHECK_MSG(t && !strcmp(t, init[k]), "%s(%s) trial %d: %s, not the list's",
                          cases[c].name, cases[c].opts, k, t ? t : "?");
            else if (cases[c].then_sample) /* no draws were spent on the list */
                CHECK_MSG(q.arch && nasc_arch_hash(p.arch) == nasc_arch_hash(q.arch),
                          "%s(%s) trial %d: not the sample a run without the list starts with",
                          cases[c].name, cases[c].opts, k);
            else /* evolution past its population: a mutation, not the list's third */
                CHECK_MSG(t && strcmp(t, init[k]), "%s(%s) trial %d: the list beyond P",
                          cases[c].name, cases[c].opts, k);
            nasc_free(t);
            nasc_trial_result r = {.status = NASC_TRIAL_OK, .score = k, .test_score = NAN};
            CHECK_STATUS(nasc_strategy_tell(st, k, p.arch, 0, &r, &err), NASC_OK);
            nasc_arch_free(p.arch);
        }
        nasc_arch_free(q.arch);
        nasc_strategy_free(plain);
        nasc_strategy_free(st);
    }
    nasc_strategy *st = NULL;
    nasc_strategy_config sc = {.seed = 5, .budget = 20, .init = init, .n_init = 3};
    nasc_err_clear(&err);
    CHECK_STATUS(nasc_strategy_new("ga", nb201, &sc, NULL, &st, &err), NASC_ERR_ARG);
    CHECK_STR_CONTAINS(err.msg, "initial population");
    static const char *const bad[] = {"|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
                                      "|conv~0|"};
    sc.init = bad;
    sc.n_init = 2;
    nasc_err_clear(&err);
    CHECK_STATUS(nasc_strategy_new("evolution", nb201, &sc, NULL, &st, &err), NASC_ERR_ARG);
    CHECK_STR_CONTAINS(err.msg, "architecture 2");
    CHECK(st == NULL);
}

int main(void) {
    nasc_err err = {0};
    if (nasc_space_new("nb201", NULL, &nb201, &err) != NASC_OK ||
        nasc_evaluator_tabular_new(nb201, "nb201:cifar10", NASC_SOURCE_DIR "/data/nb201.csv", &c10,
                                   &err) != NASC_OK) {
        fprintf(stderr, "setup: %s\n", err.msg);
        return 1;
    }
    test_options();
    test_initial_population();
    test_determinism();
    test_max_fit();
    test_wait_contract();
    test_grid();
    test_snapshot();
    test_failed_trials();
    test_every_space();
    test_hyperband();
    test_asha();
    test_benchmark();
    nasc_evaluator_free(c10);
    nasc_space_free(nb201);
    return test_done("test_strategy");
}
