/*
 * cost.h — what a network costs: parameters, multiply-adds, activation memory and measured
 * latency; and the logic of `nasc show` (structure, cost, Graphviz drawing, JSON).
 *
 * Definitions (docs/SPACES.md, "Cost model"):
 *   params        trainable parameters (nasc_params_count; BN running statistics excluded).
 *   macs          multiply-adds of one forward pass on ONE input (batch 1), inference mode:
 *                   conv2d  N*K*OH*OW*(C/G)*KH*KW      linear  N*K*F
 *                 every other op (BN, ReLU, pooling, add, concat, ...) counts 0 here, as in the
 *                 papers' "FLOPs" (DARTS_V2 at C=36, L=20 on CIFAR-10: 528M); it is counted
 *                 separately in other_ops (one per output element). Auxiliary heads excluded.
 *   memory_bytes  peak activation memory of one inference forward pass at batch 1: float32
 *                 tensors in creation order, each live from its creation to its last consumer
 *                 (the input from the start, the logits to the end), views (reshape) free;
 *                 parameters, gradients and kernel workspaces excluded.
 *   train_activation_bytes  all activations of that pass (what training keeps for backward).
 *   latency_ms    median wall time of `repeats` forward passes (inference mode, no gradients)
 *                 at batch 1, after `warmup` untimed passes, on the given backend; and
 *                 latency_batch_ms the same at batch B. Measured here, so machine-dependent.
 *
 * Ownership: the caller owns the model and every returned string (nasc_free).
 *
 *     nasc_model_cost c;
 *     nasc_model_cost_measure(model, &(nasc_cost_config){.batch = 32, .repeats = 10}, &c, &err);
 *     printf("%zu params, %.1f M MACs, %.2f ms\n", c.params, c.macs / 1e6, c.latency_ms);
 *
 *     char *out = NULL;   // what `nasc show --space nb201 --arch ... --json` prints
 *     nasc_show(arch, &(nasc_net_config){.in_c = 3, .in_h = 32, .in_w = 32}, NULL,
 *               NASC_SHOW_JSON, &out, &err);
 */
#ifndef NASC_COST_H
#define NASC_COST_H

#include "nasc/space.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Zero fields mean the defaults in brackets. */
typedef struct nasc_cost_config {
    int batch;           /* B for latency_batch_ms [32] */
    int repeats;         /* timed passes per batch size [10]; < 0: do not measure latency */
    int warmup;          /* untimed passes before timing [2] */
    const char *backend; /* backend name for latency ["cpu"] */
    int threads;         /* backend threads [1] */
} nasc_cost_config;

typedef struct nasc_model_cost {
    size_t params;                 /* trainable parameters */
    size_t param_bytes;            /* their float32 bytes */
    double macs;                   /* conv + linear multiply-adds, batch 1 */
    double other_ops;              /* output elements of every other op, batch 1 */
    size_t memory_bytes;           /* peak live activation bytes, inference, batch 1 */
    size_t train_activation_bytes; /* all activation bytes of the pass, batch 1 */
    int n_nodes;                   /* ops in the forward pass */
    double latency_ms;             /* median forward latency at batch 1 (NaN if not measured) */
    double latency_batch_ms;       /* median forward latency at batch `batch` (NaN likewise) */
    int batch;                     /* the B used */
} nasc_model_cost;

/* Measures m (its input shape and classes) as defined above. Runs forward passes on its own
 * graphs; m's parameters and BN statistics are not changed. Errors: the forward's (shape) or
 * NASC_ERR_NOMEM / NASC_ERR_ARG (unknown backend). */
NASC_API nasc_status nasc_model_cost_measure(nasc_model *m, const nasc_cost_config *cfg,
                                             nasc_model_cost *out, nasc_err *err);

/* ---- nasc show ---- */

typedef enum nasc_show_format {
    NASC_SHOW_TEXT = 0, /* structure, network summary, cost, then the DOT drawing */
    NASC_SHOW_JSON,     /* one object: space, arch, structure fields, network, params, flops,
                         * memory_bytes, latency_ms, latency_batch_ms, batch, ..., dot */
    NASC_SHOW_DOT,      /* the Graphviz drawing only */
    NASC_SHOW_COUNT
} nasc_show_format;

/* Builds the network of a for net (NULL: defaults), measures its cost with cc (NULL: defaults)
 * and renders it in fmt into *out (nasc_malloc'd, ends with a newline). Errors from the build
 * (NASC_ERR_SHAPE / NASC_ERR_ARG: the CLI exits 2) or measurement. */
NASC_API nasc_status nasc_show(const nasc_arch *a, const nasc_net_config *net,
                               const nasc_cost_config *cc, nasc_show_format fmt, char **out,
                               nasc_err *err);

#ifdef __cplusplus
}
#endif
#endif /* NASC_COST_H */
