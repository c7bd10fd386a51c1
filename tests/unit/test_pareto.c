/* test_pareto.c — multi-objective search (pareto.h):
 *   - objective and constraint lists: parsing, units, canonical text, every kind of error;
 *   - dominance, non-dominated sorting, crowding distance, the front and the scalarisation on
 *     hand-made points (NaN is worse than anything);
 *   - constraints turn a successful trial into a failed one with the reason;
 *   - a multi-objective search on the NAS-Bench-201 space (accuracy from the table, parameters
 *     and multiply-adds from the cost model) with nsga2, bo-gp and reinforce returns a Pareto front
 *     none of whose members is dominated by any evaluated architecture, holding the most accurate
 *     and the smallest architecture found;
 *   - with two objectives (accuracy, parameters) reinforce, ppo and gan, whose proposals are
 *     screened together with neighbours of the front (`neighbours`), never repeat an
 *     architecture, give the same trials for the same seed, and other trials with neighbours=0
 *     (so the neighbours are used). */
#include "test.h"

#include <math.h>

#include "nasc/arena.h"
#include "nasc/pareto.h"
#include "nasc/strategy.h"

static void test_parse(void) {
    nasc_err err = {0};
    nasc_objectives o;
    char ob[128], cb[256];
    CHECK_STATUS(nasc_objectives_parse(NULL, NULL, &o, &err), NASC_OK);
    CHECK(o.n == 1 && o.kind[0] == NASC_OBJ_ACCURACY && o.n_constraints == 0);
    CHECK(!nasc_objectives_need_cost(&o));
    CHECK_STATUS(nasc_objectives_parse("params, acc,flops", "", &o, &err), NASC_OK);
    CHECK(o.n == 3 && o.kind[0] == NASC_OBJ_ACCURACY && o.kind[1] == NASC_OBJ_PARAMS &&
          o.kind[2] == NASC_OBJ_FLOPS);
    nasc_objectives_format(&o, ob, sizeof ob, cb, sizeof cb);
    CHECK_STR_CONTAINS(ob, "acc,params,flops");
    CHECK(nasc_objectives_need_cost(&o));
    CHECK_STATUS(nasc_objectives_parse("accuracy,macs,latency",
                                       "params<=1.5M, latency<=5ms,"
                                       "memory<=2MB,acc>=90%,flops<=300M",
                                       &o, &err),
                 NASC_OK);
    CHECK(o.n == 3 && o.kind[1] == NASC_OBJ_FLOPS && o.kind[2] == NASC_OBJ_LATENCY);
    CHECK(o.n_constraints == 5);
    CHECK(o.constraint[0].kind == NASC_OBJ_PARAMS && o.constraint[0].bound == 1.5e6);
    CHECK(o.constraint[1].kind == NASC_OBJ_LATENCY && o.constraint[1].bound == 5.0);
    CHECK(o.constraint[2].kind == NASC_OBJ_MEMORY && o.constraint[2].bound == 2.0 * 1024 * 1024);
    CHECK(o.constraint[3].kind == NASC_OBJ_ACCURACY && o.constraint[3].bound == 90.0);
    CHECK(o.constraint[4].bound == 3e8);
    nasc_objectives_format(&o, ob, sizeof ob, cb, sizeof cb);
    CHECK_STR_CONTAINS(cb, "params<=1500000");
    CHECK_STR_CONTAINS(cb, "acc>=90");
    /* the canonical text parses back to the same */
    nasc_objectives o2;
    CHECK_STATUS(nasc_objectives_parse(ob, cb, &o2, &err), NASC_OK);
    CHECK(!memcmp(&o, &o2, sizeof o));
    nasc_err_clear(&err);
    CHECK_STATUS(nasc_objectives_parse("acc,si ze", NULL, &o, &err), NASC_ERR_ARG);
    CHECK_STR_CONTAINS(err.msg, "objective 'si ze': unknown");
    nasc_err_clear(&err);
    /* any other name is a table column: a cost, bounded either way, listed once per name */
    CHECK_STATUS(nasc_objectives_parse("valid,latency_raspi4",
                                       "latency_pixel3<=5,params_mb>=0.1,latency_raspi4<=40", &o,
                                       &err),
                 NASC_OK);
    CHECK(o.n == 2 && o.kind[0] == NASC_OBJ_ACCURACY && o.kind[1] == NASC_OBJ_COLUMN &&
          !strcmp(o.column[1], "latency_raspi4") && o.col[1] == 0);
    CHECK(o.n_constraints == 3 && o.constraint[0].kind == NASC_OBJ_COLUMN &&
          o.constraint[0].col == 1 && !o.constraint[0].at_least && o.constraint[0].bound == 5 &&
          o.constraint[1].at_least && o.constraint[1].col == 2 && o.constraint[2].col == 0);
    CHECK(!nasc_objectives_need_cost(&o));
    const char *cols[NASC_MAX_COLUMNS];
    CHECK(nasc_objectives_columns(&o, cols) == 3 && o.n_columns == 3 &&
          !strcmp(cols[0], "latency_raspi4") && !strcmp(cols[1], "latency_pixel3") &&
          !strcmp(cols[2], "params_mb"));
    nasc_objectives_format(&o, ob, sizeof ob, cb, sizeof cb);
    CHECK_MSG(!strcmp(ob, "acc,latency_raspi4") &&
                  !strcmp(cb, "latency_pixel3<=5,params_mb>=0.10000000000000001,"
                              "latency_raspi4<=40"),
              "'%s' / '%s'", ob, cb);
    CHECK_STATUS(nasc_objectives_parse(ob, cb, &o2, &err), NASC_OK);
    CHECK(!memcmp(&o, &o2, sizeof o));
    CHECK_STATUS(nasc_objectives_parse("acc,lat_a,lat_a", NULL, &o, &err), NASC_ERR_ARG);
    CHECK_STR_CONTAINS(err.msg, "'lat_a' listed twice");
    nasc_err_clear(&err);
    CHECK_STATUS(nasc_objectives_parse(NULL, "latency_pixel3<=5ms", &o, &err), NASC_ERR_ARG);
    CHECK_STR_CONTAINS(err.msg, "unknown unit 'ms'");
    nasc_err_clear(&err);
    CHECK_STATUS(nasc_objectives_parse("params,params", NULL, &o, &err), NASC_ERR_ARG);
    CHECK_STR_CONTAINS(err.msg, "listed twice");
    nasc_err_clear(&err);
    CHECK_STATUS(nasc_objectives_parse("acc,params,flops,latency,memory", NULL, &o, &err),
                 NASC_ERR_ARG);
    CHECK_STR_CONTAINS(err.msg, "more than 4");
    nasc_err_clear(&err);
    CHECK_STATUS(nasc_objectives_parse("acc,,params", NULL, &o, &err), NASC_ERR_ARG);
    nasc_err_clear(&err);
    CHECK_STATUS(nasc_objectives_parse(NULL, "params>=5", &o, &err), NASC_ERR_ARG);
    CHECK_STR_CONTAINS(err.msg, "from above");
    nasc_err_clear(&err);
    CHECK_STATUS(nasc_objectives_parse(NULL, "acc<=90", &o, &err), NASC_ERR_ARG);
    CHECK_STR_CONTAINS(err.msg, "from below");
    nasc_err_clear(&err);
    CHECK_STATUS(nasc_objectives_parse(NULL, "params<=lots", &o, &err), NASC_ERR_ARG);
    CHECK_STR_CONTAINS(err.msg, "expected a number");
    nasc_err_clear(&err);
    CHECK_STATUS(nasc_objectives_parse(NULL, "latency<=5kg", &o, &err), NASC_ERR_ARG);
    CHECK_STR_CONTAINS(err.msg, "unknown unit 'kg'");
    nasc_err_clear(&err);
    CHECK_STATUS(nasc_objectives_parse(NULL, "params=5", &o, &err), NASC_ERR_ARG);
    nasc_err_clear(&err);
    CHECK_STATUS(nasc_objectives_parse(NULL, "de pth<=5", &o, &err), NASC_ERR_ARG);
    CHECK_STR_CONTAINS(err.msg, "unknown quantity 'de pth'");
}

static void test_tools(void) {
    /* (acc, params): acc maximised, params minimised */
    const double P[][2] = {
        {90, 100},  /* 0: front */
        {92, 200},  /* 1: front */
        {89, 150},  /* 2: dominated by 0 */
        {92, 250},  /* 3: dominated by 1 */
        {95, 400},  /* 4: front */
        {90, 100},  /* 5: equal to 0: not dominated (front) */
        {NAN, NAN}, /* 6: failed (every objective NaN): never on the front, ranked behind */
        {85, 300},  /* 7: dominated by 0, 1, 2 ... (rank 2) */
    };
    const int n = 8;
    CHECK(nasc_pareto_dominates(P[0], P[2], 2));
    CHECK(!nasc_pareto_dominates(P[0], P[1], 2) && !nasc_pareto_dominates(P[1], P[0], 2));
    CHECK(!nasc_pareto_dominates(P[0], P[5], 2)); /* equal: no */
    CHECK(nasc_pareto_dominates(P[0], P[6], 2));  /* NaN loses */
    const double part[2] = {NAN, 10};             /* NaN accuracy, tiny: incomparable with 0 */
    CHECK(!nasc_pareto_dominates(P[0], part, 2) && !nasc_pareto_dominates(part, P[0], 2));
    int front[8];
    int nf = nasc_pareto_front(&P[0][0], n, 2, front);
    CHECK(nf == 4 && front[0] == 0 && front[1] == 1 && front[2] == 4 && front[3] == 5);
    int rank[8];
    CHECK(nasc_pareto_sort(&P[0][0], n, 2, rank) >= 3);
    CHECK(rank[0] == 0 && rank[1] == 0 && rank[4] == 0 && rank[5] == 0);
    CHECK(rank[2] == 1 && rank[3] == 1);
    CHECK(rank[7] == 2);
    CHECK(rank[6] >= 1);
    /* crowding within the first front (0,1,4,5): the extremes are infinite */
    int idx[4] = {0, 1, 4, 5};
    double cd[4];
    nasc_pareto_crowding(&P[0][0], 2, idx, 4, cd);
    CHECK(isinf(cd[2]));                 /* 4: best acc, worst params */
    CHECK(isinf(cd[0]) || isinf(cd[3])); /* one of the equal points is a boundary */
    CHECK(isfinite(cd[1]) && cd[1] > 0);
    /* scalarisation: the point best in every objective scores 0, the worst -(1 + 0.05 * 1) */
    double lo[2] = {85, 100}, hi[2] = {95, 400}, w[2] = {0.5, 0.5};
    double best[2] = {95, 100}, worst[2] = {85, 400};
    CHECK_CLOSE(nasc_pareto_scalarize(best, 2, w, lo, hi), 0.0, 0, 1e-12);
    CHECK_CLOSE(nasc_pareto_scalarize(worst, 2, w, lo, hi), -(0.5 + 0.05), 1e-12, 0);
    CHECK(nasc_pareto_scalarize(P[6], 2, w, lo, hi) == -INFINITY);
    /* hypervolume against ref (80, 500): front 0 (90,100), 1 (92,200), 4 (95,400) covers
     * [100,200) x 10 + [200,400) x 12 + [400,500) x 15 = 1000 + 2400 + 1500; dominated points,
     * duplicates and NaN add nothing, nor do points outside the reference box */
    const double ref[2] = {80, 500};
    CHECK_CLOSE(nasc_pareto_hypervolume2(&P[0][0], n, ref), 4900.0, 1e-12, 0);
    const double outside[][2] = {{95, 100}, {70, 50}, {99, 600}};
    CHECK_CLOSE(nasc_pareto_hypervolume2(&outside[0][0], 3, ref), 15.0 * 400, 1e-12, 0);
    CHECK(nasc_pareto_hypervolume2(&outside[1][0], 2, ref) == 0.0);
}

static void test_apply(void) {
    nasc_err err = {0};
    nasc_objectives o;
    CHECK_STATUS(nasc_objectives_parse("acc,params", "params<=1000", &o, &err), NASC_OK);
    nasc_trial_result r;
    nasc_trial_result_init(&r);
    r.status = NASC_TRIAL_OK;
    r.score = 91.5;
    nasc_cost c;
    nasc_cost_unknown(&c);
    c.params = 800;
    c.flops = 5e6;
    CHECK(nasc_objectives_apply(&o, &c, &r));
    CHECK(r.status == NASC_TRIAL_OK && r.n_objectives == 2 && r.objectives[0] == 91.5 &&
          r.objectives[1] == 800 && r.cost.flops == 5e6);
    c.params = 1200;
    CHECK(!nasc_objectives_apply(&o, &c, &r));
    CHECK(r.status == NASC_TRIAL_FAILED);
    CHECK_STR_CONTAINS(r.reason, "constraint params<=1000 violated (1200)");
    /* table columns come from r.columns, in nasc_objectives_columns' order */
    CHECK_STATUS(nasc_objectives_parse("acc,latency_raspi4", "latency_pixel3<=5", &o, &err),
                 NASC_OK);
    nasc_trial_result_init(&r);
    r.status = NASC_TRIAL_OK;
    r.score = 90;
    r.n_columns = 2;
    r.columns[0] = 30.5; /* latency_raspi4 */
    r.columns[1] = 4.0;  /* latency_pixel3 */
    nasc_cost_unknown(&c);
    CHECK(nasc_objectives_apply(&o, &c, &r));
    CHECK(r.status == NASC_TRIAL_OK && r.n_objectives == 2 && r.objectives[1] == 30.5);
    CHECK(nasc_objectives_value(&o, 1, &r) == 30.5 &&
          isnan(nasc_objective_value(NASC_OBJ_COLUMN, &r)));
    r.columns[1] = 6.0;
    CHECK(!nasc_objectives_apply(&o, &c, &r));
    CHECK_STR_CONTAINS(r.reason, "constraint latency_pixel3<=5 violated (6)");
}

/* ---- a multi-objective search on NAS-Bench-201 ---- */

typedef struct mo_eval {
    nasc_evaluator *table; /* with the cost model on */
    nasc_objectives o;
} mo_eval;

static nasc_status mo_evaluate(nasc_evaluator *ev, const nasc_eval_request *req,
                               nasc_trial_result *out, nasc_err *err) {
    mo_eval *m = ev->impl;
    NASC_TRY(nasc_evaluator_evaluate(m->table, req, out, err));
    nasc_cost c = out->cost;
    nasc_objectives_apply(&m->o, &c, out);
    return NASC_OK;
}

static void mo_free(void *impl) {
    mo_eval *m = impl;
    nasc_evaluator_free(m->table);
    nasc_free(m);
}

typedef struct mo_trace {
    double obj[200][3];
    int n;
} mo_trace;

static void mo_record(int64_t k, const nasc_arch *a, const nasc_trial_result *r, void *user) {
    (void)a;
    mo_trace *t = user;
    if (k >= 200)
        return;
    for (int j = 0; j < 3; j++)
        t->obj[k][j] = r->status == NASC_TRIAL_OK && r->n_objectives == 3 ? r->objectives[j] : NAN;
    t->n = (int)k + 1;
}

/* The NB201 CIFAR-10 table with computed costs as a multi-objective evaluator over sp (objectives
 * as --objective takes them); NULL (a failed check) if the table cannot be read. The NB201
 * network (C=16, N=5 at 3x32x32) would do too; C=8, N=1 keeps the tests fast and the costs still
 * depend on every op. */
static nasc_evaluator *mo_table_evaluator(nasc_space *sp, const char *objectives) {
    nasc_err err = {0};
    mo_eval *m = nasc_calloc(1, sizeof *m);
    CHECK_STATUS(nasc_objectives_parse(objectives, NULL, &m->o, &err), NASC_OK);
    if (nasc_evaluator_tabular_new(sp, "nb201:cifar10", NULL, &m->table, &err) != NASC_OK) {
        fprintf(stderr, "%s\n", err.msg);
        CHECK(0);
        nasc_free(m);
        return NULL;
    }
    nasc_evaluator_set_cost(
        m->table,
        &(nasc_net_config){
            .in_c = 3, .in_h = 32, .in_w = 32, .n_classes = 10, .channels = 8, .cells = 1},
        0);
    static const nasc_evaluator_i iface = {
        .kind = "multi-objective", .evaluate = mo_evaluate, .free_impl = mo_free};
    return nasc_evaluator_new(&iface, m, sp);
}

static void test_search(void) {
    nasc_err err = {0};
    nasc_space *sp;
    CHECK_STATUS(nasc_space_new("nb201", NULL, &sp, &err), NASC_OK);
    nasc_evaluator *ev = mo_table_evaluator(sp, "acc,params,flops");
    if (!ev) {
        nasc_space_free(sp);
        return;
    }
    static const char *const strategies[][2] = {
        {"nsga2", "population=10"}, {"bo-gp", "init=8"}, {"reinforce", "batch=2"}};
    for (size_t si = 0; si < sizeof strategies / sizeof strategies[0]; si++) {
        const int budget = 50;
        nasc_strategy *st;
        nasc_strategy_config sc = {
            .seed = 4, .budget = budget, .max_fidelity = 1, .n_objectives = 3};
        CHECK_STATUS(nasc_strategy_new(strategies[si][0], sp, &sc, strategies[si][1], &st, &err),
                     NASC_OK);
        mo_trace *tr = nasc_calloc(1, sizeof *tr);
        nasc_run_summary rs;
        const nasc_run_config rc = {.budget = budget, .on_trial = mo_record, .user = tr};
        CHECK_STATUS(nasc_strategy_run(st, ev, &rc, &rs, &err), NASC_OK);
        CHECK(tr->n == budget);
        int front[200];
        int nf = nasc_pareto_front(&tr->obj[0][0], tr->n, 3, front);
        /* no front member is dominated by any evaluated architecture (brute force) */
        int dominated = 0;
        for (int i = 0; i < nf; i++)
            for (int k = 0; k < tr->n; k++)
                dominated += nasc_pareto_dominates(tr->obj[k], tr->obj[front[i]], 3);
        CHECK_MSG(dominated == 0, "%s: %d dominations of front members", strategies[si][0],
                  dominated);
        /* and every evaluated point off the front is dominated by some front member */
        int lost = 0;
        for (int k = 0; k < tr->n; k++) {
            bool on = false, dom = false;
            for (int i = 0; i < nf; i++) {
                on |= front[i] == k;
                dom |= nasc_pareto_dominates(tr->obj[front[i]], tr->obj[k], 3);
            }
            if (!on && !isnan(tr->obj[k][0]) && !dom) {
                /* equal to a front member is fine (not dominated, not on the list twice) */
                bool equal = false;
                for (int i = 0; i < nf; i++)
                    equal |= !memcmp(tr->obj[front[i]], tr->obj[k], sizeof tr->obj[k]);
                lost += !equal;
            }
        }
        CHECK_MSG(lost == 0, "%s: %d points neither on the front nor dominated", strategies[si][0],
                  lost);
        /* the extremes belong to it: the most accurate and the smallest architecture */
        double amax = -INFINITY, pmin = INFINITY, famax = -INFINITY, fpmin = INFINITY;
        for (int k = 0; k < tr->n; k++)
            if (!isnan(tr->obj[k][0])) {
                amax = fmax(amax, tr->obj[k][0]);
                pmin = fmin(pmin, tr->obj[k][1]);
            }
        for (int i = 0; i < nf; i++) {
            famax = fmax(famax, tr->obj[front[i]][0]);
            fpmin = fmin(fpmin, tr->obj[front[i]][1]);
        }
        CHECK(nf >= 3 && famax == amax && fpmin == pmin);
        double famin = INFINITY, fpmax = -INFINITY;
        for (int i = 0; i < nf; i++) {
            famin = fmin(famin, tr->obj[front[i]][0]);
            fpmax = fmax(fpmax, tr->obj[front[i]][1]);
        }
        printf("%-10s %d trials: Pareto front of %d, accuracy %.2f..%.2f, params %.0f..%.0f\n",
               strategies[si][0], tr->n, nf, famin, famax, fpmin, fpmax);
        nasc_free(tr);
        nasc_strategy_free(st);
    }
    nasc_evaluator_free(ev);
    nasc_space_free(sp);
}

/* ---- two objectives: the screened samplers with the front's neighbours ---- */

typedef struct arch_trace {
    char *text[80];
    int n;
} arch_trace;

static void arch_record(int64_t k, const nasc_arch *a, const nasc_trial_result *r, void *user) {
    (void)r;
    arch_trace *t = user;
    if (k < 80) {
        t->text[k] = nasc_arch_to_string(a);
        t->n = (int)k + 1;
    }
}

static void arch_trace_free(arch_trace *t) {
    for (int i = 0; i < t->n; i++)
        nasc_free(t->text[i]);
    t->n = 0;
}

static void run_two(nasc_evaluator *ev, const nasc_space *sp, const char *name, const char *opts,
                    arch_trace *tr) {
    nasc_err err = {0};
    const int budget = 60;
    nasc_strategy *st;
    nasc_strategy_config sc = {.seed = 9, .budget = budget, .max_fidelity = 1, .n_objectives = 2};
    CHECK_STATUS(nasc_strategy_new(name, sp, &sc, opts, &st, &err), NASC_OK);
    nasc_run_summary rs;
    const nasc_run_config rc = {.budget = budget, .on_trial = arch_record, .user = tr};
    CHECK_STATUS(nasc_strategy_run(st, ev, &rc, &rs, &err), NASC_OK);
    CHECK_MSG(tr->n == budget, "%s: %d trials", name, tr->n);
    nasc_strategy_free(st);
}

static void test_neighbours(void) {
    nasc_err err = {0};
    nasc_space *sp;
    CHECK_STATUS(nasc_space_new("nb201", NULL, &sp, &err), NASC_OK);
    nasc_evaluator *ev = mo_table_evaluator(sp, "acc,params");
    if (!ev) {
        nasc_space_free(sp);
        return;
    }
    static const char *const names[] = {"reinforce", "ppo", "gan"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        arch_trace a = {0}, b = {0}, c = {0};
        run_two(ev, sp, names[i], NULL, &a);
        run_two(ev, sp, names[i], NULL, &b);
        run_two(ev, sp, names[i], "neighbours=0", &c);
        int repeats = 0, differ = 0, differ0 = 0;
        for (int k = 0; k < a.n; k++) {
            for (int j = 0; j < k; j++)
                repeats += !strcmp(a.text[j], a.text[k]);
            differ += k >= b.n || strcmp(a.text[k], b.text[k]) != 0;
            differ0 += k >= c.n || strcmp(a.text[k], c.text[k]) != 0;
        }
        CHECK_MSG(repeats == 0, "%s: %d repeated architectures", names[i], repeats);
        CHECK_MSG(differ == 0, "%s: %d trials differ between two runs of one seed", names[i],
                  differ);
        CHECK_MSG(differ0 > 0, "%s: neighbours=0 gives the same trials", names[i]);
        arch_trace_free(&a);
        arch_trace_free(&b);
        arch_trace_free(&c);
    }
    nasc_evaluator_free(ev);
    nasc_space_free(sp);
}

int main(void) {
    test_parse();
    test_tools();
    test_apply();
    test_search();
    test_neighbours();
    return test_done("test_pareto");
}
