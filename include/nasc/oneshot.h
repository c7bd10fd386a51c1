/*
 * oneshot.h — one-shot architecture search on a supernet (supernet.h): DARTS (first and second
 * order), GDAS, PC-DARTS, ENAS, SPOS and ProxylessNAS, and the search loop with checkpoints.
 *
 * One-shot methods do not fit the ask/tell loop of strategy.h: they train one supernet whose
 * weights every candidate shares, alternating weight steps on a training split with
 * architecture steps on a validation split, and read the architecture off at the end. Two levels:
 *
 *   nasc_oneshot        the stepper: a supernet, its two optimizers (SGD for the weights, Adam for
 *                       the architecture parameters) and the method's state. One call = one
 *                       search step on a (train, val) pair of batches. For benchmarks and tests.
 *   nasc_oneshot_run    the whole search on a dataset: stratified half/half split of the
 *                       training set (as the DARTS paper), epochs with the cosine schedule, the
 *                       per-epoch record (alpha, the derived architecture, metrics), collapse
 *                       report and remedy, memory check, crash-safe checkpoints and resume.
 *
 * Methods (--strategy names):
 *   darts      first-order DARTS (Liu et al. 2019): alpha by the gradient of the validation loss.
 *   darts2     second-order DARTS: alpha by the gradient of the validation loss after one unrolled
 *              SGD step, the Hessian-vector product by central finite differences.
 *   gdas       GDAS (Dong & Yang 2019): one op per edge from a hard Gumbel-softmax sample, the
 *              temperature annealed linearly from tau_max to tau_min; straight-through gradients.
 *   pc-darts   PC-DARTS (Xu et al. 2020): partial channels (1/K of them, K = 4) and edge
 *              normalisation; first-order, architecture steps after a warm-up.
 *   enas       ENAS (Pham et al. 2018): the LSTM controller of predictor.h samples architectures;
 *              shared weights train on sampled paths, the controller by REINFORCE on the
 *              validation accuracy of its samples, alternately.
 *   spos       Single-Path One-Shot (Guo et al. 2020): uniform random paths train the supernet,
 *              then an evolutionary search scores candidates by their accuracy on the supernet.
 *   proxyless  ProxylessNAS (Cai et al. 2019): binary gates on two sampled paths per edge, and a
 *              latency term in the loss from per-op latencies measured by the cost model.
 *
 * Determinism: everything random (init, split, data order, augmentation, Gumbel noise, path and
 * controller samples) is keyed by the seed, so the same seed and thread count give the same
 * architecture bit for bit; a resumed search gives the same as an uninterrupted one.
 *
 * Data parallel (config.data_parallel under an MPI launcher, dist.h): every rank runs the same
 * search on its contiguous share of every training, validation and evaluation batch; each pass's
 * gradients (weights or alpha; BN running statistics after weight steps), losses and counts are
 * averaged over the global batch in a fixed rank order (optim.h, nasc_dp), so the stores stay
 * identical on every rank and a given number of ranks is deterministic. Paths, Gumbel noise and
 * controller samples draw from the same stream on every rank, so all ranks take the same path;
 * candidate scores (SPOS, ENAS rewards) are summed over the ranks; BN re-estimation runs on the
 * whole batches on every rank; ProxylessNAS's latencies are measured by rank 0. Rank 0 alone
 * reads and writes the checkpoint (the other ranks receive its bytes) and decides a stop. Batch
 * norm normalises with each rank's own share, so N ranks are not one process bit for bit.
 *
 *     nasc_oneshot_config cfg;
 *     nasc_oneshot_config_default(&cfg, "darts");
 *     cfg.epochs = 50;
 *     snprintf(cfg.data, sizeof cfg.data, "fashion-mnist");
 *     snprintf(cfg.checkpoint, sizeof cfg.checkpoint, "search.ckpt");
 *     nasc_oneshot_result res;
 *     if (nasc_oneshot_run(&cfg, &(nasc_oneshot_hooks){.on_epoch = log_epoch}, &res, &err))
 *         fprintf(stderr, "%s\n", err.msg);
 *     printf("%s\n", res.arch);
 *     nasc_oneshot_result_free(&res);
 */
#ifndef NASC_ONESHOT_H
#define NASC_ONESHOT_H

#include "nasc/backend.h"
#include "nasc/supernet.h"
#include "nasc/train.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum nasc_oneshot_method {
    NASC_ONESHOT_DARTS = 0,
    NASC_ONESHOT_DARTS2,
    NASC_ONESHOT_GDAS,
    NASC_ONESHOT_PCDARTS,
    NASC_ONESHOT_ENAS,
    NASC_ONESHOT_SPOS,
    NASC_ONESHOT_PROXYLESS,
    NASC_ONESHOT_METHOD_COUNT
} nasc_oneshot_method;

/* "darts", "darts2", ... (the --strategy names); NULL for out-of-range values. */
NASC_API const char *nasc_oneshot_method_name(nasc_oneshot_method m);
/* True and *out set if name is a one-shot method. */
NASC_API bool nasc_oneshot_method_parse(const char *name, nasc_oneshot_method *out);
/* "darts, darts2, gdas, pc-darts, enas, spos, proxyless", for help texts. */
NASC_API const char *nasc_oneshot_method_names(void);

/* ---- method options (zero fields take the defaults in brackets, from the papers) ---- */

typedef struct nasc_oneshot_opts {
    /* weights: SGD with momentum, weight decay, clipping by global norm */
    float momentum;       /* [0.9] */
    float weight_decay;   /* [3e-4] */
    float clip;           /* [5]; < 0 = off */
    /* architecture parameters: Adam */
    float arch_lr;        /* [3e-4; proxyless 6e-3; enas controller 3.5e-4] */
    float arch_beta1;     /* [0.5; proxyless 0] */
    float arch_beta2;     /* [0.999] */
    float arch_wd;        /* [1e-3; proxyless 0] */
    int arch_warmup;      /* epochs of weight training before architecture steps start
                           * [0; pc-darts: 30% of the epochs, as 15 of 50] */
    /* gdas */
    float tau_max, tau_min; /* [10, 0.1] */
    /* pc-darts */
    int partial;          /* channel fraction K [4] */
    /* spos */
    int evo_population;   /* [50] */
    int evo_iterations;   /* [20] */
    int evo_val_batches;  /* validation batches per candidate score [4] */
    /* enas */
    int enas_samples;     /* controller samples per epoch [20] */
    float enas_entropy;   /* entropy bonus [1e-4] */
    float enas_baseline;  /* baseline decay [0.95] */
    /* proxyless */
    float latency_weight; /* lambda in loss + lambda * E[latency] / reference latency [0.1] */
    float op_latency[NASC_SUPERNET_MAX_OPS]; /* per-op latency in ms, op order of the space;
                                              * all 0: measured by the cost model */
    /* collapse remedies (docs/ONESHOT.md) */
    int max_skips;        /* DARTS+ early stop: stop when the derived normal cell has more than
                           * this many skip connections (0 = off) [0] */
    float skip_reg;       /* weight of a regulariser on the mean softmax weight of skip_connect
                           * (added to the validation loss; 0 = off) [0] */
} nasc_oneshot_opts;

/* Fills the defaults of method m into o (fields left 0 mean "default"). */
NASC_API void nasc_oneshot_opts_default(nasc_oneshot_opts *o, nasc_oneshot_method m,
                                        int epochs);

/* ---- the stepper ---- */

typedef struct nasc_oneshot nasc_oneshot;

/* A batch: n images (N, H, W, C floats, NHWC) and n labels; borrowed for the call. Data
 * parallel (nasc_oneshot_config.data_parallel): this rank's share of a global batch of n_total
 * images, starting at image `first` of it (nasc_batch's fields); n_total 0 means n (whole). */
typedef struct nasc_oneshot_batch {
    const float *x;
    const int32_t *labels;
    int n;
    int first, n_total;
} nasc_oneshot_batch;

/* What one step did. */
typedef struct nasc_oneshot_step_stats {
    float train_loss;   /* weight step's loss on the training batch */
    int train_correct;  /* its correct predictions */
    float arch_loss;    /* architecture step's loss (NaN if none this step) */
} nasc_oneshot_step_stats;

/* New stepper for method m on sn (not owned; must outlive it) running on be (not owned), with
 * options o (NULL: defaults; fill with nasc_oneshot_opts_default) and seed (Gumbel noise, path
 * samples). Makes its own graph and optimizers. ARG if the supernet does not fit the method
 * (pc-darts needs partial channels), NOMEM. */
NASC_API nasc_status nasc_oneshot_new(nasc_oneshot_method m, nasc_supernet *sn, nasc_backend *be,
                                      const nasc_oneshot_opts *o, uint64_t seed,
                                      nasc_oneshot **out, nasc_err *err);
NASC_API void nasc_oneshot_free(nasc_oneshot *os);
NASC_API nasc_supernet *nasc_oneshot_supernet(const nasc_oneshot *os);

/* Epoch progress for schedules: epoch (0-based) of epochs; sets the GDAS temperature and whether
 * architecture steps run (arch_warmup). */
NASC_API void nasc_oneshot_set_epoch(nasc_oneshot *os, int epoch, int epochs);
/* One search step: the method's architecture step on val (if any, and past the warm-up), then a
 * weight step on train with learning rate lr. val may be NULL for methods without one. */
NASC_API nasc_status nasc_oneshot_step(nasc_oneshot *os, const nasc_oneshot_batch *train,
                                       const nasc_oneshot_batch *val, float lr,
                                       nasc_oneshot_step_stats *out, nasc_err *err);
/* DARTS / DARTS2 / PC-DARTS: the architecture gradient of this step (first order: of the
 * validation loss; second order: of the unrolled validation loss, finite-difference Hessian)
 * into out[0..nasc_params_flat_len(arch params)), without updating anything. For tests. */
NASC_API nasc_status nasc_oneshot_arch_grad(nasc_oneshot *os, const nasc_oneshot_batch *train,
                                            const nasc_oneshot_batch *val, float lr, float *out,
                                            nasc_err *err);
/* Loss and correct predictions of the supernet on a batch under the method's current expected
 * architecture: DARTS / DARTS2 / PC-DARTS the softmax(alpha) supernet in inference mode (running
 * BN statistics; see nasc_oneshot_recalibrate_bn), the sampling ones their current best path
 * with batch statistics. */
NASC_API nasc_status nasc_oneshot_eval_batch(nasc_oneshot *os, const nasc_oneshot_batch *b,
                                             float *out_loss, int *out_correct, nasc_err *err);
/* DARTS / DARTS2 / PC-DARTS: pass `pass` (0, 1, ...) of a BN recalibration: a forward of b in
 * training mode that updates every running statistic with momentum 1/(pass+1), so after passes
 * 0..K-1 they are the plain averages over those K batches at the current weights. The running
 * averages kept by the weight steps (momentum 0.1) trail the weights and start from mean 0,
 * var 1, far from the mixed ops' variances (5e-3..5e-2), so inference with them is poor early in a
 * search (docs/ONESHOT.md, "Evaluation"). Nothing is trained. No-op (OK) for the sampling
 * methods, which evaluate with batch statistics. */
NASC_API nasc_status nasc_oneshot_recalibrate_bn(nasc_oneshot *os, const nasc_oneshot_batch *b,
                                                 int pass, nasc_err *err);
/* The architecture the method would return now (DARTS rule on alpha; ENAS: the controller's
 * most likely sample; SPOS: the best path scored so far). Caller frees. */
NASC_API nasc_status nasc_oneshot_derive(nasc_oneshot *os, nasc_arch **out, nasc_err *err);
/* Peak step-arena and gradient-pool bytes of the stepper's graph so far. */
NASC_API void nasc_oneshot_memory(const nasc_oneshot *os, size_t *out_arena, size_t *out_grads);

/* ---- the search ---- */

typedef struct nasc_oneshot_config {
    char method[16];        /* --strategy name */
    char space[16];         /* "darts" or "nb201" */
    char data[512];         /* dataset spec (data.h) */
    /* training hyperparameters (train.h; defaults NASC_TRAIN_PRESET_ONESHOT): the search uses
     * epochs [50], batch [64], lr and lr_min (cosine per epoch, in float) [0.025, 0.001],
     * data_fraction (0 or 1 = all), val_fraction [0.5, as the DARTS paper], threads [2],
     * crop_pad and hflip (training augmentation) [0, false]. The other fields are not read:
     * the weights' SGD takes momentum, weight decay and clip from opts (whose defaults are the
     * preset's); there is no warm-up, smoothing, cutout or drop-path in a search. */
    NASC_TRAIN_HPARAMS_MEMBER;
    uint64_t seed;
    int channels, cells;    /* supernet C and L (darts) / N (nb201) [16, 8 / 5] */
    int eval_batches;       /* validation batches scored per epoch (0 = all) [0] */
    size_t max_memory;      /* refuse a configuration whose predicted step memory exceeds this
                             * many bytes (0 = no limit) */
    char checkpoint[520];   /* checkpoint file ("" = none) */
    int checkpoint_every;   /* also checkpoint every this many steps within an epoch [200] */
    bool resume;            /* continue from the checkpoint if it exists */
    int stop_after_steps;   /* test hook: return NASC_ERR_ABORTED after this many steps of this
                             * run (0 = never) */
    bool data_parallel;     /* under an MPI launcher with several ranks: every rank calls
                             * nasc_oneshot_run with the same config (see the top); the hooks'
                             * on_epoch and on_step answers are rank 0's. Ignored in a job of
                             * one process. */
    nasc_oneshot_opts opts; /* method options (zero fields: defaults) */
} nasc_oneshot_config;

/* Defaults for method (a --strategy name; unknown names leave cfg->method empty). */
NASC_API void nasc_oneshot_config_default(nasc_oneshot_config *cfg, const char *method);

/* What the search reports after each epoch (valid during the callback). */
typedef struct nasc_oneshot_epoch {
    int epoch, epochs;          /* epoch is 0-based */
    float lr;
    float train_loss, train_acc; /* means over the epoch's weight steps (acc in percent) */
    float val_loss, val_acc;     /* the supernet on the validation split (inference mode) */
    const char *arch;           /* the derived architecture's text */
    const char *alpha_json;     /* {"normal": [[p, ...], ...], "reduce": ...}: softmax(alpha)
                                 * per edge, and "edge" weights where the method has them */
    double param_free_share;    /* share of parameter-free ops (skip, pools, none) in the
                                 * derived cells */
    int n_skip_normal;          /* skip connections in the derived normal cell */
    double seconds;             /* wall time of this epoch */
    double images_per_second;   /* training images per second in this epoch */
    bool last;                  /* the final epoch (or an early stop) */
    bool replayed;              /* handed over again after a resume (already reported once,
                                 * unless the process died between its checkpoint and the hook) */
    const char *stop_reason;    /* non-NULL when the collapse remedy stopped the search */
} nasc_oneshot_epoch;

/* Progress within an epoch, every step. */
typedef struct nasc_oneshot_progress {
    int epoch, epochs;
    int64_t step, steps;        /* within the epoch */
    float loss, acc;            /* running means over the epoch */
    double images_per_second;
    double elapsed_s;           /* since nasc_oneshot_run started (setup included) */
    double epoch_eta_s;         /* rest of this epoch's steps at this run's mean step time */
    double eta_s;               /* rest of the search: its steps at that rate plus one
                                 * end-of-epoch evaluation per epoch left, each as long as
                                 * this run's last one (0 before the first) */
    const char *phase;          /* NULL while training; "evolution" during SPOS's final
                                 * search: step = candidates scored of steps, acc = the best
                                 * one's accuracy so far, loss NaN, ETAs at its rate */
} nasc_oneshot_progress;

typedef struct nasc_oneshot_hooks {
    /* after every step; returning false stops the search (NASC_ERR_ABORTED) */
    bool (*on_step)(const nasc_oneshot_progress *p, void *user);
    /* after every epoch, once its checkpoint is written; a non-OK status stops the search */
    nasc_status (*on_epoch)(const nasc_oneshot_epoch *e, void *user, nasc_err *err);
    /* once, before training, with the memory prediction (may be NULL) */
    void (*on_memory)(const nasc_supernet_memory *m, void *user);
    void *user;
} nasc_oneshot_hooks;

typedef struct nasc_oneshot_result {
    char *arch;                 /* the found architecture's text (nasc_malloc'd) */
    int epochs_done;
    bool resumed;               /* started from a checkpoint */
    int resumed_epoch;          /* epoch it resumed in (-1 if not resumed) */
    int64_t resumed_step;       /* step within that epoch */
    float val_acc;              /* last epoch's supernet validation accuracy */
    double param_free_share;
    double seconds;             /* wall time of this run */
    char stop_reason[128];      /* non-empty when stopped early by the collapse remedy */
    nasc_supernet_memory memory;
} nasc_oneshot_result;

NASC_API void nasc_oneshot_result_free(nasc_oneshot_result *r);

/* Runs the whole search (see above). Errors: ARG (bad config, naming the field), IO / FORMAT
 * (data, checkpoint), NOMEM (including a configuration over max_memory: the message says what
 * would fit), ABORTED (a hook stopped it, or stop_after_steps). out is filled as far as known. */
NASC_API nasc_status nasc_oneshot_run(const nasc_oneshot_config *cfg,
                                      const nasc_oneshot_hooks *hooks, nasc_oneshot_result *out,
                                      nasc_err *err);

/* Parses method options "key=value,..." into o (keys: momentum, weight-decay, clip, arch-lr,
 * arch-beta1, arch-beta2, arch-wd, arch-warmup, tau-max, tau-min, partial, population,
 * iterations, evo-batches, samples, entropy, baseline, latency-weight, latency=ms:ms:...,
 * max-skips, skip-reg) and
 * the search's own (eval-batches, checkpoint-every, max-memory, e.g. 4G / 500M / bytes) into cfg.
 * ARG naming the bad key or value. NULL or "" changes nothing. */
NASC_API nasc_status nasc_oneshot_opts_parse(const char *text, nasc_oneshot_config *cfg,
                                             nasc_err *err);
/* Parses a byte count with an optional K, M, G suffix (powers of 1024) into *out. */
NASC_API bool nasc_oneshot_parse_bytes(const char *text, size_t *out);

/* Share of parameter-free ops (none, skip, pools) among the ops of a darts or nb201 arch, and
 * the number of skip connections in its first cell (the normal cell for darts). */
NASC_API double nasc_oneshot_param_free_share(const nasc_arch *a, int *out_skips);

#ifdef __cplusplus
}
#endif
#endif /* NASC_ONESHOT_H */
