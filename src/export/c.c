/* c.c — the dependency-free C export (export_c.h): float32 and int8 code generation.
 *
 * One pass over the inference graph plans the static arena (first fit by liveness), a second
 * emits NAME.c: the constant data, the kernels the graph uses (each a few plain loops, NCHW,
 * stated below), and NAME_predict as one kernel call per node with every size a literal. For
 * int8, calibration runs the float graph (nasc_export_graph_observe) over the calibration images
 * and records each value's range; quantization parameters follow from it (see export_c.h). */
#include "nasc/export_c.h"

#include "nasc/arena.h"
#include "nasc/weights.h"

#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static size_t numel(nasc_export_shape s) { return (size_t)s.c * s.h * s.w; }

/* ---- quantization parameters ---- */

/* Fixed point of the add / concat / pool requantization: a multiplier M is round(M * 2^QSHIFT). */
enum { QSHIFT = 20 };

typedef struct qparam {
    float s;   /* scale: real = s * (q - zp) */
    int zp;    /* zero point in [-128, 127] */
} qparam;

typedef struct calib {
    float *lo, *hi; /* per value, over all calibration images */
} calib;

static void observe(int v, const float *x, size_t n, void *user) {
    calib *c = user;
    for (size_t i = 0; i < n; i++) {
        c->lo[v] = x[i] < c->lo[v] ? x[i] : c->lo[v];
        c->hi[v] = x[i] > c->hi[v] ? x[i] : c->hi[v];
    }
}

/* Range [lo, hi] (widened to hold 0, so zero padding is exact) -> scale and zero point. */
static qparam qparam_from(float lo, float hi) {
    lo = lo < 0.0f ? lo : 0.0f;
    hi = hi > 0.0f ? hi : 0.0f;
    qparam q = {.s = (hi - lo) / 255.0f, .zp = 0};
    if (!(q.s > 0.0f) || !isfinite(q.s))
        q.s = 1.0f;
    long zp = lroundf(-128.0f - lo / q.s);
    q.zp = (int)(zp < -128 ? -128 : zp > 127 ? 127 : zp);
    return q;
}

static int clamp8(long v) { return (int)(v < -128 ? -128 : v > 127 ? 127 : v); }

/* M (> 0) as m * 2^-n with m in [2^30, 2^31), 1 <= n <= 62; m = 0 when M is below 2^-31. */
static void fixed_mult(double M, int32_t *m, int *n) {
    int e;
    double f = frexp(M, &e); /* M = f * 2^e, f in [0.5, 1) */
    long long mm = llround(f * 2147483648.0);
    int nn = 31 - e;
    if (mm == 2147483648LL) {
        mm /= 2;
        nn--;
    }
    if (M <= 0.0 || nn > 62) {
        mm = 0;
        nn = 1;
    }
    if (nn < 1) { /* M >= 2^30: cannot happen with calibrated ranges; saturate */
        mm = 2147483647LL;
        nn = 1;
    }
    *m = (int32_t)mm;
    *n = nn;
}

/* ---- arena planning ---- */

typedef struct plan {
    size_t *off;    /* per value: byte offset in the arena (SIZE_MAX: not in the arena) */
    size_t bytes;   /* arena size */
    size_t acc_hw;  /* int8: the int32 accumulator scratch of the widest conv output plane */
} plan;

static size_t align16(size_t x) { return (x + 15) & ~(size_t)15; }

/* First fit in node order: node i's output is placed while its inputs are still live, then the
 * values node i read for the last time are released. The input (value 0) is the caller's pixels
 * (float) or placed like the others (int8); `direct` marks the output written straight into the
 * caller's logits. */
static nasc_status plan_arena(const nasc_export_graph *xg, size_t elem, bool input_in_arena,
                              bool direct_out, plan *p, nasc_err *err) {
    const int nv = xg->n_values;
    int *last = nasc_malloc((size_t)nv * sizeof *last);
    size_t *size = nasc_malloc((size_t)nv * sizeof *size);
    bool *live = nasc_calloc((size_t)nv, sizeof *live);
    p->off = nasc_malloc((size_t)nv * sizeof *p->off);
    if (!last || !size || !live || !p->off) {
        nasc_free(last);
        nasc_free(size);
        nasc_free(live);
        nasc_free(p->off);
        p->off = NULL;
        return nasc_errorf(err, NASC_ERR_NOMEM, "export c: out of memory");
    }
    for (int v = 0; v < nv; v++) {
        last[v] = v - 1;
        size[v] = align16(numel(xg->shape[v]) * elem);
        p->off[v] = SIZE_MAX;
    }
    for (int i = 0; i < xg->n_nodes; i++)
        for (int k = 0; k < xg->nodes[i].n_in; k++)
            last[xg->nodes[i].in[k]] = i;
    p->bytes = 0;
    for (int v = input_in_arena ? 0 : 1; v < nv; v++) {
        if (v == nv - 1 && direct_out)
            break;
        /* lowest offset where size[v] fits between the live values */
        size_t best = 0;
        for (bool moved = true; moved;) {
            moved = false;
            for (int u = 0; u < v; u++)
                if (live[u] && best < p->off[u] + size[u] && p->off[u] < best + size[v]) {
                    best = p->off[u] + size[u];
                    moved = true;
                }
        }
        p->off[v] = best;
        live[v] = true;
        if (best + size[v] > p->bytes)
            p->bytes = best + size[v];
        /* value v is written by node v-1; release what that node read for the last time */
        const int i = v - 1;
        if (i >= 0)
            for (int u = 0; u < v; u++)
                if (live[u] && last[u] == i)
                    live[u] = false;
    }
    nasc_free(last);
    nasc_free(size);
    nasc_free(live);
    return NASC_OK;
}

/* ---- emitting ---- */

typedef struct gen {
    FILE *f;
    const nasc_export_graph *xg;
    const char *name;
    bool int8;
    plan pl;
    qparam *q;      /* int8: per value */
    size_t n_const; /* bytes of constant data emitted */
} gen;

/* A pointer expression for value v as the kernels see it. */
static void val(gen *g, int v, char *buf, size_t n) {
    if (v == 0 && !g->int8)
        snprintf(buf, n, "pixels");
    else if (g->pl.off[v] == SIZE_MAX)
        snprintf(buf, n, "logits");
    else
        snprintf(buf, n, "(%s *)(arena + %zu)", g->int8 ? "int8_t" : "float", g->pl.off[v]);
}

static void emit_floats(gen *g, const char *arr, const float *x, size_t n) {
    fprintf(g->f, "static const float %s[%zu] = {", arr, n ? n : 1);
    for (size_t i = 0; i < n; i++)
        fprintf(g->f, "%s%af,", i % 6 ? " " : "\n    ", (double)x[i]);
    fprintf(g->f, "%s};\n", n ? "\n" : "0");
    g->n_const += (n ? n : 1) * sizeof(float);
}

/* ---- kernels, emitted once each if the graph uses them; layout NCHW for one image ----
 *
 * The kernels that float and int8 share are written once as a template (kernel_tmpl): "$k" is
 * replaced by slot k of the precision, e.g. $T the element type (float, int8_t), $A the
 * accumulator type (float, int32_t), $X how an input element enters the sum (x, x - zx) and $E
 * the int8 requantization of the result. The float instances are the plain kernels, the int8
 * ones add zero points and requantize; the arithmetic of each is what it was as two copies. */

typedef struct slot {
    char key;
    const char *f, *q; /* float, int8 */
} slot;

/* Conv: x (C,H,W), w (K,C/G,KH,KW), b (K) -> y (K,OH,OW); loops k, c, kh, kw, oh, ow, the valid
 * output columns of each tap computed once (no bounds test in the inner loop). int8: y = zy +
 * rq(b + sum w * (x - zx), m[k], n[k]) via the int32 scratch acc (OH*OW). */
static const char *const k_conv =
    "/* x (C,H,W)$C, w (K,C/G,KH,KW), b (K) -> y (K,OH,OW);\n"
    " * loops k, c, kh, kw, oh, ow$D */\n"
    "static void conv$S(const $T *x, int C, int H, int W,$Z $T *y, int K, int OH,\n"
    "                 int OW,$Y const $T *w, const $B *b,$M int KH, int KW, int sh, int sw,\n"
    "                 int ph, int pw, int dh, int dw, int G$R) {\n"
    "    const int Cg = C / G, Kg = K / G;\n"
    "    int k, c, i, j, oh, ow;\n"
    "    for (k = 0; k < K; k++) {\n"
    "        $T *yk = y + (long)k * OH * OW;\n"
    "        $A *ak = $P;\n"
    "        const int g = k / Kg;\n"
    "        for (i = 0; i < OH * OW; i++)\n"
    "            ak[i] = b[k];\n"
    "        for (c = 0; c < Cg; c++) {\n"
    "            const $T *xc = x + (long)(g * Cg + c) * H * W;\n"
    "            for (i = 0; i < KH; i++)\n"
    "                for (j = 0; j < KW; j++) {\n"
    "                    const $A wv = w[((k * Cg + c) * KH + i) * KW + j];\n"
    "                    const int d = pw - j * dw, e = W - 1 + pw - j * dw;\n"
    "                    const int o0 = d <= 0 ? 0 : (d + sw - 1) / sw;\n"
    "                    const int o1 = e < 0 ? 0 : (e / sw + 1 < OW ? e / sw + 1 : OW);\n"
    "                    for (oh = 0; oh < OH; oh++) {\n"
    "                        const int ih = oh * sh - ph + i * dh;\n"
    "                        const $T *xr;\n"
    "                        $A *ar;\n"
    "                        if (ih < 0 || ih >= H)\n"
    "                            continue;\n"
    "                        xr = xc + (long)ih * W;\n"
    "                        ar = ak + (long)oh * OW;\n"
    "                        for (ow = o0; ow < o1; ow++)\n"
    "                            ar[ow] += wv * $X;\n"
    "                    }\n"
    "                }\n"
    "        }\n"
    "$E"
    "    }\n"
    "}\n\n";
static const slot conv_slots[] = {
    {'C', "", " int8 with zero point zx"},
    {'D', "", ";\n * y = zy + rq(b + sum w * (x - zx), m[k], n[k]); acc (OH*OW): int32 scratch"},
    {'S', "", "_q"},
    {'Z', "", " int zx,"},
    {'Y', "", " int zy,"},
    {'B', "float", "int32_t"},
    {'M', "", " const int32_t *m,\n                 const unsigned char *n,"},
    {'R', "", ", int32_t *acc"},
    {'A', "float", "int32_t"},
    {'P', "yk", "acc"},
    {'X', "xr[ow * sw - d]", "(xr[ow * sw - d] - zx)"},
    {'E', "",
     "        for (i = 0; i < OH * OW; i++)\n"
     "            yk[i] = sat8(zy + rq(ak[i], m[k], n[k]));\n"},
};

/* Pools: window (kh,kw), stride, padding; max pads with -inf (padding never wins: int8 max keeps
 * the input's scale), avg divides by the whole window (cip) or the valid cells; int8 avg: zy +
 * round(sum (x - zx) * m / (cnt 2^20)). */
static const char *const k_pool =
    "static void pool$S(const $T *x, int C, int H, int W,$Z $T *y, int OH, int OW,$Y int kh,\n"
    "                 int kw, int sh, int sw, int ph, int pw, int is_max, int cip) {\n"
    "    int c, oh, ow, i, j;\n"
    "    for (c = 0; c < C; c++)\n"
    "        for (oh = 0; oh < OH; oh++)\n"
    "            for (ow = 0; ow < OW; ow++) {\n"
    "                $A acc = is_max ? $I;\n"
    "                int cnt = 0;\n"
    "                for (i = 0; i < kh; i++) {\n"
    "                    const int ih = oh * sh - ph + i;\n"
    "                    if (ih < 0 || ih >= H)\n"
    "                        continue;\n"
    "                    for (j = 0; j < kw; j++) {\n"
    "                        const int iw = ow * sw - pw + j;\n"
    "                        $A v;\n"
    "                        if (iw < 0 || iw >= W)\n"
    "                            continue;\n"
    "                        v = x[((long)c * H + ih) * W + iw];\n"
    "                        acc = is_max ? (v > acc ? v : acc) : acc + $X;\n"
    "                        cnt++;\n"
    "                    }\n"
    "                }\n"
    "$E"
    "                y[((long)c * OH + oh) * OW + ow] = $O;\n"
    "            }\n"
    "}\n\n";
static const slot pool_slots[] = {
    {'S', "", "_q"},
    {'Z', "", " int zx,"},
    {'Y', "", "\n                 int zy, int64_t m,"},
    {'A', "float", "int32_t"},
    {'I', "-HUGE_VALF : 0.0f", "-128 : 0"},
    {'X', "v", "(v - zx)"},
    {'E',
     "                if (!is_max)\n"
     "                    acc /= (float)(cip ? kh * kw : cnt);\n",
     "                if (!is_max) {\n"
     "                    const int64_t d = (int64_t)(cip ? kh * kw : cnt) << 20;\n"
     "                    const int64_t v = acc * m;\n"
     "                    acc = zy + (int32_t)(v >= 0 ? (v + d / 2) / d : -((-v + d / 2) / d));\n"
     "                }\n"},
    {'O', "acc", "sat8(acc)"},
};

/* Global average pool: the mean of each channel; int8: zy + round(sum (x - zx) * m / (HW 2^20)). */
static const char *const k_gap =
    "static void gap$S(const $T *x, int C, int HW,$Z $T *y) {\n"
    "$D"
    "    int c, i;\n"
    "    for (c = 0; c < C; c++) {\n"
    "        $A acc = 0$V;\n"
    "        for (i = 0; i < HW; i++)\n"
    "            acc += $X;\n"
    "$E"
    "    }\n"
    "}\n\n";
static const slot gap_slots[] = {
    {'S', "", "_q"},
    {'Z', "", " int zx, int64_t m, int zy,"},
    {'D', "", "    const int64_t d = (int64_t)HW << 20;\n"},
    {'A', "float", "int64_t"},
    {'V', ".0f", ", v"},
    {'X', "x[(long)c * HW + i]", "x[(long)c * HW + i] - zx"},
    {'E', "        y[c] = acc / (float)HW;\n",
     "        v = acc * m;\n"
     "        y[c] = sat8(zy + (int32_t)(v >= 0 ? (v + d / 2) / d : -((-v + d / 2) / d)));\n"},
};

/* Linear: x (F), w (K,F), b (K) -> y (K). int8: int32 accumulators; out_f: logits as float
 * acc * fs[k] (the last layer), else int8 zy + rq(acc, m[k], n[k]). */
static const char *const k_linear =
    "/* x (F)$C, w (K,F)$W, b (K)$B -> y (K)$D */\n"
    "static void linear$S(const $T *x, int F,$Z const $T *w, const $A *b, int K,$M $T *y$R) {\n"
    "    int k, f;\n"
    "    for (k = 0; k < K; k++) {\n"
    "        $A acc = b[k];\n"
    "        for (f = 0; f < F; f++)\n"
    "            acc += w[(long)k * F + f] * $X;\n"
    "$E"
    "    }\n"
    "}\n\n";
static const slot linear_slots[] = {
    {'C', "", " int8"},
    {'W', "", " int8"},
    {'B', "", " int32: int32 accumulators"},
    {'D', "", ";\n * out_f: logits as float acc * fs[k] (the last layer), else int8 zy + "
              "rq(acc, m[k], n[k])"},
    {'S', "", "_q"},
    {'Z', "", " int zx,"},
    {'A', "float", "int32_t"},
    {'M', "", "\n                     const int32_t *m, const unsigned char *n, int zy,"},
    {'R', "", ",\n                     const float *fs, float *out_f"},
    {'X', "x[f]", "(x[f] - zx)"},
    {'E', "        y[k] = acc;\n",
     "        if (out_f)\n"
     "            out_f[k] = (float)acc * fs[k];\n"
     "        else\n"
     "            y[k] = sat8(zy + rq(acc, m[k], n[k]));\n"},
};

static const char *const k_rq =
    "/* Rounded acc * m / 2^n (floor of the rounded value for negatives: no implementation-defined\n"
    " * shift of a negative number). */\n"
    "static int32_t rq(int64_t acc, int32_t m, int n) {\n"
    "    const int64_t v = acc * m + ((int64_t)1 << (n - 1));\n"
    "    return (int32_t)(v >= 0 ? v >> n : -((-v + ((int64_t)1 << n) - 1) >> n));\n"
    "}\n\n";
static const char *const k_sat8 =
    "static int8_t sat8(int32_t v) { return (int8_t)(v < -128 ? -128 : v > 127 ? 127 : v); }\n\n";
static const char *const k_affine_f =
    "/* y[c] = x[c] * w[c] + b[c] over (C, HW) */\n"
    "static void affine(const float *x, int C, int HW, const float *w, const float *b, float *y) {\n"
    "    int c, i;\n"
    "    for (c = 0; c < C; c++)\n"
    "        for (i = 0; i < HW; i++)\n"
    "            y[c * HW + i] = x[c * HW + i] * w[c] + b[c];\n"
    "}\n\n";
static const char *const k_relu_f =
    "static void relu(const float *x, int n, float *y) {\n"
    "    int i;\n"
    "    for (i = 0; i < n; i++)\n"
    "        y[i] = x[i] > 0.0f ? x[i] : 0.0f;\n"
    "}\n\n";
static const char *const k_sigmoid_f =
    "static void sigmoid(const float *x, int n, float *y) {\n"
    "    int i;\n"
    "    for (i = 0; i < n; i++)\n"
    "        y[i] = 1.0f / (1.0f + expf(-x[i]));\n"
    "}\n\n";
static const char *const k_tanh_f =
    "static void tanh_(const float *x, int n, float *y) {\n"
    "    int i;\n"
    "    for (i = 0; i < n; i++)\n"
    "        y[i] = tanhf(x[i]);\n"
    "}\n\n";
static const char *const k_add_f =
    "static void add(const float *a, const float *b, int n, float *y) {\n"
    "    int i;\n"
    "    for (i = 0; i < n; i++)\n"
    "        y[i] = a[i] + b[i];\n"
    "}\n\n";
static const char *const k_scale_f =
    "static void scale(const float *x, int n, float s, float *y) {\n"
    "    int i;\n"
    "    for (i = 0; i < n; i++)\n"
    "        y[i] = s * x[i];\n"
    "}\n\n";
/* Typed copies (float or int8_t): "$T" is replaced. */
static const char *const k_slice_t =
    "/* channels [c0, c0+OC), rows h0::sh, cols w0::sw */\n"
    "static void slice_$N(const $T *x, int H, int W, $T *y, int OC, int OH, int OW, int c0,\n"
    "                     int h0, int w0, int sh, int sw) {\n"
    "    int c, i, j;\n"
    "    for (c = 0; c < OC; c++)\n"
    "        for (i = 0; i < OH; i++)\n"
    "            for (j = 0; j < OW; j++)\n"
    "                y[((long)c * OH + i) * OW + j] =\n"
    "                    x[((long)(c0 + c) * H + h0 + i * sh) * W + w0 + j * sw];\n"
    "}\n\n";
static const char *const k_shuffle_t =
    "/* out channel i*G + g = in channel g*(C/G) + i */\n"
    "static void shuffle_$N(const $T *x, int C, int HW, int G, $T *y) {\n"
    "    const int Cg = C / G;\n"
    "    int g, i;\n"
    "    for (g = 0; g < G; g++)\n"
    "        for (i = 0; i < Cg; i++)\n"
    "            memcpy(y + (long)(i * G + g) * HW, x + (long)(g * Cg + i) * HW,\n"
    "                   (size_t)HW * sizeof *y);\n"
    "}\n\n";

/* int8 kernels besides conv_q (which brings rq and sat8). */
static const char *const k_quant_in =
    "/* pixels in [0,1] -> int8 with scale 1/255, zero point -128 */\n"
    "static void quant_in(const float *p, int n, int8_t *y) {\n"
    "    int i;\n"
    "    for (i = 0; i < n; i++) {\n"
    "        const float v = p[i] * 255.0f + 0.5f;\n"
    "        const int q = v <= 0.0f ? 0 : v >= 255.0f ? 255 : (int)v;\n"
    "        y[i] = (int8_t)(q - 128);\n"
    "    }\n"
    "}\n\n";
static const char *const k_lut =
    "/* y = t[x + 128]; t has 256 entries per channel (C channels of HW; C = 1 for one table) */\n"
    "static void lut(const int8_t *x, int C, int HW, const int8_t *t, int8_t *y) {\n"
    "    int c, i;\n"
    "    for (c = 0; c < C; c++)\n"
    "        for (i = 0; i < HW; i++)\n"
    "            y[(long)c * HW + i] = t[c * 256 + x[(long)c * HW + i] + 128];\n"
    "}\n\n";
static const char *const k_add_q =
    "/* y = zy + round(((a - za) * ma + (b - zb) * mb) / 2^20) */\n"
    "static void add_q(const int8_t *a, int za, int64_t ma, const int8_t *b, int zb, int64_t mb,\n"
    "                  int n, int zy, int8_t *y) {\n"
    "    int i;\n"
    "    for (i = 0; i < n; i++) {\n"
    "        const int64_t v = (a[i] - za) * ma + (b[i] - zb) * mb + ((int64_t)1 << 19);\n"
    "        y[i] = sat8(zy + (int32_t)(v >= 0 ? v >> 20 : -((-v + ((int64_t)1 << 20) - 1) >> 20)));\n"
    "    }\n"
    "}\n\n";
static const char *const k_requant_q =
    "/* y = zy + round((x - zx) * m / 2^20) */\n"
    "static void requant(const int8_t *x, int n, int zx, int64_t m, int zy, int8_t *y) {\n"
    "    int i;\n"
    "    for (i = 0; i < n; i++) {\n"
    "        const int64_t v = (x[i] - zx) * m + ((int64_t)1 << 19);\n"
    "        y[i] = sat8(zy + (int32_t)(v >= 0 ? v >> 20 : -((-v + ((int64_t)1 << 20) - 1) >> 20)));\n"
    "    }\n"
    "}\n\n";
/* Writes kernel template tmpl for g's precision: "$T" is the element type, "$N" the name suffix
 * (f, q), and "$k" for a key k of slots that slot's text for the precision. */
static void emit_tmpl(gen *g, const char *tmpl, const slot *slots, size_t n_slots) {
    for (const char *p = tmpl; *p; p++) {
        if (p[0] != '$' || !p[1]) {
            fputc(*p, g->f);
            continue;
        }
        const char key = *++p;
        const char *text = key == 'T' ? (g->int8 ? "int8_t" : "float")
                           : key == 'N' ? (g->int8 ? "q" : "f")
                                        : NULL;
        for (size_t i = 0; !text && i < n_slots; i++)
            if (slots[i].key == key)
                text = g->int8 ? slots[i].q : slots[i].f;
        NASC_ASSERT(text); /* a key the template's slots do not define: a bug here */
        fputs(text, g->f);
    }
}
#define EMIT_TMPL(g, tmpl, slots) emit_tmpl((g), (tmpl), (slots), sizeof(slots) / sizeof(slots)[0])
#define EMIT_TYPED(g, tmpl) emit_tmpl((g), (tmpl), NULL, 0)

static bool uses(const nasc_export_graph *xg, nasc_export_op op) {
    for (int i = 0; i < xg->n_nodes; i++)
        if (xg->nodes[i].op == op)
            return true;
    return false;
}

/* ---- float ---- */

static void emit_float(gen *g) {
    const nasc_export_graph *xg = g->xg;
    FILE *f = g->f;
    /* weights: one array, node by node (w then b) */
    float *all = NULL;
    size_t *woff = nasc_calloc((size_t)xg->n_nodes, sizeof *woff);
    size_t n = 0;
    for (int i = 0; i < xg->n_nodes; i++) {
        const nasc_export_node *nd = &xg->nodes[i];
        woff[i] = n;
        if (nd->w)
            n += (size_t)nd->w_shape[0] * nd->w_shape[1] * nd->w_shape[2] * nd->w_shape[3];
        if (nd->b)
            n += (size_t)nd->w_shape[0];
    }
    all = nasc_malloc((n ? n : 1) * sizeof *all);
    n = 0;
    for (int i = 0; i < xg->n_nodes; i++) {
        const nasc_export_node *nd = &xg->nodes[i];
        if (nd->w) {
            const size_t m =
                (size_t)nd->w_shape[0] * nd->w_shape[1] * nd->w_shape[2] * nd->w_shape[3];
            memcpy(all + n, nd->w, m * sizeof *all);
            n += m;
        }
        if (nd->b) {
            memcpy(all + n, nd->b, (size_t)nd->w_shape[0] * sizeof *all);
            n += (size_t)nd->w_shape[0];
        }
    }
    emit_floats(g, "weights", all, n);
    nasc_free(all);
    fprintf(f, "\n/* the activation arena: values placed by liveness (NAME_ARENA_BYTES) */\n");
    fprintf(f, "static float arena_f[%zu];\n#define arena ((unsigned char *)arena_f)\n\n",
            g->pl.bytes / sizeof(float) ? g->pl.bytes / sizeof(float) : 1);

    if (uses(xg, NASC_EXPORT_OP_CONV))
        EMIT_TMPL(g, k_conv, conv_slots);
    if (uses(xg, NASC_EXPORT_OP_AFFINE))
        fputs(k_affine_f, f);
    if (uses(xg, NASC_EXPORT_OP_RELU))
        fputs(k_relu_f, f);
    if (uses(xg, NASC_EXPORT_OP_SIGMOID))
        fputs(k_sigmoid_f, f);
    if (uses(xg, NASC_EXPORT_OP_TANH))
        fputs(k_tanh_f, f);
    if (uses(xg, NASC_EXPORT_OP_ADD))
        fputs(k_add_f, f);
    if (uses(xg, NASC_EXPORT_OP_SCALE))
        fputs(k_scale_f, f);
    if (uses(xg, NASC_EXPORT_OP_MAXPOOL) || uses(xg, NASC_EXPORT_OP_AVGPOOL))
        EMIT_TMPL(g, k_pool, pool_slots);
    if (uses(xg, NASC_EXPORT_OP_GAP))
        EMIT_TMPL(g, k_gap, gap_slots);
    if (uses(xg, NASC_EXPORT_OP_LINEAR))
        EMIT_TMPL(g, k_linear, linear_slots);
    if (uses(xg, NASC_EXPORT_OP_SLICE))
        EMIT_TYPED(g, k_slice_t);
    if (uses(xg, NASC_EXPORT_OP_SHUFFLE))
        EMIT_TYPED(g, k_shuffle_t);

    fprintf(f, "int %s_predict(const float *pixels, float *logits) {\n", g->name);
    fprintf(f, "    int k, best = 0;\n");
    for (int i = 0; i < xg->n_nodes; i++) {
        const nasc_export_node *nd = &xg->nodes[i];
        const nasc_export_shape xs = xg->shape[nd->in[0]], ys = xg->shape[nd->out];
        char x[64], y[64], b[64];
        val(g, nd->in[0], x, sizeof x);
        val(g, nd->out, y, sizeof y);
        const size_t wo = woff[i];
        const size_t bo = nd->w ? wo + (size_t)nd->w_shape[0] * nd->w_shape[1] *
                                          nd->w_shape[2] * nd->w_shape[3]
                                : wo;
        const int ny = (int)numel(ys);
        fprintf(f, "    /* %d: %s %s -> (%d,%d,%d) */\n", i, nasc_export_op_name(nd->op), nd->name,
                ys.c, ys.h, ys.w);
        switch (nd->op) {
        case NASC_EXPORT_OP_CONV: {
            const nasc_conv2d_params *p = &nd->conv;
            fprintf(f,
                    "    conv(%s, %d, %d, %d, %s, %d, %d, %d, weights + %zu, weights + %zu, %d, %d, %d, %d, "
                    "%d, %d, %d, %d, %d);\n",
                    x, xs.c, xs.h, xs.w, y, ys.c, ys.h, ys.w, wo, bo, nd->w_shape[2],
                    nd->w_shape[3], p->stride[0], p->stride[1], p->pad[0], p->pad[1], p->dil[0],
                    p->dil[1], p->groups);
            break;
        }
        case NASC_EXPORT_OP_AFFINE:
            fprintf(f, "    affine(%s, %d, %d, weights + %zu, weights + %zu, %s);\n", x, xs.c, xs.h * xs.w, wo,
                    bo, y);
            break;
        case NASC_EXPORT_OP_RELU:
            fprintf(f, "    relu(%s, %d, %s);\n", x, ny, y);
            break;
        case NASC_EXPORT_OP_SIGMOID:
            fprintf(f, "    sigmoid(%s, %d, %s);\n", x, ny, y);
            break;
        case NASC_EXPORT_OP_TANH:
            fprintf(f, "    tanh_(%s, %d, %s);\n", x, ny, y);
            break;
        case NASC_EXPORT_OP_ADD:
            val(g, nd->in[1], b, sizeof b);
            fprintf(f, "    add(%s, %s, %d, %s);\n", x, b, ny, y);
            break;
        case NASC_EXPORT_OP_SCALE:
            fprintf(f, "    scale(%s, %d, %af, %s);\n", x, ny, (double)nd->scalar, y);
            break;
        case NASC_EXPORT_OP_MAXPOOL:
        case NASC_EXPORT_OP_AVGPOOL: {
            const nasc_pool2d_params *p = &nd->pool;
            fprintf(f, "    pool(%s, %d, %d, %d, %s, %d, %d, %d, %d, %d, %d, %d, %d, %d, %d);\n",
                    x, xs.c, xs.h, xs.w, y, ys.h, ys.w, p->k[0], p->k[1], p->stride[0],
                    p->stride[1], p->pad[0], p->pad[1], nd->op == NASC_EXPORT_OP_MAXPOOL,
                    (int)p->count_include_pad);
            break;
        }
        case NASC_EXPORT_OP_GAP:
            fprintf(f, "    gap(%s, %d, %d, %s);\n", x, xs.c, xs.h * xs.w, y);
            break;
        case NASC_EXPORT_OP_CONCAT: {
            size_t off = 0;
            for (int k = 0; k < nd->n_in; k++) {
                val(g, nd->in[k], b, sizeof b);
                const size_t len = numel(xg->shape[nd->in[k]]);
                fprintf(f, "    memcpy(%s + %zu, %s, %zu * sizeof(float));\n", y, off, b, len);
                off += len;
            }
            break;
        }
        case NASC_EXPORT_OP_SLICE: {
            const nasc_slice_params *p = &nd->slice;
            fprintf(f, "    slice_f(%s, %d, %d, %s, %d, %d, %d, %d, %d, %d, %d, %d);\n", x, xs.h,
                    xs.w, y, ys.c, ys.h, ys.w, p->c0, p->h0, p->w0, p->sh, p->sw);
            break;
        }
        case NASC_EXPORT_OP_LINEAR:
            fprintf(f, "    linear(%s, %d, weights + %zu, weights + %zu, %d, %s);\n", x, nd->w_shape[1], wo, bo,
                    ys.c, y);
            break;
        case NASC_EXPORT_OP_SHUFFLE:
            fprintf(f, "    shuffle_f(%s, %d, %d, %d, %s);\n", x, xs.c, xs.h * xs.w, nd->groups, y);
            break;
        default:
            break;
        }
    }
    fprintf(f, "    for (k = 1; k < %d; k++)\n        if (logits[k] > logits[best])\n"
               "            best = k;\n    return best;\n}\n",
            xg->n_classes);
    nasc_free(woff);
}

/* ---- int8 ---- */

static void emit_i8_array(gen *g, const char *arr, const int8_t *x, size_t n) {
    fprintf(g->f, "static const int8_t %s[%zu] = {", arr, n ? n : 1);
    for (size_t i = 0; i < n; i++)
        fprintf(g->f, "%s%d,", i % 16 ? " " : "\n    ", x[i]);
    fprintf(g->f, "%s};\n", n ? "\n" : "0");
    g->n_const += n ? n : 1;
}

static void emit_i32_array(gen *g, const char *arr, const int32_t *x, size_t n) {
    fprintf(g->f, "static const int32_t %s[%zu] = {", arr, n ? n : 1);
    for (size_t i = 0; i < n; i++)
        fprintf(g->f, "%s%ld,", i % 8 ? " " : "\n    ", (long)x[i]);
    fprintf(g->f, "%s};\n", n ? "\n" : "0");
    g->n_const += (n ? n : 1) * 4;
}

static void emit_u8_array(gen *g, const char *arr, const unsigned char *x, size_t n) {
    fprintf(g->f, "static const unsigned char %s[%zu] = {", arr, n ? n : 1);
    for (size_t i = 0; i < n; i++)
        fprintf(g->f, "%s%u,", i % 16 ? " " : "\n    ", x[i]);
    fprintf(g->f, "%s};\n", n ? "\n" : "0");
    g->n_const += n ? n : 1;
}

static float dq(qparam q, int v) { return q.s * (float)(v - q.zp); }
static int qz(qparam q, float x) { return clamp8(lroundf(x / q.s) + q.zp); }
static long long m20(double M) { return llround(M * (double)(1 << QSHIFT)); }

/* The per-node constant data of the int8 file, named by node index. */
static nasc_status emit_i8_consts(gen *g, int i, bool last_float, nasc_err *err) {
    const nasc_export_graph *xg = g->xg;
    const nasc_export_node *nd = &xg->nodes[i];
    const qparam qx = g->q[nd->in[0]], qy = g->q[nd->out];
    char nm[32];
    if (nd->op == NASC_EXPORT_OP_CONV || nd->op == NASC_EXPORT_OP_LINEAR) {
        const int K = nd->w_shape[0];
        const size_t per = (size_t)nd->w_shape[1] * nd->w_shape[2] * nd->w_shape[3];
        int8_t *wq = nasc_malloc((size_t)K * per);
        int32_t *bq = nasc_malloc((size_t)K * sizeof *bq), *mq = nasc_malloc((size_t)K * 4);
        unsigned char *nq = nasc_malloc((size_t)K);
        float *fs = nasc_malloc((size_t)K * sizeof *fs);
        if (!wq || !bq || !mq || !nq || !fs) {
            nasc_free(wq), nasc_free(bq), nasc_free(mq), nasc_free(nq), nasc_free(fs);
            return nasc_errorf(err, NASC_ERR_NOMEM, "export c: out of memory");
        }
        for (int k = 0; k < K; k++) {
            const float *w = nd->w + (size_t)k * per;
            float mx = 0.0f;
            for (size_t j = 0; j < per; j++)
                mx = fabsf(w[j]) > mx ? fabsf(w[j]) : mx;
            const float sw = mx > 0.0f ? mx / 127.0f : 1.0f; /* symmetric, per output channel */
            for (size_t j = 0; j < per; j++)
                wq[(size_t)k * per + j] = (int8_t)clamp8(lroundf(w[j] / sw));
            const double bs = (double)sw * (double)qx.s;
            const double bv = (double)nd->b[k] / bs;
            bq[k] = (int32_t)(bv > 2e9 ? 2e9 : bv < -2e9 ? -2e9 : llround(bv));
            int n;
            fixed_mult(bs / (double)qy.s, &mq[k], &n);
            nq[k] = (unsigned char)n;
            fs[k] = (float)bs;
        }
        snprintf(nm, sizeof nm, "W%d", i);
        emit_i8_array(g, nm, wq, (size_t)K * per);
        snprintf(nm, sizeof nm, "B%d", i);
        emit_i32_array(g, nm, bq, (size_t)K);
        if (last_float) {
            snprintf(nm, sizeof nm, "F%d", i);
            emit_floats(g, nm, fs, (size_t)K);
        } else {
            snprintf(nm, sizeof nm, "M%d", i);
            emit_i32_array(g, nm, mq, (size_t)K);
            snprintf(nm, sizeof nm, "N%d", i);
            emit_u8_array(g, nm, nq, (size_t)K);
        }
        nasc_free(wq), nasc_free(bq), nasc_free(mq), nasc_free(nq), nasc_free(fs);
        return NASC_OK;
    }
    /* element-wise ops: 256-entry tables (one per channel for affine) */
    const int C = nd->op == NASC_EXPORT_OP_AFFINE ? xg->shape[nd->in[0]].c : 1;
    if (nd->op == NASC_EXPORT_OP_AFFINE || nd->op == NASC_EXPORT_OP_RELU ||
        nd->op == NASC_EXPORT_OP_SIGMOID || nd->op == NASC_EXPORT_OP_TANH ||
        nd->op == NASC_EXPORT_OP_SCALE) {
        int8_t *t = nasc_malloc((size_t)C * 256);
        if (!t)
            return nasc_errorf(err, NASC_ERR_NOMEM, "export c: out of memory");
        for (int c = 0; c < C; c++)
            for (int v = -128; v < 128; v++) {
                const float x = dq(qx, v);
                float y = x;
                switch (nd->op) {
                case NASC_EXPORT_OP_AFFINE: y = x * nd->w[c] + nd->b[c]; break;
                case NASC_EXPORT_OP_RELU: y = x > 0.0f ? x : 0.0f; break;
                case NASC_EXPORT_OP_SIGMOID: y = 1.0f / (1.0f + expf(-x)); break;
                case NASC_EXPORT_OP_TANH: y = tanhf(x); break;
                case NASC_EXPORT_OP_SCALE: y = nd->scalar * x; break;
                default: break;
                }
                t[c * 256 + v + 128] = (int8_t)qz(qy, y);
            }
        snprintf(nm, sizeof nm, "T%d", i);
        emit_i8_array(g, nm, t, (size_t)C * 256);
        nasc_free(t);
    }
    return NASC_OK;
}

static void emit_int8(gen *g, nasc_err *err, nasc_status *st) {
    const nasc_export_graph *xg = g->xg;
    FILE *f = g->f;
    const nasc_export_node *lastn = &xg->nodes[xg->n_nodes - 1];
    const bool last_float = lastn->op == NASC_EXPORT_OP_LINEAR;
    for (int i = 0; i < xg->n_nodes && *st == NASC_OK; i++)
        *st = emit_i8_consts(g, i, last_float && i == xg->n_nodes - 1, err);
    if (*st != NASC_OK)
        return;
    fprintf(f, "\n/* the activation arena: int8 values placed by liveness, then the int32\n"
               " * accumulators of the widest convolution (NAME_ARENA_BYTES in all) */\n");
    fprintf(f, "static int32_t arena_i[%zu];\n#define arena ((unsigned char *)arena_i)\n",
            (g->pl.bytes + 3) / 4 + g->pl.acc_hw);
    fprintf(f, "#define ACC (arena_i + %zu)\n\n", (g->pl.bytes + 3) / 4);
    fputs(k_quant_in, f);
    const bool conv = uses(xg, NASC_EXPORT_OP_CONV), lin = uses(xg, NASC_EXPORT_OP_LINEAR);
    if (conv || lin)
        fputs(k_rq, f);
    fputs(k_sat8, f); /* every network has a conv, linear, add, pool or requant using it */
    if (conv)
        EMIT_TMPL(g, k_conv, conv_slots);
    if (uses(xg, NASC_EXPORT_OP_AFFINE) || uses(xg, NASC_EXPORT_OP_RELU) ||
        uses(xg, NASC_EXPORT_OP_SIGMOID) || uses(xg, NASC_EXPORT_OP_TANH) ||
        uses(xg, NASC_EXPORT_OP_SCALE))
        fputs(k_lut, f);
    if (uses(xg, NASC_EXPORT_OP_ADD))
        fputs(k_add_q, f);
    bool need_requant = false;
    for (int i = 0; i < xg->n_nodes; i++)
        if (xg->nodes[i].op == NASC_EXPORT_OP_CONCAT)
            for (int k = 0; k < xg->nodes[i].n_in; k++) {
                const qparam a = g->q[xg->nodes[i].in[k]], y = g->q[xg->nodes[i].out];
                need_requant |= a.s != y.s || a.zp != y.zp;
            }
    if (need_requant)
        fputs(k_requant_q, f);
    if (uses(xg, NASC_EXPORT_OP_MAXPOOL) || uses(xg, NASC_EXPORT_OP_AVGPOOL))
        EMIT_TMPL(g, k_pool, pool_slots);
    if (uses(xg, NASC_EXPORT_OP_GAP))
        EMIT_TMPL(g, k_gap, gap_slots);
    if (uses(xg, NASC_EXPORT_OP_LINEAR))
        EMIT_TMPL(g, k_linear, linear_slots);
    if (uses(xg, NASC_EXPORT_OP_SLICE))
        EMIT_TYPED(g, k_slice_t);
    if (uses(xg, NASC_EXPORT_OP_SHUFFLE))
        EMIT_TYPED(g, k_shuffle_t);

    fprintf(f, "int %s_predict(const float *pixels, float *logits) {\n", g->name);
    fprintf(f, "    int k, best = 0;\n");
    char x[64], y[64], b[64];
    val(g, 0, x, sizeof x);
    fprintf(f, "    quant_in(pixels, %d, %s);\n", (int)numel(xg->shape[0]), x);
    for (int i = 0; i < xg->n_nodes; i++) {
        const nasc_export_node *nd = &xg->nodes[i];
        const nasc_export_shape xs = xg->shape[nd->in[0]], ys = xg->shape[nd->out];
        const qparam qx = g->q[nd->in[0]], qy = g->q[nd->out];
        const bool to_float = last_float && i == xg->n_nodes - 1;
        val(g, nd->in[0], x, sizeof x);
        val(g, nd->out, y, sizeof y);
        const int ny = (int)numel(ys);
        fprintf(f, "    /* %d: %s %s -> (%d,%d,%d), scale %.6g zero %d */\n", i,
                nasc_export_op_name(nd->op), nd->name, ys.c, ys.h, ys.w, (double)qy.s, qy.zp);
        switch (nd->op) {
        case NASC_EXPORT_OP_CONV: {
            const nasc_conv2d_params *p = &nd->conv;
            fprintf(f,
                    "    conv_q(%s, %d, %d, %d, %d, %s, %d, %d, %d, %d, W%d, B%d, M%d, N%d, %d, %d, "
                    "%d, %d, %d, %d, %d, %d, %d, ACC);\n",
                    x, xs.c, xs.h, xs.w, qx.zp, y, ys.c, ys.h, ys.w, qy.zp, i, i, i, i,
                    nd->w_shape[2], nd->w_shape[3], p->stride[0], p->stride[1], p->pad[0],
                    p->pad[1], p->dil[0], p->dil[1], p->groups);
            break;
        }
        case NASC_EXPORT_OP_AFFINE:
            fprintf(f, "    lut(%s, %d, %d, T%d, %s);\n", x, xs.c, xs.h * xs.w, i, y);
            break;
        case NASC_EXPORT_OP_RELU:
        case NASC_EXPORT_OP_SIGMOID:
        case NASC_EXPORT_OP_TANH:
        case NASC_EXPORT_OP_SCALE:
            fprintf(f, "    lut(%s, 1, %d, T%d, %s);\n", x, ny, i, y);
            break;
        case NASC_EXPORT_OP_ADD: {
            const qparam qb = g->q[nd->in[1]];
            val(g, nd->in[1], b, sizeof b);
            fprintf(f, "    add_q(%s, %d, %lld, %s, %d, %lld, %d, %d, %s);\n", x, qx.zp,
                    m20((double)qx.s / (double)qy.s), b, qb.zp, m20((double)qb.s / (double)qy.s),
                    ny, qy.zp, y);
            break;
        }
        case NASC_EXPORT_OP_MAXPOOL:
        case NASC_EXPORT_OP_AVGPOOL: {
            const nasc_pool2d_params *p = &nd->pool;
            fprintf(f,
                    "    pool_q(%s, %d, %d, %d, %d, %s, %d, %d, %d, %lld, %d, %d, %d, %d, %d, %d, "
                    "%d, %d);\n",
                    x, xs.c, xs.h, xs.w, qx.zp, y, ys.h, ys.w, qy.zp,
                    m20((double)qx.s / (double)qy.s), p->k[0], p->k[1], p->stride[0],
                    p->stride[1], p->pad[0], p->pad[1], nd->op == NASC_EXPORT_OP_MAXPOOL,
                    (int)p->count_include_pad);
            break;
        }
        case NASC_EXPORT_OP_GAP:
            fprintf(f, "    gap_q(%s, %d, %d, %d, %lld, %d, %s);\n", x, xs.c, xs.h * xs.w, qx.zp,
                    m20((double)qx.s / (double)qy.s), qy.zp, y);
            break;
        case NASC_EXPORT_OP_CONCAT: {
            size_t off = 0;
            for (int k = 0; k < nd->n_in; k++) {
                const qparam qa = g->q[nd->in[k]];
                val(g, nd->in[k], b, sizeof b);
                const size_t len = numel(xg->shape[nd->in[k]]);
                if (qa.s == qy.s && qa.zp == qy.zp)
                    fprintf(f, "    memcpy(%s + %zu, %s, %zu);\n", y, off, b, len);
                else
                    fprintf(f, "    requant(%s, %zu, %d, %lld, %d, %s + %zu);\n", b, len, qa.zp,
                            m20((double)qa.s / (double)qy.s), qy.zp, y, off);
                off += len;
            }
            break;
        }
        case NASC_EXPORT_OP_SLICE: {
            const nasc_slice_params *p = &nd->slice;
            fprintf(f, "    slice_q(%s, %d, %d, %s, %d, %d, %d, %d, %d, %d, %d, %d);\n", x, xs.h,
                    xs.w, y, ys.c, ys.h, ys.w, p->c0, p->h0, p->w0, p->sh, p->sw);
            break;
        }
        case NASC_EXPORT_OP_LINEAR:
            if (to_float)
                fprintf(f, "    linear_q(%s, %d, %d, W%d, B%d, %d, 0, 0, 0, 0, F%d, logits);\n", x,
                        nd->w_shape[1], qx.zp, i, i, ys.c, i);
            else
                fprintf(f, "    linear_q(%s, %d, %d, W%d, B%d, %d, M%d, N%d, %d, %s, 0, 0);\n", x,
                        nd->w_shape[1], qx.zp, i, i, ys.c, i, i, qy.zp, y);
            break;
        case NASC_EXPORT_OP_SHUFFLE:
            fprintf(f, "    shuffle_q(%s, %d, %d, %d, %s);\n", x, xs.c, xs.h * xs.w, nd->groups, y);
            break;
        default:
            break;
        }
    }
    if (!last_float) {
        const qparam ql = g->q[xg->n_nodes];
        val(g, xg->n_nodes, y, sizeof y);
        fprintf(f, "    for (k = 0; k < %d; k++)\n        logits[k] = %af * (float)(%s[k] - %d);\n",
                xg->n_classes, (double)ql.s, y, ql.zp);
    }
    fprintf(f, "    for (k = 1; k < %d; k++)\n        if (logits[k] > logits[best])\n"
               "            best = k;\n    return best;\n}\n",
            xg->n_classes);
}

/* Calibration: every value's range over the images, then quantization parameters; values that
 * only move data (max pool, slice, shuffle) share their input's parameters, so they copy int8. */
static nasc_status calibrate(gen *g, const nasc_export_c_opts *o, nasc_err *err) {
    const nasc_export_graph *xg = g->xg;
    const int nv = xg->n_values;
    calib c = {nasc_malloc((size_t)nv * sizeof(float)), nasc_malloc((size_t)nv * sizeof(float))};
    g->q = nasc_malloc((size_t)nv * sizeof *g->q);
    nasc_status st = NASC_OK;
    if (!c.lo || !c.hi || !g->q)
        st = nasc_errorf(err, NASC_ERR_NOMEM, "export c: out of memory");
    for (int v = 0; v < nv && st == NASC_OK; v++) {
        c.lo[v] = INFINITY;
        c.hi[v] = -INFINITY;
    }
    const size_t in_n = numel(xg->shape[0]);
    for (int i = 0; i < o->n_calib && st == NASC_OK; i++)
        st = nasc_export_graph_observe(xg, o->calib + (size_t)i * in_n, observe, &c, err);
    if (st == NASC_OK) {
        g->q[0] = (qparam){.s = 1.0f / 255.0f, .zp = -128}; /* quant_in */
        for (int i = 0; i < xg->n_nodes; i++) {
            const nasc_export_node *nd = &xg->nodes[i];
            const int v = nd->out;
            if (nd->op == NASC_EXPORT_OP_MAXPOOL || nd->op == NASC_EXPORT_OP_SLICE ||
                nd->op == NASC_EXPORT_OP_SHUFFLE)
                g->q[v] = g->q[nd->in[0]];
            else
                g->q[v] = qparam_from(c.lo[v], c.hi[v]);
        }
    }
    nasc_free(c.lo);
    nasc_free(c.hi);
    return st;
}

/* ---- the files ---- */

static bool is_ident(const char *s) {
    if (!s || !(isalpha((unsigned char)*s) || *s == '_'))
        return false;
    for (; *s; s++)
        if (!(isalnum((unsigned char)*s) || *s == '_'))
            return false;
    return true;
}

static const char *base_name(const char *p) {
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

nasc_status nasc_export_c(const nasc_export_graph *xg, const nasc_export_c_opts *o,
                          const char *c_path, const char *h_path, nasc_export_c_info *info,
                          nasc_err *err) {
    if (!is_ident(o->name) || strlen(o->name) > 64)
        return nasc_errorf(err, NASC_ERR_ARG,
                           "export c: name '%s' is not a C identifier of at most 64 characters",
                           o->name ? o->name : "");
    if (o->int8 && (!o->calib || o->n_calib < 1))
        return nasc_errorf(err, NASC_ERR_ARG, "export c: int8 needs calibration images");
    for (int i = 0; i < xg->n_nodes; i++) {
        const nasc_export_node *nd = &xg->nodes[i];
        if (nd->op >= NASC_EXPORT_OP_BATCHNORM) /* the ops up to SHUFFLE have kernels here */
            return nasc_errorf(err, NASC_ERR_UNSUPPORTED,
                               "export c: node %d (%s %s): no C kernel for this op (build the "
                               "graph without keep_bn)",
                               i, nasc_export_op_name(nd->op), nd->name);
        const size_t nw = nd->w ? (size_t)nd->w_shape[0] * nd->w_shape[1] * nd->w_shape[2] *
                                      nd->w_shape[3]
                                : 0;
        for (size_t j = 0; j < nw; j++)
            if (!isfinite(nd->w[j]))
                return nasc_errorf(err, NASC_ERR_ARG,
                                   "export c: node %d (%s %s): weight %zu is not finite", i,
                                   nasc_export_op_name(nd->op), nd->name, j);
    }
    gen g = {.xg = xg, .name = o->name, .int8 = o->int8};
    nasc_status st = NASC_OK;
    if (o->int8)
        st = calibrate(&g, o, err);
    const nasc_export_node *lastn = &xg->nodes[xg->n_nodes - 1];
    const bool direct = !o->int8 || lastn->op == NASC_EXPORT_OP_LINEAR;
    if (st == NASC_OK)
        st = plan_arena(xg, o->int8 ? 1 : sizeof(float), o->int8, direct, &g.pl, err);
    if (st == NASC_OK && o->int8)
        for (int i = 0; i < xg->n_nodes; i++)
            if (xg->nodes[i].op == NASC_EXPORT_OP_CONV) {
                const size_t hw = (size_t)xg->shape[xg->nodes[i].out].h *
                                  xg->shape[xg->nodes[i].out].w;
                g.pl.acc_hw = hw > g.pl.acc_hw ? hw : g.pl.acc_hw;
            }
    char *cbuf = NULL, *hbuf = NULL;
    size_t clen = 0, hlen = 0;
    if (st == NASC_OK) {
        g.f = open_memstream(&cbuf, &clen);
        if (!g.f)
            st = nasc_errorf(err, NASC_ERR_NOMEM, "export c: out of memory");
    }
    const size_t arena_bytes = o->int8 ? ((g.pl.bytes + 3) / 4 + g.pl.acc_hw) * 4 : g.pl.bytes;
    if (st == NASC_OK) {
        const char *hname = base_name(h_path);
        fprintf(g.f,
                "/* %s.c — generated by nasc export (%s C99; only libc and libm; no allocation).\n"
                " * network: %s %s\n * %d ops; see %s for the entry point and sizes. */\n",
                o->name, o->int8 ? "int8" : "float32", xg->space ? xg->space : "?",
                xg->arch ? xg->arch : "", xg->n_nodes, hname);
        fprintf(g.f, "#include \"%s\"\n\n#include <math.h>\n#include <stddef.h>\n"
                     "#include <stdint.h>\n#include <string.h>\n\n",
                hname);
        if (o->int8)
            emit_int8(&g, err, &st);
        else
            emit_float(&g);
        if (fclose(g.f) != 0 && st == NASC_OK)
            st = nasc_errorf(err, NASC_ERR_NOMEM, "export c: out of memory");
    }
    size_t float_bytes = xg->n_weights * sizeof(float);
    if (st == NASC_OK) {
        FILE *h = open_memstream(&hbuf, &hlen);
        if (!h) {
            st = nasc_errorf(err, NASC_ERR_NOMEM, "export c: out of memory");
        } else {
            char up[80];
            size_t k = 0;
            for (; o->name[k] && k < sizeof up - 1; k++)
                up[k] = (char)toupper((unsigned char)o->name[k]);
            up[k] = '\0';
            const nasc_export_shape in = xg->shape[0];
            fprintf(h,
                    "/* %s.h — generated by nasc export: %s network, C99, libc + libm only.\n"
                    " *\n"
                    " *   float logits[%s_N_CLASSES];\n"
                    " *   int cls = %s_predict(pixels, logits);\n"
                    " *\n"
                    " * pixels: one image, %d x %d x %d (C,H,W) floats, NCHW, raw values in [0,1]\n"
                    " * (the dataset normalisation is part of the network). Returns the index of\n"
                    " * the largest logit. Uses one static arena: not reentrant. */\n"
                    "#ifndef %s_H\n#define %s_H\n\n",
                    o->name, o->int8 ? "int8-quantized" : "float32", up, o->name, in.c, in.h,
                    in.w, up, up);
            fprintf(h, "#define %s_IN_C %d\n#define %s_IN_H %d\n#define %s_IN_W %d\n", up, in.c,
                    up, in.h, up, in.w);
            fprintf(h, "#define %s_N_CLASSES %d\n", up, xg->n_classes);
            fprintf(h, "/* constant data (weights%s): bytes */\n#define %s_WEIGHT_BYTES %zu\n",
                    o->int8 ? ", biases, requantization multipliers, tables" : "", up,
                    g.n_const);
            fprintf(h,
                    "/* peak activation memory: the static arena, bytes */\n"
                    "#define %s_ARENA_BYTES %zu\n\n",
                    up, arena_bytes);
            fprintf(h, "int %s_predict(const float *pixels, float *logits);\n\n#endif\n",
                    o->name);
            if (fclose(h) != 0)
                st = nasc_errorf(err, NASC_ERR_NOMEM, "export c: out of memory");
        }
    }
    if (st == NASC_OK)
        st = nasc_write_file_atomic(c_path, cbuf, clen, err);
    if (st == NASC_OK) {
        st = nasc_write_file_atomic(h_path, hbuf, hlen, err);
        if (st != NASC_OK)
            unlink(c_path); /* no half export */
    }
    if (st == NASC_OK && info) {
        info->weight_bytes = g.n_const;
        info->float_weight_bytes = float_bytes;
        info->arena_bytes = arena_bytes;
        info->n_nodes = xg->n_nodes;
    }
    free(cbuf);
    free(hbuf);
    nasc_free(g.pl.off);
    nasc_free(g.q);
    return st;
}
