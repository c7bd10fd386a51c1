/*
 * oneshot_search.h — `nasc search --strategy darts|darts2|gdas|pc-darts|enas|spos|proxyless`:
 * a one-shot search (oneshot.h) driven by an experiment configuration (experiment.h) and recorded
 * in the trial database (db.h) like any search.
 *
 * The same flags as every search: --space (darts, nb201), --data, --data-fraction,
 * --val-fraction (default 0.5 here, as the DARTS paper), --epochs, --batch, --lr, --lr-min,
 * --momentum, --weight-decay, --clip, --channels, --cells, --crop-pad, --hflip, --seed,
 * --threads, --db, --resume; method options through --strategy-opt (oneshot.h,
 * nasc_oneshot_opts_parse). Flags the user did not give take the DARTS search defaults (50
 * epochs, batch 64, lr 0.025 cosine to 0.001, momentum 0.9, weight decay 3e-4, clip 5, C=16,
 * 8 cells) instead of the training evaluator's. --budget is not used.
 *
 * Recording: the configuration (resolved values) in the config table, so `--db F --resume`
 * restores it; one trial per epoch (id = epoch, fidelity = epochs done, architecture = the
 * genotype derived after that epoch, score = the supernet's validation accuracy, the validation
 * curve so far, the training loss, cost.memory_bytes = the predicted step memory); the history of
 * softmax(alpha) per epoch as the strategy snapshot (JSON, latest replaces older). The checkpoint
 * lives next to the database (FILE.ckpt); after a kill, --resume continues from it and records
 * the epochs the database is missing, and the final architecture equals the uninterrupted run's.
 *
 *     nasc_oneshot_search_opts o = {.given = given, .on_epoch_log = print_line};
 *     nasc_oneshot_result res;
 *     nasc_oneshot_search(&cfg, &o, &res, &err);   // res.arch: the found genotype
 */
#ifndef NASC_ONESHOT_SEARCH_H
#define NASC_ONESHOT_SEARCH_H

#include "nasc/experiment.h"
#include "nasc/oneshot.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nasc_oneshot_search_opts {
    const bool *given;         /* indexed like nasc_config_keys: set by the user (NULL: none) */
    size_t max_memory;         /* --max-memory (0 = none; also strategy option max-memory) */
    int stop_after_steps;      /* test hook, see nasc_oneshot_config */
    /* one line per epoch for the log (epoch, losses, accuracy, genotype, alpha), and a progress
     * callback per step (returning false stops); either may be NULL */
    void (*on_epoch_log)(const char *text, void *user);
    bool (*on_step)(const nasc_oneshot_progress *p, void *user);
    void (*on_memory)(const nasc_supernet_memory *m, void *user);
    void *user;
    /* data parallel over the ranks of an MPI job (below); ignored in a job of one process */
    bool data_parallel;
} nasc_oneshot_search_opts;

/* True if cfg->strategy names a one-shot method (the search loop of experiment.h does not run
 * those). */
NASC_API bool nasc_oneshot_search_handles(const nasc_experiment_config *cfg);

/* Runs (or with cfg->resume continues) the one-shot search of cfg, recording it in cfg->db (or
 * an in-memory database). out as nasc_oneshot_run's. Errors: ARG (bad flags or options, a
 * database of another search), IO / FORMAT (data, database, checkpoint), NOMEM (including over
 * --max-memory, with what would fit), ABORTED. */
NASC_API nasc_status nasc_oneshot_search(const nasc_experiment_config *cfg,
                                         const nasc_oneshot_search_opts *opts,
                                         nasc_oneshot_result *out, nasc_err *err);

/* ---- data parallel: `mpirun -n N nasc search --strategy darts ...` (dist.h) ----
 * Every rank runs the search on its share of each batch (oneshot.h, "Data parallel"). Rank 0,
 * which read the flags (and on --resume the database), sends the configuration to the other
 * ranks with nasc_oneshot_search_share and calls nasc_oneshot_search with opts.data_parallel;
 * each other rank receives it with nasc_oneshot_search_wait and makes the same call. Rank 0 alone
 * opens the database, records the epochs and reads and writes the checkpoint; the other ranks'
 * hooks see the steps but no epoch log. Afterwards rank 0's nasc_experiment_dist_end and the
 * other ranks' nasc_experiment_serve (which then only waits for it) end the job as for a trial
 * search. */

/* Rank 0: sends cfg, given (indexed like nasc_config_keys) and max_memory to ranks 1..N-1.
 * ARG, with nothing sent, for a configuration every rank would refuse (bad flags, a batch of
 * fewer than 2 images per rank). */
NASC_API nasc_status nasc_oneshot_search_share(const nasc_experiment_config *cfg,
                                               const bool *given, size_t max_memory,
                                               nasc_err *err);
/* A rank > 0: waits (polling) for rank 0's first message. A one-shot configuration is received
 * into *cfg, given (room for nasc_config_keys' count) and *max_memory, and *out_oneshot set;
 * anything else (a trial search's configuration, QUIT) stays queued for nasc_experiment_serve and
 * *out_oneshot is false. FORMAT for a message of another nasc binary. */
NASC_API nasc_status nasc_oneshot_search_wait(nasc_experiment_config *cfg, bool *given,
                                              size_t *max_memory, bool *out_oneshot,
                                              nasc_err *err);

#ifdef __cplusplus
}
#endif
#endif /* NASC_ONESHOT_SEARCH_H */
