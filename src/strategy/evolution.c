/* evolution.c — regularized (aging) evolution (Real et al., "Regularized Evolution for Image
 * Classifier Architecture Search", AAAI 2019, Algorithm 1).
 *
 * The first P trials are random samples (or the initial population, cfg.init: its first
 * min(P, n_init) architectures in order, the rest of the P random). Every later trial: draw S
 * members of the population uniformly without replacement, mutate the fittest of them, evaluate the
 * child; when its result is told it joins the population and the oldest member dies (the population
 * is a queue of the last P told results). Failed children join with fitness -inf and simply age
 * out.
 *
 * Trial k (k >= P) is proposed once the results of trials 0 .. k-1-ask_ahead are known: with
 * ask_ahead = 0 it is the sequential algorithm; larger values give the asynchronous variant of the
 * paper, where up to ask_ahead+1 children are evaluated at once. A trial k <= ask_ahead may use no
 * result at all, so it is a random sample too: the first max(P, ask_ahead + 1) trials are random,
 * as in the paper's asynchronous runs (and DeepHyper's), where every worker starts on a random
 * architecture. (It used to wait for trial 0's result and mutate the first results: with P = 10
 * and 63 workers, 53 workers idled for the whole of trial 0, and the children of the first told
 * results were mostly mutations of trial 0.)
 *
 * Defaults P = 10, S = 7: tuned on the NAS-Bench-201 table with 100 queries (bench_strategies
 * --sweep, on seeds 1001..1400, apart from the reported 1..100). P in 10..20 with S in 7..10 are
 * all within 0.02 points on CIFAR-10; small S (2-3) is clearly worse at this budget. */
#include "strategy_int.h"

#include <math.h>
#include <string.h>

typedef struct member {
    nasc_arch *arch;
    double fitness;
} member;

typedef struct evolution {
    int P, S;
    member *pop;      /* ring buffer of capacity P */
    int head, n;      /* oldest at head, n members */
    int *idx;         /* scratch for sampling without replacement */
    nasc_arch **init; /* cfg.init parsed (n_init of them), proposed first */
    int n_init;
} evolution;

static const nasc_strategy_opt evolution_opts[] = {
    {.name = "population",
     .type = NASC_OPT_INT,
     .def = "10",
     .min = 1,
     .max = 100000,
     .help = "population size P (also the number of initial random samples)"},
    {.name = "sample",
     .type = NASC_OPT_INT,
     .def = "7",
     .min = 1,
     .max = 100000,
     .help = "tournament size S (members drawn per child, the best is mutated)"},
};

static nasc_status evolution_init(nasc_strategy *s, nasc_err *err) {
    evolution *e = nasc_calloc(1, sizeof *e);
    if (!e)
        return nasc_errorf(err, NASC_ERR_NOMEM, "evolution: out of memory");
    s->impl = e;
    e->P = nasc_strategy_opt_int(s, "population");
    e->S = nasc_strategy_opt_int(s, "sample");
    if (e->S > e->P)
        return nasc_errorf(err, NASC_ERR_ARG,
                           "strategy evolution: option sample (%d) must not exceed population (%d)",
                           e->S, e->P);
    NASC_TRY(nasc_strategy_init_parse(s, &e->init, err));
    e->n_init = s->cfg.n_init;
    e->pop = nasc_calloc((size_t)e->P, sizeof *e->pop);
    e->idx = nasc_malloc(sizeof(int) * (size_t)e->P);
    if (!e->pop || !e->idx)
        return nasc_errorf(err, NASC_ERR_NOMEM, "evolution: out of memory");
    return NASC_OK;
}

static nasc_status evolution_ask(nasc_strategy *s, nasc_proposal *out, nasc_err *err) {
    evolution *e = s->impl;
    int64_t k = s->n_asked;
    int64_t need = k - s->cfg.ask_ahead; /* results trial k may use: 0 .. need-1 */
    if (k < e->P && k < s->cfg.n_init) {
        out->arch = nasc_arch_clone(e->init[k]);
        return out->arch ? NASC_OK : nasc_errorf(err, NASC_ERR_NOMEM, "evolution: out of memory");
    }
    if (k < e->P || need < 1)
        return nasc_space_sample(s->space, &s->rng, &out->arch, err);
    if (s->n_told < need || e->n == 0)
        return NASC_OK; /* wait for results */
    /* S distinct members (partial Fisher-Yates over the population indices) */
    int S = e->S < e->n ? e->S : e->n;
    for (int i = 0; i < e->n; i++)
        e->idx[i] = i;
    int best = -1;
    for (int i = 0; i < S; i++) {
        int j = i + (int)nasc_rng_below(&s->rng, (uint32_t)(e->n - i));
        int t = e->idx[i];
        e->idx[i] = e->idx[j];
        e->idx[j] = t;
        int m = (e->head + e->idx[i]) % e->P;
        if (best < 0 || e->pop[m].fitness > e->pop[best].fitness)
            best = m;
    }
    return nasc_arch_mutate(e->pop[best].arch, &s->rng, &out->arch, err);
}

static nasc_status push(evolution *e, nasc_arch *a, double fitness) {
    if (e->n == e->P) { /* the oldest dies */
        nasc_arch_free(e->pop[e->head].arch);
        e->pop[e->head].arch = NULL;
        e->head = (e->head + 1) % e->P;
        e->n--;
    }
    int slot = (e->head + e->n) % e->P;
    e->pop[slot].arch = a;
    e->pop[slot].fitness = fitness;
    e->n++;
    return NASC_OK;
}

static nasc_status evolution_tell(nasc_strategy *s, int64_t trial, const nasc_arch *arch,
                                  double fidelity, const nasc_trial_result *r, nasc_err *err) {
    (void)trial, (void)fidelity;
    evolution *e = s->impl;
    nasc_arch *a = nasc_arch_clone(arch);
    if (!a)
        return nasc_errorf(err, NASC_ERR_NOMEM, "evolution: out of memory");
    return push(e, a, nasc_result_fitness(r));
}

static nasc_status evolution_save(const nasc_strategy *s, void **out_buf, size_t *out_len,
                                  nasc_err *err) {
    const evolution *e = s->impl;
    nasc_buf b = {0};
    nasc_buf_put_u64(&b, (uint64_t)e->n);
    for (int i = 0; i < e->n; i++) {
        const member *m = &e->pop[(e->head + i) % e->P];
        nasc_buf_put_arch(&b, m->arch);
        nasc_buf_put_f64(&b, m->fitness);
    }
    return nasc_buf_take(&b, out_buf, out_len, "strategy state", err);
}

static nasc_status evolution_load(nasc_strategy *s, const void *buf, size_t len, nasc_err *err) {
    evolution *e = s->impl;
    nasc_reader r = {buf, len, false};
    uint64_t n = nasc_read_u64(&r);
    if (r.bad || n > (uint64_t)e->P)
        return nasc_errorf(err, NASC_ERR_FORMAT, "evolution: bad snapshot (population %llu)",
                           (unsigned long long)n);
    for (uint64_t i = 0; i < n; i++) {
        nasc_arch *a = nasc_read_arch(&r, s->space);
        double f = nasc_read_f64(&r);
        if (r.bad) {
            nasc_arch_free(a);
            return nasc_errorf(err, NASC_ERR_FORMAT, "evolution: bad snapshot (member %llu)",
                               (unsigned long long)i);
        }
        push(e, a, f);
    }
    if (r.left)
        return nasc_errorf(err, NASC_ERR_FORMAT, "evolution: bad snapshot (trailing bytes)");
    return NASC_OK;
}

static void evolution_free(void *impl) {
    evolution *e = impl;
    if (!e)
        return;
    if (e->pop)
        for (int i = 0; i < e->P; i++)
            nasc_arch_free(e->pop[i].arch);
    nasc_free(e->pop);
    nasc_free(e->idx);
    nasc_strategy_init_free(e->init, e->n_init);
    nasc_free(e);
}

const nasc_strategy_i nasc_strategy_evolution_i = {
    .name = "evolution",
    .help = "regularized (aging) evolution with tournament selection (Real et al. 2019)",
    .opts = evolution_opts,
    .n_opts = 2,
    .takes_init = true,
    .init = evolution_init,
    .ask = evolution_ask,
    .tell = evolution_tell,
    .save = evolution_save,
    .load = evolution_load,
    .free_impl = evolution_free,
};
