/* mbo_int.h — the model-based optimisation loop shared by bo-gp, bo-rf and bananas (mbo.c): a
 * surrogate fitted on encodings, candidates by mutation around the best, an acquisition function,
 * a batch of proposals per fit. Each strategy file declares its options, builds its surrogate and
 * fills an mbo_config; the ask/tell/save/load functions are these. Never installed. */
#ifndef NASC_MBO_INT_H
#define NASC_MBO_INT_H

#include "learn_int.h"

typedef enum mbo_acq { MBO_EI = 0, MBO_UCB, MBO_ITS } mbo_acq;

typedef struct mbo_config {
    nasc_encoding enc; /* encoding the surrogate sees */
    mbo_acq acq;
    double xi;      /* EI margin (target units) */
    double beta;    /* UCB weight of the standard deviation */
    int n_init;     /* uniform samples before the first fit */
    int top;        /* best architectures whose neighbourhoods are searched */
    int n_mut;      /* random multi-edit mutations per top architecture */
    int max_edits;  /* edits of those mutations: 2..max_edits */
    int n_rand;     /* uniform samples among the candidates */
    int batch;      /* proposals per fit */
    double floor_q; /* targets below this quantile are raised to it (0: off) */
    int max_fit;    /* the surrogate is fitted on at most this many results (0: all) */
    /* two objectives (accuracy, cost): */
    bool ehvi;     /* expected hypervolume improvement (mo_int.h) instead of ParEGO */
    double ref_q;  /* reference point: this quantile of the init samples */
    bool clip;     /* accuracies below the reference raised to it before the fit */
    double lambda; /* ridge penalty of the cost model */
} mbo_config;

typedef struct mbo {
    learn_base b;
    mbo_config c;
    learn_model model;
    size_t enc_len;
} mbo;

/* Allocates s->impl as an mbo with the common options read (NASC_MBO_COMMON_OPTS), the history
 * and the encoding length set up, into *out; the caller sets the rest of m->c and m->model. On
 * failure the error names the strategy, and whatever was made is s->impl, freed with s. */
NASC_INTERNAL nasc_status nasc_mbo_new(nasc_strategy *s, mbo **out, nasc_err *err);
NASC_INTERNAL nasc_status nasc_mbo_ask(nasc_strategy *s, nasc_proposal *out, nasc_err *err);
NASC_INTERNAL nasc_status nasc_mbo_tell(nasc_strategy *s, int64_t trial, const nasc_arch *arch,
                                        double fidelity, const nasc_trial_result *r, nasc_err *err);
NASC_INTERNAL nasc_status nasc_mbo_save(const nasc_strategy *s, void **out_buf, size_t *out_len,
                                        nasc_err *err);
NASC_INTERNAL nasc_status nasc_mbo_load(nasc_strategy *s, const void *buf, size_t len,
                                        nasc_err *err);
NASC_INTERNAL void nasc_mbo_free(void *impl);

/* Options every model-based strategy declares (in this order, after its own). */
// clang-format off
#define NASC_MBO_COMMON_OPTS(init_def, top_def, mut_def, rand_def, batch_def, enc_def, floor_def) \
    {.name = "init", .type = NASC_OPT_INT, .def = init_def, .min = 1, .max = 100000,            \
     .help = "uniform samples before the first model fit"},                                     \
    {.name = "top", .type = NASC_OPT_INT, .def = top_def, .min = 1, .max = 100000,              \
     .help = "best architectures whose neighbourhoods give the candidates"},                    \
    {.name = "mutations", .type = NASC_OPT_INT, .def = mut_def, .min = 0, .max = 100000,        \
     .help = "random 2..max-edits mutations per top architecture"},                             \
    {.name = "max-edits", .type = NASC_OPT_INT, .def = "3", .min = 2, .max = 64,                \
     .help = "most edits of those mutations"},                                                  \
    {.name = "random", .type = NASC_OPT_INT, .def = rand_def, .min = 0, .max = 100000,          \
     .help = "uniform samples added to the candidates"},                                        \
    {.name = "batch", .type = NASC_OPT_INT, .def = batch_def, .min = 1, .max = 10000,           \
     .help = "proposals per model fit"},                                                        \
    {.name = "encoding", .type = NASC_OPT_CHOICE, .def = enc_def, .choices = "onehot|path",     \
     .help = "architecture encoding the model sees"},                                           \
    {.name = "floor", .type = NASC_OPT_DOUBLE, .def = floor_def, .min = 0, .max = 0.99,         \
     .help = "targets below this quantile of the results are raised to it (0: off)"},           \
    {.name = "max-fit", .type = NASC_OPT_INT, .def = "0", .min = 0, .max = 1000000,             \
     .help = "fit the model on at most N results: the N/2 best and the most recent (0: all)"}, \
    {.name = "mo", .type = NASC_OPT_CHOICE, .def = "ehvi", .choices = "ehvi|parego",            \
     .help = "two objectives: expected hypervolume improvement with a linear cost model, or "   \
             "random ParEGO scalarisations (always with more than two)"},                       \
    {.name = "mo-ref", .type = NASC_OPT_DOUBLE, .def = "0.5", .min = 0, .max = 1,              \
     .help = "ehvi: reference point at this quantile of the init samples' accuracy (and 1 - it "\
             "of their cost)"},                                                                 \
    {.name = "mo-clip", .type = NASC_OPT_INT, .def = "1", .min = 0, .max = 1,                  \
     .help = "ehvi: accuracies below the reference point's raised to it before the fit"},       \
    {.name = "mo-lambda", .type = NASC_OPT_DOUBLE, .def = "0.1", .min = 1e-9, .max = 1e9,      \
     .help = "ehvi: ridge penalty of the linear cost model"}
/* Expected improvement's margin, for the strategies that offer EI. */
#define NASC_MBO_XI_OPT                                                                          \
    {.name = "xi", .type = NASC_OPT_DOUBLE, .def = "0", .min = 0, .max = 1e6,                     \
     .help = "EI margin (in score units)"}
// clang-format on

/* Reads the common options into c. */
static inline void nasc_mbo_read_common(const nasc_strategy *s, mbo_config *c) {
    c->n_init = nasc_strategy_opt_int(s, "init");
    c->top = nasc_strategy_opt_int(s, "top");
    c->n_mut = nasc_strategy_opt_int(s, "mutations");
    c->max_edits = nasc_strategy_opt_int(s, "max-edits");
    c->n_rand = nasc_strategy_opt_int(s, "random");
    c->batch = nasc_strategy_opt_int(s, "batch");
    c->enc = nasc_strategy_opt_choice(s, "encoding") == 1 ? NASC_ENC_PATH : NASC_ENC_ONEHOT;
    c->floor_q = nasc_strategy_opt_double(s, "floor");
    c->max_fit = nasc_strategy_opt_int(s, "max-fit");
    c->ehvi = nasc_strategy_opt_choice(s, "mo") == 0;
    c->ref_q = nasc_strategy_opt_double(s, "mo-ref");
    c->clip = nasc_strategy_opt_int(s, "mo-clip") != 0;
    c->lambda = nasc_strategy_opt_double(s, "mo-lambda");
}

#endif /* NASC_MBO_INT_H */
