/* supernet.c — the DARTS and NAS-Bench-201 supernets (supernet.h), written after the reference
 * search code (quark0/darts cnn/model_search.py and operations.py; yuhuixu1993/PC-DARTS
 * model_search.py; D-X-Y/AutoDL-Projects search cells), but laid out for memory:
 *
 *   - a node is ONE weighted_sum over all its (edge, op) terms: sum_e sum_k w[e,k] * op_k(x_e),
 *     so no per-op product, per-edge sum or partial node sum is stored; `none` is never built;
 *   - ReLU(state) is computed once per state and shared by every conv op and factorized reduce
 *     reading it (DARTS: 4 of the 7 ops on each of up to 5 edges per state);
 *   - in-place ReLUs where nothing needs the input again: after a sep conv's first BN (BN's
 *     backward reads its input, ReLU's its output) and on a cell's output and the stem's, whose
 *     every consumer is a ReLU (the next two cells' preprocessing), except the last cell's;
 *   - in-place batch norm (no affine, backward from its output) on every conv, pool and
 *     factorized-reduce output that only the BN reads; never followed by an in-place ReLU.
 *
 * Shapes: a darts cell at C channels and H x W keeps, per edge, 5 tensors per sep conv, 3 per dil
 * conv, 2 per pool (+ argmax) and nothing for skip; docs/ONESHOT.md has the count.
 *
 * Parameter names: "c<cell>.<part>" for cells ("c3.e7.sep5.pw1.w"), "stem.*", "fc.*"; alpha
 * tensors "alpha.normal", "alpha.reduce" (nb201: "alpha"), betas "beta.normal", "beta.reduce". */
#include "nasc/limits.h"
#include "oneshot_int.h"

#include "nasc/arena.h"
#include "nasc/backend.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* The ops come from the space's table (nasc_space_cell_ops): an edge's op k is ops[k], built and
 * run by its kind; the two kernel sizes of a kind (sep 3x3 / 5x5, dil 3x3 / 5x5, conv 1x1 / 3x3)
 * use the edge's two slots of that kind. */
static int op_slot(const nasc_cell_op *o) {
    return o->k == 5 || (o->kind == NASC_CELL_RCB && o->k == 3);
}

/* ---- layers ---- */

typedef struct sn_rcb { /* (ReLU outside) Conv -> BN */
    nasc_conv conv;
    nasc_bn bn;
} sn_rcb;

typedef struct sn_fr { /* FactorizedReduce after a shared ReLU */
    nasc_conv c1, c2;
    nasc_bn bn;
} sn_fr;

typedef struct sn_sep { /* dw k (stride) -> pw -> BN -> ReLU -> dw k -> pw -> BN */
    nasc_conv dw1, pw1, dw2, pw2;
    nasc_bn bn1, bn2;
} sn_sep;

typedef struct sn_dil { /* dw k dilation 2 (stride) -> pw -> BN */
    nasc_conv dw, pw;
    nasc_bn bn;
} sn_dil;

typedef struct sn_edge {
    int from, to, stride;
    nasc_bn bn_max, bn_avg; /* darts: BN after each pool */
    sn_fr skip_fr;          /* darts: skip on a stride-2 edge */
    sn_sep sep[2];          /* darts: 3x3, 5x5 */
    sn_dil dil[2];          /* darts: 3x3, 5x5 */
    sn_rcb conv[2];         /* nb201: 1x1, 3x3 */
} sn_edge;

typedef struct sn_cell {
    int type;               /* darts: 0 normal, 1 reduce; nb201: 0 */
    bool reduction_prev;    /* darts: preprocess0 is a factorized reduce */
    bool resblock;          /* nb201: a ResNet block between stages, not a searched cell */
    int C;                  /* channels of the cell's states */
    int Cop;                /* channels the ops see (C / partial) */
    sn_fr pre0_fr;
    sn_rcb pre0, pre1;
    sn_edge edge[NASC_SUPERNET_MAX_EDGES];
    sn_rcb rb_a, rb_b;      /* nb201 resblock: ReLUConvBN 3x3 s2, 3x3 s1 */
    nasc_conv rb_short;     /* avgpool 2x2 s2 -> conv1x1 */
} sn_cell;

struct nasc_supernet {
    nasc_supernet_config cfg;
    const nasc_space *space;
    os_kind kind;
    const nasc_cell_op *ops; /* the space's candidate ops, K of them */
    int n_types, E, K;
    nasc_params *w, *a;
    nasc_tensor *alpha[2], *beta[2];
    nasc_conv stem;
    nasc_bn stem_bn;
    nasc_bn last_bn; /* nb201: BN + ReLU before pooling */
    nasc_fc fc;
    int n_cells;
    sn_cell *cells;
};

os_kind nasc_os_kind(const nasc_supernet *sn) { return sn->kind; }

/* ---- building ---- */

static nasc_status bn(nasc_bn *b, nasc_params *ps, const char *name, int c, bool affine,
                      nasc_err *err) {
    return nasc_bn_init(b, ps, name, c, affine, err);
}

/* name = prefix + "." + part */
#define NM(buf, prefix, part) (snprintf(buf, sizeof buf, "%s.%s", prefix, part), buf)

static nasc_status rcb_init(sn_rcb *r, nasc_params *ps, const char *prefix, int cin, int cout,
                            int k, int stride, bool affine, nasc_err *err) {
    char n[80];
    NASC_TRY(nasc_conv_init_cell(&r->conv, ps, NM(n, prefix, "conv"), cin, cout, k, stride, k / 2,
                                 1, 1, err));
    return bn(&r->bn, ps, NM(n, prefix, "bn"), cout, affine, err);
}

static nasc_status fr_init(sn_fr *f, nasc_params *ps, const char *prefix, int cin, int cout,
                           bool affine, nasc_err *err) {
    char n[80];
    if (cout % 2)
        return nasc_errorf(err, NASC_ERR_ARG,
                           "supernet: %s: factorized reduce needs an even channel count (%d)",
                           prefix, cout);
    NASC_TRY(
        nasc_conv_init_cell(&f->c1, ps, NM(n, prefix, "c1"), cin, cout / 2, 1, 2, 0, 1, 1, err));
    NASC_TRY(
        nasc_conv_init_cell(&f->c2, ps, NM(n, prefix, "c2"), cin, cout / 2, 1, 2, 0, 1, 1, err));
    return bn(&f->bn, ps, NM(n, prefix, "bn"), cout, affine, err);
}

static nasc_status sep_init(sn_sep *s, nasc_params *ps, const char *prefix, int c, int k,
                            int stride, bool affine, nasc_err *err) {
    char n[80];
    NASC_TRY(
        nasc_conv_init_cell(&s->dw1, ps, NM(n, prefix, "dw1"), c, c, k, stride, k / 2, 1, c, err));
    NASC_TRY(nasc_conv_init_cell(&s->pw1, ps, NM(n, prefix, "pw1"), c, c, 1, 1, 0, 1, 1, err));
    NASC_TRY(bn(&s->bn1, ps, NM(n, prefix, "bn1"), c, affine, err));
    NASC_TRY(nasc_conv_init_cell(&s->dw2, ps, NM(n, prefix, "dw2"), c, c, k, 1, k / 2, 1, c, err));
    NASC_TRY(nasc_conv_init_cell(&s->pw2, ps, NM(n, prefix, "pw2"), c, c, 1, 1, 0, 1, 1, err));
    return bn(&s->bn2, ps, NM(n, prefix, "bn2"), c, affine, err);
}

static nasc_status dil_init(sn_dil *d, nasc_params *ps, const char *prefix, int c, int k,
                            int stride, bool affine, nasc_err *err) {
    char n[80];
    NASC_TRY(
        nasc_conv_init_cell(&d->dw, ps, NM(n, prefix, "dw"), c, c, k, stride, k - 1, 2, c, err));
    NASC_TRY(nasc_conv_init_cell(&d->pw, ps, NM(n, prefix, "pw"), c, c, 1, 1, 0, 1, 1, err));
    return bn(&d->bn, ps, NM(n, prefix, "bn"), c, affine, err);
}

/* The parameters of every op of a darts edge, in the table's order. */
static nasc_status darts_edge_init(sn_edge *e, nasc_params *ps, const char *prefix, int c,
                                   bool affine, const nasc_cell_op *ops, int K, nasc_err *err) {
    char n[48], part[16];
    for (int k = 0; k < K; k++) {
        const nasc_cell_op *o = &ops[k];
        switch (o->kind) {
        case NASC_CELL_ZERO:
            break;
        case NASC_CELL_MAX3:
            NASC_TRY(bn(&e->bn_max, ps, NM(n, prefix, "max.bn"), c, affine, err));
            break;
        case NASC_CELL_AVG3:
            NASC_TRY(bn(&e->bn_avg, ps, NM(n, prefix, "avg.bn"), c, affine, err));
            break;
        case NASC_CELL_IDENTITY:
            if (e->stride == 2)
                NASC_TRY(fr_init(&e->skip_fr, ps, NM(n, prefix, "skip"), c, c, affine, err));
            break;
        case NASC_CELL_SEP:
            snprintf(part, sizeof part, "sep%d", o->k);
            NASC_TRY(sep_init(&e->sep[op_slot(o)], ps, NM(n, prefix, part), c, o->k, e->stride,
                              affine, err));
            break;
        case NASC_CELL_DIL:
            snprintf(part, sizeof part, "dil%d", o->k);
            NASC_TRY(dil_init(&e->dil[op_slot(o)], ps, NM(n, prefix, part), c, o->k, e->stride,
                              affine, err));
            break;
        default:
            return nasc_errorf(err, NASC_ERR_UNSUPPORTED, "supernet darts: op %s", o->name);
        }
    }
    return NASC_OK;
}

/* darts: node i (0..3) has edges from states 0..i+1; edge index offset(i) + j. */
static void darts_edges(sn_cell *cell, bool reduction) {
    int e = 0;
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < i + 2; j++, e++) {
            cell->edge[e].from = j;
            cell->edge[e].to = i + 2;
            cell->edge[e].stride = reduction && j < 2 ? 2 : 1;
        }
}

static nasc_status build_darts(nasc_supernet *sn, nasc_err *err) {
    const nasc_supernet_config *c = &sn->cfg;
    const int L = c->cells, C = c->channels;
    const bool aff = c->bn_affine;
    /* spatial check: reductions at L/3 and 2L/3 halve H and W (factorized reduce needs even) */
    int h = c->in_h, w = c->in_w;
    for (int i = 0; i < L; i++) {
        if (i == L / 3 || i == 2 * L / 3) {
            if (h < 2 || w < 2 || h % 2 || w % 2)
                return nasc_errorf(err, NASC_ERR_SHAPE,
                                   "supernet darts: input %dx%dx%d: cell %d reduces a %dx%d map; "
                                   "every reduction needs even sides",
                                   c->in_c, c->in_h, c->in_w, i, h, w);
            h /= 2;
            w /= 2;
        }
    }
    if (L < 3)
        return nasc_errorf(err, NASC_ERR_ARG, "supernet darts: need at least 3 cells (%d)", L);
    char n[48];
    NASC_TRY(
        nasc_conv_init_cell(&sn->stem, sn->w, "stem.conv", c->in_c, 3 * C, 3, 1, 1, 1, 1, err));
    NASC_TRY(bn(&sn->stem_bn, sn->w, "stem.bn", 3 * C, true, err));
    sn->n_cells = L;
    sn->cells = nasc_calloc((size_t)L, sizeof *sn->cells);
    if (!sn->cells)
        return nasc_errorf(err, NASC_ERR_NOMEM, "supernet: out of memory");
    int cpp = 3 * C, cp = 3 * C, cur = C;
    bool red_prev = false;
    for (int i = 0; i < L; i++) {
        sn_cell *cell = &sn->cells[i];
        const bool red = i == L / 3 || i == 2 * L / 3;
        if (red)
            cur *= 2;
        cell->type = red ? 1 : 0;
        cell->reduction_prev = red_prev;
        cell->C = cur;
        cell->Cop = cur / c->partial;
        char pre[24];
        snprintf(pre, sizeof pre, "c%d", i);
        if (red_prev)
            NASC_TRY(fr_init(&cell->pre0_fr, sn->w, NM(n, pre, "pre0"), cpp, cur, aff, err));
        else
            NASC_TRY(rcb_init(&cell->pre0, sn->w, NM(n, pre, "pre0"), cpp, cur, 1, 1, aff, err));
        NASC_TRY(rcb_init(&cell->pre1, sn->w, NM(n, pre, "pre1"), cp, cur, 1, 1, aff, err));
        darts_edges(cell, red);
        for (int e = 0; e < 14; e++) {
            char ep[24];
            snprintf(ep, sizeof ep, "c%d.e%d", i, e);
            NASC_TRY(darts_edge_init(&cell->edge[e], sn->w, ep, cell->Cop, aff, sn->ops, sn->K, err));
        }
        red_prev = red;
        cpp = cp;
        cp = 4 * cur;
    }
    return nasc_fc_init(&sn->fc, sn->w, "fc", cp, c->n_classes, true, err);
}

static nasc_status build_nb201(nasc_supernet *sn, nasc_err *err) {
    const nasc_supernet_config *c = &sn->cfg;
    const int N = c->cells, C = c->channels;
    const bool aff = c->bn_affine;
    if (c->in_h < 4 || c->in_w < 4 || c->in_h % 4 || c->in_w % 4)
        return nasc_errorf(err, NASC_ERR_SHAPE,
                           "supernet nb201: input %dx%dx%d: two stride-2 blocks need sides "
                           "divisible by 4",
                           c->in_c, c->in_h, c->in_w);
    NASC_TRY(nasc_conv_init_cell(&sn->stem, sn->w, "stem.conv", c->in_c, C, 3, 1, 1, 1, 1, err));
    NASC_TRY(bn(&sn->stem_bn, sn->w, "stem.bn", C, true, err));
    sn->n_cells = 3 * N + 2;
    sn->cells = nasc_calloc((size_t)sn->n_cells, sizeof *sn->cells);
    if (!sn->cells)
        return nasc_errorf(err, NASC_ERR_NOMEM, "supernet: out of memory");
    char n[48];
    int cur = C;
    for (int i = 0; i < sn->n_cells; i++) {
        sn_cell *cell = &sn->cells[i];
        char pre[24];
        snprintf(pre, sizeof pre, "c%d", i);
        if (i == N || i == 2 * N + 1) {
            cell->resblock = true;
            NASC_TRY(rcb_init(&cell->rb_a, sn->w, NM(n, pre, "a"), cur, 2 * cur, 3, 2, aff, err));
            NASC_TRY(rcb_init(&cell->rb_b, sn->w, NM(n, pre, "b"), 2 * cur, 2 * cur, 3, 1, aff,
                              err));
            NASC_TRY(nasc_conv_init_cell(&cell->rb_short, sn->w, NM(n, pre, "short"), cur, 2 * cur,
                                         1, 1, 0, 1, 1, err));
            cur *= 2;
            cell->C = cur;
            continue;
        }
        cell->C = cell->Cop = cur;
        int e = 0;
        for (int to = 1; to < 4; to++)
            for (int from = 0; from < to; from++, e++) {
                sn_edge *ed = &cell->edge[e];
                ed->from = from;
                ed->to = to;
                ed->stride = 1;
                char ep[24];
                snprintf(ep, sizeof ep, "c%d.e%d", i, e);
                for (int k = 0; k < sn->K; k++) {
                    const nasc_cell_op *o = &sn->ops[k];
                    if (o->kind == NASC_CELL_RCB) {
                        char part[16];
                        snprintf(part, sizeof part, "conv%d", o->k);
                        NASC_TRY(rcb_init(&ed->conv[op_slot(o)], sn->w, NM(n, ep, part), cur, cur,
                                          o->k, 1, aff, err));
                    } else if (o->kind != NASC_CELL_ZERO && o->kind != NASC_CELL_IDENTITY &&
                               o->kind != NASC_CELL_AVG3) {
                        return nasc_errorf(err, NASC_ERR_UNSUPPORTED, "supernet nb201: op %s",
                                           o->name);
                    }
                }
            }
    }
    NASC_TRY(bn(&sn->last_bn, sn->w, "last.bn", cur, true, err));
    return nasc_fc_init(&sn->fc, sn->w, "fc", cur, c->n_classes, true, err);
}

nasc_status nasc_supernet_new(const nasc_space *space, const nasc_supernet_config *cfg,
                              uint64_t seed, nasc_supernet **out, nasc_err *err) {
    *out = NULL;
    if (!space)
        return nasc_errorf(err, NASC_ERR_ARG, "supernet: no space given");
    const char *name = nasc_space_name(space);
    os_kind kind;
    if (!strcmp(name, "darts"))
        kind = OS_DARTS;
    else if (!strcmp(name, "nb201"))
        kind = OS_NB201;
    else
        return nasc_errorf(err, NASC_ERR_ARG,
                           "supernet: space '%s' has no supernet (one-shot methods search the "
                           "darts and nb201 cell spaces)",
                           name);
    nasc_supernet_config c = cfg ? *cfg : (nasc_supernet_config){0};
    if (!c.in_c)
        c.in_c = 1;
    if (!c.in_h)
        c.in_h = 28;
    if (!c.in_w)
        c.in_w = 28;
    if (!c.n_classes)
        c.n_classes = 10;
    if (!c.channels)
        c.channels = 16;
    if (!c.cells)
        c.cells = kind == OS_DARTS ? 8 : 5;
    if (!c.partial)
        c.partial = 1;
    if (c.in_c < 1 || c.in_h < 1 || c.in_w < 1 || c.n_classes < 2 || c.channels < 2 ||
        c.cells < 1 || c.partial < 1 || c.in_c > NASC_MAX_INPUT_CHANNELS ||
        c.in_h > NASC_MAX_INPUT_SIDE || c.in_w > NASC_MAX_INPUT_SIDE ||
        c.n_classes > NASC_MAX_CLASSES || c.channels > NASC_MAX_CHANNELS ||
        c.cells > NASC_MAX_CELLS || c.partial > NASC_MAX_CHANNELS)
        return nasc_errorf(err, NASC_ERR_ARG,
                           "supernet: bad config (input %dx%dx%d, classes %d, channels %d, cells "
                           "%d, partial %d)",
                           c.in_c, c.in_h, c.in_w, c.n_classes, c.channels, c.cells, c.partial);
    if (c.partial > 1 && (kind != OS_DARTS || c.channels % (2 * c.partial)))
        return nasc_errorf(err, NASC_ERR_ARG,
                           "supernet: partial channels 1/%d need the darts space and channels "
                           "divisible by %d (%s, C=%d)",
                           c.partial, 2 * c.partial, name, c.channels);
    if (c.edge_norm && kind != OS_DARTS)
        return nasc_errorf(err, NASC_ERR_ARG, "supernet: edge normalisation needs the darts space");
    nasc_supernet *sn = nasc_calloc(1, sizeof *sn);
    if (!sn)
        return nasc_errorf(err, NASC_ERR_NOMEM, "supernet: out of memory");
    sn->cfg = c;
    sn->space = space;
    sn->kind = kind;
    sn->n_types = kind == OS_DARTS ? 2 : 1;
    sn->E = kind == OS_DARTS ? 14 : 6;
    sn->ops = nasc_space_cell_ops(space, &sn->K);
    if (sn->K > NASC_SUPERNET_MAX_OPS || sn->K < 2 || sn->ops[0].kind != NASC_CELL_ZERO) {
        nasc_free(sn);
        return nasc_errorf(err, NASC_ERR_UNSUPPORTED,
                           "supernet: space %s: %d ops, the first must be none (at most %d)", name,
                           sn->K, NASC_SUPERNET_MAX_OPS);
    }
    sn->w = nasc_params_new("supernet");
    sn->a = nasc_params_new("arch");
    nasc_status st = NASC_OK;
    if (!sn->w || !sn->a) {
        st = nasc_errorf(err, NASC_ERR_NOMEM, "supernet: out of memory");
        goto fail;
    }
    st = kind == OS_DARTS ? build_darts(sn, err) : build_nb201(sn, err);
    if (st != NASC_OK)
        goto fail;
    static const char *const tnames[2] = {"normal", "reduce"};
    for (int t = 0; t < sn->n_types; t++) {
        char n[32];
        snprintf(n, sizeof n, kind == OS_DARTS ? "alpha.%s" : "alpha", tnames[t]);
        /* 1e-3 * N(0, 1), as the DARTS code initialises alpha */
        sn->alpha[t] = nasc_params_add(sn->a, n, sn->E, sn->K, 1, 1, NASC_INIT_NORMAL, 1e-3f, err);
        if (!sn->alpha[t]) {
            st = err->code;
            goto fail;
        }
        if (c.edge_norm) {
            snprintf(n, sizeof n, "beta.%s", tnames[t]);
            sn->beta[t] = nasc_params_add(sn->a, n, 1, sn->E, 1, 1, NASC_INIT_NORMAL, 1e-3f, err);
            if (!sn->beta[t]) {
                st = err->code;
                goto fail;
            }
        }
    }
    if ((st = nasc_params_finalize(sn->w, err)) != NASC_OK ||
        (st = nasc_params_finalize(sn->a, err)) != NASC_OK)
        goto fail;
    nasc_params_init(sn->w, seed);
    nasc_params_init(sn->a, seed ^ 0xa1fa);
    *out = sn;
    return NASC_OK;
fail:
    nasc_supernet_free(sn);
    return st;
}

void nasc_supernet_free(nasc_supernet *sn) {
    if (!sn)
        return;
    nasc_params_free(sn->w);
    nasc_params_free(sn->a);
    nasc_free(sn->cells);
    nasc_free(sn);
}

const nasc_supernet_config *nasc_supernet_get_config(const nasc_supernet *sn) { return &sn->cfg; }
const nasc_space *nasc_supernet_space(const nasc_supernet *sn) { return sn->space; }
nasc_params *nasc_supernet_weights(const nasc_supernet *sn) { return sn->w; }
nasc_params *nasc_supernet_arch_params(const nasc_supernet *sn) { return sn->a; }
int nasc_supernet_n_types(const nasc_supernet *sn) { return sn->n_types; }
int nasc_supernet_n_edges(const nasc_supernet *sn) { return sn->E; }
int nasc_supernet_n_ops(const nasc_supernet *sn) { return sn->K; }
int nasc_supernet_none_op(const nasc_supernet *sn) {
    (void)sn;
    return 0; /* checked in nasc_supernet_new */
}
const char *nasc_supernet_op_name(const nasc_supernet *sn, int k) {
    if (k < 0 || k >= sn->K)
        return "?";
    return sn->ops[k].name;
}
bool nasc_supernet_op_param_free(const nasc_supernet *sn, int k) {
    const nasc_cell_op_kind kd = sn->ops[k].kind;
    return kd == NASC_CELL_ZERO || kd == NASC_CELL_IDENTITY || kd == NASC_CELL_AVG3 ||
           kd == NASC_CELL_MAX3;
}
int nasc_supernet_edge_from(const nasc_supernet *sn, int e) {
    for (int i = 0; i < sn->n_cells; i++)
        if (!sn->cells[i].resblock)
            return sn->cells[i].edge[e].from;
    return -1;
}
int nasc_supernet_edge_to(const nasc_supernet *sn, int e) {
    for (int i = 0; i < sn->n_cells; i++)
        if (!sn->cells[i].resblock)
            return sn->cells[i].edge[e].to;
    return -1;
}
nasc_tensor *nasc_supernet_alpha(const nasc_supernet *sn, int t) {
    return t >= 0 && t < sn->n_types ? sn->alpha[t] : NULL;
}
nasc_tensor *nasc_supernet_beta(const nasc_supernet *sn, int t) {
    return t >= 0 && t < sn->n_types ? sn->beta[t] : NULL;
}

/* ---- forward ---- */

typedef struct fwd_ctx {
    nasc_graph *g;
    const nasc_supernet *sn;
    const nasc_supernet_plan *plan;
    bool batch_only; /* BN without running statistics */
    bool smooth;     /* tanh for ReLU, average for max pooling (config.smooth) */
    float momentum;  /* > 0: overrides every BN's running-statistics momentum */
} fwd_ctx;

/* The activation: ReLU, or tanh in smooth mode. act_ip runs in place where ReLU may. */
static nasc_tensor *act(const fwd_ctx *f, nasc_tensor *x) {
    return f->smooth ? nasc_tanh(f->g, x) : nasc_relu(f->g, x);
}
static nasc_tensor *act_ip(const fwd_ctx *f, nasc_tensor *x) {
    return f->smooth ? nasc_tanh(f->g, x) : nasc_relu_inplace(f->g, x);
}

/* b's parameters, with the pass's momentum override */
static nasc_bn_params bn_params(const fwd_ctx *f, const nasc_bn *b) {
    nasc_bn_params p = b->p;
    if (f->momentum > 0.0f)
        p.momentum = f->momentum;
    return p;
}

static nasc_tensor *bn_fwd(const fwd_ctx *f, const nasc_bn *b, nasc_tensor *x) {
    if (f->batch_only)
        return nasc_batchnorm(f->g, x, b->gamma, b->beta, NULL, NULL, &b->p);
    const nasc_bn_params p = bn_params(f, b);
    return nasc_batchnorm(f->g, x, b->gamma, b->beta, b->running_mean, b->running_var, &p);
}

/* BN of x where nothing else reads x (a conv, pool or concat output): in place when it has no
 * affine parameters; its backward then reads its output, so that output must not be overwritten
 * in turn (no in-place ReLU after it). */
static nasc_tensor *bn_ip(const fwd_ctx *f, const nasc_bn *b, nasc_tensor *x) {
    if (b->gamma)
        return bn_fwd(f, b, x);
    if (f->batch_only)
        return nasc_batchnorm_inplace(f->g, x, NULL, NULL, &b->p);
    const nasc_bn_params p = bn_params(f, b);
    return nasc_batchnorm_inplace(f->g, x, b->running_mean, b->running_var, &p);
}

/* act(BN(x)) where nothing else reads BN's output: one fused node (nasc_batchnorm_relu) when
 * training with ReLU; otherwise BN then the in-place activation. */
static nasc_tensor *bn_act(const fwd_ctx *f, const nasc_bn *b, nasc_tensor *x) {
    if (f->smooth || !nasc_graph_training(f->g))
        return act_ip(f, bn_fwd(f, b, x));
    if (f->batch_only)
        return nasc_batchnorm_relu(f->g, x, b->gamma, b->beta, NULL, NULL, &b->p);
    const nasc_bn_params p = bn_params(f, b);
    return nasc_batchnorm_relu(f->g, x, b->gamma, b->beta, b->running_mean, b->running_var, &p);
}

static nasc_tensor *rcb_fwd(const fwd_ctx *f, const sn_rcb *r, nasc_tensor *relu_x) {
    return bn_ip(f, &r->bn, nasc_conv_forward(f->g, &r->conv, relu_x));
}

/* FactorizedReduce of x given r = relu(x): concat(conv1x1_s2(r), conv1x1_s2(r[:, :, 1:, 1:])), BN */
static nasc_tensor *fr_fwd(const fwd_ctx *f, const sn_fr *fr, nasc_tensor *r) {
    if (!r)
        return NULL;
    nasc_tensor *shifted = nasc_slice(f->g, r, &(nasc_slice_params){0, r->ne[1], 1, 1, 1, 1});
    nasc_tensor *parts[2] = {nasc_conv_forward(f->g, &fr->c1, r),
                             nasc_conv_forward(f->g, &fr->c2, shifted)};
    if (!parts[0] || !parts[1])
        return NULL;
    return bn_ip(f, &fr->bn, nasc_concat(f->g, 2, parts));
}

static nasc_tensor *sep_fwd(const fwd_ctx *f, const sn_sep *s, nasc_tensor *r) {
    nasc_graph *g = f->g;
    nasc_tensor *h = nasc_conv_forward(g, &s->pw1, nasc_conv_forward(g, &s->dw1, r));
    h = bn_act(f, &s->bn1, h);
    h = nasc_conv_forward(g, &s->pw2, nasc_conv_forward(g, &s->dw2, h));
    return bn_ip(f, &s->bn2, h);
}

static nasc_tensor *dil_fwd(const fwd_ctx *f, const sn_dil *d, nasc_tensor *r) {
    nasc_graph *g = f->g;
    return bn_ip(f, &d->bn, nasc_conv_forward(g, &d->pw, nasc_conv_forward(g, &d->dw, r)));
}

static nasc_tensor *pool3(nasc_graph *g, nasc_tensor *x, bool max, int s) {
    nasc_pool2d_params p = {.k = {3, 3}, .stride = {s, s}, .pad = {1, 1},
                            .count_include_pad = false};
    return max ? nasc_maxpool2d(g, x, &p) : nasc_avgpool2d(g, x, &p);
}

/* The per-cell state cache: raw states, their ReLUs (lazy) and, with partial channels, their
 * first C/K channels (and ReLU) and the bypassed rest. */
typedef struct cell_states {
    nasc_tensor *s[6], *r[6];
    nasc_tensor *part[6], *part_r[6], *bypass[6];
} cell_states;

static nasc_tensor *relu_of(const fwd_ctx *f, cell_states *cs, int j) {
    if (!cs->r[j])
        cs->r[j] = act(f, cs->s[j]);
    return cs->r[j];
}

/* Op k of a darts edge on input x (its ReLU computed on demand through cs/j and `part`). */
static nasc_tensor *darts_op(const fwd_ctx *f, const sn_edge *e, int k, nasc_tensor *x,
                             nasc_tensor *(*relu)(const fwd_ctx *, cell_states *, int),
                             cell_states *cs, int j) {
    nasc_graph *g = f->g;
    const nasc_cell_op *o = &f->sn->ops[k];
    switch (o->kind) {
    case NASC_CELL_MAX3:
        return bn_ip(f, &e->bn_max, pool3(g, x, !f->smooth, e->stride));
    case NASC_CELL_AVG3:
        return bn_ip(f, &e->bn_avg, pool3(g, x, false, e->stride));
    case NASC_CELL_IDENTITY:
        return e->stride == 1 ? x : fr_fwd(f, &e->skip_fr, relu(f, cs, j));
    case NASC_CELL_SEP:
        return sep_fwd(f, &e->sep[op_slot(o)], relu(f, cs, j));
    case NASC_CELL_DIL:
        return dil_fwd(f, &e->dil[op_slot(o)], relu(f, cs, j));
    default:
        return NULL;
    }
}

static nasc_tensor *part_relu_of(const fwd_ctx *f, cell_states *cs, int j) {
    if (!cs->part_r[j])
        cs->part_r[j] = act(f, cs->part[j]);
    return cs->part_r[j];
}

/* The weighted-sum terms of darts edge e (flat index e*K+k) on input x: op k's output where the
 * plan activates it, NULL (a straight-through constant) where it only passes it straight.
 * Returns the number of terms, or -1 when an op failed (the graph holds the error). */
static int edge_terms(const fwd_ctx *f, const sn_edge *ed, int e, int K, uint16_t act,
                      uint16_t str, nasc_tensor *x,
                      nasc_tensor *(*relu)(const fwd_ctx *, cell_states *, int), cell_states *cs,
                      int j, nasc_tensor **terms, int *idx) {
    int n = 0;
    for (int k = 1; k < K; k++) {
        if (act & (1u << k)) {
            terms[n] = darts_op(f, ed, k, x, relu, cs, j);
            if (!terms[n])
                return -1;
        } else if (str & (1u << k)) {
            terms[n] = NULL;
        } else {
            continue;
        }
        idx[n++] = e * K + k;
    }
    return n;
}

/* A node of zeros shaped like t but with C channels and stride s (a node all of whose edges are
 * off; only sub-network plans can produce one). */
static nasc_tensor *zeros_like(nasc_graph *g, const nasc_tensor *t, int C, int s) {
    if (!t)
        return NULL;
    nasc_tensor *z = nasc_input(g, t->ne[0], C, (t->ne[2] - 1) / s + 1, (t->ne[3] - 1) / s + 1,
                                NULL);
    if (z)
        memset(z->data, 0, (size_t)nasc_tensor_nelem(z) * sizeof(float));
    return z;
}

/* True if any of the n terms is a tensor (all constant: the node is zero; the straight-through
 * constants of its edges are dropped, as a zero node has no value to carry them). */
static bool any_tensor(nasc_tensor *const *terms, int n) {
    for (int i = 0; i < n; i++)
        if (terms[i])
            return true;
    return false;
}

/* A darts cell. r0, r1: ReLU of the cell inputs (the preprocessing starts with a ReLU). */
static nasc_tensor *darts_cell(const nasc_supernet *sn, const fwd_ctx *f, const sn_cell *cell,
                               nasc_tensor *r0, nasc_tensor *r1) {
    nasc_graph *g = f->g;
    const int t = cell->type, K = sn->K;
    const nasc_supernet_plan *p = f->plan;
    cell_states cs = {0};
    cs.s[0] = cell->reduction_prev ? fr_fwd(f, &cell->pre0_fr, r0) : rcb_fwd(f, &cell->pre0, r0);
    cs.s[1] = rcb_fwd(f, &cell->pre1, r1);
    const bool partial = sn->cfg.partial > 1;
    nasc_tensor *terms[NASC_SUPERNET_MAX_EDGES * NASC_SUPERNET_MAX_OPS];
    int idx[NASC_SUPERNET_MAX_EDGES * NASC_SUPERNET_MAX_OPS];
    nasc_tensor *edge_out[5];
    int edge_idx[5];
    int e = 0;
    for (int i = 0; i < 4; i++) {
        int n = 0, n_edges = 0;
        for (int j = 0; j < i + 2; j++, e++) {
            const sn_edge *ed = &cell->edge[e];
            const uint16_t act = p->active[t][e] & (uint16_t)~1u, str = p->straight[t][e];
            if (!act && !str)
                continue;
            if (!cs.s[j])
                return NULL;
            if (!partial) {
                const int m = edge_terms(f, ed, e, K, act, str, cs.s[j], relu_of, &cs, j,
                                         terms + n, idx + n);
                if (m < 0)
                    return NULL;
                n += m;
                continue;
            }
            /* PC-DARTS: ops on the first C/K channels, the rest bypassed, then shuffled */
            if (!cs.part[j]) {
                const int C = cs.s[j]->ne[1], Cp = cell->Cop;
                cs.part[j] = nasc_slice(g, cs.s[j], &(nasc_slice_params){0, Cp, 0, 0, 1, 1});
                nasc_tensor *rest =
                    nasc_slice(g, cs.s[j], &(nasc_slice_params){Cp, C, 0, 0, 1, 1});
                cs.bypass[j] = ed->stride == 1
                                   ? rest
                                   : nasc_maxpool2d(g, rest,
                                                    &(nasc_pool2d_params){.k = {2, 2},
                                                                          .stride = {2, 2}});
            }
            nasc_tensor *eterms[NASC_SUPERNET_MAX_OPS];
            int eidx[NASC_SUPERNET_MAX_OPS];
            const int m = edge_terms(f, ed, e, K, act, str, cs.part[j], part_relu_of, &cs, j,
                                     eterms, eidx);
            if (m < 0)
                return NULL;
            nasc_tensor *mixed =
                any_tensor(eterms, m)
                    ? nasc_weighted_sum(g, p->weights[t], m, eterms, eidx)
                    : zeros_like(g, cs.part[j], cell->Cop, ed->stride);
            nasc_tensor *cat[2] = {mixed, cs.bypass[j]};
            if (!mixed || !cs.bypass[j])
                return NULL;
            edge_out[n_edges] = nasc_channel_shuffle(g, nasc_concat(g, 2, cat), sn->cfg.partial);
            edge_idx[n_edges++] = e;
        }
        nasc_tensor *node;
        if (partial) {
            if (!n_edges) {
                node = zeros_like(g, cs.s[1], cell->C, cell->type ? 2 : 1);
            } else if (p->edge_weights[t]) {
                node = nasc_weighted_sum(g, p->edge_weights[t], n_edges, edge_out, edge_idx);
            } else {
                node = edge_out[0];
                for (int q = 1; q < n_edges; q++)
                    node = nasc_add(g, node, edge_out[q]);
            }
        } else if (!any_tensor(terms, n)) {
            node = zeros_like(g, cs.s[1], cell->C, cell->type ? 2 : 1);
        } else {
            node = nasc_weighted_sum(g, p->weights[t], n, terms, idx);
        }
        if (!node)
            return NULL;
        cs.s[2 + i] = node;
    }
    return nasc_concat(g, 4, cs.s + 2);
}

static nasc_tensor *darts_forward(nasc_supernet *sn, const fwd_ctx *f, nasc_tensor *x) {
    nasc_graph *g = f->g;
    /* the stem's output feeds only ReLUs (cell 0's two preprocessings, cell 1's first) */
    nasc_tensor *stem = bn_act(f, &sn->stem_bn, nasc_conv_forward(g, &sn->stem, x));
    nasc_tensor *rpp = stem, *rp = stem;
    for (int i = 0; i < sn->n_cells; i++) {
        nasc_tensor *out = darts_cell(sn, f, &sn->cells[i], rpp, rp);
        /* every consumer of a cell's output but the classifier is a ReLU: apply it in place */
        if (i + 1 < sn->n_cells)
            out = act_ip(f, out);
        rpp = rp;
        rp = out;
    }
    return nasc_fc_forward(g, &sn->fc, nasc_global_avgpool(g, rp));
}

static nasc_tensor *nb201_cell(const nasc_supernet *sn, const fwd_ctx *f, const sn_cell *cell,
                               nasc_tensor *x) {
    nasc_graph *g = f->g;
    const int K = sn->K;
    const nasc_supernet_plan *p = f->plan;
    cell_states cs = {0};
    cs.s[0] = x;
    nasc_tensor *terms[NASC_SUPERNET_MAX_EDGES * NASC_SUPERNET_MAX_OPS];
    int idx[NASC_SUPERNET_MAX_EDGES * NASC_SUPERNET_MAX_OPS];
    int e = 0;
    for (int to = 1; to < 4; to++) {
        int n = 0;
        for (int j = 0; j < to; j++, e++) {
            const sn_edge *ed = &cell->edge[e];
            const uint16_t act = p->active[0][e] & (uint16_t)~1u, str = p->straight[0][e];
            for (int k = 1; k < K; k++) {
                if (act & (1u << k)) {
                    const nasc_cell_op *o = &sn->ops[k];
                    switch (o->kind) {
                    case NASC_CELL_IDENTITY:
                        terms[n] = cs.s[j];
                        break;
                    case NASC_CELL_RCB:
                        terms[n] = rcb_fwd(f, &ed->conv[op_slot(o)], relu_of(f, &cs, j));
                        break;
                    default:
                        terms[n] = pool3(g, cs.s[j], false, 1);
                    }
                    if (!terms[n])
                        return NULL;
                } else if (str & (1u << k)) {
                    terms[n] = NULL;
                } else {
                    continue;
                }
                idx[n++] = e * K + k;
            }
        }
        nasc_tensor *node;
        if (!any_tensor(terms, n))
            node = zeros_like(g, x, cell->C, 1);
        else
            node = nasc_weighted_sum(g, p->weights[0], n, terms, idx);
        if (!node)
            return NULL;
        cs.s[to] = node;
    }
    return cs.s[3];
}

static nasc_tensor *nb201_forward(nasc_supernet *sn, const fwd_ctx *f, nasc_tensor *x) {
    nasc_graph *g = f->g;
    nasc_tensor *h = bn_fwd(f, &sn->stem_bn, nasc_conv_forward(g, &sn->stem, x));
    for (int i = 0; i < sn->n_cells; i++) {
        const sn_cell *cell = &sn->cells[i];
        if (!cell->resblock) {
            h = nb201_cell(sn, f, cell, h);
            continue;
        }
        if (!h)
            return NULL;
        /* rb_a's BN keeps its input (ordinary BN, or BN + ReLU fused) for the ReLU after it */
        nasc_tensor *a =
            bn_act(f, &cell->rb_a.bn, nasc_conv_forward(g, &cell->rb_a.conv, act(f, h)));
        nasc_tensor *b = rcb_fwd(f, &cell->rb_b, a);
        nasc_tensor *s = nasc_conv_forward(
            g, &cell->rb_short,
            nasc_avgpool2d(g, h, &(nasc_pool2d_params){.k = {2, 2}, .stride = {2, 2},
                                                       .count_include_pad = true}));
        h = nasc_add(g, b, s);
    }
    h = bn_act(f, &sn->last_bn, h);
    return nasc_fc_forward(g, &sn->fc, nasc_global_avgpool(g, h));
}

nasc_tensor *nasc_supernet_forward(nasc_supernet *sn, nasc_graph *g, nasc_tensor *x,
                                   const nasc_supernet_plan *plan) {
    if (nasc_graph_status(g) != NASC_OK || !x)
        return NULL;
    if (!plan) {
        nasc_graph_errorf(g, NASC_ERR_ARG, "supernet: forward needs a plan");
        return NULL;
    }
    for (int t = 0; t < sn->n_types; t++) {
        const nasc_tensor *w = plan->weights[t];
        if (!w || nasc_tensor_nelem(w) != (int64_t)sn->E * sn->K) {
            nasc_graph_errorf(g, NASC_ERR_ARG,
                              "supernet: plan weights of cell type %d must have %d x %d elements",
                              t, sn->E, sn->K);
            return NULL;
        }
        const nasc_tensor *ew = plan->edge_weights[t];
        if (ew && nasc_tensor_nelem(ew) != sn->E) {
            nasc_graph_errorf(g, NASC_ERR_ARG,
                              "supernet: plan edge weights of cell type %d must have %d elements",
                              t, sn->E);
            return NULL;
        }
    }
    const nasc_supernet_config *c = &sn->cfg;
    if (x->ne[1] != c->in_c || x->ne[2] != c->in_h || x->ne[3] != c->in_w) {
        char xs[48];
        nasc_graph_errorf(g, NASC_ERR_SHAPE, "supernet: input %s vs the supernet's (N,%d,%d,%d)",
                          nasc_tensor_shape_str(x, xs, sizeof xs), c->in_c, c->in_h, c->in_w);
        return NULL;
    }
    fwd_ctx f = {.g = g, .sn = sn, .plan = plan, .batch_only = plan->bn_batch_stats_only,
                 .smooth = sn->cfg.smooth, .momentum = plan->bn_momentum};
    return sn->kind == OS_DARTS ? darts_forward(sn, &f, x) : nb201_forward(sn, &f, x);
}

/* ---- plans ---- */

void nasc_supernet_plan_softmax(nasc_supernet *sn, nasc_graph *g, nasc_supernet_plan *out) {
    memset(out, 0, sizeof *out);
    const uint16_t all = (uint16_t)(((1u << sn->K) - 1u) & ~1u);
    for (int t = 0; t < sn->n_types; t++) {
        out->weights[t] = nasc_softmax(g, sn->alpha[t]);
        for (int e = 0; e < sn->E; e++)
            out->active[t][e] = all;
        if (!sn->beta[t])
            continue;
        /* softmax of the betas over each node's incoming edges (PC-DARTS) */
        nasc_tensor *parts[4];
        int e0 = 0;
        for (int i = 0; i < 4; i++) {
            const int ne = i + 2;
            parts[i] = nasc_softmax(
                g, nasc_slice(g, sn->beta[t], &(nasc_slice_params){e0, e0 + ne, 0, 0, 1, 1}));
            e0 += ne;
        }
        out->edge_weights[t] = nasc_concat(g, 4, parts);
    }
}

nasc_status nasc_supernet_plan_arch(nasc_supernet *sn, nasc_graph *g, const nasc_arch *a,
                                    nasc_supernet_plan *out, nasc_err *err) {
    memset(out, 0, sizeof *out);
    if (!a || nasc_arch_space(a) != sn->space)
        return nasc_errorf(err, NASC_ERR_ARG,
                           "supernet: the architecture is not of the supernet's space (%s)",
                           nasc_space_name(sn->space));
    int d[64], n = 0;
    nasc_arch_to_decisions(a, d, &n);
    for (int t = 0; t < sn->n_types; t++) {
        nasc_tensor *w = nasc_input(g, sn->E, sn->K, 1, 1, NULL);
        if (!w)
            return nasc_errorf(err, nasc_graph_status(g), "%s", nasc_graph_errmsg(g));
        memset(w->data, 0, (size_t)sn->E * (size_t)sn->K * sizeof(float));
        out->weights[t] = w;
        if (sn->kind == OS_NB201) {
            for (int e = 0; e < sn->E && e < n; e++) {
                w->data[e * sn->K + d[e]] += 1.0f;
                out->active[t][e] |= (uint16_t)(1u << d[e]);
            }
            continue;
        }
        /* darts: pair k of cell t: op d[16t + 2k], input d[16t + 2k + 1] into node 2 + k/2; an
         * (edge, op) chosen twice counts twice, as the evaluation network sums both */
        for (int k = 0; k < 8; k++) {
            const int op = d[16 * t + 2 * k], in = d[16 * t + 2 * k + 1], node = k / 2;
            const int e = node * (node + 3) / 2 + in;
            if (op == 0) /* none */
                continue;
            w->data[e * sn->K + op] += 1.0f;
            out->active[t][e] |= (uint16_t)(1u << op);
        }
    }
    return NASC_OK;
}

/* ---- deriving ---- */

void nasc_os_softmax(const float *x, int n, float *out) {
    double m = x[0];
    for (int i = 1; i < n; i++)
        m = (double)x[i] > m ? (double)x[i] : m;
    double s = 0.0;
    for (int i = 0; i < n; i++)
        s += exp((double)x[i] - m);
    for (int i = 0; i < n; i++)
        out[i] = (float)(exp((double)x[i] - m) / s);
}

void nasc_supernet_probs(const nasc_supernet *sn, int t, float *out, float *ew_out) {
    const float *al = sn->alpha[t]->data;
    for (int e = 0; e < sn->E; e++)
        nasc_os_softmax(al + e * sn->K, sn->K, out + e * sn->K);
    if (!ew_out)
        return;
    if (!sn->beta[t]) {
        for (int e = 0; e < sn->E; e++)
            ew_out[e] = 1.0f;
        return;
    }
    int e0 = 0;
    for (int i = 0; i < 4; i++) {
        nasc_os_softmax(sn->beta[t]->data + e0, i + 2, ew_out + e0);
        e0 += i + 2;
    }
}

nasc_status nasc_supernet_derive(const nasc_supernet *sn, const float *const *w,
                                 const float *const *ew, nasc_arch **out, nasc_err *err) {
    float probs[2][NASC_SUPERNET_MAX_EDGES * NASC_SUPERNET_MAX_OPS];
    float eprobs[2][NASC_SUPERNET_MAX_EDGES];
    int d[64], n = 0;
    for (int t = 0; t < sn->n_types; t++) {
        const float *W = w ? w[t] : NULL;
        const float *EW = ew ? ew[t] : NULL;
        if (!W || (!EW && sn->beta[t])) {
            nasc_supernet_probs(sn, t, probs[t], eprobs[t]);
            if (!W)
                W = probs[t];
            if (!EW)
                EW = eprobs[t];
        }
        if (sn->kind == OS_NB201) {
            for (int e = 0; e < sn->E; e++) {
                int best = 0;
                for (int k = 1; k < sn->K; k++)
                    if (W[e * sn->K + k] > W[e * sn->K + best])
                        best = k;
                d[n++] = best;
            }
            continue;
        }
        int e0 = 0;
        for (int i = 0; i < 4; i++) {
            const int ne = i + 2;
            int best_op[6];
            float strength[6];
            for (int j = 0; j < ne; j++) {
                const float *row = W + (e0 + j) * sn->K;
                int b = 1;
                for (int k = 2; k < sn->K; k++)
                    if (row[k] > row[b])
                        b = k;
                best_op[j] = b;
                strength[j] = row[b] * (EW ? EW[e0 + j] : 1.0f);
            }
            /* the two strongest edges, strongest first, ties to the lower index (Python's
             * stable sort on -strength, as the DARTS code) */
            int first = 0;
            for (int j = 1; j < ne; j++)
                if (strength[j] > strength[first])
                    first = j;
            int second = first == 0 ? 1 : 0;
            for (int j = 0; j < ne; j++)
                if (j != first && strength[j] > strength[second])
                    second = j;
            d[n++] = best_op[first];
            d[n++] = first;
            d[n++] = best_op[second];
            d[n++] = second;
            e0 += ne;
        }
    }
    return nasc_arch_from_decisions(sn->space, d, n, out, err);
}

/* ---- reports ---- */

static size_t conv_n(const nasc_conv *c) {
    return (size_t)nasc_tensor_nelem(c->w) + (c->b ? (size_t)nasc_tensor_nelem(c->b) : 0);
}
static size_t bn_n(const nasc_bn *b) { return b->gamma ? 2 * (size_t)b->gamma->ne[1] : 0; }
static size_t rcb_n(const sn_rcb *r) { return conv_n(&r->conv) + bn_n(&r->bn); }
static size_t fr_n(const sn_fr *f) { return conv_n(&f->c1) + conv_n(&f->c2) + bn_n(&f->bn); }

size_t nasc_os_arch_params(const nasc_supernet *sn, const nasc_arch *a) {
    int d[64], n = 0;
    nasc_arch_to_decisions(a, d, &n);
    size_t total = conv_n(&sn->stem) + bn_n(&sn->stem_bn) + bn_n(&sn->last_bn) +
                   (size_t)nasc_tensor_nelem(sn->fc.w) + (size_t)nasc_tensor_nelem(sn->fc.b);
    for (int i = 0; i < sn->n_cells; i++) {
        const sn_cell *c = &sn->cells[i];
        if (c->resblock) {
            total += rcb_n(&c->rb_a) + rcb_n(&c->rb_b) + conv_n(&c->rb_short);
            continue;
        }
        if (sn->kind == OS_DARTS)
            total += (c->reduction_prev ? fr_n(&c->pre0_fr) : rcb_n(&c->pre0)) + rcb_n(&c->pre1);
        for (int e = 0; e < sn->E; e++) {
            const sn_edge *ed = &c->edge[e];
            uint16_t used = 0;
            if (sn->kind == OS_NB201) {
                used = (uint16_t)(1u << d[e]);
            } else {
                for (int k = 0; k < 8; k++) {
                    const int node = k / 2, in = d[16 * c->type + 2 * k + 1];
                    if (node * (node + 3) / 2 + in == e)
                        used |= (uint16_t)(1u << d[16 * c->type + 2 * k]);
                }
            }
            for (int k = 1; k < sn->K; k++) {
                if (!(used & (1u << k)))
                    continue;
                const nasc_cell_op *o = &sn->ops[k];
                if (sn->kind == OS_NB201) {
                    if (o->kind == NASC_CELL_RCB)
                        total += rcb_n(&ed->conv[op_slot(o)]);
                    continue;
                }
                switch (o->kind) {
                case NASC_CELL_MAX3:
                    total += bn_n(&ed->bn_max);
                    break;
                case NASC_CELL_AVG3:
                    total += bn_n(&ed->bn_avg);
                    break;
                case NASC_CELL_IDENTITY:
                    total += ed->stride == 2 ? fr_n(&ed->skip_fr) : 0;
                    break;
                case NASC_CELL_SEP: {
                    const sn_sep *s = &ed->sep[op_slot(o)];
                    total += conv_n(&s->dw1) + conv_n(&s->pw1) + conv_n(&s->dw2) +
                             conv_n(&s->pw2) + bn_n(&s->bn1) + bn_n(&s->bn2);
                    break;
                }
                default: {
                    const sn_dil *dl = &ed->dil[op_slot(o)];
                    total += conv_n(&dl->dw) + conv_n(&dl->pw) + bn_n(&dl->bn);
                }
                }
            }
        }
    }
    return total;
}

/* ---- memory ---- */

typedef struct mem_point {
    size_t arena, grads, scratch;
} mem_point;

static nasc_status measure_step(nasc_supernet *sn, nasc_backend *be, int batch, mem_point *out,
                                nasc_err *err) {
    nasc_graph *g = nasc_graph_new(be, 0, err);
    if (!g)
        return err->code;
    nasc_graph_set_release_grads(g, true);
    const nasc_supernet_config *c = &sn->cfg;
    nasc_status st = NASC_OK;
    nasc_tensor *x = nasc_input(g, batch, c->in_c, c->in_h, c->in_w, NULL);
    int32_t labels[2] = {0, 1};
    if (x)
        memset(x->data, 0, (size_t)nasc_tensor_nelem(x) * sizeof(float));
    for (int t = 0; t < sn->n_types; t++)
        nasc_tensor_set_requires_grad(sn->alpha[t], true);
    nasc_supernet_plan plan;
    nasc_supernet_plan_softmax(sn, g, &plan);
    nasc_tensor *logits = nasc_supernet_forward(sn, g, x, &plan);
    nasc_tensor *loss = nasc_cross_entropy(g, logits, labels, 0.0f);
    if (nasc_graph_status(g) == NASC_OK)
        nasc_backward(g, loss);
    if (nasc_graph_status(g) != NASC_OK)
        st = nasc_errorf(err, nasc_graph_status(g), "supernet memory: %s", nasc_graph_errmsg(g));
    out->arena = nasc_arena_high_water(nasc_graph_arena(g));
    nasc_graph_grad_bytes(g, NULL, &out->grads, false);
    out->scratch = be->scratch_bytes;
    nasc_graph_free(g);
    return st;
}

nasc_status nasc_supernet_memory_predict(nasc_supernet *sn, nasc_backend *be, int batch,
                                         int optim_floats_per_weight, nasc_supernet_memory *out,
                                         nasc_err *err) {
    memset(out, 0, sizeof *out);
    if (batch < 1 || optim_floats_per_weight < 0)
        return nasc_errorf(err, NASC_ERR_ARG, "supernet memory: batch must be >= 1 (%d)", batch);
    /* the two probe steps change BN running statistics and accumulate gradients: keep copies */
    nasc_params *stores[2] = {sn->w, sn->a};
    float *saved[2][2] = {{NULL, NULL}, {NULL, NULL}};
    size_t len[2][2];
    nasc_status st = NASC_OK;
    for (int s = 0; s < 2; s++) {
        len[s][0] = nasc_params_flat_len(stores[s]);
        len[s][1] = nasc_params_buffer_count(stores[s]);
        saved[s][0] = nasc_malloc((len[s][0] + 1) * sizeof(float));
        saved[s][1] = nasc_malloc((len[s][1] + 1) * sizeof(float));
        if (!saved[s][0] || !saved[s][1]) {
            st = nasc_errorf(err, NASC_ERR_NOMEM, "supernet memory: out of memory");
            goto done;
        }
        memcpy(saved[s][0], nasc_params_grad(stores[s]), len[s][0] * sizeof(float));
        if (len[s][1])
            memcpy(saved[s][1], nasc_params_buffer_data(stores[s]), len[s][1] * sizeof(float));
    }
    mem_point m1, m2;
    if ((st = measure_step(sn, be, 1, &m1, err)) != NASC_OK ||
        (st = measure_step(sn, be, 2, &m2, err)) != NASC_OK)
        goto done;
    const size_t b1 = (size_t)(batch - 1);
    const size_t da = m2.arena > m1.arena ? m2.arena - m1.arena : 0;
    const size_t dg = m2.grads > m1.grads ? m2.grads - m1.grads : 0;
    const size_t ds = m2.scratch > m1.scratch ? m2.scratch - m1.scratch : 0;
    out->activation_bytes = m1.arena + da * b1;
    out->grad_bytes = m1.grads + dg * b1;
    out->scratch_bytes = m1.scratch + ds * b1;
    out->per_image_bytes = da + dg + ds;
    const size_t f = sizeof(float);
    out->params_bytes = nasc_params_bytes(sn->w) + nasc_params_bytes(sn->a) +
                        (size_t)optim_floats_per_weight *
                            (nasc_params_flat_len(sn->w) + nasc_params_flat_len(sn->a)) * f;
    out->total_bytes =
        out->params_bytes + out->activation_bytes + out->grad_bytes + out->scratch_bytes;
done:
    for (int s = 0; s < 2; s++) {
        if (saved[s][0])
            memcpy(nasc_params_grad(stores[s]), saved[s][0], len[s][0] * sizeof(float));
        if (saved[s][1] && len[s][1])
            memcpy(nasc_params_buffer_data(stores[s]), saved[s][1], len[s][1] * sizeof(float));
        nasc_free(saved[s][0]);
        nasc_free(saved[s][1]);
    }
    return st;
}
