/* auto_prune.h — zero-cost proxy pruning for `nasc auto` (docs/AUTO.md, "The plan"): score many
 * random cells with a proxy (an experiment of its own, resumable), keep the best-scored share as
 * a pool, and a strategy, "auto-pool", that proposes the pool best first and then goes on by
 * regularized evolution or by random sampling. */
#ifndef NASC_CLI_AUTO_PRUNE_H
#define NASC_CLI_AUTO_PRUNE_H

#include "nasc/experiment.h"

/* What to score: n random nb201 cells (from seed) with `proxy` at channels x cells on `data`
 * (data_fraction of its training split), one thread. */
typedef struct auto_prune_config {
    const char *db; /* the proxy experiment's database (continued when it exists) */
    const char *data;
    double data_fraction;
    const char *proxy;
    int64_t n;
    int keep; /* pool size: the best `keep` by proxy score (ties: the earlier trial) */
    uint64_t seed;
    int channels, cells;
} auto_prune_config;

/* Runs (or continues) the proxy experiment and sets the pool the "auto-pool" strategy proposes
 * from: the `keep` best-scored cells, best first. *out_kept: the pool's size (fewer than keep
 * when fewer trials succeeded). Errors: the experiment's; ABORTED when no trial succeeded. */
nasc_status auto_prune(const auto_prune_config *c, int *out_kept, nasc_err *err);

/* Registers the "auto-pool" strategy (once; later calls do nothing). Options: population P
 * (default 10), sample S (default 3), then = evolve | random: the first P trials (random: every
 * trial while the pool lasts) are the pool's cells in order; then regularized evolution over the
 * last P results (tournament of S, the best mutated) or uniform random cells. A pool must be set
 * (auto_prune) before the strategy is created. */
nasc_status auto_pool_register(nasc_err *err);

/* The pool (auto_prune's) freed. */
void auto_pool_clear(void);

#endif /* NASC_CLI_AUTO_PRUNE_H */
