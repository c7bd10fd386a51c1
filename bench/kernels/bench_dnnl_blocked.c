/* bench_dnnl_blocked.c — oneDNN's depthwise convolution in its own blocked layout (nChw16c), for
 * the layout question in docs/ARCH.md (Layout): would a blocked activation layout let a library
 * kernel beat nasc's NHWC kernels? (For C = 16, nChw16c and NHWC are the same bytes.)
 *
 * Times forward, backward-data and backward-weights of a depthwise KxK convolution (stride 1,
 * "same" padding, dilation d) with activations in nChw16c and weights in whatever layout oneDNN
 * picks; no reorders are timed. Minimum over iterations, like bench_kernels. Prints lines
 *   op=dw3x3 C=16 fwd_ms=... bwdd_ms=... bwdw_ms=... layout=nChw16c
 *
 *   bench_dnnl_blocked [--threads 2] [--batch 64] [--hw 28] [--channels 16,32,64] [--iters 20]
 */
#if !defined(NASC_HAVE_DNNL) && defined(__has_include)
#if __has_include(<dnnl.h>)
#define NASC_HAVE_DNNL 1
#endif
#endif
#ifdef NASC_HAVE_DNNL
#include <dnnl.h>
#include <omp.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

#ifdef NASC_HAVE_DNNL
#define OK(call)                                                                                   \
    do {                                                                                           \
        dnnl_status_t st_ = (call);                                                                \
        if (st_ != dnnl_success) {                                                                 \
            fprintf(stderr, "bench_dnnl_blocked: %s failed (%d)\n", #call, (int)st_);              \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

static dnnl_memory_t mem_for(const dnnl_memory_desc_t *md, dnnl_engine_t eng) {
    dnnl_memory_t m;
    OK(dnnl_memory_create(&m, md, eng, DNNL_MEMORY_ALLOCATE));
    void *h;
    OK(dnnl_memory_get_data_handle(m, &h));
    memset(h, 0, dnnl_memory_desc_get_size(md)); /* touch the pages */
    float *f = h;
    for (size_t i = 0; i < dnnl_memory_desc_get_size(md) / sizeof(float); i += 7)
        f[i] = (float)(i % 13) * 0.01f;
    return m;
}

static double time_prim(dnnl_primitive_t p, dnnl_stream_t s, int nargs,
                        const dnnl_exec_arg_t *args, int iters) {
    double best = 1e30;
    for (int it = -2; it < iters; it++) {
        const double t0 = now_ms();
        OK(dnnl_primitive_execute(p, s, nargs, args));
        OK(dnnl_stream_wait(s));
        const double t = now_ms() - t0;
        if (it >= 0 && t < best)
            best = t;
    }
    return best;
}

static void run(dnnl_engine_t eng, dnnl_stream_t s, const char *name, int N, int C, int HW,
                int K, int D, int iters) {
    const int pad = D * (K - 1) / 2;
    dnnl_memory_desc_t src, dst, wei, wany;
    const dnnl_dims_t sd = {N, C, HW, HW}, wd = {C, 1, 1, K, K};
    OK(dnnl_memory_desc_init_by_tag(&src, 4, sd, dnnl_f32, dnnl_nChw16c));
    OK(dnnl_memory_desc_init_by_tag(&dst, 4, sd, dnnl_f32, dnnl_nChw16c));
    OK(dnnl_memory_desc_init_by_tag(&wany, 5, wd, dnnl_f32, dnnl_format_tag_any));
    const dnnl_dims_t st = {1, 1}, dl = {D - 1, D - 1}, pd = {pad, pad};
    dnnl_convolution_desc_t fd, bd, wdsc;
    OK(dnnl_dilated_convolution_forward_desc_init(&fd, dnnl_forward_training,
                                                  dnnl_convolution_direct, &src, &wany, NULL,
                                                  &dst, st, dl, pd, pd));
    dnnl_primitive_desc_t fpd, bpd, wpd;
    OK(dnnl_primitive_desc_create(&fpd, &fd, NULL, eng, NULL));
    wei = *dnnl_primitive_desc_query_md(fpd, dnnl_query_weights_md, 0);
    OK(dnnl_dilated_convolution_backward_data_desc_init(&bd, dnnl_convolution_direct, &src, &wany,
                                                        &dst, st, dl, pd, pd));
    OK(dnnl_primitive_desc_create(&bpd, &bd, NULL, eng, fpd));
    OK(dnnl_dilated_convolution_backward_weights_desc_init(&wdsc, dnnl_convolution_direct, &src,
                                                           &wany, NULL, &dst, st, dl, pd, pd));
    OK(dnnl_primitive_desc_create(&wpd, &wdsc, NULL, eng, fpd));
    const dnnl_memory_desc_t *bw = dnnl_primitive_desc_query_md(bpd, dnnl_query_weights_md, 0);
    const dnnl_memory_desc_t *ww = dnnl_primitive_desc_query_md(wpd, dnnl_query_diff_weights_md, 0);
    dnnl_memory_t m_src = mem_for(&src, eng), m_dst = mem_for(&dst, eng);
    dnnl_memory_t m_wei = mem_for(&wei, eng), m_bwei = mem_for(bw, eng), m_dwei = mem_for(ww, eng);
    dnnl_memory_t m_dsrc = mem_for(&src, eng), m_ddst = mem_for(&dst, eng);
    dnnl_primitive_t pf, pb, pw;
    OK(dnnl_primitive_create(&pf, fpd));
    OK(dnnl_primitive_create(&pb, bpd));
    OK(dnnl_primitive_create(&pw, wpd));
    const dnnl_exec_arg_t af[] = {{DNNL_ARG_SRC, m_src}, {DNNL_ARG_WEIGHTS, m_wei},
                                  {DNNL_ARG_DST, m_dst}};
    const dnnl_exec_arg_t ab[] = {{DNNL_ARG_DIFF_DST, m_ddst}, {DNNL_ARG_WEIGHTS, m_bwei},
                                  {DNNL_ARG_DIFF_SRC, m_dsrc}};
    const dnnl_exec_arg_t aw[] = {{DNNL_ARG_SRC, m_src}, {DNNL_ARG_DIFF_DST, m_ddst},
                                  {DNNL_ARG_DIFF_WEIGHTS, m_dwei}};
    const double tf = time_prim(pf, s, 3, af, iters), tb = time_prim(pb, s, 3, ab, iters),
                 tw = time_prim(pw, s, 3, aw, iters);
    const char *impl = NULL;
    dnnl_primitive_desc_query(fpd, dnnl_query_impl_info_str, 0, &impl);
    printf("op=%s C=%d fwd_ms=%.4f bwdd_ms=%.4f bwdw_ms=%.4f layout=nChw16c impl=%s\n", name, C,
           tf, tb, tw, impl ? impl : "?");
    fflush(stdout);
    dnnl_primitive_destroy(pf);
    dnnl_primitive_destroy(pb);
    dnnl_primitive_destroy(pw);
    dnnl_memory_t ms[] = {m_src, m_dst, m_wei, m_bwei, m_dwei, m_dsrc, m_ddst};
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++)
        dnnl_memory_destroy(ms[i]);
    dnnl_primitive_desc_destroy(fpd);
    dnnl_primitive_desc_destroy(bpd);
    dnnl_primitive_desc_destroy(wpd);
}
#endif

int main(int argc, char **argv) {
    int threads = 2, N = 64, HW = 28, iters = 20, chans[8] = {16, 32, 64}, n_chans = 3;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--batch")) N = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--hw")) HW = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--iters")) iters = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--channels")) {
            n_chans = 0;
            for (char *s = argv[i + 1]; *s && n_chans < 8;) {
                chans[n_chans++] = (int)strtol(s, &s, 10);
                if (*s == ',')
                    s++;
            }
        } else {
            fprintf(stderr, "bench_dnnl_blocked: unknown option %s\n", argv[i]);
            return 2;
        }
    }
#ifdef NASC_HAVE_DNNL
    omp_set_num_threads(threads);
    dnnl_engine_t eng;
    dnnl_stream_t s;
    OK(dnnl_engine_create(&eng, dnnl_cpu, 0));
    OK(dnnl_stream_create(&s, eng, dnnl_stream_default_flags));
    printf("# oneDNN depthwise in nChw16c: threads=%d batch=%d hw=%d iters=%d (min)\n", threads, N,
           HW, iters);
    static const struct { const char *n; int k, d; } cfg[] = {
        {"dw3x3", 3, 1}, {"dw5x5", 5, 1}, {"dw3x3_d2", 3, 2}, {"dw5x5_d2", 5, 2}};
    for (int ci = 0; ci < n_chans; ci++)
        for (size_t j = 0; j < sizeof cfg / sizeof cfg[0]; j++)
            run(eng, s, cfg[j].n, N, chans[ci], HW, cfg[j].k, cfg[j].d, iters);
    dnnl_stream_destroy(s);
    dnnl_engine_destroy(eng);
    return 0;
#else
    (void)threads;
    (void)N;
    (void)HW;
    (void)iters;
    (void)chans;
    (void)n_chans;
    fprintf(stderr, "bench_dnnl_blocked: built without oneDNN\n");
    return 77;
#endif
}
