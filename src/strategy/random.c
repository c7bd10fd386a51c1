/* random.c — random search: every trial an independent uniform sample of the space (with
 * replacement, as in the NAS-Bench-201 and NASLib baselines), after the initial population
 * (cfg.init) if one is given, proposed first in order. It never waits for results, so any number
 * of workers stays busy. */
#include "strategy_int.h"

typedef struct random_state {
    nasc_arch **init; /* cfg.init parsed, or NULL */
    int n_init;
} random_state;

static nasc_status random_init(nasc_strategy *s, nasc_err *err) {
    random_state *r = nasc_calloc(1, sizeof *r);
    if (!r)
        return nasc_errorf(err, NASC_ERR_NOMEM, "random: out of memory");
    s->impl = r;
    NASC_TRY(nasc_strategy_init_parse(s, &r->init, err));
    r->n_init = s->cfg.n_init;
    return NASC_OK;
}

static void random_free(void *impl) {
    random_state *r = impl;
    if (!r)
        return;
    nasc_strategy_init_free(r->init, r->n_init);
    nasc_free(r);
}

static nasc_status random_ask(nasc_strategy *s, nasc_proposal *out, nasc_err *err) {
    const random_state *r = s->impl;
    if (s->n_asked < r->n_init) {
        out->arch = nasc_arch_clone(r->init[s->n_asked]);
        return out->arch ? NASC_OK : nasc_errorf(err, NASC_ERR_NOMEM, "random: out of memory");
    }
    return nasc_space_sample(s->space, &s->rng, &out->arch, err);
}

static nasc_status random_tell(nasc_strategy *s, int64_t trial, const nasc_arch *arch,
                               double fidelity, const nasc_trial_result *r, nasc_err *err) {
    (void)s, (void)trial, (void)arch, (void)fidelity, (void)r, (void)err;
    return NASC_OK;
}

/* The whole state is the rng and n_asked, which the generic snapshot already holds. */
static nasc_status random_save(const nasc_strategy *s, void **out_buf, size_t *out_len,
                               nasc_err *err) {
    (void)s, (void)err;
    *out_buf = NULL;
    *out_len = 0;
    return NASC_OK;
}

static nasc_status random_load(nasc_strategy *s, const void *buf, size_t len, nasc_err *err) {
    (void)s, (void)buf;
    if (len)
        return nasc_errorf(err, NASC_ERR_FORMAT, "random: unexpected snapshot data");
    return NASC_OK;
}

const nasc_strategy_i nasc_strategy_random_i = {
    .name = "random",
    .help = "uniform random sampling",
    .takes_init = true,
    .init = random_init,
    .ask = random_ask,
    .tell = random_tell,
    .save = random_save,
    .load = random_load,
    .free_impl = random_free,
};
