/* auto_prune.h — zero-cost proxy pruning for `nasc auto` (docs/AUTO.md, "The plan"): score many
 * random cells with a proxy (an experiment of its own, resumable) and keep the best-scored share
 * as a pool, which the search takes as its strategy's initial population (the experiment key
 * init-archs: evolution or random propose the pool first, best first). */
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

/* Runs (or continues) the proxy experiment; *out_pool gets the `keep` best-scored cells (their
 * texts, best first, ties: the earlier trial; the caller frees it with auto_prune_free), a
 * function of the proxy database alone, and *out_kept their number (fewer than keep when fewer
 * trials succeeded). Errors: the experiment's; ABORTED when no trial succeeded. */
nasc_status auto_prune(const auto_prune_config *c, char ***out_pool, int *out_kept, nasc_err *err);
void auto_prune_free(char **pool, int n);

#endif /* NASC_CLI_AUTO_PRUNE_H */
