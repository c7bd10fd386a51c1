/* cpu.c — the CPU backend: its kernel table, thread runner, scratch, ISA detection and the test
 * hooks. Which path each op takes, and the measurements behind it, are in docs/ARCH.md (Layout).
 *
 * Every op has an optimised kernel here; an op that ever needs to run on ref again is removed
 * from the table (cpu_supports then says no and backend.c falls back). */
#include "cpu_int.h"

#include "nasc/arena.h"

#include <cblas.h>
#include <omp.h>

static const nasc_kernel_pair cpu_table[] = {
    [NASC_OP_NONE] = {NULL, NULL}, /* leaves: nothing to run; ref's no-ops handle them */
    [NASC_OP_CONV2D] = {nasc_cpu_conv2d_fwd, nasc_cpu_conv2d_bwd},
    [NASC_OP_MAXPOOL2D] = {nasc_cpu_maxpool2d_fwd, nasc_cpu_maxpool2d_bwd},
    [NASC_OP_AVGPOOL2D] = {nasc_cpu_avgpool2d_fwd, nasc_cpu_avgpool2d_bwd},
    [NASC_OP_GLOBAL_AVGPOOL] = {nasc_cpu_global_avgpool_fwd, nasc_cpu_global_avgpool_bwd},
    [NASC_OP_BATCHNORM] = {nasc_cpu_batchnorm_fwd, nasc_cpu_batchnorm_bwd},
    [NASC_OP_RELU] = {nasc_cpu_relu_fwd, nasc_cpu_relu_bwd},
    [NASC_OP_SIGMOID] = {nasc_cpu_sigmoid_fwd, nasc_cpu_sigmoid_bwd},
    [NASC_OP_TANH] = {nasc_cpu_tanh_fwd, nasc_cpu_tanh_bwd},
    [NASC_OP_ADD] = {nasc_cpu_add_fwd, nasc_cpu_add_bwd},
    [NASC_OP_MUL] = {nasc_cpu_mul_fwd, nasc_cpu_mul_bwd},
    [NASC_OP_SCALE] = {nasc_cpu_scale_fwd, nasc_cpu_scale_bwd},
    [NASC_OP_CONCAT] = {nasc_cpu_concat_fwd, nasc_cpu_concat_bwd},
    [NASC_OP_SLICE] = {nasc_cpu_slice_fwd, nasc_cpu_slice_bwd},
    [NASC_OP_LINEAR] = {nasc_cpu_linear_fwd, nasc_cpu_linear_bwd},
    [NASC_OP_DROPOUT] = {nasc_cpu_dropout_fwd, nasc_cpu_dropout_bwd},
    [NASC_OP_DROP_PATH] = {nasc_cpu_drop_path_fwd, nasc_cpu_drop_path_bwd},
    [NASC_OP_SOFTMAX] = {nasc_cpu_softmax_fwd, nasc_cpu_softmax_bwd},
    [NASC_OP_LOG_SOFTMAX] = {nasc_cpu_log_softmax_fwd, nasc_cpu_log_softmax_bwd},
    [NASC_OP_CROSS_ENTROPY] = {nasc_cpu_cross_entropy_fwd, nasc_cpu_cross_entropy_bwd},
    [NASC_OP_SUM] = {nasc_cpu_sum_fwd, nasc_cpu_sum_bwd},
    [NASC_OP_MEAN] = {nasc_cpu_mean_fwd, nasc_cpu_mean_bwd},
    [NASC_OP_RESHAPE] = {nasc_cpu_reshape_fwd, nasc_cpu_reshape_bwd},
    [NASC_OP_WSUM] = {nasc_cpu_wsum_fwd, nasc_cpu_wsum_bwd},
    [NASC_OP_CHANNEL_SHUFFLE] = {nasc_cpu_channel_shuffle_fwd, nasc_cpu_channel_shuffle_bwd},
    [NASC_OP_BN_INPLACE] = {nasc_cpu_bn_inplace_fwd, nasc_cpu_bn_inplace_bwd}, /* bn_inplace.c */
    [NASC_OP_BN_RELU] = {nasc_cpu_batchnorm_fwd, nasc_cpu_batchnorm_bwd},      /* batchnorm.c */
};
_Static_assert(sizeof cpu_table / sizeof cpu_table[0] == NASC_OP_COUNT, "one cpu row per op");

static bool cpu_supports(const nasc_backend *be, const nasc_tensor *node) {
    (void)be;
    if ((unsigned)node->op >= (unsigned)NASC_OP_COUNT || !cpu_table[node->op].fwd ||
        !cpu_table[node->op].bwd)
        return false;
    if (node->op == NASC_OP_MAXPOOL2D || node->op == NASC_OP_AVGPOOL2D)
        return nasc_cpu_pool_ok(node); /* windows over 64 rows: ref (never seen in practice) */
    return true;
}

static nasc_status cpu_forward(nasc_backend *be, nasc_graph *g, nasc_tensor *node) {
    return cpu_table[node->op].fwd(be, g, node);
}

/* Ops whose cpu backward stores into NASC_TENSOR_GRAD_FRESH input gradients (the engine then
 * skips zero-filling them); every other op's kernels only add. */
static bool cpu_stores_grads(const nasc_tensor *node) {
    switch (node->op) {
    case NASC_OP_RELU:
    case NASC_OP_SCALE:
    case NASC_OP_ADD: /* eltwise.c binary_bwd: same-shape add stores, mul and broadcasts zero-fill */
    case NASC_OP_MUL:
    case NASC_OP_DROP_PATH:
    case NASC_OP_CONCAT:
    case NASC_OP_WSUM: /* mixed.c: stores the terms' gradients, zero-fills w's */
    case NASC_OP_BATCHNORM:
    case NASC_OP_BN_RELU:
    case NASC_OP_CONV2D: /* conv2d.c: the 1x1 AVX-512 path stores, the others zero-fill */
        return true;
    default:
        return false;
    }
}

static nasc_status cpu_backward(nasc_backend *be, nasc_graph *g, nasc_tensor *node) {
    if (!cpu_stores_grads(node))
        nasc_backend_zero_fresh_grads(node);
    return cpu_table[node->op].bwd(be, g, node);
}

static void cpu_free(nasc_backend *be) {
    nasc_cpu_ctx *ctx = be->ctx;
    if (!ctx)
        return;
    nasc_cpu_dnnl_free(ctx);
    nasc_free(ctx);
    be->ctx = NULL;
}

static const nasc_backend_i cpu_iface = {
    .name = "cpu",
    .supports = cpu_supports,
    .forward = cpu_forward,
    .backward = cpu_backward,
    .sync = NULL,
    .free = cpu_free,
};

/* OpenBLAS (pthread build) starts its thread pool when the library loads, and idle pool threads
 * spin on sched_yield for a while (about 0.1 s after their last job). Since we only ever call
 * it single-threaded, the pool is shut down; OpenBLAS restarts it by itself if anyone in the
 * process asks for more threads later. Weak, so another BLAS without this symbol still links. */
extern int blas_thread_shutdown_(void) __attribute__((weak));

static bool cpu_has_avx512(void) {
#if NASC_CPU_X86
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("fma");
#else
    return false;
#endif
}

nasc_backend *nasc_backend_cpu_create(int n_threads, nasc_err *err) {
    nasc_backend *be = nasc_calloc(1, sizeof *be);
    nasc_cpu_ctx *ctx = nasc_calloc(1, sizeof *ctx);
    if (!be || !ctx) {
        nasc_free(be);
        nasc_free(ctx);
        nasc_errorf(err, NASC_ERR_NOMEM, "backend cpu: out of memory");
        return NULL;
    }
    be->iface = &cpu_iface;
    be->n_threads = n_threads;
    be->ctx = ctx;
    ctx->avx512 = cpu_has_avx512();
    ctx->conv_force = NASC_CPU_CONV_AUTO;
    /* OpenBLAS is called from inside our own thread split (each call one thread), so that its
     * pthread pool does not fight OpenMP for the cores and every GEMM has a fixed partition. */
    openblas_set_num_threads(1);
    if (blas_thread_shutdown_)
        blas_thread_shutdown_();
    if (nasc_cpu_dnnl_init(ctx, err) != NASC_OK) {
        nasc_backend_free(be);
        return NULL;
    }
    return be;
}

void nasc_cpu_run(int nth, nasc_cpu_task fn, void *arg) {
    if (nth <= 1) {
        fn(arg, 0, 1);
        return;
    }
    /* At most one OpenMP thread per processor: with more (a backend asked for 3 threads on a
     * 2-core machine) spinning barriers only fight for the cores. The runtime may also grant
     * fewer threads than asked (nesting, thread limits). Either way each thread takes several
     * ith in turn, so every range is done and the split still depends on nth only. */
    static int n_procs;
    if (!n_procs)
        n_procs = omp_get_num_procs();
    const int team = nth < n_procs ? nth : n_procs;
    if (team <= 1) {
        for (int ith = 0; ith < nth; ith++)
            fn(arg, ith, nth);
        return;
    }
#pragma omp parallel num_threads(team)
    {
        const int nt = omp_get_num_threads();
        for (int ith = omp_get_thread_num(); ith < nth; ith += nt)
            fn(arg, ith, nth);
    }
}

void *nasc_cpu_scratch(nasc_backend *be, nasc_graph *g, size_t bytes) {
    nasc_err e;
    nasc_err_clear(&e);
    void *p = nasc_backend_scratch(be, bytes ? bytes : 64, &e);
    if (!p)
        nasc_graph_errorf(g, e.code, "%s", e.msg);
    return p;
}

bool nasc_cpu_force_conv(nasc_backend *be, enum nasc_cpu_conv_path path) {
    if (!be || be->iface != &cpu_iface)
        return false;
    nasc_cpu_ctx *ctx = be->ctx;
    if (path == NASC_CPU_CONV_DNNL && !ctx->dnnl)
        return false;
    ctx->conv_force = path;
    return true;
}

bool nasc_cpu_set_avx512(nasc_backend *be, bool on) {
    if (!be || be->iface != &cpu_iface)
        return false;
    nasc_cpu_ctx *ctx = be->ctx;
    if (on && !cpu_has_avx512())
        return false;
    ctx->avx512 = on;
    return true;
}

void nasc_cpu_sgemm(bool ta, bool tb, int m, int n, int k, float alpha, const float *a, int lda,
                    const float *b, int ldb, float beta, float *c, int ldc) {
    if (m <= 0 || n <= 0)
        return;
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m,
                n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

typedef struct add_into_args {
    float *dst;
    const float *src;
    size_t n;
} add_into_args;

static void add_into_task(void *arg, int ith, int nth) {
    const add_into_args *a = arg;
    size_t i0, i1;
    nasc_cpu_range(a->n, ith, nth, &i0, &i1);
    float *restrict d = a->dst;
    const float *restrict s = a->src;
    for (size_t i = i0; i < i1; i++)
        d[i] += s[i];
}

void nasc_cpu_add_into(float *dst, const float *src, size_t n, int nth) {
    add_into_args a = {dst, src, n};
    if ((size_t)nth > n / 4096 + 1)
        nth = (int)(n / 4096 + 1);
    nasc_cpu_run(nth, add_into_task, &a);
}
