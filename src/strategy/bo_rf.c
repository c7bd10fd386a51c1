/* bo_rf.c — Bayesian optimisation with a random forest ("bo-rf"), SMAC-style (Hutter et al.,
 * LION 2011): a forest of bootstrapped regression trees on the architecture encoding gives a mean
 * and a variance (forest.c), expected improvement ranks candidates made by mutation around the
 * best architectures plus interleaved uniform samples (SMAC's random interleaving), mbo.c. */
#include "mbo_int.h"

static const nasc_strategy_opt bo_rf_opts[] = {
    {.name = "trees",
     .type = NASC_OPT_INT,
     .def = "32",
     .min = 1,
     .max = 10000,
     .help = "number of trees"},
    {.name = "max-features",
     .type = NASC_OPT_DOUBLE,
     .def = "0.8333333333333334",
     .min = 0.01,
     .max = 1,
     .help = "share of features tried at each split"},
    {.name = "min-split",
     .type = NASC_OPT_INT,
     .def = "3",
     .min = 2,
     .max = 100000,
     .help = "fewest points a node needs to be split"},
    NASC_MBO_XI_OPT,
    NASC_MBO_COMMON_OPTS("10", "10", "20", "100", "1", "onehot", "0.7"),
};

static nasc_status bo_rf_init(nasc_strategy *s, nasc_err *err) {
    mbo *m = NULL;
    NASC_TRY(nasc_mbo_new(s, &m, err));
    m->c.acq = MBO_EI;
    m->c.xi = nasc_strategy_opt_double(s, "xi");
    nasc_forest_config fc = {
        .n_trees = nasc_strategy_opt_int(s, "trees"),
        .max_features = nasc_strategy_opt_double(s, "max-features"),
        .min_samples_split = nasc_strategy_opt_int(s, "min-split"),
    };
    m->model.kind = LEARN_RF;
    return nasc_forest_new(&fc, (int)m->enc_len, nasc_rng_u64(&s->rng), &m->model.rf, err);
}

const nasc_strategy_i nasc_strategy_bo_rf_i = {
    .name = "bo-rf",
    .help = "SMAC-style Bayesian optimisation: random forest mean/variance, EI by mutation",
    .opts = bo_rf_opts,
    .n_opts = (int)(sizeof bo_rf_opts / sizeof bo_rf_opts[0]),
    .init = bo_rf_init,
    .ask = nasc_mbo_ask,
    .tell = nasc_mbo_tell,
    .save = nasc_mbo_save,
    .load = nasc_mbo_load,
    .free_impl = nasc_mbo_free,
};
