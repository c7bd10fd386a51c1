/*
 * nn.h — parameters, layers and models on top of the engine.
 *
 * A parameter store (nasc_params) owns every trainable tensor of a model and its non-trainable
 * buffers (batch-norm running statistics). It is built in two phases, so that all weights end up in
 * ONE contiguous block, all gradients in another (the optimizer is one loop, a checkpoint one write,
 * as in llm.c):
 *   1. register:  nasc_params_add(...) returns a tensor header whose data is not yet allocated;
 *   2. finalize:  nasc_params_finalize(ps) allocates the blocks and points every tensor into them;
 *   3. init:      nasc_params_init(ps, seed) fills each tensor by its init rule, keyed by
 *                 (seed, tensor index), so the same seed gives the same bits on any thread count.
 *
 * Layers are small caller-owned structs (nasc_conv, nasc_bn, nasc_fc) whose _init registers their
 * parameters and whose _forward records ops on a graph. A model (nasc_model) is a parameter store
 * plus a forward function: every network nasc builds — the baseline CNN, a NAS-Bench-201 or DARTS
 * network, a chain or macro network, a supernet — is a nasc_model.
 *
 *     nasc_params *ps = nasc_params_new("net");
 *     nasc_conv c1; nasc_bn b1; nasc_fc fc;
 *     nasc_conv_init(&c1, ps, "c1", &(nasc_conv_spec){.cin = 1, .cout = 16, .k = 3, .pad = 1});
 *     nasc_bn_init(&b1, ps, "b1", 16, true);
 *     nasc_fc_init(&fc, ps, "fc", 16, 10, true);
 *     if (nasc_params_finalize(ps, &err) != NASC_OK) ...;
 *     nasc_params_init(ps, seed);
 *     // per step:
 *     nasc_tensor *h = nasc_relu(g, nasc_bn_forward(g, &b1, nasc_conv_forward(g, &c1, x)));
 *     nasc_tensor *logits = nasc_fc_forward(g, &fc, nasc_global_avgpool(g, h));
 */
#ifndef NASC_NN_H
#define NASC_NN_H

#include "nasc/ops.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- initialisation rules ---- */

typedef enum nasc_init {
    NASC_INIT_ZEROS = 0,
    NASC_INIT_ONES,
    NASC_INIT_KAIMING_NORMAL_FAN_IN,  /* N(0, 2/fan_in) (ReLU gain) */
    NASC_INIT_KAIMING_NORMAL_FAN_OUT, /* N(0, 2/fan_out) (ReLU gain), torchvision's conv init */
    NASC_INIT_XAVIER_UNIFORM,         /* U(-a, a), a = sqrt(6/(fan_in+fan_out)) */
    NASC_INIT_XAVIER_NORMAL,          /* N(0, 2/(fan_in+fan_out)) */
    NASC_INIT_TORCH_DEFAULT,          /* U(-1/sqrt(fan_in), 1/sqrt(fan_in)): PyTorch's conv/linear */
    NASC_INIT_UNIFORM,                /* U(-scale, scale) */
    NASC_INIT_NORMAL,                 /* N(0, scale^2) */
    NASC_INIT_CONSTANT,               /* scale */
    NASC_INIT_COUNT
} nasc_init;

/* fan_in / fan_out of a weight (K, C, KH, KW): C*KH*KW and K*KH*KW (linear (K,F,1,1): F and K). */
NASC_API void nasc_fans(const nasc_tensor *w, double *out_fan_in, double *out_fan_out);

/* ---- parameter store ---- */

typedef struct nasc_params nasc_params;

/* A new empty store named name (prefix of messages). NULL on OOM. Free with nasc_params_free. */
NASC_API nasc_params *nasc_params_new(const char *name);
NASC_API void nasc_params_free(nasc_params *ps);

/* Registers a trainable tensor (n,c,h,w) called name, initialised by rule `init` (scale used by
 * UNIFORM/NORMAL/CONSTANT). Returns its header (owned by ps; data and grad are NULL until
 * finalize), or NULL with err set (OOM, duplicate name, store already finalized, bad dims). */
NASC_API nasc_tensor *nasc_params_add(nasc_params *ps, const char *name, int n, int c, int h, int w,
                                      nasc_init init, float scale, nasc_err *err);
/* Registers a non-trainable buffer (no grad; saved in weight files), e.g. BN running stats. */
NASC_API nasc_tensor *nasc_params_add_buffer(nasc_params *ps, const char *name, int n, int c,
                                             int h, int w, nasc_init init, float scale,
                                             nasc_err *err);
/* Allocates the contiguous blocks (weights, grads, buffers) and points every tensor into them.
 * Grads are zeroed. Buffers get their init values at once. Call once. */
NASC_API nasc_status nasc_params_finalize(nasc_params *ps, nasc_err *err);
NASC_API bool nasc_params_finalized(const nasc_params *ps);
/* Fills every trainable tensor and buffer by its rule, tensor i from Philox (seed, INIT, i). */
NASC_API void nasc_params_init(nasc_params *ps, uint64_t seed);
/* Sets every gradient to zero. */
NASC_API void nasc_params_zero_grad(nasc_params *ps);

/* Trainable tensors, in registration order; and the buffers. */
NASC_API int nasc_params_n_tensors(const nasc_params *ps);
NASC_API nasc_tensor *nasc_params_tensor(const nasc_params *ps, int i);
NASC_API int nasc_params_n_buffers(const nasc_params *ps);
NASC_API nasc_tensor *nasc_params_buffer(const nasc_params *ps, int i);
/* Looks a trainable tensor or buffer up by name; NULL if absent. */
NASC_API nasc_tensor *nasc_params_find(const nasc_params *ps, const char *name);
/* Total trainable elements (the "parameter count"). */
NASC_API size_t nasc_params_count(const nasc_params *ps);
/* The flat blocks after finalize: data[0..flat_len) and grad[0..flat_len) hold every trainable
 * tensor in registration order, each starting 64-byte aligned; the padding between tensors is
 * zero and stays zero under every optimizer (its gradient is zero). */
NASC_API size_t nasc_params_flat_len(const nasc_params *ps);
NASC_API float *nasc_params_data(const nasc_params *ps);
NASC_API float *nasc_params_grad(const nasc_params *ps);
/* Buffers' flat block: buffer_data[0..buffer_count). */
NASC_API size_t nasc_params_buffer_count(const nasc_params *ps);
NASC_API float *nasc_params_buffer_data(const nasc_params *ps);
NASC_API const char *nasc_params_name(const nasc_params *ps);
/* Bytes the store holds (weights + grads + buffers). */
NASC_API size_t nasc_params_bytes(const nasc_params *ps);

/* ---- layers ---- */

/* Convolution: kernel k×k (or kh×kw if set), stride, pad, dilation (0 = 1), groups (0 = 1). */
typedef struct nasc_conv_spec {
    int cin, cout;
    int k;            /* square kernel; or set kh, kw */
    int kh, kw;
    int stride;       /* 0 = 1 */
    int pad;          /* or pad_h, pad_w when asymmetric (pad = -1) */
    int pad_h, pad_w;
    int dil;          /* 0 = 1 */
    int groups;       /* 0 = 1; cin for depthwise */
    bool bias;
    nasc_init init;   /* 0 (ZEROS) means the default: KAIMING_NORMAL_FAN_OUT */
} nasc_conv_spec;

typedef struct nasc_conv {
    nasc_tensor *w, *b; /* owned by the params store; b may be NULL */
    nasc_conv2d_params p;
} nasc_conv;

NASC_API nasc_status nasc_conv_init(nasc_conv *l, nasc_params *ps, const char *name,
                                    const nasc_conv_spec *spec, nasc_err *err);
/* nasc_conv_init for the convolutions of cell ops (the spaces' ops and the supernet's): no bias,
 * PyTorch's default initialisation, the geometry as arguments. */
NASC_API nasc_status nasc_conv_init_cell(nasc_conv *l, nasc_params *ps, const char *name, int cin,
                                         int cout, int k, int stride, int pad, int dil, int groups,
                                         nasc_err *err);
NASC_API nasc_tensor *nasc_conv_forward(nasc_graph *g, const nasc_conv *l, nasc_tensor *x);

/* Batch norm with eps 1e-5, momentum 0.1; affine adds gamma (ones) and beta (zeros). Running
 * stats are buffers "<name>.running_mean" / ".running_var". */
typedef struct nasc_bn {
    nasc_tensor *gamma, *beta, *running_mean, *running_var;
    nasc_bn_params p;
} nasc_bn;

NASC_API nasc_status nasc_bn_init(nasc_bn *l, nasc_params *ps, const char *name, int channels,
                                  bool affine, nasc_err *err);
NASC_API nasc_tensor *nasc_bn_forward(nasc_graph *g, const nasc_bn *l, nasc_tensor *x);
/* relu(nasc_bn_forward(g, l, x)) as one fused node in training mode (nasc_batchnorm_relu). */
NASC_API nasc_tensor *nasc_bn_relu_forward(nasc_graph *g, const nasc_bn *l, nasc_tensor *x);

/* Fully connected: in -> out features, optional bias; weight init TORCH_DEFAULT unless given. */
typedef struct nasc_fc {
    nasc_tensor *w, *b;
} nasc_fc;

NASC_API nasc_status nasc_fc_init(nasc_fc *l, nasc_params *ps, const char *name, int in, int out,
                                  bool bias, nasc_err *err);
NASC_API nasc_tensor *nasc_fc_forward(nasc_graph *g, const nasc_fc *l, nasc_tensor *x);

/* ---- models ---- */

typedef struct nasc_model nasc_model;

/* What a model's forward needs besides the input. */
typedef struct nasc_forward_opts {
    float drop_path;       /* drop-path probability for this step (0 = off) */
    bool want_aux;         /* compute auxiliary logits if the model has a head */
} nasc_forward_opts;

typedef struct nasc_model_i {
    const char *kind; /* "baseline", "nb201", "darts", ... */
    /* logits (N,classes,1,1) for input x (N,C,H,W); NULL with the graph error set on failure.
     * May set m->aux_logits when opts->want_aux. */
    nasc_tensor *(*forward)(nasc_model *m, nasc_graph *g, nasc_tensor *x,
                            const nasc_forward_opts *opts);
    /* frees impl (the params store is freed by nasc_model_free) */
    void (*free_impl)(void *impl);
} nasc_model_i;

struct nasc_model {
    const nasc_model_i *iface;
    nasc_params *params;      /* owned */
    void *impl;               /* owned, model-specific layers */
    int in_c, in_h, in_w;     /* input shape it was built for */
    int n_classes;
    char *arch;               /* text form of the architecture (owned, nasc_malloc'd), or NULL */
    char *space;              /* name of its search space ("baseline", "nb201", ...), or NULL */
    nasc_tensor *aux_logits;  /* set by forward when asked for and available; step lifetime */
};

/* Wraps impl and params (both taken over, also on failure) into a new model. NULL on OOM. */
NASC_API nasc_model *nasc_model_new(const nasc_model_i *iface, nasc_params *params, void *impl,
                                    int in_c, int in_h, int in_w, int n_classes);
NASC_API void nasc_model_free(nasc_model *m);
/* Sets the model's space and architecture text (copied). */
NASC_API nasc_status nasc_model_set_arch(nasc_model *m, const char *space, const char *arch);
/* Runs the forward on g; opts may be NULL. Checks x's shape against the model's input. */
NASC_API nasc_tensor *nasc_model_forward(nasc_model *m, nasc_graph *g, nasc_tensor *x,
                                         const nasc_forward_opts *opts);

/* The built-in baseline CNN for `nasc train` without --arch: conv3x3(32)-BN-ReLU x2, maxpool,
 * conv3x3(64)-BN-ReLU x2, maxpool, conv3x3(128)-BN-ReLU, global avg pool, dropout 0.25, linear.
 * width scales the channel counts (1.0 = as listed). Parameters are finalized and initialised. */
NASC_API nasc_status nasc_baseline_new(int in_c, int in_h, int in_w, int n_classes, float width,
                                       uint64_t seed, nasc_model **out, nasc_err *err);

#ifdef __cplusplus
}
#endif
#endif /* NASC_NN_H */
