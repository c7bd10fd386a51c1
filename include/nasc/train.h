/*
 * train.h — training and evaluating a model on a dataset: the loop behind `nasc train`, the
 * training evaluator of searches, and retraining of found architectures.
 *
 * One step: load a batch (background prefetch), forward in training mode, cross entropy (with
 * label smoothing and the auxiliary head's loss if asked), backward, optional clipping, optimizer
 * step with the scheduled learning rate. Everything random is keyed by cfg->seed (init is the
 * caller's, data order, augmentation, dropout / drop-path masks), so the same seed and thread count
 * give the same losses bit for bit. A loss that becomes NaN or infinite stops training with
 * NASC_ERR_ABORTED and a message saying where ("diverged at epoch 2 step 17 (loss nan)").
 *
 *     nasc_train_config cfg;
 *     nasc_train_config_default(&cfg);
 *     cfg.epochs = 5; cfg.seed = 1;
 *     nasc_train_result res;
 *     if (nasc_train(model, train_set, test_set, &cfg, on_event, NULL, &res, &err) == NASC_OK)
 *         printf("test accuracy %.2f%%\n", res.test_acc);
 */
#ifndef NASC_TRAIN_H
#define NASC_TRAIN_H

#include "nasc/backend.h"
#include "nasc/nn.h"
#include "nasc/optim.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nasc_dataset nasc_dataset; /* data.h */

/* ---- training hyperparameters ----
 * What a user sets for a training run, under the names of `nasc train`'s flags, of an
 * experiment's keys (YAML file, database) and of a one-shot search: one struct for all three,
 * and one table of defaults (nasc_train_hparams_default). Values are kept as given (doubles, as a
 * database stores them; a run takes them in float) and the optimizer by name;
 * nasc_train_config_set_hparams maps them onto a run. The fields are also spliced into the
 * configurations that embed them (NASC_TRAIN_HPARAMS_MEMBER), so there cfg->lr and cfg->train
 * (all of them) name the same bytes. */
#define NASC_TRAIN_HPARAMS_FIELDS                                                              \
    int epochs;             /* >= 1 */                                                         \
    int batch;              /* training batch size */                                          \
    double lr, lr_min;      /* cosine from lr to lr_min */                                     \
    int warmup_epochs;      /* linear warm-up (in epochs) before the cosine */                 \
    char optimizer[16];     /* "sgd", "adam" or "adamw" */                                     \
    double momentum;        /* SGD */                                                          \
    bool no_nesterov;       /* SGD: plain momentum instead of Nesterov's */                    \
    double weight_decay;                                                                       \
    double clip;            /* global-norm gradient clipping; 0 = off */                       \
    double label_smoothing; /* in [0,1) */                                                     \
    int crop_pad;           /* random crop with this zero padding; 0 = off */                  \
    bool hflip;             /* random horizontal flips */                                      \
    int cutout;             /* cutout square side; 0 = off */                                  \
    double drop_path;       /* maximum drop-path probability; 0 = off */                       \
    double data_fraction;   /* share of the training set used, in (0,1] */                     \
    double val_fraction;    /* searches: share of that held out to score, in (0,1) */          \
    int threads;            /* kernel threads */

typedef struct nasc_train_hparams {
    NASC_TRAIN_HPARAMS_FIELDS
} nasc_train_hparams;

/* The hyperparameters as members of a configuration struct: each field by its name, and the
 * whole set as `train`. */
#define NASC_TRAIN_HPARAMS_MEMBER                                                              \
    union {                                                                                    \
        nasc_train_hparams train;                                                              \
        struct {                                                                               \
            NASC_TRAIN_HPARAMS_FIELDS                                                          \
        };                                                                                     \
    }

/* Whose defaults (one row each of the one table, src/estimate/train.c). */
typedef enum nasc_train_preset {
    NASC_TRAIN_PRESET_LIBRARY = 0, /* nasc_train_config_default: 10 epochs, batch 64, SGD lr 0.05
                                    * cosine to 0, momentum 0.9 Nesterov, wd 5e-4, clip 5,
                                    * 1 thread */
    NASC_TRAIN_PRESET_COMMAND,     /* `nasc train` and the trials of `nasc search`: 5 epochs,
                                    * batch 128, lr 0.1, validation 0.2, 2 threads, else as the
                                    * library's */
    NASC_TRAIN_PRESET_ONESHOT,     /* one-shot searches (the DARTS paper): 50 epochs, batch 64,
                                    * lr 0.025 cosine per epoch to 0.001, momentum 0.9, wd 3e-4,
                                    * clip 5, validation 0.5, 2 threads */
    NASC_TRAIN_PRESET_COUNT
} nasc_train_preset;

/* Fills hp with the defaults of preset p (data fraction 1, no warm-up, smoothing, augmentation
 * or drop-path in every preset). */
NASC_API void nasc_train_hparams_default(nasc_train_hparams *hp, nasc_train_preset p);

struct nasc_train_event;
struct nasc_train_refit;

typedef struct nasc_train_config {
    int epochs;             /* >= 1 */
    int64_t steps;          /* > 0: train for exactly this many optimizer steps instead (the
                             * cosine horizon, warm-up aside, is these steps; the last epoch may
                             * be partial; epochs is then ceil(steps / steps per epoch) and the
                             * given value is ignored); 0: epochs x steps per epoch */
    int batch;              /* training batch size */
    int eval_batch;         /* evaluation batch size; 0 (default): the training batch, so that an
                             * evaluation never needs more memory than a training step */
    nasc_optim_kind optim;  /* SGD, Adam or AdamW */
    float lr, lr_min;       /* cosine from lr to lr_min over all steps */
    int warmup_epochs;      /* linear warm-up (in epochs) before the cosine */
    float momentum;         /* SGD */
    bool nesterov;          /* SGD */
    float weight_decay;
    float clip_norm;        /* global-norm clipping; 0 = off */
    float label_smoothing;  /* in [0,1) */
    float drop_path;        /* maximum drop-path probability, scaled by epoch/epochs; 0 = off */
    float aux_weight;       /* weight of the auxiliary head's loss; 0 = off */
    int crop_pad;           /* random crop with this zero padding; 0 = off */
    bool hflip;             /* random horizontal flip */
    int cutout;             /* cutout square side; 0 = off */
    int threads;            /* kernel threads (a cpu backend is created unless backend is set) */
    nasc_backend *backend;  /* optional, not owned */
    uint64_t seed;          /* data order, augmentation, dropout masks */
    bool eval_each_epoch;   /* evaluate on the eval set after every epoch (else only at the end) */
    double max_seconds;     /* stop after this much training time (0 = no limit) */
    bool prefetch;          /* background batch preparation */
    /* Crash-safe training: after every completed epoch the whole training state (weights, buffers,
     * optimizer state, counters) is written atomically to this file, and when the file exists at
     * the start, training resumes from it and continues exactly as the uninterrupted run would
     * (same seed and threads: bit for bit). A checkpoint of another configuration is refused
     * (NASC_ERR_ARG naming the first differing option), one of another model with NASC_ERR_SHAPE.
     * NULL: off. */
    const char *checkpoint;
    const char *checkpoint_meta; /* model metadata JSON object stored with it (NULL: {}), so the
                                    checkpoint is also a weights file `nasc eval` can read */
    /* Data-parallel training over the ranks of an MPI job (dist.h, optim.h's nasc_dp): every rank
     * calls nasc_train with the same arguments; each takes its contiguous share of every global
     * batch of `batch` images (the batches and augmentation of one process), gradients and
     * batch-norm running statistics are averaged every step in a fixed rank order, batch-norm
     * batch statistics are per rank. Rank 0 alone evaluates, writes the checkpoint, reads it to
     * resume (and sends the state to the others), and decides when to stop (callback, max_seconds);
     * the other ranks' results hold the training figures only. Needs batch and the training set's
     * size >= the number of ranks. Ignored without a job of several processes. */
    bool data_parallel;
    /* Step-count refits (steps > 0 only): a run fitted to a wall-time budget may change its step
     * count while it trains, from the throughput it sees (nasc auto). `refit`, when set, is called
     * (on rank 0) after every optimizer step with that step's event and returns the new total
     * step count, or 0 to keep the current one (a count <= the steps done is an error, ARG). The
     * run's schedule is then re-anchored at that step: the cosine's phase p = (s - w) / (T - w)
     * (w the warm-up steps, T the total) keeps the value p_k it had at the refit's step k and runs
     * on linearly from p_k to 1 over the new remaining steps, so the learning rate is continuous at
     * k and reaches lr_min exactly at the new end (a refit during the warm-up re-anchors at w with
     * p = 0). refits[0..n_refits) are refits decided before (a resumed run's record), replayed at
     * their steps: a run given the refits another run made follows its schedule bit for bit;
     * `refit` is consulted only after the last of them. Checkpoints record the refits made so far
     * and a resume checks they are refits[]'s first ones (NASC_ERR_ARG otherwise). At most
     * NASC_TRAIN_MAX_REFITS in all. */
    const struct nasc_train_refit *refits;
    int n_refits;
    int64_t (*refit)(const struct nasc_train_event *ev, void *user); /* user: nasc_train's */
} nasc_train_config;

#define NASC_TRAIN_MAX_REFITS 32
/* One change of a run's step count: after `at_step` steps the run is to end at `steps`. */
typedef struct nasc_train_refit {
    int64_t at_step, steps;
} nasc_train_refit;

/* Defaults: the hyperparameters of NASC_TRAIN_PRESET_LIBRARY (10 epochs, batch 64, SGD lr 0.05
 * cosine to 0, momentum 0.9 Nesterov, wd 5e-4, clip 5, no smoothing, 1 thread), seed 1,
 * prefetch on. */
NASC_API void nasc_train_config_default(nasc_train_config *cfg);

/* Sets cfg's hyperparameters from hp (data_fraction and val_fraction are not a run's): the
 * values in float, the optimizer by name (any other name: SGD; callers check names first), and
 * Nesterov momentum for SGD with momentum > 0 unless hp->no_nesterov. Other fields unchanged. */
NASC_API void nasc_train_config_set_hparams(nasc_train_config *cfg, const nasc_train_hparams *hp);

/* Named training recipes: a benchmark's published schedule, applied on top of cfg (fields the
 * recipe does not name are left alone). out_channels / out_cells receive the network size the
 * recipe trains (either may be NULL).
 *   nb201-12   NAS-Bench-201's low-fidelity schedule (its LESS config): SGD, Nesterov momentum
 *              0.9, lr 0.1 cosine-annealed to 0 over all steps, weight decay 5e-4 on every
 *              parameter, batch 256, random crop with 4 pixels of zero padding + horizontal
 *              flip, no gradient clipping, no label smoothing, 12 epochs; network C=16, N=5.
 *   nb201-200  the same for 200 epochs (the benchmark's full schedule).
 * NASC_ERR_ARG naming the known recipes for any other name; cfg is then unchanged. */
NASC_API nasc_status nasc_train_recipe_apply(const char *name, nasc_train_config *cfg,
                                             int *out_channels, int *out_cells, nasc_err *err);
/* The same recipe applied to hyperparameters (every field but data_fraction, val_fraction and
 * threads). */
NASC_API nasc_status nasc_train_recipe_hparams(const char *name, nasc_train_hparams *hp,
                                               int *out_channels, int *out_cells, nasc_err *err);
/* The names of the recipes, comma-separated ("nb201-12, nb201-200"). */
NASC_API const char *nasc_train_recipe_names(void);

typedef enum nasc_train_event_kind {
    NASC_TRAIN_STEP = 0,  /* after every optimizer step */
    NASC_TRAIN_EPOCH_END  /* after each epoch (and its evaluation, if any) */
} nasc_train_event_kind;

typedef struct nasc_train_event {
    nasc_train_event_kind kind;
    int epoch, epochs;             /* epoch is 0-based */
    int64_t step, steps_per_epoch; /* step within the epoch, 0-based */
    int64_t global_step;
    float loss;                    /* this step's loss */
    float avg_loss, avg_acc;       /* running means over the epoch so far (acc in percent) */
    float lr;
    double images_per_second;      /* training throughput so far */
    double elapsed_s, eta_s;
    float eval_acc, eval_loss;     /* EPOCH_END with an evaluation; else NaN */
} nasc_train_event;

/* Called on every event; returning false stops training (NASC_ERR_ABORTED). */
typedef bool (*nasc_train_cb)(const nasc_train_event *ev, void *user);

typedef struct nasc_train_result {
    int epochs_done;
    int64_t steps;
    float train_loss, train_acc; /* last epoch's running means */
    float eval_loss, eval_acc;   /* on the eval set after the last epoch; NaN if none */
    double seconds;              /* training time, evaluation excluded */
    double images_per_second;    /* training throughput */
    int resumed_epochs;          /* epochs restored from cfg->checkpoint (0: a fresh start) */
} nasc_train_result;

/* Trains m on `train` and, if `eval` is given, evaluates on it. out is filled also when training
 * stops early. Errors: ARG (bad config, named field), SHAPE (dataset does not fit the model),
 * ABORTED (callback, time limit with nothing done, divergence), NOMEM. */
NASC_API nasc_status nasc_train(nasc_model *m, const nasc_dataset *train, const nasc_dataset *eval,
                                const nasc_train_config *cfg, nasc_train_cb cb, void *user,
                                nasc_train_result *out, nasc_err *err);

/* A training run fitted to a wall-time budget (`nasc train --time-limit`). */
typedef struct nasc_train_fit {
    int epochs;             /* epochs that fit: the run to do is cfg with epochs = this (>= 1) */
    double step_seconds;    /* measured seconds per training step (first step excluded) */
    double first_step_seconds; /* the first step's time (graph and buffers allocated, caches
                                * cold): what a fresh run costs once, on top of its steps */
    double epoch_seconds;   /* predicted: step_seconds x steps per epoch */
    double eval_seconds;    /* predicted time of the final evaluation (timed on 1 and 4 batches) */
    double calib_seconds;   /* wall time the measurements took */
    int64_t calib_steps;    /* steps it ran */
} nasc_train_fit;

/* Measures this machine's step time for cfg on `probe` (a throwaway copy of the model to train:
 * it is trained for at least 6 steps (3 of warm-up) and about calib_seconds, then left in whatever state; the
 * caller frees it) and the time to evaluate `eval` (from 1 and 4 of its batches: fixed + per image) (may be NULL: no final
 * evaluation), then picks the largest epoch count whose training plus the final evaluation of all
 * of eval fits in `seconds`, the measurement included (at least 1 epoch). The chosen run is then
 * an ordinary fixed-epoch run (cosine horizon = epochs), reproducible with that epoch count alone:
 * the clock only decides the number. cfg->checkpoint and cfg->max_seconds are not used.
 * Errors: as nasc_train. */
NASC_API nasc_status nasc_train_fit_time(nasc_model *probe, const nasc_dataset *train,
                                         const nasc_dataset *eval, const nasc_train_config *cfg,
                                         double seconds, double calib_seconds,
                                         nasc_train_fit *out, nasc_err *err);

/* Accuracy (percent) and mean cross entropy of m on ds in inference mode. be may be NULL (a cpu
 * backend with `threads` threads is used). */
NASC_API nasc_status nasc_evaluate(nasc_model *m, const nasc_dataset *ds, nasc_backend *be,
                                   int threads, int batch, float *out_acc, float *out_loss,
                                   nasc_err *err);

/* The logits of m on every image of ds, in dataset order, computed exactly as nasc_evaluate
 * computes them (same loader, normalisation and batches): out_logits receives ds->n x
 * m->n_classes floats (caller-owned). out_acc (may be NULL) gets the accuracy against ds's
 * labels. Errors as nasc_evaluate. */
NASC_API nasc_status nasc_predict(nasc_model *m, const nasc_dataset *ds, nasc_backend *be,
                                  int threads, int batch, float *out_logits, float *out_acc,
                                  nasc_err *err);

#ifdef __cplusplus
}
#endif
#endif /* NASC_TRAIN_H */
