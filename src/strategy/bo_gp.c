/* bo_gp.c — Bayesian optimisation with a Gaussian process ("bo-gp"), in the spirit of NASBOT
 * (Kandasamy et al., NeurIPS 2018) on the cell spaces: a GP on the architecture encoding
 * (one-hot of each decision by default, or the BANANAS path encoding) with a Matern-5/2 or RBF
 * kernel, so the kernel is a function of an edit distance between cells (for one-hot encodings
 * r^2 = 2 x the number of differing decisions); hyperparameters fitted by maximising the marginal
 * likelihood after every new result (gp.c); expected improvement or UCB, maximised over the
 * neighbourhoods of the best architectures (mbo.c).
 *
 * Defaults (10 initial samples, EI, Matern-5/2, one-hot, candidates around the 10 best): chosen
 * on the NAS-Bench-201 table with seeds 1001..1100, apart from the reported seeds 1..100
 * (bench_strategies; docs/STRATEGIES.md). */
#include "mbo_int.h"

static const nasc_strategy_opt bo_gp_opts[] = {
    {.name = "kernel",
     .type = NASC_OPT_CHOICE,
     .def = "matern",
     .choices = "matern|rbf",
     .help = "GP kernel on the encoding distance"},
    {.name = "acq",
     .type = NASC_OPT_CHOICE,
     .def = "ei",
     .choices = "ei|ucb",
     .help = "acquisition function"},
    NASC_MBO_XI_OPT,
    {.name = "beta",
     .type = NASC_OPT_DOUBLE,
     .def = "2",
     .min = 0,
     .max = 1e6,
     .help = "UCB: weight of the standard deviation"},
    {.name = "fit-iters",
     .type = NASC_OPT_INT,
     .def = "30",
     .min = 0,
     .max = 10000,
     .help = "marginal-likelihood ascent steps per fit (0: fixed hyperparameters)"},
    NASC_MBO_COMMON_OPTS("10", "10", "20", "100", "1", "onehot", "0.3"),
};

static nasc_status bo_gp_init(nasc_strategy *s, nasc_err *err) {
    mbo *m = NULL;
    NASC_TRY(nasc_mbo_new(s, &m, err));
    m->c.acq = nasc_strategy_opt_choice(s, "acq") == 1 ? MBO_UCB : MBO_EI;
    m->c.xi = nasc_strategy_opt_double(s, "xi");
    m->c.beta = nasc_strategy_opt_double(s, "beta");
    int iters = nasc_strategy_opt_int(s, "fit-iters");
    nasc_gp_config gc = {
        .kernel = nasc_strategy_opt_choice(s, "kernel") == 1 ? NASC_GP_RBF : NASC_GP_MATERN52,
        .fit_hyper = iters > 0,
        .fit_iters = iters,
    };
    m->model.kind = LEARN_GP;
    return nasc_gp_new(&gc, (int)m->enc_len, &m->model.gp, err);
}

const nasc_strategy_i nasc_strategy_bo_gp_i = {
    .name = "bo-gp",
    .help = "Bayesian optimisation: GP on encodings, marginal-likelihood fit, EI/UCB by mutation",
    .opts = bo_gp_opts,
    .n_opts = (int)(sizeof bo_gp_opts / sizeof bo_gp_opts[0]),
    .init = bo_gp_init,
    .ask = nasc_mbo_ask,
    .tell = nasc_mbo_tell,
    .save = nasc_mbo_save,
    .load = nasc_mbo_load,
    .free_impl = nasc_mbo_free,
};
