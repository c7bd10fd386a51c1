/*
 * export.h — a trained network in inference form: a flat list of ops that other formats (ONNX,
 * PyTorch, generated C) are written from.
 *
 * nasc_export_graph_new traces one forward pass of a model in inference mode (batch 1, every op
 * recorded) and rewrites the recorded nodes into a small, self-contained op list:
 *   - dropout and drop-path are removed (identity at inference); an auxiliary head is never part
 *     of the traced forward, so it is dropped;
 *   - batch norm becomes a per-channel affine y = x*scale + shift, and that affine is folded into
 *     the preceding convolution when the convolution's output feeds nothing else (exact up to
 *     float rounding: w' = w*scale, b' = b*scale + shift);
 *   - the dataset normalisation (x - mean)/std is the first node, so the graph's input is raw
 *     pixels in [0, 1] (it is not folded into the first convolution: zero padding of the
 *     normalised image is not zero padding of the raw one);
 *   - ops that reach nothing the logits depend on are dropped.
 * An op the list cannot express (a broadcast add, a softmax, a supernet's weighted sum, ...) is a
 * NASC_ERR_UNSUPPORTED naming the op and the tensor it produced, never a different network.
 *
 * Values and layout. Value 0 is the input (C,H,W per image); node i writes value i+1; the last
 * node writes the logits (K,1,1). The batch dimension is not part of the graph. Activations are
 * NCHW (PyTorch / ONNX order), NOT nasc's NHWC storage order, and so are the weights:
 *   conv    w (K, C/G, KH, KW) row-major (OIHW), b (K)  — b is always present (zeros if none)
 *   affine  w = scale (C), b = shift (C)
 *   linear  w (K, F) row-major with F = C*H*W in C,H,W order (torch's x.flatten(1)), b (K)
 * so a graph maps one to one onto ONNX / PyTorch ops without transposes.
 *
 * Ownership: the graph owns its nodes, input lists and weights (nasc_malloc'd) and does not keep
 * the model: free the model at once if you like. nasc_export_graph_free releases everything.
 *
 *     nasc_export_graph *xg;
 *     nasc_export_norm norm = {.c = 1, .mean = {0.2860f}, .std = {0.3530f}};
 *     if (nasc_export_graph_new(model, &norm, &xg, &err) != NASC_OK)
 *         fprintf(stderr, "%s\n", err.msg);  // "export: node 12 (softmax): not expressible ..."
 *     for (int i = 0; i < xg->n_nodes; i++) {
 *         const nasc_export_node *nd = &xg->nodes[i];
 *         printf("%s -> v%d\n", nasc_export_op_name(nd->op), nd->out);
 *     }
 *     float logits[10];
 *     nasc_export_graph_run(xg, 1, pixels_nchw, logits, &err);  // reference interpreter
 *     nasc_export_graph_free(xg);
 */
#ifndef NASC_EXPORT_H
#define NASC_EXPORT_H

#include "nasc/nn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The inference ops. Append before NASC_EXPORT_OP_COUNT (tables indexed by op assert on it). */
typedef enum nasc_export_op {
    NASC_EXPORT_OP_CONV = 0, /* in: x              conv (stride, pad, dil, groups), w, b */
    NASC_EXPORT_OP_AFFINE,   /* in: x              y[c] = x[c]*w[c] + b[c] (normalisation, BN) */
    NASC_EXPORT_OP_RELU,     /* in: x */
    NASC_EXPORT_OP_SIGMOID,  /* in: x */
    NASC_EXPORT_OP_TANH,     /* in: x */
    NASC_EXPORT_OP_ADD,      /* in: a, b           same shape */
    NASC_EXPORT_OP_SCALE,    /* in: x              y = scalar*x (scalar 0: a DARTS/NB201 'none') */
    NASC_EXPORT_OP_MAXPOOL,  /* in: x              pool; padding never wins */
    NASC_EXPORT_OP_AVGPOOL,  /* in: x              pool; divisor per pool.count_include_pad */
    NASC_EXPORT_OP_GAP,      /* in: x              mean over H, W -> (C,1,1) */
    NASC_EXPORT_OP_CONCAT,   /* in: x0..x(n-1)     along C */
    NASC_EXPORT_OP_SLICE,    /* in: x              slice: channels [c0,c1), rows h0::sh, cols w0::sw */
    NASC_EXPORT_OP_LINEAR,   /* in: x              flatten(C,H,W) then w, b -> (K,1,1) */
    NASC_EXPORT_OP_SHUFFLE,  /* in: x              channel shuffle with `groups` groups */
    NASC_EXPORT_OP_BATCHNORM,/* in: x              only with keep_bn: inference batch norm,
                              * (x - mean)/sqrt(var + eps)*w + b; w, b NULL when not affine */
    NASC_EXPORT_OP_COUNT
} nasc_export_op;

/* Shape of one value for one image. */
typedef struct nasc_export_shape {
    int c, h, w;
} nasc_export_shape;

typedef struct nasc_export_node {
    nasc_export_op op;
    int n_in;                /* number of inputs */
    int *in;                 /* input value indices, each < out (owned by the graph) */
    int out;                 /* the value written: node index + 1 */
    nasc_conv2d_params conv; /* CONV */
    nasc_pool2d_params pool; /* MAXPOOL, AVGPOOL (k, stride, pad, count_include_pad) */
    nasc_slice_params slice; /* SLICE */
    float scalar;            /* SCALE */
    int groups;              /* SHUFFLE */
    float *w, *b;            /* weights in the layouts above (owned); NULL for ops without */
    bool has_bias;           /* CONV, LINEAR: the layer had a bias or a folded batch norm (b is
                              * always allocated; zeros when false) */
    int w_shape[4];          /* CONV (K,C/G,KH,KW); LINEAR (K,F,1,1); AFFINE, BATCHNORM (C,1,1,1) */
    float *mean, *var;       /* BATCHNORM: running statistics (C) (owned) */
    float eps, momentum;     /* BATCHNORM */
    char name[48];           /* where it came from, e.g. "conv3.w" or "relu" (for messages) */
} nasc_export_node;

typedef struct nasc_export_graph {
    int n_values;             /* n_nodes + 1 */
    nasc_export_shape *shape; /* shape[v] of every value (owned) */
    int n_nodes;
    nasc_export_node *nodes;  /* in execution (topological) order (owned) */
    int n_classes;            /* logits = value n_nodes, shape (n_classes,1,1) */
    size_t n_weights;         /* total floats over every node's w and b */
    char *space, *arch;       /* the model's space and architecture text (owned; may be NULL) */
} nasc_export_graph;

/* The dataset normalisation folded in at the input: x' = (x - mean[c]) / std[c] for x in [0,1]. */
typedef struct nasc_export_norm {
    int c;         /* channels (must equal the model's input channels) */
    float mean[3];
    float std[3];  /* > 0 */
} nasc_export_norm;

/* Options of nasc_export_graph_new_opts; zero is the default (nasc_export_graph_new). */
typedef struct nasc_export_opts {
    bool keep_bn; /* batch norm stays a BATCHNORM node (with its statistics) instead of an affine
                   * folded into the conv: for formats that train further (PyTorch) */
} nasc_export_opts;

/* Builds the inference graph of m. norm may be NULL (the input is taken as already normalised).
 * *out is a new graph the caller frees with nasc_export_graph_free. Errors: NASC_ERR_UNSUPPORTED
 * naming an op the graph cannot express, NASC_ERR_ARG for a norm that does not fit m,
 * NASC_ERR_NOMEM; *out is NULL then. m is not modified (its forward runs once in inference mode). */
NASC_API nasc_status nasc_export_graph_new(nasc_model *m, const nasc_export_norm *norm,
                                           nasc_export_graph **out, nasc_err *err);
/* As nasc_export_graph_new with options (opts NULL: the defaults). */
NASC_API nasc_status nasc_export_graph_new_opts(nasc_model *m, const nasc_export_norm *norm,
                                                const nasc_export_opts *opts,
                                                nasc_export_graph **out, nasc_err *err);
NASC_API void nasc_export_graph_free(nasc_export_graph *xg);

/* The reference interpreter: plain loops, one image at a time, float accumulators. pixels holds
 * n images (C,H,W) NCHW in [0,1]; logits receives n x n_classes floats. NASC_ERR_NOMEM only. */
NASC_API nasc_status nasc_export_graph_run(const nasc_export_graph *xg, int n, const float *pixels,
                                           float *logits, nasc_err *err);

/* The interpreter on one image, calling observe(v, data, numel, user) once per value v as soon as
 * it is computed (v = 0, the input, first; data is valid during the call only). For calibrating
 * quantization (export_c.h). NASC_ERR_NOMEM only. */
typedef void (*nasc_export_observe_fn)(int v, const float *data, size_t n, void *user);
NASC_API nasc_status nasc_export_graph_observe(const nasc_export_graph *xg, const float *pixels,
                                               nasc_export_observe_fn observe, void *user,
                                               nasc_err *err);

/* Name of an op ("conv", "affine", ...); "?" out of range. */
NASC_API const char *nasc_export_op_name(nasc_export_op op);

/* Peak bytes of activations the interpreter order needs for one image when every value is freed
 * after its last use (what a static arena for one image must hold), and the largest single
 * value in floats. Either pointer may be NULL. */
NASC_API void nasc_export_graph_memory(const nasc_export_graph *xg, size_t *out_peak_bytes,
                                       size_t *out_max_value_floats);

/* ---- formats ---- */

/* ONNX (opset 13, IR version 7, float32): input "input" (N,C,H,W) with a symbolic batch N,
 * output "logits" (N,K); the op mapping is listed in src/export/onnx.c and docs/EXPORT.md.
 * _bytes returns the serialized ModelProto in *out (nasc_malloc'd; caller frees) and its length.
 * nasc_export_onnx writes it to path atomically (path.tmp, fsync, rename: no partial file on any
 * error). Errors: NASC_ERR_NOMEM, NASC_ERR_IO naming the path. */
NASC_API nasc_status nasc_export_onnx_bytes(const nasc_export_graph *xg, uint8_t **out,
                                            size_t *out_len, nasc_err *err);
NASC_API nasc_status nasc_export_onnx(const nasc_export_graph *xg, const char *path,
                                      nasc_err *err);

/* PyTorch: path (must end in ".py") is a Python module defining the network, build() (fresh
 * weights) and load() (the trained ones); ARCH is the architecture text. darts, nb201, mobilenet
 * and baseline networks are written as classes per op, cell or block type, built from the
 * architecture written out at the top (GENOTYPE, STAGES); other spaces as one flat Net (torch.nn
 * layers named after nasc's parameters, a forward written op by op). The weights go to the same
 * path with ".bin" (float32 little-endian; the module holds the index by state_dict name).
 * Build xg with keep_bn so batch norm stays trainable. Both files are written atomically; if the
 * second fails the first is removed. Errors: NASC_ERR_ARG (path), NASC_ERR_UNSUPPORTED, NASC_ERR_IO,
 * NASC_ERR_NOMEM. */
NASC_API nasc_status nasc_export_pytorch(const nasc_export_graph *xg, const char *path,
                                         nasc_err *err);

#ifdef __cplusplus
}
#endif
#endif /* NASC_EXPORT_H */
