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

#ifdef __cplusplus
}
#endif
#endif /* NASC_ONESHOT_SEARCH_H */
