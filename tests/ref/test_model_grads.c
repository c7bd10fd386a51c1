/* test_model_grads.c — whole NAS-Bench-201 and DARTS networks against PyTorch: one training-mode
 * forward and backward pass of nasc's networks must give PyTorch's loss, logits, parameter
 * gradients, input gradient and updated BN running statistics (tests/ref/gen_model_grads.py,
 * values committed in tests/ref/model_grads.txt). Parameters and inputs are formulas of their
 * position (see the script), so both sides build the same network without exchanging weights.
 * Cases: three NAS-Bench-201 cells (convs, pools, skips, 'none'; the residual reduction blocks),
 * two DARTS genotypes (every op in normal and reduction cells, factorized reduce after a
 * reduction, states read by several ops, the auxiliary head), chains (every layer kind, one and
 * two fc layers, none), a MobileNet-like network (every expansion and kernel, residual and
 * strided blocks), an ENAS macro network (every op, concatenated skips, the pooled node lists)
 * and a morphism network (1x1 skip convs, both pools), on the ref backend and on the cpu backend
 * with 2 threads, with the gradient pool on as in nasc_train.
 * The reference is computed in float64 from the same float32 parameters and inputs. Tolerance
 * per tensor: |nasc - reference| <= 1e-3 * max|reference| + 1e-6 element by element (sampled
 * tensors: the 32 listed elements, and their sum and sum of squares to 1e-3). Deep float32
 * chains with batch norm over few values amplify rounding: PyTorch's own float32 result uses up
 * to 0.26 of this tolerance (macro; 0.16 mobilenet, 0.10 darts), nasc's ref backend 0.14 and its
 * cpu backend 0.40 (mobilenet's stem gradient); a wrong op, index or layout is off by order 1.
 * Each case prints the share of the tolerance its worst element used. */
#include "test.h"

#include "nasc/arena.h"
#include "nasc/backend.h"
#include "nasc/nn.h"
#include "nasc/space.h"

#include <math.h>
#include <stdlib.h>

enum { MAX_VALS = 256 };
#define TOL 1e-3
#define ATOL 1e-6 /* for values that are 0 in exact arithmetic (e.g. a BN bias before a BN) */

typedef struct record {
    char kind[16], name[96];
    long numel;
    int n;
    bool sample;
    double v[MAX_VALS];
} record;

/* Reads the next record; false at a case line or the end of the file (the line stays in *line). */
static bool read_record(FILE *f, char *line, size_t cap, record *r) {
    if (!fgets(line, (int)cap, f) || !strncmp(line, "case ", 5))
        return false;
    char tag[16] = "";
    if (sscanf(line, "%15s %95s %ld %d %15s", r->kind, r->name, &r->numel, &r->n, tag) < 4 ||
        r->n < 1 || r->n > MAX_VALS) {
        CHECK_MSG(0, "model_grads.txt: malformed record '%s'", line);
        return false;
    }
    r->sample = !strcmp(tag, "sample");
    for (int i = 0; i < r->n; i++) {
        if (fscanf(f, "%lf", &r->v[i]) != 1) {
            CHECK_MSG(0, "model_grads.txt: %s %s: value %d missing", r->kind, r->name, i);
            return false;
        }
    }
    int c;
    while ((c = fgetc(f)) != '\n' && c != EOF) {
    }
    return true;
}

/* Element i (PyTorch flat order over the logical shape ne) of a tensor stored NHWC. */
static float at_torch(const nasc_tensor *t, const float *data, long i) {
    const int C = t->ne[1], H = t->ne[2], W = t->ne[3];
    const int w = (int)(i % W), h = (int)(i / W % H), c = (int)(i / ((long)W * H) % C);
    const int n = (int)(i / ((long)W * H * C));
    return data[nasc_tensor_offset(t, n, c, h, w)];
}

static double worst; /* largest share of the tolerance used by an element of the case so far */

static void compare(const char *where, const record *r, const nasc_tensor *t, const float *data) {
    const long n = (long)nasc_tensor_nelem(t);
    CHECK_MSG(n == r->numel, "%s: %s %s has %ld elements in nasc, %ld in PyTorch", where,
              r->kind, r->name, n, r->numel);
    if (n != r->numel)
        return;
    const int n_el = r->sample ? r->n - 2 : r->n;
    double scale = 0.0;
    for (int j = 0; j < n_el; j++)
        scale = fmax(scale, fabs(r->v[j]));
    int bad = 0;
    for (int j = 0; j < n_el && bad < 3; j++) {
        const long i = r->sample ? ((long)j * 7919) % n : j;
        const double got = at_torch(t, data, i), want = r->v[j];
        worst = fmax(worst, fabs(got - want) / (TOL * scale + ATOL));
        if (!(fabs(got - want) <= TOL * scale + ATOL)) {
            CHECK_MSG(0, "%s: %s %s[%ld]: nasc %.9g, PyTorch %.9g (max |PyTorch| %.3g)", where,
                      r->kind, r->name, i, got, want, scale);
            bad++;
        }
    }
    if (r->sample) {
        double s = 0.0, ss = 0.0;
        for (long i = 0; i < n; i++) {
            const double v = at_torch(t, data, i);
            s += v;
            ss += v * v;
        }
        const double want_s = r->v[r->n - 2], want_ss = r->v[r->n - 1];
        CHECK_MSG(fabs(s - want_s) <= 1e-3 * sqrt(want_ss * (double)n) + 1e-9 &&
                      fabs(ss - want_ss) <= 1e-3 * want_ss + 1e-12,
                  "%s: %s %s: sum %.9g / %.9g, sum of squares %.9g / %.9g (nasc / PyTorch)",
                  where, r->kind, r->name, s, want_s, ss, want_ss);
    }
}

/* The parameters of gen_model_grads.py: tensor p, element i in PyTorch order. */
static void fill_params(nasc_params *ps) {
    for (int p = 0; p < nasc_params_n_tensors(ps); p++) {
        nasc_tensor *t = nasc_params_tensor(ps, p);
        const size_t len = strlen(t->name);
        const bool gamma = len > 6 && !strcmp(t->name + len - 6, ".gamma");
        const bool beta = len > 5 && !strcmp(t->name + len - 5, ".beta");
        const bool bias = len > 2 && !strcmp(t->name + len - 2, ".b");
        const double fan_in = (double)t->ne[1] * t->ne[2] * t->ne[3];
        const int C = t->ne[1], H = t->ne[2], W = t->ne[3];
        for (long i = 0; i < (long)nasc_tensor_nelem(t); i++) {
            const double s = sin(0.37 * (double)i + 1.1 * p + 0.5);
            const double v = gamma ? 1.0 + 0.2 * s
                             : beta ? 0.1 * s
                             : bias ? 0.05 * s
                                    : 0.6 * s / sqrt(fan_in);
            const int w = (int)(i % W), h = (int)(i / W % H), c = (int)(i / ((long)W * H) % C);
            const int n = (int)(i / ((long)W * H * C));
            t->data[nasc_tensor_offset(t, n, c, h, w)] = (float)v;
        }
    }
}

typedef struct case_hdr {
    char space[16], name[32];
    int in_c, in_h, in_w, classes, C, cells, aux, batch;
    char arch[2048];
} case_hdr;

/* Builds the case's network on backend be, runs one step and compares every record. The file is
 * positioned after the case's architecture line; on return *line holds the next case line (or
 * ""). */
static void run_case(FILE *f, char *line, size_t cap, const case_hdr *hc, nasc_backend *be,
                     const char *be_name, long records_at) {
    char where[96];
    snprintf(where, sizeof where, "%s %s (%s)", hc->space, hc->name, be_name);
    nasc_err err = {0};
    nasc_space *sp = NULL;
    nasc_arch *a = NULL;
    nasc_model *m = NULL;
    nasc_graph *g = NULL;
    CHECK_STATUS(nasc_space_new(hc->space, NULL, &sp, &err), NASC_OK);
    if (sp)
        CHECK_STATUS(nasc_arch_parse(sp, hc->arch, &a, &err), NASC_OK);
    if (a) {
        const nasc_net_config nc = {.in_c = hc->in_c, .in_h = hc->in_h, .in_w = hc->in_w,
                                    .n_classes = hc->classes, .channels = hc->C,
                                    .cells = hc->cells, .auxiliary = hc->aux};
        CHECK_STATUS(nasc_space_build(a, &nc, 1, &m, &err), NASC_OK);
    }
    if (m)
        g = nasc_graph_new(be, 0, &err);
    nasc_tensor *loss = NULL, *logits = NULL, *x = NULL;
    if (g) {
        fill_params(m->params);
        nasc_graph_set_release_grads(g, true);
        nasc_params_zero_grad(m->params);
        const int B = hc->batch, Cin = hc->in_c, H = hc->in_h, W = hc->in_w;
        x = nasc_input(g, B, Cin, H, W, NULL);
        for (long i = 0; x && i < (long)B * Cin * H * W; i++) {
            const int w = (int)(i % W), h = (int)(i / W % H), c = (int)(i / ((long)W * H) % Cin);
            const int n = (int)(i / ((long)W * H * Cin));
            x->data[nasc_tensor_offset(x, n, c, h, w)] =
                (float)(sin(0.61 * (double)i) + 0.3 * cos(0.23 * (double)i));
        }
        nasc_tensor_set_requires_grad(x, true);
        int32_t labels[64];
        for (int n = 0; n < B && n < 64; n++)
            labels[n] = (3 * n + 1) % hc->classes;
        const nasc_forward_opts fo = {.want_aux = hc->aux != 0};
        logits = nasc_model_forward(m, g, x, &fo);
        loss = nasc_cross_entropy(g, logits, labels, 0.0f);
        if (loss && hc->aux) {
            CHECK_MSG(m->aux_logits != NULL, "%s: no auxiliary logits", where);
            loss = nasc_add(g, loss,
                            nasc_scale(g, nasc_cross_entropy(g, m->aux_logits, labels, 0.0f),
                                       0.4f));
        }
        CHECK_MSG(loss && nasc_backward(g, loss) == NASC_OK, "%s: %s", where,
                  nasc_graph_errmsg(g));
    }
    /* walk the records in step with the network's tensors */
    fseek(f, records_at, SEEK_SET);
    static record r;
    int p = 0, b = 0, n_records = 0;
    worst = 0.0;
    while (read_record(f, line, cap, &r)) {
        n_records++;
        if (!loss)
            continue;
        if (!strcmp(r.kind, "loss")) {
            compare(where, &r, loss, loss->data);
        } else if (!strcmp(r.kind, "logits")) {
            compare(where, &r, logits, logits->data);
        } else if (!strcmp(r.kind, "xgrad")) {
            compare(where, &r, x, x->grad);
        } else if (!strcmp(r.kind, "grad")) {
            if (p >= nasc_params_n_tensors(m->params)) {
                CHECK_MSG(0, "%s: more PyTorch parameters than nasc's %d", where, p);
                continue;
            }
            const nasc_tensor *t = nasc_params_tensor(m->params, p++);
            compare(where, &r, t, t->grad);
        } else if (!strcmp(r.kind, "rmean") || !strcmp(r.kind, "rvar")) {
            if (b >= nasc_params_n_buffers(m->params)) {
                CHECK_MSG(0, "%s: more PyTorch BN statistics than nasc's %d", where, b);
                continue;
            }
            const nasc_tensor *t = nasc_params_buffer(m->params, b++);
            compare(where, &r, t, t->data);
        } else {
            CHECK_MSG(0, "%s: unknown record kind %s", where, r.kind);
        }
    }
    if (loss) {
        CHECK_MSG(p == nasc_params_n_tensors(m->params), "%s: %d PyTorch parameters, %d in nasc",
                  where, p, nasc_params_n_tensors(m->params));
        CHECK_MSG(b == nasc_params_n_buffers(m->params), "%s: %d PyTorch BN buffers, %d in nasc",
                  where, b, nasc_params_n_buffers(m->params));
        fprintf(stderr, "%s: %d records, loss %.7g, largest error %.2g of the tolerance\n",
                where, n_records, (double)loss->data[0], worst);
    }
    nasc_graph_free(g);
    nasc_model_free(m);
    nasc_arch_free(a);
    nasc_space_free(sp);
}

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : NASC_SOURCE_DIR "/tests/ref/model_grads.txt";
    FILE *f = fopen(path, "r");
    CHECK_MSG(f != NULL, "cannot open %s", path);
    if (!f)
        return test_done("test_model_grads");
    nasc_err err = {0};
    nasc_backend *cpu = nasc_backend_new("cpu", 2, &err);
    CHECK(cpu != NULL);
    static char line[8192];
    int n_cases = 0;
    bool have = fgets(line, sizeof line, f) != NULL;
    while (have) {
        if (strncmp(line, "case ", 5)) {
            have = fgets(line, sizeof line, f) != NULL; /* comments */
            continue;
        }
        case_hdr hc = {0};
        if (sscanf(line, "case %15s %31s %d %d %d %d %d %d %d %d", hc.space, hc.name, &hc.in_c,
                   &hc.in_h, &hc.in_w, &hc.classes, &hc.C, &hc.cells, &hc.aux, &hc.batch) != 10 ||
            !fgets(hc.arch, sizeof hc.arch, f) || hc.batch > 64) {
            CHECK_MSG(0, "%s: malformed case line '%s'", path, line);
            break;
        }
        hc.arch[strcspn(hc.arch, "\n")] = '\0';
        const long records_at = ftell(f);
        run_case(f, line, sizeof line, &hc, nasc_backend_ref(), "ref", records_at);
        if (cpu)
            run_case(f, line, sizeof line, &hc, cpu, "cpu, 2 threads", records_at);
        n_cases++;
        have = !strncmp(line, "case ", 5);
    }
    fclose(f);
    CHECK_MSG(n_cases >= 11, "%s: %d cases, expected 11", path, n_cases);
    nasc_backend_free(cpu);
    return test_done("test_model_grads");
}
