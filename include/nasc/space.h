/*
 * space.h — search spaces and the one architecture type every strategy shares.
 *
 * A search space (nasc_space) knows how to parse, print, validate, hash, sample, mutate, cross
 * over, enumerate and encode its architectures, and how to build a network (nasc_model) from one.
 * Strategies never look inside an architecture: they use these functions, so every strategy works
 * on every space. Spaces: "nb201", "darts", "chain", "mobilenet", "macro", "morph".
 *
 * An architecture is also a sequence of categorical decisions (nasc_space_decisions): decision i
 * has n_options[i] choices. RL controllers (REINFORCE, PPO, ENAS) emit these token by token; BO
 * and predictors use the numeric encodings. Every architecture maps to exactly one decision
 * sequence and back.
 *
 * Ownership: nasc_space and nasc_arch are heap objects (_new/_free). An arch keeps a pointer to
 * its space, which must outlive it. Returned strings are nasc_malloc'd and freed by the caller
 * with nasc_free. Functions taking an nasc_rng draw only from it, so a seeded rng gives the same
 * architectures on any machine.
 *
 *     nasc_space *sp;
 *     nasc_space_new("nb201", NULL, &sp, &err);
 *     nasc_arch *a;
 *     if (nasc_arch_parse(sp, "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+"
 *                             "|skip_connect~0|nor_conv_3x3~1|skip_connect~2|", &a, &err))
 *         fprintf(stderr, "%s\n", err.msg);   // e.g. "nb201: column 3: unknown op 'conv9'"
 *     char *text = nasc_arch_to_string(a);    // canonical text, round-trips exactly
 *     nasc_arch *child;
 *     nasc_arch_mutate(a, &rng, &child, &err);
 *     nasc_model *net;
 *     nasc_space_build(a, &(nasc_net_config){.in_c = 1, .in_h = 28, .in_w = 28, .n_classes = 10},
 *                      seed, &net, &err);
 */
#ifndef NASC_SPACE_H
#define NASC_SPACE_H

#include "nasc/nn.h"
#include "nasc/rng.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nasc_space nasc_space;
typedef struct nasc_arch nasc_arch;

/* Space options; zero fields mean the space's defaults (in brackets). */
typedef struct nasc_space_config {
    int max_layers; /* chain: maximum number of layers [8]; macro: number of layers L [12];
                     * morph: maximum number of units [8] */
    int n_stages;   /* mobilenet: number of stages [5] */
    int max_depth;  /* mobilenet: maximum blocks per stage [4] */
} nasc_space_config;

/* Network options (the `--input`, `--classes`, `--channels`, `--cells`, `--auxiliary` flags);
 * zero fields mean the defaults: input 1x28x28 (Fashion-MNIST), 10 classes; C and cells per
 * space: nb201 C=16 N=5; darts C=36 L=20; mobilenet C=16; macro C=36 (chain and morph take their
 * widths from the architecture). */
typedef struct nasc_net_config {
    int in_c, in_h, in_w; /* input shape */
    int n_classes;
    int channels;         /* initial channels C */
    int cells;            /* nb201: cells per stage N; darts: total cells L; chain/macro: unused */
    bool auxiliary;       /* darts: auxiliary head at 2L/3 */
    float drop_path;      /* darts: maximum drop-path probability (used by training) */
} nasc_net_config;

/* The numeric encodings for predictors. */
typedef enum nasc_encoding {
    NASC_ENC_ONEHOT = 0, /* adjacency (upper triangle) + one-hot ops, fixed length per space */
    NASC_ENC_PATH,       /* BANANAS path encoding: one bit per input->output path of ops */
    NASC_ENC_COUNT
} nasc_encoding;

/* ---- spaces ---- */

/* New space by name with options (NULL: defaults). NASC_ERR_ARG naming the accepted names. */
NASC_API nasc_status nasc_space_new(const char *name, const nasc_space_config *cfg,
                                    nasc_space **out, nasc_err *err);
NASC_API void nasc_space_free(nasc_space *s);
NASC_API const char *nasc_space_name(const nasc_space *s);

/* ---- the candidate operations of the cell spaces (darts, nb201) ----
 * One table per space, owned by the space: an edge's decision is an index into it, the networks
 * of the space and the one-shot supernets build their ops from it. */
typedef enum nasc_cell_op_kind {
    NASC_CELL_ZERO = 0, /* x*0 (strided when stride 2), no parameters */
    NASC_CELL_IDENTITY, /* x (a FactorizedReduce on a stride-2 DARTS edge) */
    NASC_CELL_RCB,      /* ReLU, conv k (stride, pad k/2), BN */
    NASC_CELL_SEP,      /* DARTS SepConv: (ReLU, dw k, pw, BN) twice, the first with stride */
    NASC_CELL_DIL,      /* DARTS DilConv: ReLU, dw k dilation 2, pw, BN */
    NASC_CELL_FR,       /* FactorizedReduce: ReLU, two 1x1 stride-2 convs (x, x[:,:,1:,1:]), cat,
                         * BN; not a candidate op itself (skip on stride 2, preprocessing) */
    NASC_CELL_AVG3,     /* avg pool 3x3 (stride, pad 1, count_include_pad = False) */
    NASC_CELL_MAX3,     /* max pool 3x3 (stride, pad 1) */
    NASC_CELL_KIND_COUNT
} nasc_cell_op_kind;

typedef struct nasc_cell_op {
    const char *name;       /* as in architecture text: "sep_conv_3x3", "nor_conv_1x1", ... */
    nasc_cell_op_kind kind;
    int k;                  /* kernel size (1 for ops without one) */
} nasc_cell_op;

/* The candidate ops of a cell space in decision order, *n_ops of them (index 0 is "none");
 * NULL and 0 for spaces without cells. */
NASC_API const nasc_cell_op *nasc_space_cell_ops(const nasc_space *s, int *n_ops);
/* Comma-separated list of space names, for help texts. */
NASC_API const char *nasc_space_names(void);

/* Finite spaces: number of architectures (0 if infinite or too large to count in 64 bits) and the
 * i-th one in a fixed enumeration order (i < size). */
NASC_API uint64_t nasc_space_size(const nasc_space *s);
NASC_API nasc_status nasc_space_get(const nasc_space *s, uint64_t i, nasc_arch **out,
                                    nasc_err *err);

/* A uniformly random architecture (uniform over the space's decision sequence). */
NASC_API nasc_status nasc_space_sample(const nasc_space *s, nasc_rng *rng, nasc_arch **out,
                                       nasc_err *err);

/* Decision sequence view: the number of decisions (maximum, for variable-length spaces) and the
 * number of options of decision i given the previous choices (n_options may depend on them). */
NASC_API int nasc_space_n_decisions(const nasc_space *s);
NASC_API int nasc_space_n_options(const nasc_space *s, int i, const int *prev_choices);
NASC_API nasc_status nasc_arch_from_decisions(const nasc_space *s, const int *choices, int n,
                                              nasc_arch **out, nasc_err *err);
/* Writes the decisions of a into out[0..nasc_space_n_decisions) and their count to *out_n. */
NASC_API void nasc_arch_to_decisions(const nasc_arch *a, int *out, int *out_n);

/* Fills the zero fields of cfg with the space's network defaults (input 1x28x28, 10 classes,
 * and its channels / cells, e.g. nb201 C=16 N=5, darts C=36 L=20), as nasc_space_build does. */
NASC_API void nasc_space_net_defaults(const nasc_space *s, nasc_net_config *cfg);

/* Length of an encoding in this space (floats). */
NASC_API size_t nasc_space_encoding_len(const nasc_space *s, nasc_encoding kind);

/* ---- architectures ---- */

/* Parses text in the space's canonical form. On error: NASC_ERR_FORMAT, message naming the space,
 * the column (1-based) and what was expected, e.g. "darts: column 17: unknown op 'sep_conv_4x4'". */
NASC_API nasc_status nasc_arch_parse(const nasc_space *s, const char *text, nasc_arch **out,
                                     nasc_err *err);
/* Canonical text (nasc_malloc'd; NULL on OOM). parse(to_string(a)) == a. */
NASC_API char *nasc_arch_to_string(const nasc_arch *a);
/* JSON object {"space": ..., "arch": text, ...structure...} (nasc_malloc'd), and back. */
NASC_API char *nasc_arch_to_json(const nasc_arch *a);
NASC_API nasc_status nasc_arch_from_json(const nasc_space *s, const char *json, nasc_arch **out,
                                         nasc_err *err);
NASC_API nasc_arch *nasc_arch_clone(const nasc_arch *a);
NASC_API void nasc_arch_free(nasc_arch *a);
NASC_API const nasc_space *nasc_arch_space(const nasc_arch *a);

/* Graphviz drawing of the architecture ("digraph arch { ... }") and a multi-line human-readable
 * description (nasc_malloc'd; NULL on OOM). */
NASC_API char *nasc_arch_to_dot(const nasc_arch *a);
NASC_API char *nasc_arch_describe(const nasc_arch *a);

/* Stable 64-bit hash, equal for architectures that compute the same function where the space can
 * tell (nb201: cells differing only in edges that cannot reach the output). Same value on every
 * machine and run. */
NASC_API uint64_t nasc_arch_hash(const nasc_arch *a);
/* Exact structural equality (same canonical text). */
NASC_API bool nasc_arch_equal(const nasc_arch *a, const nasc_arch *b);

/* A random architecture one edit away (never a copy of a). */
NASC_API nasc_status nasc_arch_mutate(const nasc_arch *a, nasc_rng *rng, nasc_arch **out,
                                      nasc_err *err);
/* A child mixing the decisions of a and b (same space), valid in the space. */
NASC_API nasc_status nasc_arch_crossover(const nasc_arch *a, const nasc_arch *b, nasc_rng *rng,
                                         nasc_arch **out, nasc_err *err);
/* Every architecture one edit away, in a fixed order: *out is a nasc_malloc'd array of *out_n
 * archs; free each and the array (nasc_arch_list_free). */
NASC_API nasc_status nasc_arch_neighbors(const nasc_arch *a, nasc_arch ***out, size_t *out_n,
                                         nasc_err *err);
NASC_API void nasc_arch_list_free(nasc_arch **list, size_t n);

/* Writes the encoding into out[0..nasc_space_encoding_len). */
NASC_API nasc_status nasc_arch_encode(const nasc_arch *a, nasc_encoding kind, float *out,
                                      nasc_err *err);

/* ---- networks ---- */

/* Builds the network of a for cfg, parameters finalized and initialised from seed. The model's
 * arch/space strings are set. NASC_ERR_SHAPE / NASC_ERR_ARG with a message if cfg does not fit
 * (e.g. an input too small for the number of reductions). */
NASC_API nasc_status nasc_space_build(const nasc_arch *a, const nasc_net_config *cfg, uint64_t seed,
                                      nasc_model **out, nasc_err *err);

/* ---- network morphism (space "morph") ---- */

/* A function-preserving edit of a morph network (docs/SPACES.md):
 *   DEEPER  insert after unit `unit` an identity-initialised unit with a kernel x kernel conv
 *           (kernel 1, 3 or 5) of the same width;
 *   WIDER   widen unit `unit` to the next width, Net2Net-style (replicated channels, consumers'
 *           weights divided by the number of copies);
 *   SKIP    add a skip from unit `from` to unit `unit` through a zero-initialised 1x1 conv.
 * Mutations of the morph space are exactly these edits. */
typedef enum nasc_morph_kind {
    NASC_MORPH_DEEPER = 0,
    NASC_MORPH_WIDER,
    NASC_MORPH_SKIP,
    NASC_MORPH_KIND_COUNT
} nasc_morph_kind;

typedef struct nasc_morph_op {
    nasc_morph_kind kind;
    int unit;   /* the unit deepened after, widened, or receiving the skip */
    int kernel; /* DEEPER: 1, 3 or 5 */
    int from;   /* SKIP: source unit (< unit, no pool in between) */
} nasc_morph_op;

/* Builds the child of the morph network `parent` under op, with weights derived from the
 * parent's so that, in inference mode, the child computes the parent's function (to float
 * rounding). rng draws WIDER's replicated channels. NASC_ERR_ARG if parent is not a morph
 * network or op does not apply. The child is new (caller frees); the parent is not changed. */
NASC_API nasc_status nasc_morph_apply(const nasc_model *parent, const nasc_morph_op *op,
                                      nasc_rng *rng, nasc_model **out_child, nasc_err *err);
/* As nasc_morph_apply for the op that turns the parent's architecture into child_arch (e.g. one
 * from nasc_arch_mutate in the morph space); NASC_ERR_ARG if they are not one edit apart. */
NASC_API nasc_status nasc_morph_inherit(const nasc_model *parent, const nasc_arch *child_arch,
                                        nasc_rng *rng, nasc_model **out_child, nasc_err *err);

#ifdef __cplusplus
}
#endif
#endif /* NASC_SPACE_H */
