/* stepper_int.h — the one-shot stepper's state, shared by stepper.c (DARTS family) and
 * sample.c (GDAS, SPOS, ENAS, ProxylessNAS). Never installed. */
#ifndef NASC_STEPPER_INT_H
#define NASC_STEPPER_INT_H

#include "oneshot_int.h"

#include "nasc/optim.h"
#include "nasc/rng.h"

typedef struct os_method_state os_method_state; /* sample.c */
typedef bool (*nasc_os_val_fn)(void *user, int i, nasc_oneshot_batch *out);
/* Progress of a long end-of-search phase (SPOS's evolution): done of total units, the best score
 * so far; returning false stops it (NASC_ERR_ABORTED). */
typedef bool (*nasc_os_phase_fn)(void *user, const char *phase, int64_t done, int64_t total,
                                 double best);

/* One row per one-shot method, defined beside its code (stepper.c: the DARTS family; sample.c:
 * GDAS, SPOS, ENAS, ProxylessNAS) and listed in stepper.c's table, as strategies and spaces are.
 * The stepper and the search loop ask the row, never the method's enum. */
typedef struct nasc_os_method {
    const char *name;
    /* relaxed: softmax(alpha) over every op (the DARTS family): the architecture gradient is
     * defined, evaluation runs the mixed supernet after re-estimating its BN statistics */
    bool relaxed;
    bool has_alpha;      /* alpha is trained (not SPOS's uniform paths nor ENAS's controller) */
    int partial;         /* partial channels: 1 required, 0 allowed, -1 refused */
    bool second_order;   /* darts2: the unrolled step's buffers */
    nasc_status (*step)(nasc_oneshot *os, const nasc_oneshot_batch *train,
                        const nasc_oneshot_batch *val, float lr, nasc_oneshot_step_stats *stats,
                        nasc_err *err);
    /* After every epoch's steps (last: the final one, or an early stop); NULL: nothing. */
    nasc_status (*epoch_end)(nasc_oneshot *os, bool last, nasc_err *err);
    /* The architecture the search stands at. */
    nasc_status (*derive)(nasc_oneshot *os, nasc_arch **out, nasc_err *err);
    /* Method state (os->ms): NULL for the stateless methods. */
    nasc_status (*init)(nasc_oneshot *os, nasc_err *err);
} nasc_os_method;

NASC_INTERNAL extern const nasc_os_method nasc_os_darts_m, nasc_os_darts2_m, nasc_os_pcdarts_m;
NASC_INTERNAL extern const nasc_os_method nasc_os_gdas_m, nasc_os_spos_m, nasc_os_enas_m,
    nasc_os_proxyless_m;
/* The row of method m (m in range). */
NASC_INTERNAL const nasc_os_method *nasc_os_method_row(nasc_oneshot_method m);

struct nasc_oneshot {
    nasc_oneshot_method m;
    const nasc_os_method *mi; /* its row */
    nasc_oneshot_opts o;   /* defaults filled in */
    nasc_supernet *sn;     /* not owned */
    nasc_backend *be;      /* not owned */
    nasc_graph *g;         /* every pass runs here (gradient pool on) */
    nasc_optim *wopt;      /* SGD on the weights */
    nasc_optim *aopt;      /* Adam on alpha (NULL if the store is empty) */
    uint64_t seed;
    nasc_rng rng;          /* Gumbel noise, path samples (saved in checkpoints) */
    uint64_t n_passes;     /* graph rng step counter */
    int epoch, epochs;
    bool arch_on;          /* past the architecture warm-up */
    float tau;             /* GDAS temperature */
    size_t nw, na;         /* flat lengths of the weight and arch stores */
    float **wgrads, **agrads; /* each tensor's grad pointer, restored after detaching */
    float *w_save, *v, *a_tmp, *a_tmp2; /* darts2 buffers */
    size_t arena_peak;
    os_method_state *ms;   /* method-specific state (sample.c), or NULL */
    nasc_os_val_fn val_fn; /* validation batches for scoring (may be NULL) */
    void *val_user;
    nasc_os_phase_fn phase_fn; /* progress of SPOS's evolution (may be NULL) */
    void *phase_user;
    /* data parallel over the ranks of a job (nasc_os_set_data_parallel), else NULL */
    nasc_dp *dpw, *dpa;    /* reducers of the weight and the alpha store */
};

/* Builds the plan of a weight step. */
typedef nasc_status (*nasc_os_plan_fn)(nasc_oneshot *os, nasc_supernet_plan *plan, nasc_err *err);

/* Detaches (on = false: requires_grad off, grad pointers saved to saved_grads and set NULL) or
 * re-attaches a store's tensors. */
NASC_INTERNAL void nasc_os_store_train(nasc_params *ps, float **saved_grads, bool on);

/* Starts a pass on os->g: reset, mode, rng key; returns the input tensor of batch b. */
NASC_INTERNAL nasc_tensor *nasc_os_begin(nasc_oneshot *os, const nasc_oneshot_batch *b,
                                         bool training);
/* Cross entropy of logits against b, loss / correct count out, optional backward. */
NASC_INTERNAL nasc_status nasc_os_finish(nasc_oneshot *os, nasc_tensor *logits,
                                         const nasc_oneshot_batch *b, bool backward,
                                         float *out_loss, int *out_correct, nasc_err *err);
NASC_INTERNAL nasc_status nasc_os_graph_error(nasc_oneshot *os, nasc_err *err);
/* Weight step under plan_fn's plan: weights only, clip, SGD at lr. */
NASC_INTERNAL nasc_status nasc_os_weight_step(nasc_oneshot *os, const nasc_oneshot_batch *train,
                                              float lr, nasc_os_plan_fn plan_fn,
                                              nasc_oneshot_step_stats *stats, nasc_err *err);
/* Adds the collapse regulariser's gradient and steps Adam on alpha. */
NASC_INTERNAL nasc_status nasc_os_arch_update(nasc_oneshot *os);
NASC_INTERNAL void nasc_os_skip_reg_grad(nasc_oneshot *os);
/* Loss / correct of architecture a as a path through the supernet (batch statistics). */
NASC_INTERNAL nasc_status nasc_os_eval_arch(nasc_oneshot *os, const nasc_arch *a,
                                            const nasc_oneshot_batch *b, float *out_loss,
                                            int *out_correct, nasc_err *err);

/* ---- data parallel (oneshot.h, "Data parallel") ----
 * Every pass that trains runs on this rank's share of a global batch; the helpers below make the
 * stores' gradients those of the global batch's mean loss. Without data parallelism (os->dpw
 * NULL) they do nothing and the values stay the rank's own. */

/* Makes os data-parallel over the job's ranks (a job of one process: nothing). NOMEM. */
NASC_INTERNAL nasc_status nasc_os_set_data_parallel(nasc_oneshot *os, nasc_err *err);
/* The global batch size of b (n_total, or n without shards). */
NASC_INTERNAL int nasc_os_batch_total(const nasc_oneshot_batch *b);
/* After a weight pass's backward on b: the weight gradients averaged over the ranks; with
 * buffers also the BN running statistics; *loss and *correct (either may be NULL) become the
 * global batch's mean loss and correct count. ABORTED if that loss is not finite. */
NASC_INTERNAL nasc_status nasc_os_dp_weights(nasc_oneshot *os, const nasc_oneshot_batch *b,
                                             bool buffers, float *loss, int *correct,
                                             nasc_err *err);
/* The same for the alpha store (no buffers) after an architecture pass on b. */
NASC_INTERNAL nasc_status nasc_os_dp_arch(nasc_oneshot *os, const nasc_oneshot_batch *b,
                                          float *loss, nasc_err *err);
/* Sums n floats over the ranks (in place). */
NASC_INTERNAL nasc_status nasc_os_dp_sum(nasc_oneshot *os, float *v, size_t n, nasc_err *err);
/* Copies rank 0's n bytes at p to every rank. */
NASC_INTERNAL nasc_status nasc_os_dp_agree(nasc_oneshot *os, void *p, size_t n, nasc_err *err);
/* This rank (0 without data parallelism). */
NASC_INTERNAL int nasc_os_dp_rank(const nasc_oneshot *os);

/* sample.c: the method state of the stateful methods (os->ms). */
NASC_INTERNAL void nasc_os_method_free(nasc_oneshot *os);
/* The architecture of alpha (nasc_supernet_derive), a row's derive for the relaxed methods. */
NASC_INTERNAL nasc_status nasc_os_derive_alpha(nasc_oneshot *os, nasc_arch **out, nasc_err *err);
/* Validation batches for scoring candidates: fn(user, i, out) gives batch i (0, 1, ...) or
 * false past the end. Set by the search loop; without one, SPOS and ENAS score on the batches
 * their steps receive. */
NASC_INTERNAL void nasc_os_set_val_source(nasc_oneshot *os, nasc_os_val_fn fn, void *user);
/* Progress callback for SPOS's evolutionary search (after the last epoch), called after every
 * candidate scored. Set by the search loop; NULL: silent. */
NASC_INTERNAL void nasc_os_set_phase_progress(nasc_oneshot *os, nasc_os_phase_fn fn, void *user);
/* The method state for checkpoints (a 0 flag when there is none). */
NASC_INTERNAL void nasc_os_method_save(const nasc_oneshot *os, nasc_buf *b);
NASC_INTERNAL nasc_status nasc_os_method_load(nasc_oneshot *os, nasc_reader *b, const char *path,
                                              nasc_err *err);

#endif /* NASC_STEPPER_INT_H */
