/* params.c — the two-phase parameter store: register tensors, finalize into contiguous blocks
 * (weights, grads, buffers), initialise each tensor from Philox keyed by (seed, index). */
#include "nasc/nn.h"

#include "nasc/arena.h"
#include "nasc/limits.h"
#include "nasc/rng.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct entry {
    nasc_tensor t;
    nasc_init init;
    float scale;
} entry;

struct nasc_params {
    char name[32];
    entry **trainable; /* registration order */
    int n_trainable, cap_trainable;
    entry **buffers;
    int n_buffers, cap_buffers;
    size_t count, buffer_count; /* elements */
    float *data, *grad, *bdata; /* blocks after finalize (64-byte aligned) */
    bool finalized;
};

nasc_params *nasc_params_new(const char *name) {
    nasc_params *ps = nasc_calloc(1, sizeof *ps);
    if (ps)
        snprintf(ps->name, sizeof ps->name, "%s", name ? name : "params");
    return ps;
}

void nasc_params_free(nasc_params *ps) {
    if (!ps)
        return;
    for (int i = 0; i < ps->n_trainable; i++)
        nasc_free(ps->trainable[i]);
    for (int i = 0; i < ps->n_buffers; i++)
        nasc_free(ps->buffers[i]);
    nasc_free(ps->trainable);
    nasc_free(ps->buffers);
    nasc_free_aligned(ps->data);
    nasc_free_aligned(ps->grad);
    nasc_free_aligned(ps->bdata);
    nasc_free(ps);
}

nasc_tensor *nasc_params_find(const nasc_params *ps, const char *name) {
    for (int i = 0; i < ps->n_trainable; i++)
        if (!strcmp(ps->trainable[i]->t.name, name))
            return &ps->trainable[i]->t;
    for (int i = 0; i < ps->n_buffers; i++)
        if (!strcmp(ps->buffers[i]->t.name, name))
            return &ps->buffers[i]->t;
    return NULL;
}

static nasc_tensor *add(nasc_params *ps, bool trainable, const char *name, int n, int c, int h,
                        int w, nasc_init init, float scale, nasc_err *err) {
    if (ps->finalized) {
        nasc_errorf(err, NASC_ERR_ARG, "params %s: cannot add '%s' after finalize", ps->name, name);
        return NULL;
    }
    if (n <= 0 || c <= 0 || h <= 0 || w <= 0) {
        nasc_errorf(err, NASC_ERR_SHAPE, "params %s: '%s': dims must be positive (%d,%d,%d,%d)",
                    ps->name, name, n, c, h, w);
        return NULL;
    }
    if ((int64_t)n * c * h * w > NASC_MAX_TENSOR_ELEMS) {
        nasc_errorf(err, NASC_ERR_ARG, "params %s: '%s': %d x %d x %d x %d elements exceed %lld",
                    ps->name, name, n, c, h, w, NASC_MAX_TENSOR_ELEMS);
        return NULL;
    }
    if ((unsigned)init >= (unsigned)NASC_INIT_COUNT) {
        nasc_errorf(err, NASC_ERR_ARG, "params %s: '%s': unknown init rule %d", ps->name, name,
                    (int)init);
        return NULL;
    }
    if (strlen(name) >= sizeof(((nasc_tensor *)0)->name)) {
        nasc_errorf(err, NASC_ERR_ARG, "params %s: name '%s' longer than %zu characters", ps->name,
                    name, sizeof(((nasc_tensor *)0)->name) - 1);
        return NULL;
    }
    if (nasc_params_find(ps, name)) {
        nasc_errorf(err, NASC_ERR_ARG, "params %s: duplicate name '%s'", ps->name, name);
        return NULL;
    }
    entry ***list = trainable ? &ps->trainable : &ps->buffers;
    int *len = trainable ? &ps->n_trainable : &ps->n_buffers;
    int *cap = trainable ? &ps->cap_trainable : &ps->cap_buffers;
    if (*len == *cap) {
        int nc = *cap ? *cap * 2 : 16;
        entry **grown = nasc_realloc(*list, (size_t)nc * sizeof *grown);
        if (!grown) {
            nasc_errorf(err, NASC_ERR_NOMEM, "params %s: out of memory", ps->name);
            return NULL;
        }
        *list = grown;
        *cap = nc;
    }
    entry *e = nasc_calloc(1, sizeof *e);
    if (!e) {
        nasc_errorf(err, NASC_ERR_NOMEM, "params %s: out of memory", ps->name);
        return NULL;
    }
    nasc_tensor_init(&e->t, NULL, n, c, h, w);
    snprintf(e->t.name, sizeof e->t.name, "%s", name);
    e->t.flags = trainable ? (NASC_TENSOR_PARAM | NASC_TENSOR_REQUIRES_GRAD) : NASC_TENSOR_BUFFER;
    e->init = init;
    e->scale = scale;
    (*list)[(*len)++] = e;
    if (trainable)
        ps->count += (size_t)nasc_tensor_nelem(&e->t);
    else
        ps->buffer_count += (size_t)nasc_tensor_nelem(&e->t);
    return &e->t;
}

nasc_tensor *nasc_params_add(nasc_params *ps, const char *name, int n, int c, int h, int w,
                             nasc_init init, float scale, nasc_err *err) {
    return add(ps, true, name, n, c, h, w, init, scale, err);
}

nasc_tensor *nasc_params_add_buffer(nasc_params *ps, const char *name, int n, int c, int h, int w,
                                    nasc_init init, float scale, nasc_err *err) {
    return add(ps, false, name, n, c, h, w, init, scale, err);
}

/* Each tensor starts on a 64-byte boundary inside the blocks (16 floats). */
static size_t padded(size_t n) { return (n + 15) & ~(size_t)15; }

nasc_status nasc_params_finalize(nasc_params *ps, nasc_err *err) {
    if (ps->finalized)
        return nasc_errorf(err, NASC_ERR_ARG, "params %s: finalized twice", ps->name);
    /* Blocks are padded per tensor; count stays the true element count. The flat views
     * (nasc_params_data/grad) cover the padded block, whose padding is zero and stays zero. */
    size_t total = 0, btotal = 0;
    for (int i = 0; i < ps->n_trainable; i++)
        total += padded((size_t)nasc_tensor_nelem(&ps->trainable[i]->t));
    for (int i = 0; i < ps->n_buffers; i++)
        btotal += padded((size_t)nasc_tensor_nelem(&ps->buffers[i]->t));
    /* Each count is below NASC_MAX_TENSOR_ELEMS, so the sums fit in 64 bits; what fits in
     * this machine is checked before anything is allocated. */
    char what[64];
    snprintf(what, sizeof what, "params %s: %zu parameters", ps->name, total);
    NASC_TRY(nasc_limit_check_bytes(err, what,
                                    ((uint64_t)total * 2 + (uint64_t)btotal) * sizeof(float)));
    ps->data = nasc_malloc_aligned((total ? total : 1) * sizeof(float));
    ps->grad = nasc_malloc_aligned((total ? total : 1) * sizeof(float));
    ps->bdata = nasc_malloc_aligned((btotal ? btotal : 1) * sizeof(float));
    if (!ps->data || !ps->grad || !ps->bdata) {
        nasc_free_aligned(ps->data);
        nasc_free_aligned(ps->grad);
        nasc_free_aligned(ps->bdata);
        ps->data = ps->grad = ps->bdata = NULL;
        return nasc_errorf(err, NASC_ERR_NOMEM,
                           "params %s: out of memory for %zu parameters and %zu buffer values",
                           ps->name, total, btotal);
    }
    memset(ps->data, 0, (total ? total : 1) * sizeof(float));
    memset(ps->grad, 0, (total ? total : 1) * sizeof(float));
    memset(ps->bdata, 0, (btotal ? btotal : 1) * sizeof(float));
    size_t off = 0;
    for (int i = 0; i < ps->n_trainable; i++) {
        nasc_tensor *t = &ps->trainable[i]->t;
        t->data = ps->data + off;
        t->grad = ps->grad + off;
        off += padded((size_t)nasc_tensor_nelem(t));
    }
    ps->count = off; /* the flat views span the padded block */
    off = 0;
    for (int i = 0; i < ps->n_buffers; i++) {
        nasc_tensor *t = &ps->buffers[i]->t;
        t->data = ps->bdata + off;
        off += padded((size_t)nasc_tensor_nelem(t));
    }
    ps->buffer_count = off;
    ps->finalized = true;
    nasc_params_init(ps, 0);
    return NASC_OK;
}

bool nasc_params_finalized(const nasc_params *ps) { return ps->finalized; }

void nasc_fans(const nasc_tensor *w, double *out_fan_in, double *out_fan_out) {
    const double rf = (double)w->ne[2] * w->ne[3];
    *out_fan_in = w->ne[1] * rf;
    *out_fan_out = w->ne[0] * rf;
}

static void init_tensor(nasc_tensor *t, nasc_init init, float scale, uint64_t seed, uint64_t idx) {
    const size_t n = (size_t)nasc_tensor_nelem(t);
    double fan_in, fan_out;
    nasc_fans(t, &fan_in, &fan_out);
    nasc_rng r;
    nasc_rng_init(&r, seed, ((uint64_t)NASC_STREAM_INIT << 32) | idx);
    double a = 0.0, sd = 0.0;
    switch (init) {
    case NASC_INIT_ZEROS:
        memset(t->data, 0, n * sizeof(float));
        return;
    case NASC_INIT_ONES:
        for (size_t i = 0; i < n; i++)
            t->data[i] = 1.0f;
        return;
    case NASC_INIT_CONSTANT:
        for (size_t i = 0; i < n; i++)
            t->data[i] = scale;
        return;
    case NASC_INIT_KAIMING_NORMAL_FAN_IN:
        sd = sqrt(2.0 / fan_in);
        break;
    case NASC_INIT_KAIMING_NORMAL_FAN_OUT:
        sd = sqrt(2.0 / fan_out);
        break;
    case NASC_INIT_XAVIER_NORMAL:
        sd = sqrt(2.0 / (fan_in + fan_out));
        break;
    case NASC_INIT_NORMAL:
        sd = scale;
        break;
    case NASC_INIT_XAVIER_UNIFORM:
        a = sqrt(6.0 / (fan_in + fan_out));
        break;
    case NASC_INIT_TORCH_DEFAULT:
        a = 1.0 / sqrt(fan_in);
        break;
    case NASC_INIT_UNIFORM:
        a = scale;
        break;
    default:
        NASC_ASSERT(!"unknown init rule");
    }
    if (sd > 0.0) {
        for (size_t i = 0; i < n; i++)
            t->data[i] = (float)(sd * (double)nasc_rng_normal(&r));
    } else {
        for (size_t i = 0; i < n; i++)
            t->data[i] = (float)(a * (2.0 * nasc_rng_uniform_double(&r) - 1.0));
    }
}

void nasc_params_init(nasc_params *ps, uint64_t seed) {
    NASC_ASSERT(ps->finalized);
    for (int i = 0; i < ps->n_trainable; i++)
        init_tensor(&ps->trainable[i]->t, ps->trainable[i]->init, ps->trainable[i]->scale, seed,
                    (uint64_t)i);
    for (int i = 0; i < ps->n_buffers; i++)
        init_tensor(&ps->buffers[i]->t, ps->buffers[i]->init, ps->buffers[i]->scale, seed,
                    (uint64_t)(1u << 24) + (uint64_t)i);
}

void nasc_params_zero_grad(nasc_params *ps) {
    if (ps->finalized)
        memset(ps->grad, 0, ps->count * sizeof(float));
}

int nasc_params_n_tensors(const nasc_params *ps) { return ps->n_trainable; }
nasc_tensor *nasc_params_tensor(const nasc_params *ps, int i) {
    return i >= 0 && i < ps->n_trainable ? &ps->trainable[i]->t : NULL;
}
int nasc_params_n_buffers(const nasc_params *ps) { return ps->n_buffers; }
nasc_tensor *nasc_params_buffer(const nasc_params *ps, int i) {
    return i >= 0 && i < ps->n_buffers ? &ps->buffers[i]->t : NULL;
}

size_t nasc_params_count(const nasc_params *ps) {
    size_t n = 0;
    for (int i = 0; i < ps->n_trainable; i++)
        n += (size_t)nasc_tensor_nelem(&ps->trainable[i]->t);
    return n;
}

size_t nasc_params_flat_len(const nasc_params *ps) { return ps->finalized ? ps->count : 0; }

float *nasc_params_data(const nasc_params *ps) { return ps->data; }
float *nasc_params_grad(const nasc_params *ps) { return ps->grad; }
size_t nasc_params_buffer_count(const nasc_params *ps) { return ps->buffer_count; }
float *nasc_params_buffer_data(const nasc_params *ps) { return ps->bdata; }
const char *nasc_params_name(const nasc_params *ps) { return ps->name; }
size_t nasc_params_bytes(const nasc_params *ps) {
    return (2 * ps->count + ps->buffer_count) * sizeof(float);
}
