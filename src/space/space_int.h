/* space_int.h — internals of the search spaces: the space vtable, the architecture struct, a
 * string builder, a text cursor that reports columns, hashing, and the cell ops shared by the
 * networks (ReLU-Conv-BN, separable / dilated convs, factorized reduce, pools). Never installed.
 *
 * Every architecture is stored as its decision sequence (space.h): d[0..n) with
 * 0 <= d[i] < n_options(i, d). Text, JSON, hashes, encodings and networks are all functions of
 * that sequence, so equality is equality of sequences and the generic sampler, mutation,
 * crossover and neighbour functions in space.c work for every space that does not override them.
 */
#ifndef NASC_SPACE_INT_H
#define NASC_SPACE_INT_H

#include "nasc/arena.h"
#include "nasc/space.h"

#include "core/buf.h"

#include <stdarg.h>

typedef struct cJSON cJSON;

/* Text is built with core's nasc_buf (core/buf.h). */

/* ---- text cursor: every error names the space and the 1-based column ---- */

typedef struct sp_cur {
    const char *space; /* space name for messages */
    const char *text;
    size_t pos;        /* byte offset of the next character */
    nasc_err *err;
} sp_cur;

/* Records "<space>: column <pos+1>: <message>" as NASC_ERR_FORMAT with offset pos. */
NASC_INTERNAL nasc_status nasc_sp_fail(sp_cur *c, size_t pos, const char *fmt, ...)
    NASC_PRINTF(3, 4);
NASC_INTERNAL void nasc_sp_skip_ws(sp_cur *c);
/* Skips blanks, then consumes lit if it is next (true) or leaves the cursor (false). */
NASC_INTERNAL bool nasc_sp_accept(sp_cur *c, const char *lit);
/* As accept, but a missing literal is an error "expected '<lit>' (got '<...>')". */
NASC_INTERNAL nasc_status nasc_sp_expect(sp_cur *c, const char *lit);
/* Skips blanks and reads [A-Za-z0-9_]+ into buf (truncated to n-1); *start gets its offset.
 * False (no error recorded) if no such character is next. */
NASC_INTERNAL bool nasc_sp_word(sp_cur *c, char *buf, size_t n, size_t *start);
/* Skips blanks and reads a non-negative decimal integer (at most 9 digits). */
NASC_INTERNAL bool nasc_sp_uint(sp_cur *c, int *out, size_t *start);
/* Error unless only blanks remain: "trailing characters '<...>'". */
NASC_INTERNAL nasc_status nasc_sp_end(sp_cur *c);
/* Describes the text at the cursor for messages: "'abc...'" or "end of text". */
NASC_INTERNAL const char *nasc_sp_got(const sp_cur *c, char *buf, size_t n);
/* Index of name in names[0..n), or -1. */
NASC_INTERNAL int nasc_sp_lookup(const char *const *names, int n, const char *name);
/* Index of the op called name in ops[0..n), or -1. */
NASC_INTERNAL int nasc_sp_op_lookup(const nasc_cell_op *ops, int n, const char *name);

/* ---- hashing (FNV-1a 64 then a final avalanche; stable across machines) ---- */

NASC_INTERNAL uint64_t nasc_sp_hash_bytes(uint64_t h, const void *p, size_t n);
NASC_INTERNAL uint64_t nasc_sp_hash_str(uint64_t h, const char *s);
NASC_INTERNAL uint64_t nasc_sp_hash_final(uint64_t h);
#define NASC_SP_HASH_INIT 0xcbf29ce484222325ull

/* ---- the space vtable ---- */

typedef struct sp_vt {
    const char *name;
    int default_channels, default_cells; /* network defaults (0: not used by the space) */
    /* Resolves the config (defaults), sets s->n_dec, s->size, s->fixed_radix, s->priv. */
    nasc_status (*init)(nasc_space *s, nasc_err *err);
    void (*free_priv)(nasc_space *s);
    /* Options of decision i given d[0..i); 0 means the sequence ends before i. */
    int (*n_options)(const nasc_space *s, int i, const int *d);
    /* Text -> decisions; d has room for s->n_dec. */
    nasc_status (*parse)(const nasc_space *s, const char *text, int *d, int *n, nasc_err *err);
    /* Canonical text of a. */
    void (*print)(const nasc_arch *a, nasc_buf *sb);
    /* Optional overrides (NULL: generic versions in space.c). */
    uint64_t (*hash)(const nasc_arch *a);
    nasc_status (*mutate)(const nasc_arch *a, nasc_rng *rng, nasc_arch **out, nasc_err *err);
    nasc_status (*crossover)(const nasc_arch *a, const nasc_arch *b, nasc_rng *rng,
                             nasc_arch **out, nasc_err *err);
    nasc_status (*neighbors)(const nasc_arch *a, nasc_arch ***out, size_t *out_n, nasc_err *err);
    /* Extra semantic checks on a complete, in-range decision sequence (NULL: none). The message
     * starts with the space name. */
    nasc_status (*check)(const nasc_space *s, const int *d, int n, nasc_err *err);
    size_t (*encoding_len)(const nasc_space *s, nasc_encoding kind);
    void (*encode)(const nasc_arch *a, nasc_encoding kind, float *out);
    nasc_status (*build)(const nasc_arch *a, const nasc_net_config *cfg, uint64_t seed,
                         nasc_model **out, nasc_err *err);
    /* Adds the structure fields of a to the JSON object obj. */
    void (*json)(const nasc_arch *a, cJSON *obj);
    /* Graphviz body (nodes and edges, without the digraph braces) and a multi-line summary. */
    void (*dot)(const nasc_arch *a, nasc_buf *sb);
    void (*describe)(const nasc_arch *a, nasc_buf *sb);
    /* Cell spaces: the candidate ops in decision order (nasc_space_cell_ops); NULL otherwise. */
    const nasc_cell_op *cell_ops;
    int n_cell_ops;
} sp_vt;

struct nasc_space {
    const sp_vt *vt;
    nasc_space_config cfg; /* resolved (defaults filled in) */
    int n_dec;             /* maximum number of decisions */
    bool fixed_radix;      /* n_options(i) does not depend on earlier choices */
    uint64_t size;         /* number of architectures; 0 if infinite or too large */
    void *priv;            /* space-specific tables */
};

struct nasc_arch {
    const nasc_space *space;
    int n;     /* number of decisions */
    int d[];   /* the decisions */
};

/* New arch of s with a copy of d[0..n) (not validated). NULL on OOM. */
NASC_INTERNAL nasc_arch *nasc_sp_arch_new(const nasc_space *s, const int *d, int n);
/* Validates a complete decision sequence (ranges, length, the space's check). */
NASC_INTERNAL nasc_status nasc_sp_validate(const nasc_space *s, const int *d, int n,
                                           nasc_err *err);
/* Appends a to a growing list (for neighbour generators); frees a and returns NOMEM on OOM. */
NASC_INTERNAL nasc_status nasc_sp_list_push(nasc_arch ***list, size_t *n, size_t *cap,
                                            nasc_arch *a);

NASC_INTERNAL extern const sp_vt nasc_sp_nb201_vt;
NASC_INTERNAL extern const sp_vt nasc_sp_darts_vt;
NASC_INTERNAL extern const sp_vt nasc_sp_chain_vt;
NASC_INTERNAL extern const sp_vt nasc_sp_mobilenet_vt;
NASC_INTERNAL extern const sp_vt nasc_sp_macro_vt;
NASC_INTERNAL extern const sp_vt nasc_sp_morph_vt;

/* ---- cell ops shared by the networks (cellops.c) ---- */

/* Op kinds: nasc_cell_op_kind (space.h). */

typedef struct sp_op {
    nasc_cell_op_kind kind;
    int stride;
    int n_conv;
    nasc_conv conv[4];
    nasc_bn bn[2];
} sp_op;

/* Registers the parameters of an op (cin -> cout channels, kernel k, stride) under prefix.
 * Convs use PyTorch's default init (TORCH_DEFAULT) and no bias; BN is affine. */
NASC_INTERNAL nasc_status nasc_sp_op_init(sp_op *op, nasc_params *ps, const char *prefix,
                                          nasc_cell_op_kind kind, int cin, int cout, int k, int stride,
                                          nasc_err *err);
NASC_INTERNAL nasc_tensor *nasc_sp_op_forward(nasc_graph *g, const sp_op *op, nasc_tensor *x);
/* As nasc_sp_op_forward, sharing relu(x) between the ops that read one state: the ops that start
 * with a ReLU (RCB, SEP, DIL, FR) take *relu_x when it is set and otherwise compute it and store
 * it there. The same values as separate ReLUs; one activation, one backward pass instead of one
 * per op (the DARTS code computes a ReLU per op). */
NASC_INTERNAL nasc_tensor *nasc_sp_op_forward_shared(nasc_graph *g, const sp_op *op,
                                                     nasc_tensor *x, nasc_tensor **relu_x);

/* The builders' convolutions: nasc_conv_init_cell (nn.h): no bias, PyTorch default init. */
/* Output size of a conv/pool along one dim: floor((n + 2p - d(k-1) - 1)/s) + 1. */
static inline int nasc_sp_out_dim(int n, int k, int s, int p, int d) {
    return (n + 2 * p - d * (k - 1) - 1) / s + 1;
}

/* Fills the zero fields of a network config: input 1x28x28 (Fashion-MNIST), 10 classes, and the
 * space's channels C and cells. */
NASC_INTERNAL void nasc_sp_net_defaults(nasc_net_config *cfg, int channels, int cells);

/* Frees an impl made of one nasc_malloc'd block (the common case). */
NASC_INTERNAL void nasc_sp_free_impl(void *impl);
/* Wraps params + impl into a model, sets the arch text, reports OOM. Takes ownership of both. */
NASC_INTERNAL nasc_status nasc_sp_model_wrap(const nasc_arch *a, const nasc_model_i *iface,
                                             nasc_params *ps, void *impl,
                                             const nasc_net_config *cfg, uint64_t seed,
                                             nasc_model **out, nasc_err *err);

#endif /* NASC_SPACE_INT_H */
