/*
 * tensor.h — the float32 tensor, the op list, and the parameter structs of every op.
 *
 * Shape letters, used in comments on every kernel:
 *   N batch, C channels (input), K output channels, H/W height/width, KH/KW kernel,
 *   OH/OW output height/width, F features (a flattened C*H*W), G groups.
 *
 * Every tensor has a logical shape ne = (N, C, H, W) and is stored contiguous in NHWC order:
 *     element (n, c, h, w) lives at data[((n*H + h)*W + w)*C + c].
 * A matrix (N, F) is the tensor (N, F, 1, 1): its NHWC storage is plain row-major [N][F].
 * A convolution weight (K, C/G, KH, KW) is stored [K][KH][KW][C/G] (OHWI); a linear weight
 * (K, F, 1, 1) is row-major [K][F] as in PyTorch. NHWC was chosen by measurement (docs/ARCH.md,
 * bench/layout): 1x1 convolutions are a GEMM with no im2col, depthwise convolutions, pooling and
 * batch norm vectorise over channels, and for C = 16 it is exactly oneDNN's nChw16c block.
 *
 * A tensor never owns its memory. Activations live in a graph's step arena (autograd.h), parameters
 * in a model's params arena (nn.h). `grad` is NULL until backward reaches the tensor, except for
 * parameters, whose grad buffer is allocated with them and accumulates until zeroed.
 *
 *     nasc_tensor *x = nasc_input(g, 8, 1, 28, 28, pixels);     // step arena
 *     printf("%s\n", nasc_tensor_shape_str(x, buf, sizeof buf)); // "(8,1,28,28)"
 *     float v = x->data[nasc_tensor_offset(x, n, c, h, w)];
 */
#ifndef NASC_TENSOR_H
#define NASC_TENSOR_H

#include "nasc/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Ops recorded in a graph. NASC_OP_NONE marks a leaf (input or parameter). Append new ops before
 * NASC_OP_COUNT; every table indexed by op has a static_assert on NASC_OP_COUNT. */
enum nasc_op {
    NASC_OP_NONE = 0,
    NASC_OP_CONV2D,        /* src: x, w, [b]      params: conv */
    NASC_OP_MAXPOOL2D,     /* src: x              params: pool */
    NASC_OP_AVGPOOL2D,     /* src: x              params: pool */
    NASC_OP_GLOBAL_AVGPOOL,/* src: x              (N,C,H,W) -> (N,C,1,1) */
    NASC_OP_BATCHNORM,     /* src: x, [gamma, beta], [running_mean, running_var]  params: bn */
    NASC_OP_RELU,          /* src: x */
    NASC_OP_SIGMOID,       /* src: x */
    NASC_OP_TANH,          /* src: x */
    NASC_OP_ADD,           /* src: a, b (b broadcast to a) */
    NASC_OP_MUL,           /* src: a, b (b broadcast to a) */
    NASC_OP_SCALE,         /* src: x              params: scalar */
    NASC_OP_CONCAT,        /* src: x0..x(n-1) along C */
    NASC_OP_SLICE,         /* src: x              params: slice */
    NASC_OP_LINEAR,        /* src: x, w, [b]      (N,F) x (K,F)^T + b */
    NASC_OP_DROPOUT,       /* src: x              params: drop */
    NASC_OP_DROP_PATH,     /* src: x              params: drop (one mask value per sample) */
    NASC_OP_SOFTMAX,       /* src: x              over C */
    NASC_OP_LOG_SOFTMAX,   /* src: x              over C */
    NASC_OP_CROSS_ENTROPY, /* src: logits (N,K)   params: ce; labels saved; output (1,1,1,1) mean */
    NASC_OP_SUM,           /* src: x              output (1,1,1,1) */
    NASC_OP_MEAN,          /* src: x              output (1,1,1,1) */
    NASC_OP_RESHAPE,       /* src: x              same data, new shape (a view) */
    NASC_OP_WSUM,          /* src: w, x0..x(n-1)  params: wsum; out = sum_i w[idx[i]] * x_i */
    NASC_OP_CHANNEL_SHUFFLE, /* src: x            params: shuffle (ShuffleNet / PC-DARTS) */
    NASC_OP_BN_INPLACE,    /* src: x, [running_mean, running_var]  params: bn; affine off, the
                            * output overwrites x and backward reads the output */
    NASC_OP_BN_RELU,       /* src: as BATCHNORM  params: bn; y = max(0, batchnorm(x)) in one pass,
                            * backward masks dy by y > 0 inside BN's passes (training only) */
    NASC_OP_COUNT
};

/* Flags of nasc_tensor.flags. */
enum nasc_tensor_flag {
    NASC_TENSOR_PARAM = 1u << 0,         /* a trainable parameter (leaf, grad preallocated) */
    NASC_TENSOR_REQUIRES_GRAD = 1u << 1, /* backward computes a gradient for it */
    NASC_TENSOR_BUFFER = 1u << 2,        /* a non-trainable saved state (BN running stats) */
    NASC_TENSOR_VIEW = 1u << 3,          /* data belongs to src[0] (reshape) */
    NASC_TENSOR_GRAD_FRESH = 1u << 4     /* grad was just taken from the graph's pool and holds
                                          * garbage: the next backward stores into it instead of
                                          * adding (see nasc_backend_i.backward) */
};

/* conv2d: out(N,K,OH,OW) = x(N,C,H,W) * w(K,C/G,KH,KW) + b(K);
 * OH = (H + 2*pad[0] - dil[0]*(KH-1) - 1)/stride[0] + 1, likewise OW. */
typedef struct nasc_conv2d_params {
    int stride[2]; /* (h, w), >= 1 */
    int pad[2];    /* zero padding (h, w), >= 0 */
    int dil[2];    /* dilation (h, w), >= 1 */
    int groups;    /* C and K divisible by groups; groups == C == K is depthwise */
} nasc_conv2d_params;

/* max/avg pooling windows. OH = (H + 2*pad - k)/stride + 1 (floor mode, as PyTorch's default). */
typedef struct nasc_pool2d_params {
    int k[2];               /* window (h, w) */
    int stride[2];          /* (h, w) */
    int pad[2];             /* (h, w); max pool pads with -inf, avg pool with 0 */
    bool count_include_pad; /* avg pool divisor: whole window (true) or valid cells only (false) */
} nasc_pool2d_params;

/* batch norm over (N, H, W) per channel. Training: batch statistics, and if running stats are
 * given they are updated as running = (1-momentum)*running + momentum*stat (unbiased variance, as
 * PyTorch). Inference: running statistics. */
typedef struct nasc_bn_params {
    float eps;      /* added to the variance; PyTorch's default 1e-5 */
    float momentum; /* PyTorch's default 0.1 */
    bool training;  /* filled from the graph's mode when the node is built */
} nasc_bn_params;

/* Channel range [c0, c1) and a strided spatial window: out(n,c,i,j) = x(n, c0+c, h0+i*sh, w0+j*sw)
 * for i < OH = ceil((H-h0)/sh), j < OW = ceil((W-w0)/sw). Factorized reduce takes x[:, :, 1:, 1:]
 * with stride 2: {0, C, 1, 1, 2, 2}. */
typedef struct nasc_slice_params {
    int c0, c1;
    int h0, w0;
    int sh, sw;
} nasc_slice_params;

/* dropout / drop-path: zero with probability p, scale the rest by 1/(1-p). The mask is a function
 * of (graph seed, op sequence number, graph step, element), recomputed in backward. */
typedef struct nasc_drop_params {
    float p;
    uint32_t seq;  /* stochastic-op sequence number within the graph step */
    uint64_t seed; /* graph seed */
    uint64_t step; /* graph step */
    uint64_t first; /* index of the op's element 0 in the global batch's numbering (data-parallel
                     * shards draw the masks of the samples they hold) */
} nasc_drop_params;

/* cross entropy with label smoothing s: target = (1-s)*onehot + s/K. */
typedef struct nasc_ce_params {
    float smoothing;
} nasc_ce_params;

/* Weighted sum of n terms (mixed operations of supernets): out = sum_i w[idx[i]] * x_i, where
 * w is any tensor read as a flat array (e.g. softmax(alpha) rows (R, n_ops, 1, 1)) and x_i all
 * have the output's shape. A NULL x_i stands for the constant 1 (the term adds w[idx[i]] to every
 * element): straight-through estimators (GDAS) use it to pass a gradient to unused weights.
 * idx points into the step arena (copied by the builder). */
typedef struct nasc_wsum_params {
    int n;              /* terms; the node has n+1 sources (w first) */
    const int32_t *idx; /* n flat indices into w */
} nasc_wsum_params;

/* Channel shuffle with G groups: C = G*Cg channels; out channel i*G + k = in channel k*Cg + i
 * (view (N,G,Cg,H,W), transpose G and Cg, flatten), as in ShuffleNet and PC-DARTS. */
typedef struct nasc_shuffle_params {
    int groups; /* G >= 1, divides C */
} nasc_shuffle_params;

typedef union nasc_op_params {
    nasc_conv2d_params conv;
    nasc_pool2d_params pool;
    nasc_bn_params bn;
    nasc_slice_params slice;
    nasc_drop_params drop;
    nasc_ce_params ce;
    nasc_wsum_params wsum;
    nasc_shuffle_params shuffle;
    float scalar;
} nasc_op_params;

typedef struct nasc_tensor nasc_tensor;

struct nasc_tensor {
    int ne[4];                /* logical shape (N, C, H, W); storage NHWC, contiguous */
    float *data;              /* ne[0]*ne[1]*ne[2]*ne[3] floats; not owned */
    float *grad;              /* same size, or NULL; not owned */
    enum nasc_op op;          /* NASC_OP_NONE for leaves */
    int n_src;                /* number of inputs */
    nasc_tensor **src;        /* inputs (optional ones may be NULL) */
    nasc_op_params params;    /* the op's parameters */
    void *saved;              /* buffers saved for backward (step arena), op-specific */
    uint32_t flags;           /* enum nasc_tensor_flag */
    int id;                   /* creation index in the graph, -1 for tensors outside a graph */
    nasc_tensor *prev;        /* previous recorded node (backward walks this list) */
    char name[32];            /* for messages and weight files */
};

/* Number of elements. */
static inline int64_t nasc_tensor_nelem(const nasc_tensor *t) {
    return (int64_t)t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
}
/* Offset of logical element (n, c, h, w) in data/grad. */
static inline int64_t nasc_tensor_offset(const nasc_tensor *t, int n, int c, int h, int w) {
    return (((int64_t)n * t->ne[2] + h) * t->ne[3] + w) * t->ne[1] + c;
}
static inline bool nasc_tensor_same_shape(const nasc_tensor *a, const nasc_tensor *b) {
    return a->ne[0] == b->ne[0] && a->ne[1] == b->ne[1] && a->ne[2] == b->ne[2] &&
           a->ne[3] == b->ne[3];
}
/* Writes "(N,C,H,W)" into buf and returns buf. */
NASC_API const char *nasc_tensor_shape_str(const nasc_tensor *t, char *buf, size_t n);
/* Initialises a caller-owned tensor header around data (no graph, id -1, leaf). */
NASC_API void nasc_tensor_init(nasc_tensor *t, float *data, int n, int c, int h, int w);
/* Name of an op ("conv2d", ...); "?" for out-of-range values. */
NASC_API const char *nasc_op_name(enum nasc_op op);

#ifdef __cplusplus
}
#endif
#endif /* NASC_TENSOR_H */
