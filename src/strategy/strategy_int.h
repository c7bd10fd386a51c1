/* strategy_int.h — internals shared by the strategy implementations (never installed). */
#ifndef NASC_STRATEGY_INT_H
#define NASC_STRATEGY_INT_H

#include "core/buf.h"
#include "nasc/arena.h"
#include "nasc/strategy.h"

/* Built-in strategies (one file each). */
extern const nasc_strategy_i nasc_strategy_random_i;
extern const nasc_strategy_i nasc_strategy_grid_i;
extern const nasc_strategy_i nasc_strategy_evolution_i;
extern const nasc_strategy_i nasc_strategy_ga_i;
extern const nasc_strategy_i nasc_strategy_local_i;
extern const nasc_strategy_i nasc_strategy_sh_i;
extern const nasc_strategy_i nasc_strategy_hyperband_i;
extern const nasc_strategy_i nasc_strategy_reinforce_i; /* issue 5: learned strategies */
extern const nasc_strategy_i nasc_strategy_ppo_i;
extern const nasc_strategy_i nasc_strategy_bo_gp_i;
extern const nasc_strategy_i nasc_strategy_bo_rf_i;
extern const nasc_strategy_i nasc_strategy_bananas_i;
extern const nasc_strategy_i nasc_strategy_gan_i;
extern const nasc_strategy_i nasc_strategy_pnas_i;
extern const nasc_strategy_i nasc_strategy_bohb_i;
extern const nasc_strategy_i nasc_strategy_nsga2_i;

/* The initial population (cfg.init) parsed on s's space: *out gets cfg.n_init architectures
 * (NULL when none), freed with nasc_strategy_init_free. ARG naming the entry that does not
 * parse. */
NASC_INTERNAL nasc_status nasc_strategy_init_parse(const nasc_strategy *s, nasc_arch ***out,
                                                   nasc_err *err);
NASC_INTERNAL void nasc_strategy_init_free(nasc_arch **a, int n);

/* ---- Hyperband's bracket scheduler, for strategies that bring their own sampler (BOHB) ----
 * A strategy whose options start with nasc_hb_opts (eta, min-fidelity, max-fidelity, schedule),
 * whose init calls nasc_hb_setup and whose ask/tell/free_impl are nasc_hb_ask/tell/free runs
 * Hyperband (or successive halving) brackets, synchronous or asynchronous (ASHA); new
 * configurations come from sampler->sample instead of uniform samples, and every result is
 * passed to sampler->observe (in trial order). sampler->ctx is freed with sampler->free_ctx. */
typedef struct nasc_hb_sampler {
    nasc_status (*sample)(nasc_strategy *s, void *ctx, double fidelity, nasc_arch **out,
                          nasc_err *err);
    nasc_status (*observe)(nasc_strategy *s, void *ctx, const nasc_arch *a, double fidelity,
                           double fitness, nasc_err *err);
    void (*free_ctx)(void *ctx);
    void *ctx;
} nasc_hb_sampler;

#define NASC_HB_N_OPTS 4
// clang-format off
/* Hyperband's options, as initializers, for the option tables that start with them. */
#define NASC_HB_OPTS_INIT                                                                          \
    {.name = "eta",                                                                                \
     .type = NASC_OPT_DOUBLE,                                                                      \
     .def = "0",                                                                                   \
     .min = 0,                                                                                     \
     .max = 100,                                                                                   \
     .help = "keep the best 1/eta of a rung; fidelity grows by eta (0: 3, or the ratio of the "    \
             "evaluator's fidelities)"},                                                           \
        {.name = "min-fidelity",                                                                   \
         .type = NASC_OPT_DOUBLE,                                                                  \
         .def = "0",                                                                               \
         .min = 0,                                                                                 \
         .max = 1e9,                                                                               \
         .help = "lowest fidelity (epochs) a configuration is evaluated at (0: the evaluator's "   \
                 "lowest, else 1)"},                                                               \
        {.name = "max-fidelity",                                                                   \
         .type = NASC_OPT_DOUBLE,                                                                  \
         .def = "0",                                                                               \
         .min = 0,                                                                                 \
         .max = 1e9,                                                                               \
         .help = "full fidelity R (0 = the evaluator's, e.g. --epochs)"},                      \
        {.name = "schedule",                                                                       \
         .type = NASC_OPT_CHOICE,                                                                  \
         .def = "auto",                                                                            \
         .choices = "auto|sync|async",                                                             \
         .help = "sync: whole rungs (Hyperband); async: promote as soon as a configuration is in " \
                 "the top 1/eta of its rung's results (ASHA); auto: async when --ask-ahead > 0"}
// clang-format on
extern NASC_INTERNAL const nasc_strategy_opt
    nasc_hb_opts[NASC_HB_N_OPTS]; /* eta, min/max-fidelity, schedule */
NASC_INTERNAL nasc_status nasc_hb_setup(nasc_strategy *s, bool hyperband,
                                        const nasc_hb_sampler *sampler, nasc_err *err);
NASC_INTERNAL nasc_status nasc_hb_ask(nasc_strategy *s, nasc_proposal *out, nasc_err *err);
NASC_INTERNAL nasc_status nasc_hb_tell(nasc_strategy *s, int64_t trial, const nasc_arch *arch,
                                       double fidelity, const nasc_trial_result *r, nasc_err *err);
NASC_INTERNAL void nasc_hb_free(void *impl);

/* ---- the MLP ensemble's pipelined fits (mlp_ensemble.c; BANANAS' pipeline option) ----
 * With the pipeline on (set before the first fit), fit call k returns at once and predict answers
 * with the model of call k-1 while call k's model trains in a child process (the first call
 * fits in process). save/load carry the last call's data, whose model the next call needs. */
typedef struct nasc_mlp_ensemble nasc_mlp_ensemble;
NASC_INTERNAL nasc_status nasc_mlp_ensemble_set_pipeline(nasc_mlp_ensemble *e, bool on,
                                                         nasc_err *err);
NASC_INTERNAL void nasc_mlp_ensemble_save_pipeline(const nasc_mlp_ensemble *e, nasc_buf *out);
NASC_INTERNAL nasc_status nasc_mlp_ensemble_load_pipeline(nasc_mlp_ensemble *e, nasc_reader *r,
                                                          nasc_err *err);

/* Strategy states are written with core's byte buffer (core/buf.h); architectures as their
 * canonical text. */
NASC_INTERNAL void nasc_buf_put_arch(nasc_buf *b, const nasc_arch *a);
/* Parses the next architecture text in space s; NULL (and r->bad) on failure. */
NASC_INTERNAL nasc_arch *nasc_read_arch(nasc_reader *r, const nasc_space *s);

#endif /* NASC_STRATEGY_INT_H */
