/* test_strategy_learned.c — the learned and model-based strategies of issue 5 (reinforce, ppo,
 * bo-gp, bo-rf, bananas, gan, pnas, bohb, nsga2) against the ask/tell contract of strategy.h:
 *   - the controller's values: a zero policy is uniform (entropy = -log p = log n), the sampler's
 *     log-probabilities equal the forward pass's, the probabilities of a step sum to one;
 *   - on the NAS-Bench-201 table: the same seed gives the same trials, no architecture is
 *     proposed twice, every strategy improves on its first trials;
 *   - save/load: a strategy restored from a snapshot continues exactly like the original;
 *   - every space (pnas: the cell spaces, ARG elsewhere), failed trials, ask_ahead > 0 and
 *     several objectives run through without errors.
 * The benchmark numbers (100 seeds x 100 queries) are bench/strategies/bench_strategies'; the
 * SIGKILL resume test is tests/fault/test_strategy_learned_resume.c. */
#include "test.h"

#include <math.h>

#include "nasc/arena.h"
#include "nasc/predictor.h"
#include "nasc/strategy.h"

static const char *const names[] = {"reinforce", "ppo",  "bo-gp", "bo-rf", "bananas",
                                    "gan",       "pnas", "bohb",  "nsga2"};
#define N_NAMES (int)(sizeof names / sizeof names[0])

/* Small options that exercise every model early (fits after 4 results). */
static const char *small_opts(const char *name) {
    if (!strcmp(name, "bo-gp") || !strcmp(name, "bo-rf"))
        return "init=4,top=3,mutations=3,random=10";
    if (!strcmp(name, "bananas"))
        return "init=4,top=3,mutations=3,random=10,epochs=10,batch=3";
    if (!strcmp(name, "reinforce"))
        return "batch=2";
    if (!strcmp(name, "ppo"))
        return "batch=3,epochs=2";
    if (!strcmp(name, "gan"))
        return "init=4,steps=3,batch=3";
    if (!strcmp(name, "pnas"))
        return "beam=3,expand=50";
    if (!strcmp(name, "bohb"))
        return "min-points=3";
    if (!strcmp(name, "nsga2"))
        return "population=4";
    return "";
}

static nasc_strategy *make(const char *name, const nasc_space *sp, uint64_t seed, int budget,
                           const char *opts, int ask_ahead, int n_obj) {
    nasc_strategy_config sc = {.seed = seed,
                               .budget = budget,
                               .max_fidelity = 1,
                               .ask_ahead = ask_ahead,
                               .n_objectives = n_obj};
    nasc_strategy *st = NULL;
    nasc_err err = {0};
    nasc_status s = nasc_strategy_new(name, sp, &sc, opts, &st, &err);
    CHECK_MSG(s == NASC_OK, "%s(%s) on %s: %s", name, opts ? opts : "", nasc_space_name(sp),
              err.msg);
    return st;
}

/* ---- a synthetic evaluator: score and a second objective from the architecture's hash; NaN
 * for every 5th trial if asked ---- */

typedef struct synth {
    bool nan_every_5th;
    int n_obj;
} synth;

static nasc_status synth_eval(nasc_evaluator *ev, const nasc_eval_request *req,
                              nasc_trial_result *out, nasc_err *err) {
    (void)err;
    synth *s = ev->impl;
    uint64_t h = nasc_arch_hash(req->arch);
    out->status = NASC_TRIAL_OK;
    out->score = (double)(h % 10000) / 100.0;
    if (s->nan_every_5th && req->trial % 5 == 4)
        out->score = NAN;
    if (s->n_obj > 1) {
        out->n_objectives = s->n_obj;
        out->objectives[0] = out->score;
        for (int j = 1; j < s->n_obj; j++)
            out->objectives[j] = (double)((h >> (16 * j)) % 1000);
    }
    return NASC_OK;
}

static nasc_evaluator *synth_new(const nasc_space *sp, bool nan5, int n_obj) {
    synth *s = nasc_malloc(sizeof *s);
    s->nan_every_5th = nan5;
    s->n_obj = n_obj;
    static const nasc_evaluator_i iface = {
        .kind = "synthetic", .evaluate = synth_eval, .free_impl = nasc_free};
    return nasc_evaluator_new(&iface, s, sp);
}

/* ---- traces ---- */

typedef struct trace {
    char *text[256];
    double score[256];
    int n;
} trace;

static void on_trial(int64_t k, const nasc_arch *a, const nasc_trial_result *r, void *user) {
    trace *t = user;
    if (k < 256) {
        t->text[k] = nasc_arch_to_string(a);
        t->score[k] = r->score;
        t->n = (int)k + 1;
    }
}

static void trace_free(trace *t) {
    for (int i = 0; i < t->n; i++)
        nasc_free(t->text[i]);
    t->n = 0;
}

static int run(nasc_strategy *st, nasc_evaluator *ev, int budget, trace *tr) {
    nasc_err err = {0};
    nasc_run_summary rs = {0};
    const nasc_run_config rc = {.budget = budget, .on_trial = tr ? on_trial : NULL, .user = tr};
    nasc_status s = nasc_strategy_run(st, ev, &rc, &rs, &err);
    CHECK_MSG(s == NASC_OK, "%s: %s", nasc_strategy_name(st), err.msg);
    return (int)rs.n;
}

/* Like nasc_strategy_run, but for a strategy that may already have trials (a restored one):
 * asks up to `budget` more trials, telling results lazily in trial order, and tells every
 * remaining result at the end. */
static int drive(nasc_strategy *st, nasc_evaluator *ev, int budget, trace *tr) {
    nasc_err err = {0};
    nasc_arch *archs[256] = {0};
    nasc_trial_result res[256];
    double fid[256];
    const int64_t k0 = st->n_asked;
    int n = 0;
    while (n < budget && n < 256) {
        nasc_proposal p;
        CHECK_STATUS(nasc_strategy_ask(st, &p, &err), NASC_OK);
        if (p.arch) {
            archs[n] = p.arch;
            fid[n] = p.fidelity;
            nasc_eval_request rq = {.trial = k0 + n, .arch = p.arch, .fidelity = p.fidelity};
            nasc_evaluator_evaluate(ev, &rq, &res[n], NULL);
            if (tr)
                on_trial(n, p.arch, &res[n], tr);
            n++;
            continue;
        }
        int64_t k = st->n_told - k0;
        if (k >= n)
            break;
        CHECK_STATUS(nasc_strategy_tell(st, k0 + k, archs[k], fid[k], &res[k], &err), NASC_OK);
    }
    for (int64_t k = st->n_told - k0; k < n; k++)
        CHECK_STATUS(nasc_strategy_tell(st, k0 + k, archs[k], fid[k], &res[k], &err), NASC_OK);
    for (int i = 0; i < n; i++)
        nasc_arch_free(archs[i]);
    return n;
}

/* ---- the controller's values ---- */

static void test_controller_values(void) {
    nasc_err err = {0};
    nasc_space *sp;
    CHECK_STATUS(nasc_space_new("nb201", NULL, &sp, &err), NASC_OK);
    nasc_controller *c;
    CHECK_STATUS(nasc_controller_new(sp, &(nasc_controller_config){.hidden = 8}, 3, &c, &err),
                 NASC_OK);
    nasc_params *ps = nasc_controller_params(c);
    nasc_graph *g = nasc_controller_graph(c);
    /* a zero policy is uniform over the 5 ops of each edge */
    float *w = nasc_params_data(ps);
    float *saved = nasc_malloc(sizeof(float) * nasc_params_flat_len(ps));
    memcpy(saved, w, sizeof(float) * nasc_params_flat_len(ps));
    memset(w, 0, sizeof(float) * nasc_params_flat_len(ps));
    int d[6] = {0, 1, 2, 3, 4, 0};
    nasc_controller_out o;
    nasc_graph_reset(g);
    CHECK_STATUS(nasc_controller_forward(c, g, d, 6, &o), NASC_OK);
    for (int t = 0; t < 6; t++) {
        CHECK_CLOSE(o.neglogp->data[t], log(5.0), 1e-6, 1e-6);
        CHECK_CLOSE(o.entropy->data[t], log(5.0), 1e-6, 1e-6);
    }
    memcpy(w, saved, sizeof(float) * nasc_params_flat_len(ps));
    for (size_t i = 0; i < nasc_params_flat_len(ps); i++) /* a non-uniform policy */
        w[i] *= 20.0f;
    /* sampled log-probabilities == forward's; the choices at step 0 sum to probability 1 */
    nasc_rng rng;
    nasc_rng_init(&rng, 1, NASC_STREAM_USER);
    for (int rep = 0; rep < 5; rep++) {
        int n;
        double lp, step[6];
        CHECK_STATUS(nasc_controller_sample(c, &rng, d, &n, &lp, step, &err), NASC_OK);
        CHECK(n == 6);
        nasc_graph_reset(g);
        CHECK_STATUS(nasc_controller_forward(c, g, d, n, &o), NASC_OK);
        double sum = 0.0;
        for (int t = 0; t < n; t++) {
            CHECK_CLOSE(step[t], -(double)o.neglogp->data[t], 1e-5, 1e-5);
            sum += step[t];
            /* entropy = -sum p log p of step t: check with the probabilities of its 5 choices */
        }
        CHECK_CLOSE(lp, sum, 1e-9, 1e-9);
    }
    double p_tot = 0.0, ent = 0.0, ent_fw = 0.0;
    for (int a = 0; a < 5; a++) {
        d[0] = a;
        nasc_graph_reset(g);
        CHECK_STATUS(nasc_controller_forward(c, g, d, 6, &o), NASC_OK);
        double p = exp(-(double)o.neglogp->data[0]);
        p_tot += p;
        ent -= p * log(p);
        ent_fw = o.entropy->data[0];
    }
    CHECK_CLOSE(p_tot, 1.0, 1e-5, 1e-5);
    CHECK_CLOSE(ent_fw, ent, 1e-4, 1e-5);
    /* an out-of-range decision is an error on the graph, not a crash */
    d[0] = 7;
    nasc_graph_reset(g);
    CHECK_STATUS(nasc_controller_forward(c, g, d, 6, &o), NASC_ERR_ARG);
    nasc_free(saved);
    nasc_controller_free(c);
    nasc_space_free(sp);
}

/* ---- NAS-Bench-201: determinism, no repeats, progress ---- */

/* Besides every strategy with its small options: the paths the defaults no longer take (reinforce
 * without replay and with uniform fallback; nsga2's population tournaments with crossover), and a
 * reinforce whose policy converges within a few trials (lr 0.5, temperature 0.3), so that its
 * fallback (a mutation of the policy's repeat) proposes most of the late trials. */
typedef struct nb_case {
    const char *name, *opts;
} nb_case;
static const nb_case extra[] = {
    {"reinforce", "batch=2,replay=0,fallback=uniform"},
    {"reinforce", "lr=0.5,temperature=0.3,replay=5"},
    {"nsga2", "population=4,parents=population,crossover=0.9"},
};
#define N_EXTRA (int)(sizeof extra / sizeof extra[0])

static void test_nb201(nasc_space *sp, nasc_evaluator *ev) {
    for (int ci = 0; ci < N_NAMES + N_EXTRA; ci++) {
        const char *name = ci < N_NAMES ? names[ci] : extra[ci - N_NAMES].name;
        const char *opts = ci < N_NAMES ? small_opts(name) : extra[ci - N_NAMES].opts;
        trace a = {0}, b = {0};
        nasc_strategy *s1 = make(name, sp, 7, 60, opts, 0, 0);
        nasc_strategy *s2 = make(name, sp, 7, 60, opts, 0, 0);
        nasc_strategy *s3 = make(name, sp, 8, 60, opts, 0, 0);
        if (!s1 || !s2 || !s3)
            continue;
        CHECK(run(s1, ev, 60, &a) == 60);
        CHECK(run(s2, ev, 60, &b) == 60);
        trace c = {0};
        run(s3, ev, 60, &c);
        int same = 0, same_c = 0, dups = 0;
        for (int k = 0; k < 60; k++) {
            same += !strcmp(a.text[k], b.text[k]) && a.score[k] == b.score[k];
            same_c += !strcmp(a.text[k], c.text[k]);
            for (int j = 0; j < k; j++)
                dups += !strcmp(a.text[k], a.text[j]);
        }
        CHECK_MSG(same == 60, "%s: runs with the same seed differ (%d of 60 equal)", name, same);
        CHECK_MSG(same_c < 60, "%s: seeds 7 and 8 give the same trials", name);
        CHECK_MSG(dups == 0, "%s: %d repeated proposals", name, dups);
        /* learning: the best of the last 30 trials beats the median of the first 10 */
        double first[10], best_late = -INFINITY;
        for (int k = 0; k < 10; k++)
            first[k] = a.score[k];
        for (int k = 30; k < 60; k++)
            best_late = fmax(best_late, a.score[k]);
        int below = 0;
        for (int k = 0; k < 10; k++)
            below += first[k] < best_late;
        CHECK_MSG(below >= 5, "%s: no progress (best late %.2f)", name, best_late);
        printf("%-10s 60 trials: deterministic, no repeats, best late %.2f (%s)\n", name, best_late,
               opts);
        trace_free(&a);
        trace_free(&b);
        trace_free(&c);
        nasc_strategy_free(s1);
        nasc_strategy_free(s2);
        nasc_strategy_free(s3);
    }
}

/* ---- save / load ---- */

static void test_snapshot(nasc_space *sp, nasc_evaluator *ev) {
    for (int i = 0; i < N_NAMES; i++) {
        const char *opts = small_opts(names[i]);
        nasc_strategy *s1 = make(names[i], sp, 3, 50, opts, 0, 0);
        if (!s1)
            continue;
        if (!nasc_strategy_can_save(s1)) {
            nasc_strategy_free(s1);
            continue;
        }
        trace a = {0}, b = {0};
        drive(s1, ev, 23, NULL);
        nasc_err err = {0};
        void *buf = NULL;
        size_t len = 0;
        CHECK_STATUS(nasc_strategy_save(s1, &buf, &len, &err), NASC_OK);
        nasc_strategy *s2 = make(names[i], sp, 3, 50, opts, 0, 0);
        CHECK_STATUS(nasc_strategy_load(s2, buf, len, &err), NASC_OK);
        /* continue both for 20 trials: the same proposals and results */
        drive(s1, ev, 20, &a);
        drive(s2, ev, 20, &b);
        int same = 0;
        for (int k = 0; k < a.n && k < b.n; k++)
            same += !strcmp(a.text[k], b.text[k]);
        CHECK_MSG(a.n == 20 && b.n == 20 && same == 20,
                  "%s: restored strategy diverges (%d of 20 equal)", names[i], same);
        /* a truncated snapshot is a FORMAT error, not a crash */
        nasc_strategy *s3 = make(names[i], sp, 3, 50, opts, 0, 0);
        CHECK_STATUS(nasc_strategy_load(s3, buf, len / 2, &err), NASC_ERR_FORMAT);
        printf("%-10s snapshot of %zu bytes restores exactly\n", names[i], len);
        nasc_free(buf);
        trace_free(&a);
        trace_free(&b);
        nasc_strategy_free(s1);
        nasc_strategy_free(s2);
        nasc_strategy_free(s3);
    }
}

/* ---- a coordinator with many workers (issue 17): bananas' pipelined fits, bohb's batches ----
 * bananas with and without pipeline (the next model trains in a thread and a batch is scored by
 * the previous fit; on by default from ask_ahead 64) and bohb with batch=8 propose the same trials
 * for the same seed, and bananas' snapshot, taken while a fit runs, restores exactly (the restored
 * strategy proposes what the original does next). */
static void test_coordinator_options(nasc_space *sp, nasc_evaluator *ev) {
    static const nb_case cases[] = {
        {"bananas", "init=4,top=3,mutations=3,random=10,epochs=10,batch=3"},
        {"bananas", "init=4,top=3,mutations=3,random=10,epochs=10,batch=3,pipeline=on"},
        {"bohb", "min-points=3,batch=8"},
    };
    for (int ci = 0; ci < (int)(sizeof cases / sizeof cases[0]); ci++) {
        const char *name = cases[ci].name, *opts = cases[ci].opts;
        const int ahead = 3;
        trace a = {0}, b = {0}, c = {0};
        nasc_strategy *s1 = make(name, sp, 7, 60, opts, ahead, 0);
        nasc_strategy *s2 = make(name, sp, 7, 60, opts, ahead, 0);
        if (!s1 || !s2)
            continue;
        drive(s1, ev, 60, &a);
        drive(s2, ev, 60, &b);
        int same = 0;
        for (int k = 0; k < a.n && k < b.n; k++)
            same += !strcmp(a.text[k], b.text[k]);
        CHECK_MSG(a.n == 60 && b.n == 60 && same == 60,
                  "%s(%s), ask_ahead %d: runs with the same seed differ (%d of 60)", name, opts,
                  ahead, same);
        nasc_strategy_free(s1);
        nasc_strategy_free(s2);
        trace_free(&b);
        if (!strcmp(name, "bananas")) { /* a snapshot after 30 trials (a fit running) */
            nasc_strategy *s3 = make(name, sp, 7, 60, opts, ahead, 0);
            drive(s3, ev, 30, NULL);
            nasc_err err = {0};
            void *buf = NULL;
            size_t len = 0;
            CHECK_STATUS(nasc_strategy_save(s3, &buf, &len, &err), NASC_OK);
            nasc_strategy *s4 = make(name, sp, 7, 60, opts, ahead, 0);
            CHECK_STATUS(nasc_strategy_load(s4, buf, len, &err), NASC_OK);
            /* (drive tells every result before the snapshot, so compare with s3's continuation) */
            drive(s3, ev, 30, &b);
            drive(s4, ev, 30, &c);
            int same_r = 0;
            for (int k = 0; k < c.n && k < b.n; k++)
                same_r += !strcmp(c.text[k], b.text[k]);
            CHECK_MSG(c.n == 30 && same_r == 30, "%s(%s): restored run diverges (%d of 30)", name,
                      opts, same_r);
            nasc_strategy *s5 = make(name, sp, 7, 60, opts, ahead, 0);
            CHECK_STATUS(nasc_strategy_load(s5, buf, len - 3, &err), NASC_ERR_FORMAT);
            nasc_free(buf);
            nasc_strategy_free(s3);
            nasc_strategy_free(s4);
            nasc_strategy_free(s5);
            trace_free(&b);
            trace_free(&c);
        }
        printf("%-10s ask_ahead %d, %s: deterministic%s\n", name, ahead, opts,
               strcmp(name, "bananas") ? "" : ", snapshot restores exactly");
        trace_free(&a);
    }
}

/* ---- every space, failures, ask_ahead, objectives ---- */

static void test_every_space(void) {
    static const char *const spaces[] = {"nb201", "darts", "chain", "mobilenet", "macro", "morph"};
    nasc_err err = {0};
    for (size_t si = 0; si < sizeof spaces / sizeof spaces[0]; si++) {
        nasc_space *sp;
        CHECK_STATUS(nasc_space_new(spaces[si], NULL, &sp, &err), NASC_OK);
        bool cell = !strcmp(spaces[si], "nb201") || !strcmp(spaces[si], "darts");
        for (int i = 0; i < N_NAMES; i++) {
            const char *opts = small_opts(names[i]);
            if (!strcmp(names[i], "pnas") && !cell) {
                nasc_strategy_config sc = {.seed = 1, .budget = 10, .max_fidelity = 1};
                nasc_strategy *st = NULL;
                CHECK_STATUS(nasc_strategy_new("pnas", sp, &sc, opts, &st, &err), NASC_ERR_ARG);
                CHECK_STR_CONTAINS(err.msg, "nb201 and darts");
                continue;
            }
            for (int variant = 0; variant < 3; variant++) {
                /* 0: plain; 1: NaN every 5th trial and ask_ahead 2; 2: three objectives */
                nasc_evaluator *ev = synth_new(sp, variant == 1, variant == 2 ? 3 : 0);
                nasc_strategy *st =
                    make(names[i], sp, 11, 16, opts, variant == 1 ? 2 : 0, variant == 2 ? 3 : 0);
                if (st) {
                    int n = run(st, ev, 16, NULL);
                    CHECK_MSG(n == 16, "%s on %s (variant %d): %d trials", names[i], spaces[si],
                              variant, n);
                }
                nasc_strategy_free(st);
                nasc_evaluator_free(ev);
            }
        }
        nasc_space_free(sp);
    }
}

static void test_options(nasc_space *sp) {
    nasc_err err = {0};
    nasc_strategy_config sc = {.seed = 1, .budget = 10, .max_fidelity = 1};
    nasc_strategy *st = NULL;
    CHECK_STATUS(nasc_strategy_new("bo-gp", sp, &sc, "kernel=cubic", &st, &err), NASC_ERR_ARG);
    CHECK_STR_CONTAINS(err.msg, "matern|rbf");
    CHECK_STATUS(nasc_strategy_new("ppo", sp, &sc, "clip=0", &st, &err), NASC_ERR_ARG);
    CHECK_STATUS(nasc_strategy_new("bananas", sp, &sc, "encoding=adjacency", &st, &err),
                 NASC_ERR_ARG);
    CHECK_STATUS(nasc_strategy_new("bohb", sp, &sc, "eta=1", &st, &err), NASC_ERR_ARG);
    CHECK(st == NULL);
    /* every name is registered */
    for (int i = 0; i < N_NAMES; i++)
        CHECK_MSG(nasc_strategy_find(names[i]) != NULL, "%s not registered", names[i]);
}

int main(void) {
    nasc_err err = {0};
    nasc_space *sp;
    nasc_evaluator *ev;
    CHECK_STATUS(nasc_space_new("nb201", NULL, &sp, &err), NASC_OK);
    if (nasc_evaluator_tabular_new(sp, "nb201:cifar10", NULL, &ev, &err) != NASC_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    test_controller_values();
    test_options(sp);
    test_nb201(sp, ev);
    test_snapshot(sp, ev);
    test_coordinator_options(sp, ev);
    test_every_space();
    nasc_evaluator_free(ev);
    nasc_space_free(sp);
    return test_done("test_strategy_learned");
}
