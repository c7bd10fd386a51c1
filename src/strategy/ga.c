/* ga.c — a generational genetic algorithm with crossover, mutation and elitism.
 *
 * Generation 0 is N random samples. Each later generation keeps the E fittest members of the
 * previous one (elites, carried over without being evaluated again) and fills the other N-E places
 * with children: two parents chosen by the selection rule, crossover with probability
 * `crossover`, then mutation with probability `mutation` (always, if the child equals a parent,
 * so that no evaluation is spent on a copy). A generation's children are proposed together once
 * every result of the previous generation is known, so up to N-E trials run at once.
 *
 * Selection: tournament (the best of `tournament` members drawn at random), rank (linear ranking:
 * weight N for the best down to 1 for the worst) or proportional (fitness-proportional, on fitness
 * minus the generation's worst so that accuracies near each other still differ; failed members
 * have weight 0).
 *
 * Defaults N = 10, E = 3, tournament 5, crossover 0.5, mutation 0.5: tuned on the NAS-Bench-201
 * table with 100 queries (bench_strategies on seeds 1001..1400); small populations win at that
 * budget. */
#include "strategy_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct ind {
    nasc_arch *arch;
    double fitness;
} ind;

typedef struct ga {
    int N, E, tour, selection; /* selection: 0 tournament, 1 rank, 2 proportional */
    double p_cx, p_mut;
    ind *cur; /* the previous (complete) generation, sorted by fitness, best first */
    int n_cur;
    ind *next; /* the generation being built: elites first, then told children */
    int n_next;
    int64_t gen_start; /* trial index of the current generation's first child */
    int gen_children;  /* children in the current generation */
    int asked_in_gen;  /* children of the current generation proposed so far */
    double *w;         /* scratch weights */
} ga;

static const nasc_strategy_opt ga_opts[] = {
    {.name = "population",
     .type = NASC_OPT_INT,
     .def = "10",
     .min = 2,
     .max = 100000,
     .help = "population size N"},
    {.name = "elite",
     .type = NASC_OPT_INT,
     .def = "3",
     .min = 0,
     .max = 100000,
     .help = "members carried over unchanged into the next generation"},
    {.name = "selection",
     .type = NASC_OPT_CHOICE,
     .def = "tournament",
     .choices = "tournament|rank|proportional",
     .help = "parent selection rule"},
    {.name = "tournament",
     .type = NASC_OPT_INT,
     .def = "5",
     .min = 1,
     .max = 100000,
     .help = "tournament size (selection=tournament)"},
    {.name = "crossover",
     .type = NASC_OPT_DOUBLE,
     .def = "0.5",
     .min = 0,
     .max = 1,
     .help = "probability that a child is a crossover of two parents"},
    {.name = "mutation",
     .type = NASC_OPT_DOUBLE,
     .def = "0.5",
     .min = 0,
     .max = 1,
     .help = "probability that a child is mutated (1 if it equals a parent)"},
};

static nasc_status ga_init(nasc_strategy *s, nasc_err *err) {
    ga *g = nasc_calloc(1, sizeof *g);
    if (!g)
        return nasc_errorf(err, NASC_ERR_NOMEM, "ga: out of memory");
    s->impl = g;
    g->N = nasc_strategy_opt_int(s, "population");
    g->E = nasc_strategy_opt_int(s, "elite");
    g->selection = nasc_strategy_opt_choice(s, "selection");
    g->tour = nasc_strategy_opt_int(s, "tournament");
    g->p_cx = nasc_strategy_opt_double(s, "crossover");
    g->p_mut = nasc_strategy_opt_double(s, "mutation");
    if (g->E >= g->N)
        return nasc_errorf(err, NASC_ERR_ARG,
                           "strategy ga: option elite (%d) must be smaller than population (%d)",
                           g->E, g->N);
    g->cur = nasc_calloc((size_t)g->N, sizeof(ind));
    g->next = nasc_calloc((size_t)g->N, sizeof(ind));
    g->w = nasc_calloc((size_t)g->N, sizeof(double));
    if (!g->cur || !g->next || !g->w)
        return nasc_errorf(err, NASC_ERR_NOMEM, "ga: out of memory");
    g->gen_start = 0;
    g->gen_children = g->N; /* generation 0: all random */
    return NASC_OK;
}

/* Picks a parent index in g->cur (sorted best first). */
static int select_parent(nasc_strategy *s, ga *g) {
    int n = g->n_cur;
    if (g->selection == 0) {
        int best = (int)nasc_rng_below(&s->rng, (uint32_t)n);
        for (int i = 1; i < g->tour; i++) {
            int j = (int)nasc_rng_below(&s->rng, (uint32_t)n);
            if (j < best) /* sorted: lower index = fitter (ties by position) */
                best = j;
        }
        return best;
    }
    double total = 0.0;
    if (g->selection == 1) {
        for (int i = 0; i < n; i++)
            total += g->w[i] = (double)(n - i);
    } else {
        double worst = INFINITY;
        for (int i = 0; i < n; i++)
            if (isfinite(g->cur[i].fitness) && g->cur[i].fitness < worst)
                worst = g->cur[i].fitness;
        for (int i = 0; i < n; i++) {
            double f = g->cur[i].fitness;
            /* + a small floor so the worst valid member keeps a chance */
            g->w[i] = isfinite(f) ? f - worst + 1e-3 : 0.0;
            total += g->w[i];
        }
    }
    if (!(total > 0.0))
        return (int)nasc_rng_below(&s->rng, (uint32_t)n);
    double u = nasc_rng_uniform_double(&s->rng) * total, acc = 0.0;
    for (int i = 0; i < n; i++) {
        acc += g->w[i];
        if (u < acc)
            return i;
    }
    return n - 1;
}

static int cmp_ind(const void *a, const void *b) {
    const ind *x = a, *y = b;
    return (x->fitness < y->fitness) - (x->fitness > y->fitness);
}

/* Stable sort, best fitness first (insertion sort: N is small). */
static void sort_inds(ind *v, int n) {
    for (int i = 1; i < n; i++) {
        ind t = v[i];
        int j = i - 1;
        while (j >= 0 && cmp_ind(&v[j], &t) > 0) {
            v[j + 1] = v[j];
            j--;
        }
        v[j + 1] = t;
    }
}

/* Closes the generation being built: it becomes cur, elites start the next one. */
static nasc_status next_generation(ga *g, nasc_err *err) {
    for (int i = 0; i < g->n_cur; i++)
        nasc_arch_free(g->cur[i].arch);
    memcpy(g->cur, g->next, sizeof(ind) * (size_t)g->n_next);
    g->n_cur = g->n_next;
    g->n_next = 0;
    sort_inds(g->cur, g->n_cur);
    int E = g->E < g->n_cur ? g->E : g->n_cur;
    for (int i = 0; i < E; i++) {
        g->next[i].arch = nasc_arch_clone(g->cur[i].arch);
        g->next[i].fitness = g->cur[i].fitness;
        if (!g->next[i].arch)
            return nasc_errorf(err, NASC_ERR_NOMEM, "ga: out of memory");
        g->n_next++;
    }
    g->gen_start += g->gen_children;
    g->gen_children = g->N - E;
    g->asked_in_gen = 0;
    return NASC_OK;
}

static nasc_status ga_ask(nasc_strategy *s, nasc_proposal *out, nasc_err *err) {
    ga *g = s->impl;
    if (g->asked_in_gen == g->gen_children)
        return NASC_OK;  /* wait until the whole generation is told */
    if (g->n_cur == 0) { /* generation 0 */
        NASC_TRY(nasc_space_sample(s->space, &s->rng, &out->arch, err));
        g->asked_in_gen++;
        return NASC_OK;
    }
    const nasc_arch *p1 = g->cur[select_parent(s, g)].arch;
    const nasc_arch *p2 = g->cur[select_parent(s, g)].arch;
    nasc_arch *child = NULL;
    if (nasc_rng_uniform_double(&s->rng) < g->p_cx)
        NASC_TRY(nasc_arch_crossover(p1, p2, &s->rng, &child, err));
    else if (!(child = nasc_arch_clone(p1)))
        return nasc_errorf(err, NASC_ERR_NOMEM, "ga: out of memory");
    bool mutate = nasc_rng_uniform_double(&s->rng) < g->p_mut;
    if (mutate || nasc_arch_equal(child, p1) || nasc_arch_equal(child, p2)) {
        nasc_arch *m = NULL;
        nasc_status st = nasc_arch_mutate(child, &s->rng, &m, err);
        nasc_arch_free(child);
        if (st != NASC_OK)
            return st;
        child = m;
    }
    out->arch = child;
    g->asked_in_gen++;
    return NASC_OK;
}

static nasc_status ga_tell(nasc_strategy *s, int64_t trial, const nasc_arch *arch, double fidelity,
                           const nasc_trial_result *r, nasc_err *err) {
    (void)fidelity;
    ga *g = s->impl;
    NASC_ASSERT(trial >= g->gen_start && trial < g->gen_start + g->gen_children);
    NASC_ASSERT(g->n_next < g->N);
    ind *slot = &g->next[g->n_next];
    if (!(slot->arch = nasc_arch_clone(arch)))
        return nasc_errorf(err, NASC_ERR_NOMEM, "ga: out of memory");
    slot->fitness = nasc_result_fitness(r);
    g->n_next++;
    if (trial == g->gen_start + g->gen_children - 1)
        return next_generation(g, err);
    return NASC_OK;
}

static void ga_free(void *impl) {
    ga *g = impl;
    if (!g)
        return;
    for (int i = 0; g->cur && i < g->n_cur; i++)
        nasc_arch_free(g->cur[i].arch);
    for (int i = 0; g->next && i < g->n_next; i++)
        nasc_arch_free(g->next[i].arch);
    nasc_free(g->cur);
    nasc_free(g->next);
    nasc_free(g->w);
    nasc_free(g);
}

const nasc_strategy_i nasc_strategy_ga_i = {
    .name = "ga",
    .help = "genetic algorithm: crossover, mutation, elitism; tournament, rank or proportional "
            "selection",
    .opts = ga_opts,
    .n_opts = 6,
    .init = ga_init,
    .ask = ga_ask,
    .tell = ga_tell,
    .free_impl = ga_free,
};
