/* nsga2.c — NSGA-II ("nsga2"; Deb, Pratap, Agarwal & Meyarivan, IEEE TEC 2002): the evolutionary
 * strategy for multi-objective search (pareto.h). Objective vectors are the told results'
 * objectives (score first, then costs); with a single objective it is a generational GA with
 * elitism ranked by the score.
 *
 * Generation 0: P uniform samples. Every later generation: P children, each from two parents
 * chosen by binary tournaments on (front rank, then crowding distance) among the population, or
 * with parents=front (the default) on crowding distance among the non-dominated set of every
 * result so far (an unbounded elitist archive: a front member pushed out of the population by
 * crowding is not lost; used once that set has two members, so not with one objective), crossed
 * over with probability `crossover` and mutated once (never a copy of an architecture proposed
 * before: up to 50 tries, then a uniform unseen sample). When all children's results are told,
 * parents and children are merged and the next population is filled front by front, the last front
 * cut by crowding distance (sec. III-C). Failed trials rank behind every feasible one (their
 * objectives count as NaN, worse than any value). With two objectives and screen=K > 1 (default
 * 4), each proposal is the best of K distinct unseen children by expected hypervolume improvement
 * under ridge regressions of both objectives on the one-hot encoding (mo.c; surrogate-assisted
 * selection). With two objectives and parents=front, by default (all chosen on validation:
 * docs/STRATEGIES.md §4): the archive is rebuilt from every known result at each proposal
 * (steady=1: no generations, the population is not used), it holds only the front members that
 * dominate the reference point (box=1: the median accuracy and cost of the first ref-n=20
 * results, mo.c), and tournaments compare their hypervolume contributions (select=hvc) rather
 * than crowding distances, which favour the front's extremes (infinite crowding distance) even
 * where they add nothing to the hypervolume. Resume replays (no save/load). */
#include "learn_int.h"
#include "mo_int.h"

#include <math.h>
#include <string.h>

typedef struct nsga2 {
    learn_base b;
    int P;
    double p_cross;
    int *pop; /* history indices of the current population */
    int n_pop;
    int *rank; /* of pop members */
    double *crowd;
    int64_t gen_end; /* trials [gen_start, gen_end) are the current generation's children */
    double *obj;     /* scratch: vectors of the merged set */
    int *idx, *tmp;
    /* parents=front: the non-dominated set of every told trial (an unbounded elitist archive) */
    bool from_front;
    int *fr;       /* its history indices */
    double *fr_cd; /* their crowding distances */
    int n_fr;
    int screen; /* two objectives: children drawn per proposal, the best by model EHVI kept */
    bool box;   /* two objectives: the archive is the front inside the reference box */
    bool hvc;   /* two objectives: tournaments by hypervolume contribution, not crowding */
    int ref_n;  /* the reference point from the first ref_n results */
    bool steady; /* parents=front: the archive is rebuilt at every ask, not every generation */
} nsga2;

static const nasc_strategy_opt nsga2_opts[] = {
    {.name = "population",
     .type = NASC_OPT_INT,
     .def = "10",
     .min = 2,
     .max = 100000,
     .help = "population size P (children per generation)"},
    {.name = "crossover",
     .type = NASC_OPT_DOUBLE,
     .def = "0",
     .min = 0,
     .max = 1,
     .help = "probability that a child is a crossover of its parents"},
    {.name = "parents",
     .type = NASC_OPT_CHOICE,
     .def = "front",
     .choices = "population|front",
     .help = "tournaments among the population (NSGA-II) or among the non-dominated set of "
             "every result so far (an elitist archive)"},
    {.name = "screen",
     .type = NASC_OPT_INT,
     .def = "4",
     .min = 1,
     .max = 100000,
     .help = "two objectives: children drawn per proposal, of which the one with the highest "
             "expected hypervolume improvement under linear models of both objectives is "
             "proposed (1: off)"},
    {.name = "box",
     .type = NASC_OPT_INT,
     .def = "1",
     .min = 0,
     .max = 1,
     .help = "two objectives, parents=front: parents only from the archive members that "
             "dominate the reference point (when there are two)"},
    {.name = "ref-n",
     .type = NASC_OPT_INT,
     .def = "20",
     .min = 0,
     .max = 1000000,
     .help = "two objectives: the reference point (median accuracy and cost) from the first N "
             "results (0: the population)"},
    {.name = "steady",
     .type = NASC_OPT_INT,
     .def = "1",
     .min = 0,
     .max = 1,
     .help = "two objectives, parents=front: rebuild the archive from every known result at each "
             "proposal (steady state) instead of once per generation"},
    {.name = "select",
     .type = NASC_OPT_CHOICE,
     .def = "hvc",
     .choices = "crowding|hvc",
     .help = "two objectives, parents=front: tournaments by crowding distance or by each "
             "member's hypervolume contribution in the reference box"},
};

static nasc_status nsga2_init(nasc_strategy *s, nasc_err *err) {
    nsga2 *q = nasc_calloc(1, sizeof *q);
    if (!q)
        return nasc_errorf(err, NASC_ERR_NOMEM, "nsga2: out of memory");
    s->impl = q;
    NASC_TRY(nasc_learn_init(&q->b, s, err));
    q->P = nasc_strategy_opt_int(s, "population");
    q->p_cross = nasc_strategy_opt_double(s, "crossover");
    q->from_front = nasc_strategy_opt_choice(s, "parents") == 1;
    q->screen = nasc_strategy_opt_int(s, "screen");
    q->box = nasc_strategy_opt_int(s, "box") == 1;
    q->hvc = nasc_strategy_opt_choice(s, "select") == 1;
    q->ref_n = nasc_strategy_opt_int(s, "ref-n");
    q->steady = nasc_strategy_opt_int(s, "steady") == 1 && q->from_front && q->b.n_obj == 2;
    if (!q->ref_n)
        q->ref_n = q->P;
    size_t n2 = 2 * (size_t)q->P;
    q->pop = nasc_calloc(n2, sizeof(int));
    q->rank = nasc_calloc(n2, sizeof(int));
    q->crowd = nasc_calloc(n2, sizeof(double));
    q->obj = nasc_calloc(n2 * NASC_MAX_OBJECTIVES, sizeof(double));
    q->idx = nasc_calloc(n2, sizeof(int));
    q->tmp = nasc_calloc(n2, sizeof(int));
    if (!q->pop || !q->rank || !q->crowd || !q->obj || !q->idx || !q->tmp)
        return nasc_errorf(err, NASC_ERR_NOMEM, "nsga2: out of memory");
    q->gen_end = q->P;
    return NASC_OK;
}

static void nsga2_free(void *impl) {
    nsga2 *q = impl;
    if (!q)
        return;
    nasc_learn_deinit(&q->b);
    nasc_free(q->pop);
    nasc_free(q->rank);
    nasc_free(q->crowd);
    nasc_free(q->obj);
    nasc_free(q->idx);
    nasc_free(q->tmp);
    nasc_free(q->fr);
    nasc_free(q->fr_cd);
    nasc_free(q);
}

/* Objective vector of told trial k (score first); NaN for failed trials. */
static int vec(const nsga2 *q, int k, double *v) {
    const learn_trial *t = &q->b.hist[k];
    if (q->b.n_obj) {
        for (int j = 0; j < q->b.n_obj; j++)
            v[j] = isfinite(t->fitness) ? t->obj[j] : (double)NAN;
        return q->b.n_obj;
    }
    v[0] = isfinite(t->fitness) ? t->fitness : (double)NAN;
    return 1;
}

/* Environmental selection: the next population from the m history indices in cand. */
static nasc_status select_next(nsga2 *q, const int *cand, int m, nasc_err *err) {
    int no = 1;
    for (int i = 0; i < m; i++)
        no = vec(q, cand[i], q->obj + (size_t)i * NASC_MAX_OBJECTIVES);
    /* repack rows to n_obj columns */
    for (int i = 0; i < m; i++)
        memmove(q->obj + (size_t)i * no, q->obj + (size_t)i * NASC_MAX_OBJECTIVES,
                sizeof(double) * (size_t)no);
    int *rank = nasc_malloc(sizeof(int) * (size_t)m);
    double *cd = nasc_malloc(sizeof(double) * (size_t)m);
    if (!rank || !cd || nasc_pareto_sort(q->obj, m, no, rank) < 0) {
        nasc_free(rank);
        nasc_free(cd);
        return nasc_errorf(err, NASC_ERR_NOMEM, "nsga2: out of memory");
    }
    q->n_pop = 0;
    for (int f = 0; q->n_pop < q->P && f < m; f++) {
        int nf = 0;
        for (int i = 0; i < m; i++)
            if (rank[i] == f)
                q->idx[nf++] = i;
        if (!nf)
            break;
        nasc_pareto_crowding(q->obj, no, q->idx, nf, cd);
        /* take the front whole, or its most spread members (ties by position: stable) */
        while (nf > 0 && q->n_pop < q->P) {
            int bi = 0;
            for (int i = 1; i < nf; i++)
                if (cd[i] > cd[bi])
                    bi = i;
            int i = q->idx[bi];
            q->pop[q->n_pop] = cand[i];
            q->rank[q->n_pop] = f;
            q->crowd[q->n_pop] = cd[bi];
            q->n_pop++;
            q->idx[bi] = q->idx[nf - 1];
            cd[bi] = cd[nf - 1];
            nf--;
        }
    }
    nasc_free(rank);
    nasc_free(cd);
    return NASC_OK;
}

/* parents=front: the non-dominated set of the told trials [0, n) with crowding distances. */
static nasc_status front_all(nsga2 *q, int n, nasc_err *err) {
    double *obj = nasc_malloc(sizeof(double) * (size_t)n * NASC_MAX_OBJECTIVES);
    int *rank = nasc_malloc(sizeof(int) * (size_t)n);
    nasc_free(q->fr);
    nasc_free(q->fr_cd);
    q->fr = nasc_malloc(sizeof(int) * (size_t)n);
    q->fr_cd = nasc_malloc(sizeof(double) * (size_t)n);
    q->n_fr = 0;
    if (!obj || !rank || !q->fr || !q->fr_cd) {
        nasc_free(obj);
        nasc_free(rank);
        return nasc_errorf(err, NASC_ERR_NOMEM, "nsga2: out of memory");
    }
    int no = 1;
    for (int i = 0; i < n; i++)
        no = vec(q, i, obj + (size_t)i * NASC_MAX_OBJECTIVES);
    for (int i = 0; i < n; i++)
        memmove(obj + (size_t)i * no, obj + (size_t)i * NASC_MAX_OBJECTIVES,
                sizeof(double) * (size_t)no);
    if (nasc_pareto_sort(obj, n, no, rank) < 0) {
        nasc_free(obj);
        nasc_free(rank);
        return nasc_errorf(err, NASC_ERR_NOMEM, "nsga2: out of memory");
    }
    for (int i = 0; i < n; i++)
        if (rank[i] == 0 && isfinite(q->b.hist[i].fitness))
            q->fr[q->n_fr++] = i;
    double ref[2];
    bool two = no == 2 && (q->box || q->hvc) && nasc_mo_reference(&q->b, q->ref_n, 0.5, ref);
    if (two && q->box) { /* the members inside the reference box, when there are two */
        int m = 0;
        for (int k = 0; k < q->n_fr; k++) {
            const double *v = obj + (size_t)q->fr[k] * 2;
            m += v[0] > ref[0] && v[1] < ref[1];
        }
        if (m >= 2) {
            m = 0;
            for (int k = 0; k < q->n_fr; k++) {
                const double *v = obj + (size_t)q->fr[k] * 2;
                if (v[0] > ref[0] && v[1] < ref[1])
                    q->fr[m++] = q->fr[k];
            }
            q->n_fr = m;
        }
    }
    if (two && q->hvc)
        nasc_mo_hv_contribution(obj, q->fr, q->n_fr, ref, q->fr_cd);
    else
        nasc_pareto_crowding(obj, no, q->fr, q->n_fr, q->fr_cd);
    nasc_free(obj);
    nasc_free(rank);
    return NASC_OK;
}

/* parents=front: the less crowded of two random archive members. */
static int tournament_front(nasc_strategy *s, const nsga2 *q) {
    int a = (int)nasc_rng_below(&s->rng, (uint32_t)q->n_fr);
    int b = (int)nasc_rng_below(&s->rng, (uint32_t)q->n_fr);
    return q->fr[q->fr_cd[a] >= q->fr_cd[b] ? a : b];
}

/* Binary tournament: the better of two random members by (rank, crowding). */
static int tournament(nasc_strategy *s, const nsga2 *q) {
    int a = (int)nasc_rng_below(&s->rng, (uint32_t)q->n_pop);
    int b = (int)nasc_rng_below(&s->rng, (uint32_t)q->n_pop);
    if (q->rank[a] != q->rank[b])
        return q->rank[a] < q->rank[b] ? a : b;
    return q->crowd[a] >= q->crowd[b] ? a : b;
}

/* One child by tournament, crossover and mutation (may be a known architecture). */
static nasc_status make_child(nasc_strategy *s, nsga2 *q, bool arch_parents, nasc_arch **out,
                              nasc_err *err) {
    const nasc_arch *pa =
        q->b.hist[arch_parents ? tournament_front(s, q) : q->pop[tournament(s, q)]].arch;
    const nasc_arch *pb =
        q->b.hist[arch_parents ? tournament_front(s, q) : q->pop[tournament(s, q)]].arch;
    nasc_arch *x = NULL;
    if (nasc_rng_uniform_double(&s->rng) < q->p_cross)
        NASC_TRY(nasc_arch_crossover(pa, pb, &s->rng, &x, err));
    else if (!(x = nasc_arch_clone(pa)))
        return nasc_errorf(err, NASC_ERR_NOMEM, "nsga2: out of memory");
    nasc_status st = nasc_arch_mutate(x, &s->rng, out, err);
    nasc_arch_free(x);
    return st;
}

/* screen > 1: up to `screen` distinct unseen children (50 draws per child at most), the best by
 * nasc_mo_screen proposed (the first when there is too little to fit). */
static nasc_status screened_child(nasc_strategy *s, nsga2 *q, bool arch_parents, nasc_proposal *out,
                                  nasc_err *err) {
    mo_pool pool;
    int pick;
    nasc_status st = nasc_mo_pool_init(&pool, q->screen, s, err);
    for (int tries = 0; tries < 50 * q->screen && pool.n < q->screen && st == NASC_OK; tries++) {
        nasc_arch *a = NULL;
        if ((st = make_child(s, q, arch_parents, &a, err)) == NASC_OK)
            nasc_mo_pool_add(&pool, &q->b, a);
    }
    if (st == NASC_OK)
        st = pool.n ? nasc_mo_pool_take(s, &q->b, &pool, q->ref_n, q->P, &out->arch, &pick, err)
                    : nasc_learn_random_unseen(s, &q->b, &out->arch, err);
    nasc_mo_pool_free(&pool);
    return st;
}

static nasc_status nsga2_ask(nasc_strategy *s, nasc_proposal *out, nasc_err *err) {
    nsga2 *q = s->impl;
    if (s->n_asked < q->P)
        return nasc_learn_random_unseen(s, &q->b, &out->arch, err);
    if (q->steady) { /* the archive of every result the proposal may use */
        if (!nasc_learn_ready(s))
            return NASC_OK; /* wait */
        NASC_TRY(front_all(q, q->b.n_hist, err));
    } else if (s->n_asked == q->gen_end) { /* a new generation: select from parents + children */
        if (s->n_told < q->gen_end)
            return NASC_OK; /* wait */
        int m = 0;
        for (int i = 0; i < q->n_pop; i++)
            q->tmp[m++] = q->pop[i];
        for (int64_t k = q->gen_end - q->P; k < q->gen_end; k++)
            q->tmp[m++] = (int)k;
        NASC_TRY(select_next(q, q->tmp, m, err));
        if (q->from_front)
            NASC_TRY(front_all(q, (int)q->gen_end, err));
        q->gen_end += q->P;
    }
    bool arch_parents = q->from_front && q->n_fr >= 2;
    if (q->steady) { /* no population: the archive alone (a single member is both parents) */
        if (!q->n_fr)
            return nasc_learn_random_unseen(s, &q->b, &out->arch, err);
        arch_parents = true;
    }
    if (q->b.n_obj == 2 && q->screen > 1)
        return screened_child(s, q, arch_parents, out, err);
    nasc_arch *child = NULL;
    for (int tries = 0; tries < 50 && !child; tries++) {
        NASC_TRY(make_child(s, q, arch_parents, &child, err));
        if (!nasc_learn_mark(&q->b, child)) {
            nasc_arch_free(child);
            child = NULL;
        }
    }
    if (!child)
        NASC_TRY(nasc_learn_random_unseen(s, &q->b, &child, err));
    out->arch = child;
    return NASC_OK;
}

static nasc_status nsga2_tell(nasc_strategy *s, int64_t trial, const nasc_arch *arch,
                              double fidelity, const nasc_trial_result *r, nasc_err *err) {
    (void)trial;
    nsga2 *q = s->impl;
    return nasc_learn_record(&q->b, arch, fidelity, r, err);
}

const nasc_strategy_i nasc_strategy_nsga2_i = {
    .name = "nsga2",
    .help = "NSGA-II: non-dominated sorting and crowding (multi-objective evolution)",
    .opts = nsga2_opts,
    .n_opts = (int)(sizeof nsga2_opts / sizeof nsga2_opts[0]),
    .init = nsga2_init,
    .ask = nsga2_ask,
    .tell = nsga2_tell,
    .free_impl = nsga2_free,
};
