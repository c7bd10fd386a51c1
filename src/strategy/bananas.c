/* bananas.c — BANANAS (White, Neiswanger & Savani, AAAI 2021): an ensemble of MLPs on the path
 * encoding predicts accuracy (mlp_ensemble.c); candidates are mutations of the best architectures
 * found so far; independent Thompson sampling (one draw from each candidate's Gaussian) or UCB
 * picks a batch of proposals per fit (mbo.c). */
#include "mbo_int.h"

static const nasc_strategy_opt bananas_opts[] = {
    {.name = "acq",
     .type = NASC_OPT_CHOICE,
     .def = "its",
     .choices = "its|ucb",
     .help = "independent Thompson sampling or UCB"},
    {.name = "beta",
     .type = NASC_OPT_DOUBLE,
     .def = "0.5",
     .min = 0,
     .max = 1e6,
     .help = "UCB: weight of the standard deviation"},
    {.name = "models",
     .type = NASC_OPT_INT,
     .def = "5",
     .min = 1,
     .max = 100,
     .help = "ensemble members"},
    {.name = "hidden",
     .type = NASC_OPT_INT,
     .def = "32",
     .min = 1,
     .max = 4096,
     .help = "width of the hidden layers"},
    {.name = "layers",
     .type = NASC_OPT_INT,
     .def = "2",
     .min = 1,
     .max = 8,
     .help = "hidden layers"},
    {.name = "epochs",
     .type = NASC_OPT_INT,
     .def = "150",
     .min = 1,
     .max = 100000,
     .help = "training epochs per fit"},
    {.name = "lr",
     .type = NASC_OPT_DOUBLE,
     .def = "0.01",
     .min = 1e-6,
     .max = 10,
     .help = "Adam learning rate"},
    NASC_MBO_COMMON_OPTS("10", "10", "20", "100", "5", "path", "0.5"),
};

static nasc_status bananas_init(nasc_strategy *s, nasc_err *err) {
    mbo *m = NULL;
    NASC_TRY(nasc_mbo_new(s, &m, err));
    m->c.acq = nasc_strategy_opt_choice(s, "acq") == 1 ? MBO_UCB : MBO_ITS;
    m->c.beta = nasc_strategy_opt_double(s, "beta");
    nasc_mlp_config mc = {
        .n_models = nasc_strategy_opt_int(s, "models"),
        .hidden = nasc_strategy_opt_int(s, "hidden"),
        .n_layers = nasc_strategy_opt_int(s, "layers"),
        .epochs = nasc_strategy_opt_int(s, "epochs"),
        .lr = (float)nasc_strategy_opt_double(s, "lr"),
    };
    m->model.kind = LEARN_MLP;
    return nasc_mlp_ensemble_new(&mc, (int)m->enc_len, nasc_rng_u64(&s->rng), &m->model.mlp, err);
}

const nasc_strategy_i nasc_strategy_bananas_i = {
    .name = "bananas",
    .help = "BANANAS: MLP ensemble on the path encoding, Thompson sampling over mutations",
    .opts = bananas_opts,
    .n_opts = (int)(sizeof bananas_opts / sizeof bananas_opts[0]),
    .init = bananas_init,
    .ask = nasc_mbo_ask,
    .tell = nasc_mbo_tell,
    .save = nasc_mbo_save,
    .load = nasc_mbo_load,
    .free_impl = nasc_mbo_free,
};
