/* cpu/dnnl.c — conv2d through oneDNN's C API (forward, backward-data, backward-weights).
 *
 * Activations are passed as they are: oneDNN memory with the nhwc tag on nasc's NHWC buffers, so no
 * activation is ever reordered. Weights are declared with format "any" and oneDNN picks its blocked
 * layout; nasc's [K][KH][KW][Cg] weights (ohwi, or gohwi with groups) are reordered into it before
 * forward / backward-data, and the weight gradient is reordered back (they are small).
 *
 * Primitives are created once per (kind, shape, params, bias, thread count) and kept in a cache on
 * the backend: a steady-state training step creates nothing. oneDNN runs its own OpenMP parallel
 * regions; it takes its thread count from omp_get_max_threads() both when a primitive is created
 * and when it runs, so both happen with the ICV set to be->n_threads (and restored after).
 * oneDNN's results are deterministic for a fixed thread count and shape (its reductions use a
 * static partition; tests/parity re-runs every conv and compares bits).
 *
 * oneDNN overwrites its outputs, while nasc's backward accumulates: diff_src, diff_weights and
 * diff_bias go to scratch and are added into the grads. Scratchpads are user-managed (attribute
 * scratchpad_mode = user) and taken from the backend's scratch, so oneDNN allocates nothing per
 * call. */
#include "cpu_int.h"

#include "nasc/arena.h"

#ifdef NASC_HAVE_DNNL

#include <dnnl.h>
#include <omp.h>
#include <string.h>

enum { DK_FWD = 0, DK_BWD_DATA, DK_BWD_WEIGHTS };

typedef struct dnnl_key {
    int kind, nth, bias;
    int N, C, H, W, K, OH, OW, KH, KW, G, sh, sw, ph, pw, dh, dw;
} dnnl_key;

typedef struct dnnl_entry {
    dnnl_key key;
    dnnl_primitive_t conv;
    dnnl_primitive_t wreorder;     /* user->prim weights (fwd, bwd-data), prim->user diff (bwd-w) */
    dnnl_memory_t m_act_in, m_act_out;  /* nhwc: src/dst, diff_dst/diff_src, src/diff_dst */
    dnnl_memory_t m_w_user, m_w_prim;   /* weights (or diff weights) in both formats */
    dnnl_memory_t m_bias, m_scratch;
    size_t w_prim_bytes, scratch_bytes;
    size_t out_bytes;              /* bwd: diff_src (bwd-data) bytes in scratch */
    bool jit;                      /* a jit kernel (not oneDNN's reference or gemm fallback) */
} dnnl_entry;

struct nasc_cpu_dnnl {
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    dnnl_entry *entries;
    int n_entries, cap_entries;
};

static nasc_status dnnl_fail(nasc_graph *g, const char *what, dnnl_status_t st) {
    nasc_graph_errorf(g, NASC_ERR_INTERNAL, "conv2d (oneDNN): %s failed (dnnl status %d)", what,
                      (int)st);
    return NASC_ERR_INTERNAL;
}

nasc_status nasc_cpu_dnnl_init(nasc_cpu_ctx *ctx, nasc_err *err) {
    nasc_cpu_dnnl *d = nasc_calloc(1, sizeof *d);
    if (!d)
        return nasc_errorf(err, NASC_ERR_NOMEM, "backend cpu: out of memory (oneDNN state)");
    if (dnnl_engine_create(&d->engine, dnnl_cpu, 0) != dnnl_success ||
        dnnl_stream_create(&d->stream, d->engine, dnnl_stream_default_flags) != dnnl_success) {
        /* no usable oneDNN engine: run without it (the GEMM path covers every conv) */
        if (d->engine)
            dnnl_engine_destroy(d->engine);
        nasc_free(d);
        ctx->dnnl = NULL;
        return NASC_OK;
    }
    ctx->dnnl = d;
    return NASC_OK;
}

static void entry_free(dnnl_entry *e) {
    if (e->conv) dnnl_primitive_destroy(e->conv);
    if (e->wreorder) dnnl_primitive_destroy(e->wreorder);
    dnnl_memory_t *ms[] = {&e->m_act_in, &e->m_act_out, &e->m_w_user, &e->m_w_prim, &e->m_bias,
                           &e->m_scratch};
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++)
        if (*ms[i])
            dnnl_memory_destroy(*ms[i]);
    memset(e, 0, sizeof *e);
}

void nasc_cpu_dnnl_free(nasc_cpu_ctx *ctx) {
    nasc_cpu_dnnl *d = ctx->dnnl;
    if (!d)
        return;
    for (int i = 0; i < d->n_entries; i++)
        entry_free(&d->entries[i]);
    nasc_free(d->entries);
    dnnl_stream_destroy(d->stream);
    dnnl_engine_destroy(d->engine);
    nasc_free(d);
    ctx->dnnl = NULL;
}

static dnnl_key make_key(int kind, int nth, const nasc_tensor *node) {
    const nasc_cpu_conv c = nasc_cpu_conv_geom(node);
    dnnl_key k;
    memset(&k, 0, sizeof k);
    k.kind = kind;
    k.nth = nth;
    k.bias = node->src[2] != NULL;
    k.N = c.N; k.C = c.C; k.H = c.H; k.W = c.W; k.K = c.K; k.OH = c.OH; k.OW = c.OW;
    k.KH = c.KH; k.KW = c.KW; k.G = c.G; k.sh = c.sh; k.sw = c.sw; k.ph = c.ph; k.pw = c.pw;
    k.dh = c.dh; k.dw = c.dw;
    return k;
}

/* The conv op descriptor of kind `kind` (weights "any" unless user_weights). */
static dnnl_status_t conv_desc(const dnnl_key *k, int kind, bool user_weights,
                               dnnl_convolution_desc_t *out) {
    dnnl_memory_desc_t src, dst, wei, bias;
    const dnnl_dims_t sd = {k->N, k->C, k->H, k->W}, dd = {k->N, k->K, k->OH, k->OW};
    dnnl_status_t st;
    /* With exactly 16 channels NHWC and oneDNN's blocked nChw16c are the same bytes; the blocked
     * tag selects oneDNN's faster blocked kernels (depthwise 3x3 forward 0.20 -> 0.13 ms, C=16,
     * N=64, 28x28, 1 thread) with no reorder. */
    const bool blk = k->C == 16 && k->K == 16; /* mixed tags send oneDNN to its ref kernel */
    const dnnl_format_tag_t src_tag = blk ? dnnl_nChw16c : dnnl_nhwc;
    const dnnl_format_tag_t dst_tag = blk ? dnnl_nChw16c : dnnl_nhwc;
    if ((st = dnnl_memory_desc_init_by_tag(&src, 4, sd, dnnl_f32, src_tag)) != dnnl_success ||
        (st = dnnl_memory_desc_init_by_tag(&dst, 4, dd, dnnl_f32, dst_tag)) != dnnl_success)
        return st;
    if (k->G == 1) {
        const dnnl_dims_t wd = {k->K, k->C, k->KH, k->KW};
        st = dnnl_memory_desc_init_by_tag(&wei, 4, wd, dnnl_f32,
                                          user_weights ? dnnl_ohwi : dnnl_format_tag_any);
    } else {
        const dnnl_dims_t wd = {k->G, k->K / k->G, k->C / k->G, k->KH, k->KW};
        st = dnnl_memory_desc_init_by_tag(&wei, 5, wd, dnnl_f32,
                                          user_weights ? dnnl_gohwi : dnnl_format_tag_any);
    }
    if (st != dnnl_success)
        return st;
    const dnnl_dims_t bd = {k->K};
    if ((st = dnnl_memory_desc_init_by_tag(&bias, 1, bd, dnnl_f32, dnnl_x)) != dnnl_success)
        return st;
    const dnnl_dims_t strides = {k->sh, k->sw}, dil = {k->dh - 1, k->dw - 1},
                      pl = {k->ph, k->pw}, pr = {k->ph, k->pw};
    const dnnl_memory_desc_t *bp = k->bias ? &bias : NULL;
    switch (kind) {
    case DK_FWD:
        return dnnl_dilated_convolution_forward_desc_init(out, dnnl_forward_training,
                                                          dnnl_convolution_direct, &src, &wei, bp,
                                                          &dst, strides, dil, pl, pr);
    case DK_BWD_DATA:
        return dnnl_dilated_convolution_backward_data_desc_init(
            out, dnnl_convolution_direct, &src, &wei, &dst, strides, dil, pl, pr);
    default:
        return dnnl_dilated_convolution_backward_weights_desc_init(
            out, dnnl_convolution_direct, &src, &wei, bp, &dst, strides, dil, pl, pr);
    }
}

static dnnl_status_t mem_new(dnnl_memory_t *m, const dnnl_memory_desc_t *md, dnnl_engine_t eng) {
    return dnnl_memory_create(m, md, eng, DNNL_MEMORY_NONE);
}

/* Builds the cache entry for key k (called with the OpenMP ICV already set to k->nth). */
static nasc_status entry_build(nasc_cpu_dnnl *d, nasc_graph *g, const dnnl_key *k,
                               dnnl_entry *e) {
    dnnl_status_t st;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_primitive_desc_t fwd_pd = NULL, pd = NULL, rpd = NULL;
    nasc_status rc = NASC_OK;
    dnnl_convolution_desc_t fd, bd;
    memset(e, 0, sizeof *e);
    e->key = *k;
#define TRY(call, what)                                                                            \
    do {                                                                                           \
        if ((st = (call)) != dnnl_success) {                                                       \
            rc = dnnl_fail(g, what, st);                                                           \
            goto fail;                                                                             \
        }                                                                                          \
    } while (0)
    TRY(dnnl_primitive_attr_create(&attr), "attr create");
    TRY(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user), "attr");
    TRY(conv_desc(k, DK_FWD, false, &fd), "forward descriptor");
    TRY(dnnl_primitive_desc_create(&fwd_pd, &fd, attr, d->engine, NULL), "forward pd");
    if (k->kind == DK_FWD) {
        pd = fwd_pd;
        fwd_pd = NULL;
    } else {
        TRY(conv_desc(k, k->kind, false, &bd), "backward descriptor");
        TRY(dnnl_primitive_desc_create(&pd, &bd, attr, d->engine, fwd_pd), "backward pd");
    }
    TRY(dnnl_primitive_create(&e->conv, pd), "primitive create");
    {
        const char *impl = NULL;
        dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
        e->jit = impl && strncmp(impl, "ref", 3) != 0 && !strstr(impl, "gemm");
    }
    /* memory objects (handles set per call) */
    const dnnl_query_t q_in = k->kind == DK_BWD_DATA ? dnnl_query_diff_dst_md : dnnl_query_src_md;
    const dnnl_query_t q_out = k->kind == DK_FWD        ? dnnl_query_dst_md
                               : k->kind == DK_BWD_DATA ? dnnl_query_diff_src_md
                                                        : dnnl_query_diff_dst_md;
    const dnnl_query_t q_w =
        k->kind == DK_BWD_WEIGHTS ? dnnl_query_diff_weights_md : dnnl_query_weights_md;
    const dnnl_memory_desc_t *md_in = dnnl_primitive_desc_query_md(pd, q_in, 0);
    const dnnl_memory_desc_t *md_out = dnnl_primitive_desc_query_md(pd, q_out, 0);
    const dnnl_memory_desc_t *md_w = dnnl_primitive_desc_query_md(pd, q_w, 0);
    const dnnl_memory_desc_t *md_sp = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    TRY(mem_new(&e->m_act_in, md_in, d->engine), "memory");
    TRY(mem_new(&e->m_act_out, md_out, d->engine), "memory");
    TRY(mem_new(&e->m_w_prim, md_w, d->engine), "memory");
    e->w_prim_bytes = dnnl_memory_desc_get_size(md_w);
    e->out_bytes = dnnl_memory_desc_get_size(md_out);
    e->scratch_bytes = md_sp ? dnnl_memory_desc_get_size(md_sp) : 0;
    if (e->scratch_bytes)
        TRY(mem_new(&e->m_scratch, md_sp, d->engine), "memory");
    if (k->bias && k->kind != DK_BWD_DATA) {
        const dnnl_memory_desc_t *md_b = dnnl_primitive_desc_query_md(
            pd, k->kind == DK_FWD ? dnnl_query_weights_md : dnnl_query_diff_weights_md, 1);
        TRY(mem_new(&e->m_bias, md_b, d->engine), "memory");
    }
    /* user-format weights and, if oneDNN chose another layout, a reorder between the two */
    dnnl_convolution_desc_t ud;
    TRY(conv_desc(k, DK_FWD, true, &ud), "descriptor");
    const dnnl_memory_desc_t *md_user = &ud.weights_desc;
    TRY(mem_new(&e->m_w_user, md_user, d->engine), "memory");
    if (!dnnl_memory_desc_equal(md_user, md_w)) {
        if (k->kind == DK_BWD_WEIGHTS)
            TRY(dnnl_reorder_primitive_desc_create(&rpd, md_w, d->engine, md_user, d->engine,
                                                   NULL),
                "reorder pd");
        else
            TRY(dnnl_reorder_primitive_desc_create(&rpd, md_user, d->engine, md_w, d->engine,
                                                   NULL),
                "reorder pd");
        TRY(dnnl_primitive_create(&e->wreorder, rpd), "reorder create");
    }
fail:
#undef TRY
    if (rpd) dnnl_primitive_desc_destroy(rpd);
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (fwd_pd) dnnl_primitive_desc_destroy(fwd_pd);
    if (attr) dnnl_primitive_attr_destroy(attr);
    if (rc != NASC_OK)
        entry_free(e);
    return rc;
}

/* Finds or builds the entry for (kind, node); NULL with the graph error set on failure. */
static dnnl_entry *entry_get(nasc_cpu_dnnl *d, nasc_graph *g, int kind, int nth,
                             const nasc_tensor *node) {
    const dnnl_key k = make_key(kind, nth, node);
    for (int i = 0; i < d->n_entries; i++)
        if (!memcmp(&d->entries[i].key, &k, sizeof k))
            return &d->entries[i];
    if (d->n_entries == d->cap_entries) {
        const int cap = d->cap_entries ? 2 * d->cap_entries : 16;
        dnnl_entry *ne = nasc_realloc(d->entries, (size_t)cap * sizeof *ne);
        if (!ne) {
            nasc_graph_errorf(g, NASC_ERR_NOMEM, "conv2d (oneDNN): out of memory for the cache");
            return NULL;
        }
        d->entries = ne;
        d->cap_entries = cap;
    }
    dnnl_entry *e = &d->entries[d->n_entries];
    if (entry_build(d, g, &k, e) != NASC_OK)
        return NULL;
    d->n_entries++;
    return e;
}

/* Runs prim with n (arg, memory) pairs. */
static dnnl_status_t exec(nasc_cpu_dnnl *d, dnnl_primitive_t prim, int n,
                          const dnnl_exec_arg_t *args) {
    dnnl_status_t st = dnnl_primitive_execute(prim, d->stream, n, args);
    if (st == dnnl_success)
        st = dnnl_stream_wait(d->stream);
    return st;
}

/* Weight reorders are a few KB: run them on the calling thread (ICV 1) instead of waking the
 * team for them (each wake-up is a scheduler round trip on a loaded machine). */
static dnnl_status_t exec_serial(nasc_cpu_dnnl *d, dnnl_primitive_t prim, int n,
                                 const dnnl_exec_arg_t *args) {
    const int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    const dnnl_status_t st = exec(d, prim, n, args);
    omp_set_num_threads(saved);
    return st;
}

typedef struct omp_icv {
    int saved;
} omp_icv;

static omp_icv icv_set(int nth) {
    omp_icv s = {omp_get_max_threads()};
    omp_set_num_threads(nth);
    return s;
}

static void icv_restore(omp_icv s) { omp_set_num_threads(s.saved); }

nasc_status nasc_cpu_dnnl_conv_fwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node) {
    nasc_cpu_dnnl *d = nasc_cpu_ctx_of(be)->dnnl;
    const nasc_tensor *x = node->src[0], *w = node->src[1], *b = node->src[2];
    const omp_icv icv = icv_set(be->n_threads);
    nasc_status rc = NASC_OK;
    dnnl_status_t st = dnnl_success;
    dnnl_entry *e = entry_get(d, g, DK_FWD, be->n_threads, node);
    if (!e) {
        rc = nasc_graph_status(g);
        goto done;
    }
    const size_t wb = e->wreorder ? nasc_cpu_align64(e->w_prim_bytes) : 0;
    char *ws = nasc_cpu_scratch(be, g, wb + e->scratch_bytes);
    if (!ws) {
        rc = nasc_graph_status(g);
        goto done;
    }
    dnnl_memory_set_data_handle(e->m_w_user, w->data);
    if (e->wreorder) {
        dnnl_memory_set_data_handle(e->m_w_prim, ws);
        const dnnl_exec_arg_t ra[] = {{DNNL_ARG_FROM, e->m_w_user}, {DNNL_ARG_TO, e->m_w_prim}};
        if ((st = exec_serial(d, e->wreorder, 2, ra)) != dnnl_success) {
            rc = dnnl_fail(g, "weights reorder", st);
            goto done;
        }
    }
    dnnl_memory_set_data_handle(e->m_act_in, x->data);
    dnnl_memory_set_data_handle(e->m_act_out, node->data);
    dnnl_exec_arg_t args[5];
    int n = 0;
    args[n++] = (dnnl_exec_arg_t){DNNL_ARG_SRC, e->m_act_in};
    args[n++] = (dnnl_exec_arg_t){DNNL_ARG_WEIGHTS, e->wreorder ? e->m_w_prim : e->m_w_user};
    args[n++] = (dnnl_exec_arg_t){DNNL_ARG_DST, e->m_act_out};
    if (b) {
        dnnl_memory_set_data_handle(e->m_bias, b->data);
        args[n++] = (dnnl_exec_arg_t){DNNL_ARG_BIAS, e->m_bias};
    }
    if (e->m_scratch) {
        dnnl_memory_set_data_handle(e->m_scratch, ws + wb);
        args[n++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, e->m_scratch};
    }
    if ((st = exec(d, e->conv, n, args)) != dnnl_success)
        rc = dnnl_fail(g, "forward", st);
done:
    icv_restore(icv);
    return rc;
}

static nasc_status bwd_data(nasc_backend *be, nasc_graph *g, nasc_tensor *node) {
    nasc_cpu_dnnl *d = nasc_cpu_ctx_of(be)->dnnl;
    nasc_tensor *x = node->src[0], *w = node->src[1];
    dnnl_status_t st;
    dnnl_entry *e = entry_get(d, g, DK_BWD_DATA, be->n_threads, node);
    if (!e)
        return nasc_graph_status(g);
    const size_t wb = e->wreorder ? nasc_cpu_align64(e->w_prim_bytes) : 0;
    const size_t ob = nasc_cpu_align64(e->out_bytes);
    char *ws = nasc_cpu_scratch(be, g, wb + ob + e->scratch_bytes);
    if (!ws)
        return nasc_graph_status(g);
    dnnl_memory_set_data_handle(e->m_w_user, w->data);
    if (e->wreorder) {
        dnnl_memory_set_data_handle(e->m_w_prim, ws);
        const dnnl_exec_arg_t ra[] = {{DNNL_ARG_FROM, e->m_w_user}, {DNNL_ARG_TO, e->m_w_prim}};
        if ((st = exec_serial(d, e->wreorder, 2, ra)) != dnnl_success)
            return dnnl_fail(g, "weights reorder", st);
    }
    float *dsrc = (float *)(ws + wb);
    dnnl_memory_set_data_handle(e->m_act_in, node->grad);
    dnnl_memory_set_data_handle(e->m_act_out, dsrc);
    dnnl_exec_arg_t args[4];
    int n = 0;
    args[n++] = (dnnl_exec_arg_t){DNNL_ARG_DIFF_DST, e->m_act_in};
    args[n++] = (dnnl_exec_arg_t){DNNL_ARG_WEIGHTS, e->wreorder ? e->m_w_prim : e->m_w_user};
    args[n++] = (dnnl_exec_arg_t){DNNL_ARG_DIFF_SRC, e->m_act_out};
    if (e->m_scratch) {
        dnnl_memory_set_data_handle(e->m_scratch, ws + wb + ob);
        args[n++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, e->m_scratch};
    }
    if ((st = exec(d, e->conv, n, args)) != dnnl_success)
        return dnnl_fail(g, "backward data", st);
    nasc_cpu_add_into(x->grad, dsrc, nasc_n(x), be->n_threads);
    return NASC_OK;
}

static nasc_status bwd_weights(nasc_backend *be, nasc_graph *g, nasc_tensor *node) {
    nasc_cpu_dnnl *d = nasc_cpu_ctx_of(be)->dnnl;
    nasc_tensor *x = node->src[0], *w = node->src[1], *b = node->src[2];
    dnnl_status_t st;
    dnnl_entry *e = entry_get(d, g, DK_BWD_WEIGHTS, be->n_threads, node);
    if (!e)
        return nasc_graph_status(g);
    const size_t wpb = nasc_cpu_align64(e->w_prim_bytes);
    const size_t wub = e->wreorder ? nasc_cpu_align64(nasc_n(w) * sizeof(float)) : 0;
    const size_t bb = b ? nasc_cpu_align64((size_t)w->ne[0] * sizeof(float)) : 0;
    char *ws = nasc_cpu_scratch(be, g, wpb + wub + bb + e->scratch_bytes);
    if (!ws)
        return nasc_graph_status(g);
    dnnl_memory_set_data_handle(e->m_act_in, x->data);
    dnnl_memory_set_data_handle(e->m_act_out, node->grad);
    dnnl_memory_set_data_handle(e->m_w_prim, ws);
    dnnl_exec_arg_t args[5];
    int n = 0;
    args[n++] = (dnnl_exec_arg_t){DNNL_ARG_SRC, e->m_act_in};
    args[n++] = (dnnl_exec_arg_t){DNNL_ARG_DIFF_DST, e->m_act_out};
    args[n++] = (dnnl_exec_arg_t){DNNL_ARG_DIFF_WEIGHTS, e->m_w_prim};
    float *dbias = (float *)(ws + wpb + wub);
    if (b) {
        dnnl_memory_set_data_handle(e->m_bias, dbias);
        args[n++] = (dnnl_exec_arg_t){DNNL_ARG_DIFF_BIAS, e->m_bias};
    }
    if (e->m_scratch) {
        dnnl_memory_set_data_handle(e->m_scratch, ws + wpb + wub + bb);
        args[n++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, e->m_scratch};
    }
    if ((st = exec(d, e->conv, n, args)) != dnnl_success)
        return dnnl_fail(g, "backward weights", st);
    const float *dw = (const float *)ws;
    if (e->wreorder) {
        dnnl_memory_set_data_handle(e->m_w_user, ws + wpb);
        const dnnl_exec_arg_t ra[] = {{DNNL_ARG_FROM, e->m_w_prim}, {DNNL_ARG_TO, e->m_w_user}};
        if ((st = exec_serial(d, e->wreorder, 2, ra)) != dnnl_success)
            return dnnl_fail(g, "weights reorder", st);
        dw = (const float *)(ws + wpb);
    }
    if (w->grad)
        for (size_t i = 0; i < nasc_n(w); i++)
            w->grad[i] += dw[i];
    if (b && b->grad)
        for (int k = 0; k < w->ne[0]; k++)
            b->grad[k] += dbias[k];
    return NASC_OK;
}

nasc_status nasc_cpu_dnnl_conv_bwd_part(nasc_backend *be, nasc_graph *g, nasc_tensor *node,
                                        bool data, bool weights) {
    nasc_tensor *x = node->src[0], *w = node->src[1], *b = node->src[2];
    const omp_icv icv = icv_set(be->n_threads);
    nasc_status rc = NASC_OK;
    if (data && x->grad)
        rc = bwd_data(be, g, node);
    if (rc == NASC_OK && weights && (w->grad || (b && b->grad)))
        rc = bwd_weights(be, g, node);
    icv_restore(icv);
    return rc;
}

nasc_status nasc_cpu_dnnl_conv_bwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node) {
    return nasc_cpu_dnnl_conv_bwd_part(be, g, node, true, true);
}

bool nasc_cpu_dnnl_jit(nasc_backend *be, nasc_graph *g, const nasc_tensor *node, int kind) {
    nasc_cpu_dnnl *d = nasc_cpu_ctx_of(be)->dnnl;
    if (!d)
        return false;
    const omp_icv icv = icv_set(be->n_threads);
    const dnnl_entry *e = entry_get(d, g, kind, be->n_threads, node);
    icv_restore(icv);
    return e && e->jit;
}

#else /* !NASC_HAVE_DNNL */

nasc_status nasc_cpu_dnnl_init(nasc_cpu_ctx *ctx, nasc_err *err) {
    (void)err;
    ctx->dnnl = NULL;
    return NASC_OK;
}

void nasc_cpu_dnnl_free(nasc_cpu_ctx *ctx) { (void)ctx; }

nasc_status nasc_cpu_dnnl_conv_fwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node) {
    (void)be;
    (void)node;
    return nasc_graph_errorf(g, NASC_ERR_UNSUPPORTED, "conv2d: built without oneDNN");
}

nasc_status nasc_cpu_dnnl_conv_bwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node) {
    (void)be;
    (void)node;
    return nasc_graph_errorf(g, NASC_ERR_UNSUPPORTED, "conv2d: built without oneDNN");
}

nasc_status nasc_cpu_dnnl_conv_bwd_part(nasc_backend *be, nasc_graph *g, nasc_tensor *node,
                                        bool data, bool weights) {
    (void)data;
    (void)weights;
    return nasc_cpu_dnnl_conv_bwd(be, g, node);
}

bool nasc_cpu_dnnl_jit(nasc_backend *be, nasc_graph *g, const nasc_tensor *node, int kind) {
    (void)be;
    (void)g;
    (void)node;
    (void)kind;
    return false;
}

#endif
