/*
 * optim.h — optimizers (SGD with momentum / Nesterov / weight decay, Adam, AdamW), gradient
 * clipping by global norm, and learning-rate schedules (cosine with linear warm-up, constant).
 *
 * An optimizer updates one parameter store (nn.h) with the gradients accumulated in it. Its state
 * (momentum buffers, Adam moments) is one flat block parallel to the store's flat weights, so a
 * step is a single loop and a checkpoint is a single write. Semantics follow PyTorch exactly
 * (torch.optim.SGD / Adam / AdamW), so results can be compared value for value.
 *
 *     nasc_optim *opt;
 *     nasc_optim_new(model->params, &(nasc_optim_config){.kind = NASC_OPTIM_SGD,
 *                    .momentum = 0.9f, .nesterov = true, .weight_decay = 3e-4f}, &opt, &err);
 *     nasc_sched sch = {.kind = NASC_SCHED_COSINE, .lr_max = 0.025f, .lr_min = 0.001f,
 *                       .warmup_steps = 100, .total_steps = steps};
 *     for (step = 0; step < steps; step++) {
 *         nasc_params_zero_grad(model->params);
 *         ... forward, nasc_backward ...
 *         float norm = nasc_clip_grad_norm(model->params, 5.0f);   // optional
 *         nasc_optim_step(opt, nasc_sched_lr(&sch, step));
 *     }
 *     nasc_optim_free(opt);
 */
#ifndef NASC_OPTIM_H
#define NASC_OPTIM_H

#include "nasc/nn.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum nasc_optim_kind {
    NASC_OPTIM_SGD = 0, /* buf = m*buf + (g + wd*w); w -= lr*(nesterov ? g' + m*buf : buf) */
    NASC_OPTIM_ADAM,    /* L2 decay added to the gradient (torch.optim.Adam) */
    NASC_OPTIM_ADAMW,   /* decoupled decay: w -= lr*wd*w before the Adam step */
    NASC_OPTIM_COUNT
} nasc_optim_kind;

typedef struct nasc_optim_config {
    nasc_optim_kind kind;
    float momentum;     /* SGD; 0 = plain SGD */
    bool nesterov;      /* SGD; needs momentum > 0 */
    float weight_decay; /* >= 0 */
    float beta1, beta2; /* Adam/AdamW; 0 means the defaults 0.9 / 0.999 */
    float eps;          /* Adam/AdamW; 0 means 1e-8 */
} nasc_optim_config;

typedef struct nasc_optim nasc_optim;

/* New optimizer for the (finalized) store ps, which must outlive it. NASC_ERR_ARG for bad
 * hyper-parameters (message names the field), NASC_ERR_NOMEM on OOM. */
NASC_API nasc_status nasc_optim_new(nasc_params *ps, const nasc_optim_config *cfg,
                                    nasc_optim **out, nasc_err *err);
NASC_API void nasc_optim_free(nasc_optim *o);
/* One update of every parameter with learning rate lr, using the current gradients. */
NASC_API void nasc_optim_step(nasc_optim *o, float lr);
/* Number of steps taken (Adam's bias correction uses it). */
NASC_API int64_t nasc_optim_steps(const nasc_optim *o);
/* The flat state (momentum or Adam m then v) and its length in floats, for checkpoints; and a
 * setter for the step count when restoring. */
NASC_API float *nasc_optim_state(nasc_optim *o, size_t *out_len);
NASC_API void nasc_optim_set_steps(nasc_optim *o, int64_t steps);

/* Global L2 norm of all gradients of ps; if it exceeds max_norm (> 0), scales every gradient by
 * max_norm / (norm + 1e-6) as torch.nn.utils.clip_grad_norm_. Returns the norm before clipping. */
NASC_API float nasc_clip_grad_norm(nasc_params *ps, float max_norm);

/* ---- data-parallel training (dist.h) ----
 *
 * Every rank of the job holds the same parameters and takes its contiguous share of each global
 * batch (nasc_loader_config.shard). After backward, nasc_dp_average makes one collective
 * (nasc_dist_allreduce_sum: a fixed rank order, so a given number of ranks is bit-for-bit
 * reproducible) that leaves on every rank: each gradient and each buffer (batch-norm running
 * statistics) as the average over the ranks weighted by n_local / n_total (the gradient of the
 * global batch's mean loss; running statistics that stay identical on every rank), and the sum of
 * the caller's extra floats (loss x images, correct counts, flags). Batch-norm batch statistics
 * stay per rank (as PyTorch DDP without SyncBN).
 *
 *     nasc_dp *dp;  NASC_TRY(nasc_dp_new(ps, 2, &dp, &err));
 *     ... backward on this rank's b.n images of a batch of b.n_total ...
 *     float extra[2] = {loss * b.n, correct};
 *     NASC_TRY(nasc_dp_average(dp, b.n, b.n_total, extra, &err));   // extra: global sums
 *     nasc_optim_step(opt, lr);
 *
 * A job of one process: the calls do nothing (the sums are the rank's own values). */
typedef struct nasc_dp nasc_dp;

/* A reducer for ps (finalized, borrowed) with n_extra >= 0 caller floats per call; its one work
 * buffer is allocated here. NASC_ERR_NOMEM. Free with nasc_dp_free (NULL is a no-op). */
NASC_API nasc_status nasc_dp_new(nasc_params *ps, int n_extra, nasc_dp **out, nasc_err *err);
NASC_API void nasc_dp_free(nasc_dp *dp);
/* The collective above; n_local (0 <= n_local <= n_total) images of a global batch of n_total >
 * 0 on this rank; extra (n_extra floats, may be NULL when 0) is replaced by its sum over the
 * ranks. Every rank must call it the same number of times. NASC_ERR_IO from MPI. */
NASC_API nasc_status nasc_dp_average(nasc_dp *dp, int n_local, int n_total, float *extra,
                                     nasc_err *err);
/* The same without the buffers: for passes that leave the running statistics alone (an
 * architecture step's batch-statistics passes), whose buffers are already identical everywhere. */
NASC_API nasc_status nasc_dp_average_grads(nasc_dp *dp, int n_local, int n_total, float *extra,
                                           nasc_err *err);
/* Copies rank 0's weights, buffers and (when o is not NULL) optimizer state and step count to
 * every rank: after a resume that only rank 0 read. */
NASC_API nasc_status nasc_dp_bcast_state(nasc_params *ps, nasc_optim *o, nasc_err *err);

/* ---- learning-rate schedules ---- */

typedef enum nasc_sched_kind {
    NASC_SCHED_CONSTANT = 0, /* lr_max */
    NASC_SCHED_COSINE,       /* linear warm-up to lr_max, then cosine to lr_min at total_steps */
    NASC_SCHED_COUNT
} nasc_sched_kind;

typedef struct nasc_sched {
    nasc_sched_kind kind;
    float lr_max, lr_min;
    int64_t warmup_steps; /* lr rises linearly from lr_max/warmup_steps to lr_max */
    int64_t total_steps;  /* including warm-up */
    bool single;          /* cosine evaluated in float (cosf) instead of double: the one-shot
                           * search's per-epoch schedule has always been, and its searches stay
                           * bit-identical */
} nasc_sched;

/* Learning rate at step (0-based). Steps past total_steps give lr_min. */
NASC_API float nasc_sched_lr(const nasc_sched *s, int64_t step);

#ifdef __cplusplus
}
#endif
#endif /* NASC_OPTIM_H */
