/* cpu_int.h — optimised CPU kernels (OpenBLAS, oneDNN, AVX-512, OpenMP). Never installed.
 *
 * Each kernel follows the ref kernel's semantics (tests/parity checks it against ref) and splits its
 * work across be->n_threads by fixed ranges computed from the shape (nasc_cpu_range), so results
 * depend only on the shape and the thread count, never on scheduling:
 *   - work is handed out by nasc_cpu_run(be, nth, fn, arg), which calls fn(arg, ith, nth) once for
 *     every ith in [0, nth), whatever number of OpenMP threads the runtime actually grants;
 *   - reductions (weight / bias gradients, batch-norm statistics, sums) go into per-ith private
 *     buffers that are then added in ith order; no float atomics anywhere.
 *
 * Layout (tensor.h): activations NHWC, conv weights [K][KH][KW][C/G], linear weights [K][F].
 * Kernels vectorise over C, the contiguous axis.
 *
 * ISA dispatch: CI builds for generic x86-64 (NASC_NATIVE=OFF), so the AVX-512 kernels carry
 * NASC_CPU_AVX512 (a target attribute) and are picked at run time when ctx->avx512 is set
 * (__builtin_cpu_supports); each has a portable C twin that gives the same results up to rounding.
 * OpenBLAS runs single-threaded (openblas_set_num_threads(1)) inside our own thread split.
 */
#ifndef NASC_CPU_INT_H
#define NASC_CPU_INT_H

#include "../backend_int.h"

#include <stddef.h>

/* [*out_begin, *out_end) of n items for thread ith of nth: contiguous, balanced, fixed. */
static inline void nasc_cpu_range(size_t n, int ith, int nth, size_t *out_begin, size_t *out_end) {
    const size_t per = n / (size_t)nth, rem = n % (size_t)nth;
    const size_t i = (size_t)ith;
    *out_begin = i * per + (i < rem ? i : rem);
    *out_end = *out_begin + per + (i < rem ? 1 : 0);
}

#if defined(__x86_64__) && defined(__GNUC__)
#define NASC_CPU_X86 1
#define NASC_CPU_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma")))
/* For plain-C streaming loops: GCC compiles an x86-64-v4 (AVX-512) clone and a default one and
 * picks at load time (ifunc), so CI's generic build still streams with 512-bit vectors. */
#define NASC_CPU_CLONES __attribute__((target_clones("arch=x86-64-v4", "default")))
#else
#define NASC_CPU_X86 0
#define NASC_CPU_AVX512
#define NASC_CPU_CLONES
#endif

/* Which implementation a conv2d node uses (nasc_cpu_conv_path); FORCE values are for tests and
 * benchmarks (nasc_cpu_force_conv). */
enum nasc_cpu_conv_path {
    NASC_CPU_CONV_AUTO = 0, /* pick by shape (the measured choice, cpu/conv2d.c) */
    NASC_CPU_CONV_DW,       /* own depthwise kernels (AVX-512 or portable) */
    NASC_CPU_CONV_1X1,      /* own 1x1 stride-1 kernels: a GEMM over pixels, no im2col */
    NASC_CPU_CONV_GEMM,     /* im2col + OpenBLAS sgemm (col2im for bwd-data) */
    NASC_CPU_CONV_DNNL,     /* oneDNN primitives, nhwc activations */
    NASC_CPU_CONV_REF,      /* the reference kernel (naive loops) */
    NASC_CPU_CONV_DW_DNNL   /* depthwise with C = K = 16: oneDNN's blocked jit kernels for the
                               passes where they measured faster, own kernels for the rest */
};

typedef struct nasc_cpu_dnnl nasc_cpu_dnnl;

/* backend->ctx of the cpu backend. */
typedef struct nasc_cpu_ctx {
    bool avx512;             /* AVX-512 kernels allowed (CPU has them and not disabled) */
    int conv_force;          /* enum nasc_cpu_conv_path; AUTO unless forced */
    nasc_cpu_dnnl *dnnl;     /* oneDNN engine, stream and primitive cache; NULL if absent */
} nasc_cpu_ctx;

static inline nasc_cpu_ctx *nasc_cpu_ctx_of(const nasc_backend *be) {
    return (nasc_cpu_ctx *)be->ctx;
}

/* A task of a parallel kernel: does item range ith of nth (nasc_cpu_range). */
typedef void (*nasc_cpu_task)(void *arg, int ith, int nth);

/* Calls fn(arg, ith, nth) for every ith in [0, nth), spread over up to nth OpenMP threads;
 * nth == 1 runs inline. The split is fixed by nth alone. */
NASC_INTERNAL void nasc_cpu_run(int nth, nasc_cpu_task fn, void *arg);

/* Thread count for `work` units of roughly `grain` cost each: at most be->n_threads and at least 1,
 * so that tiny tensors do not pay for waking threads. Depends only on (shape, n_threads). */
static inline int nasc_cpu_nth(const nasc_backend *be, size_t work, size_t grain) {
    size_t t = grain ? work / grain : work;
    if (t < 1)
        t = 1;
    if (t > (size_t)be->n_threads)
        t = (size_t)be->n_threads;
    return (int)t;
}

/* Workspace from the backend's scratch (shared by all kernels; valid until the next kernel asks
 * for scratch). On failure records the error on g and returns NULL. 64-byte aligned. */
NASC_INTERNAL void *nasc_cpu_scratch(nasc_backend *be, nasc_graph *g, size_t bytes);

/* Rounds a byte count up to 64 (to carve aligned per-thread slices out of one scratch block). */
static inline size_t nasc_cpu_align64(size_t bytes) { return (bytes + 63) & ~(size_t)63; }

/* True if t's gradient is NASC_TENSOR_GRAD_FRESH (garbage, to be stored into rather than added
 * to); clears the flag, so that a second use of t in the same op (x + x) adds. */
static inline bool nasc_cpu_take_fresh(nasc_tensor *t) {
    const bool fresh = t && (t->flags & NASC_TENSOR_GRAD_FRESH);
    if (t)
        t->flags &= ~(uint32_t)NASC_TENSOR_GRAD_FRESH;
    return fresh;
}

/* Test / benchmark hooks: force a conv path (AUTO to undo) and switch AVX-512 kernels off (to test
 * the portable ones on an AVX-512 machine). Return false if the backend is not "cpu" or the path
 * is unavailable in this build (DNNL without oneDNN). */
NASC_INTERNAL bool nasc_cpu_force_conv(nasc_backend *be, enum nasc_cpu_conv_path path);
NASC_INTERNAL bool nasc_cpu_set_avx512(nasc_backend *be, bool on);
/* The path AUTO picks for a conv2d node on this backend (for benchmarks and the layout notes). */
NASC_INTERNAL enum nasc_cpu_conv_path nasc_cpu_conv_path(const nasc_backend *be,
                                                         const nasc_tensor *node);
NASC_INTERNAL const char *nasc_cpu_conv_path_name(enum nasc_cpu_conv_path p);

/* ---- kernels (one file per op family, forward and backward side by side) ---- */
#define NASC_CPU_KERNEL(name)                                                                      \
    NASC_INTERNAL nasc_status nasc_cpu_##name##_fwd(nasc_backend *be, nasc_graph *g,              \
                                                    nasc_tensor *node);                            \
    NASC_INTERNAL nasc_status nasc_cpu_##name##_bwd(nasc_backend *be, nasc_graph *g,              \
                                                    nasc_tensor *node)

NASC_CPU_KERNEL(conv2d);        /* conv2d.c (dispatch, 1x1, im2col+gemm), dwconv.c, dnnl.c */
NASC_CPU_KERNEL(maxpool2d);     /* pool.c */
NASC_CPU_KERNEL(avgpool2d);
NASC_CPU_KERNEL(global_avgpool);
NASC_CPU_KERNEL(batchnorm);     /* batchnorm.c */
NASC_CPU_KERNEL(relu);          /* eltwise.c */
NASC_CPU_KERNEL(sigmoid);
NASC_CPU_KERNEL(tanh);
NASC_CPU_KERNEL(add);
NASC_CPU_KERNEL(mul);
NASC_CPU_KERNEL(scale);
NASC_CPU_KERNEL(dropout);
NASC_CPU_KERNEL(drop_path);
NASC_CPU_KERNEL(concat);        /* shape.c */
NASC_CPU_KERNEL(slice);
NASC_CPU_KERNEL(reshape);
NASC_CPU_KERNEL(linear);        /* linear.c */
NASC_CPU_KERNEL(softmax);       /* loss.c */
NASC_CPU_KERNEL(log_softmax);
NASC_CPU_KERNEL(cross_entropy);
NASC_CPU_KERNEL(sum);
NASC_CPU_KERNEL(mean);
NASC_CPU_KERNEL(wsum);          /* mixed.c */
NASC_CPU_KERNEL(channel_shuffle);
NASC_CPU_KERNEL(bn_inplace);    /* bn_inplace.c (supernets) */

/* Max / average pooling windows the cpu kernels take (KH <= 64); larger ones run on ref. */
NASC_INTERNAL bool nasc_cpu_pool_ok(const nasc_tensor *node);

/* Conv geometry shared by the conv paths. x (N,C,H,W), w (K,C/G,KH,KW), y (N,K,OH,OW). */
typedef struct nasc_cpu_conv {
    int N, C, H, W, K, OH, OW, KH, KW, G, Cg, Kg;
    int sh, sw, ph, pw, dh, dw;
} nasc_cpu_conv;

NASC_INTERNAL nasc_cpu_conv nasc_cpu_conv_geom(const nasc_tensor *node);

/* Depthwise (G == C == K) kernels, dwconv.c; ok: the geometry is one they handle. */
NASC_INTERNAL bool nasc_cpu_dw_ok(const nasc_cpu_conv *c);
NASC_INTERNAL nasc_status nasc_cpu_dwconv_fwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node);
NASC_INTERNAL nasc_status nasc_cpu_dwconv_bwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node);
/* Backward with the weight (and bias) gradient optional (the hybrid path takes it from oneDNN). */
NASC_INTERNAL nasc_status nasc_cpu_dwconv_bwd_ex(nasc_backend *be, nasc_graph *g,
                                                 nasc_tensor *node, bool weights);

/* 1x1 AVX-512 kernels, conv1x1.c (ok: usable on this backend). */
NASC_INTERNAL bool nasc_cpu_conv1x1_avx512_ok(const nasc_backend *be, const nasc_tensor *node);
NASC_INTERNAL nasc_status nasc_cpu_conv1x1_avx512_fwd(nasc_backend *be, nasc_graph *g,
                                                      nasc_tensor *node);
NASC_INTERNAL nasc_status nasc_cpu_conv1x1_avx512_bwd(nasc_backend *be, nasc_graph *g,
                                                      nasc_tensor *node);

/* oneDNN kernels, dnnl.c (stubs returning NASC_ERR_UNSUPPORTED without NASC_HAVE_DNNL). */
NASC_INTERNAL nasc_status nasc_cpu_dnnl_init(nasc_cpu_ctx *ctx, nasc_err *err);
NASC_INTERNAL void nasc_cpu_dnnl_free(nasc_cpu_ctx *ctx);
NASC_INTERNAL nasc_status nasc_cpu_dnnl_conv_fwd(nasc_backend *be, nasc_graph *g,
                                                 nasc_tensor *node);
NASC_INTERNAL nasc_status nasc_cpu_dnnl_conv_bwd(nasc_backend *be, nasc_graph *g,
                                                 nasc_tensor *node);
/* Backward data and / or weights only. */
NASC_INTERNAL nasc_status nasc_cpu_dnnl_conv_bwd_part(nasc_backend *be, nasc_graph *g,
                                                      nasc_tensor *node, bool data, bool weights);
/* Whether oneDNN runs pass `kind` (0 forward, 1 backward-data, 2 backward-weights) of node with a
 * jit kernel (creating and caching the primitive); false without oneDNN or for its reference /
 * gemm fallbacks, which measured 100-1000x slower on dilated depthwise backward. */
NASC_INTERNAL bool nasc_cpu_dnnl_jit(nasc_backend *be, nasc_graph *g, const nasc_tensor *node,
                                     int kind);

/* Single-threaded sgemm (row-major, OpenBLAS): C = alpha*op(A)*op(B) + beta*C. */
NASC_INTERNAL void nasc_cpu_sgemm(bool ta, bool tb, int m, int n, int k, float alpha,
                                  const float *a, int lda, const float *b, int ldb, float beta,
                                  float *c, int ldc);

/* Adds src[i] to dst[i] for i < n, split over nth threads (for results computed into scratch). */
NASC_INTERNAL void nasc_cpu_add_into(float *dst, const float *src, size_t n, int nth);

#endif /* NASC_CPU_INT_H */
