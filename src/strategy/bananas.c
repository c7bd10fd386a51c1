/* bananas.c — BANANAS (White, Neiswanger & Savani, AAAI 2021): an ensemble of MLPs on the path
 * encoding predicts accuracy (mlp_ensemble.c); candidates are mutations of the best architectures
 * found so far; independent Thompson sampling (one draw from each candidate's Gaussian) or UCB
 * picks a batch of proposals per fit (mbo.c).
 *
 * pipeline (on by default from --ask-ahead 64, the default for 33 workers): the ensemble of a batch
 * trains in a child process while the previous model's batch is handed out, so a coordinator's
 * fit (5 MLPs x 150 epochs) is off the workers' path; the price is one batch more staleness:
 * batch b's candidates are scored by the model fitted for batch b-1 (on results up to its own
 * start - 1 - ask_ahead). The trials remain a function of the seed and the results only. Below
 * that many workers rank 0 keeps up without it (bench_coord), and the staleness costs a little:
 * NB201, ask_ahead 15, 30 seeds, 200 queries: 94.34 -> 94.31 (optimum found by 29 -> 27). */
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
    {.name = "pipeline",
     .type = NASC_OPT_CHOICE,
     .def = "auto",
     .choices = "auto|off|on",
     .help = "fit the next batch's model in a child process while this batch runs (scored by "
             "the previous fit); auto: on from --ask-ahead 64 (33 workers)"},
    NASC_MBO_COMMON_OPTS("10", "10", "20", "100", "5", "path", "0.5"),
};

static bool pipelined(const nasc_strategy *s) {
    int c = nasc_strategy_opt_choice(s, "pipeline");
    return c == 2 || (c == 0 && s->cfg.ask_ahead >= 64);
}

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
    NASC_TRY(
        nasc_mlp_ensemble_new(&mc, (int)m->enc_len, nasc_rng_u64(&s->rng), &m->model.mlp, err));
    return nasc_mlp_ensemble_set_pipeline(m->model.mlp, pipelined(s), err);
}

/* With the pipeline, the state is mbo's (its length first) and the last fit's data, whose model
 * the next batch is scored by; without, mbo's alone (as before the option). */
static nasc_status bananas_save(const nasc_strategy *s, void **out_buf, size_t *out_len,
                                nasc_err *err) {
    if (!pipelined(s))
        return nasc_mbo_save(s, out_buf, out_len, err);
    const mbo *m = s->impl;
    void *p = NULL;
    size_t n = 0;
    NASC_TRY(nasc_mbo_save(s, &p, &n, err));
    nasc_buf b = {0};
    nasc_buf_put_u64(&b, (uint64_t)n);
    nasc_buf_put(&b, p, n);
    nasc_free(p);
    nasc_mlp_ensemble_save_pipeline(m->model.mlp, &b);
    return nasc_buf_take(&b, out_buf, out_len, "strategy state", err);
}

static nasc_status bananas_load(nasc_strategy *s, const void *buf, size_t len, nasc_err *err) {
    if (!pipelined(s))
        return nasc_mbo_load(s, buf, len, err);
    mbo *m = s->impl;
    nasc_reader r = nasc_reader_of(buf, len);
    uint64_t n = nasc_read_u64(&r);
    if (r.bad || n > r.left)
        return nasc_errorf(err, NASC_ERR_FORMAT, "strategy %s: bad snapshot", s->iface->name);
    NASC_TRY(nasc_mbo_load(s, r.p, (size_t)n, err));
    r.p += n;
    r.left -= n;
    NASC_TRY(nasc_mlp_ensemble_load_pipeline(m->model.mlp, &r, err));
    if (r.bad || r.left)
        return nasc_errorf(err, NASC_ERR_FORMAT, "strategy %s: bad snapshot", s->iface->name);
    return NASC_OK;
}

const nasc_strategy_i nasc_strategy_bananas_i = {
    .name = "bananas",
    .help = "BANANAS: MLP ensemble on the path encoding, Thompson sampling over mutations",
    .opts = bananas_opts,
    .n_opts = (int)(sizeof bananas_opts / sizeof bananas_opts[0]),
    .init = bananas_init,
    .ask = nasc_mbo_ask,
    .tell = nasc_mbo_tell,
    .save = bananas_save,
    .load = bananas_load,
    .free_impl = nasc_mbo_free,
};
