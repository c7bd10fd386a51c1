/* loader.c — batches of normalised, augmented samples, optionally prepared by a prefetch thread.
 *
 * What a batch contains is a pure function of (seed, epoch, batch index): the epoch's order is a
 * Fisher-Yates shuffle drawn from Philox (seed, NASC_STREAM_SHUFFLE + epoch<<32), and each sample
 * is transformed with draws keyed by (seed, epoch, sample) (augment.c). The thread only changes
 * *when* a batch is computed, never what it holds, and resuming at (epoch, batch) is exact.
 *
 * Prefetch protocol (double buffering; every field below `mu` is guarded by it). Batch b always
 * goes to slot b % 2. A slot is FREE, FILLING (the worker writes it, outside the lock), READY, or
 * HELD (handed to the caller until its next call). The worker fills batch next_fill when its slot
 * is FREE; nasc_loader_next releases the held slot, then waits for slot next_take % 2 to be READY.
 * So the worker is at most two batches ahead, and never touches a slot the caller reads.
 * nasc_loader_start_epoch_at pauses the worker, waits until it is not filling (it reads `order`
 * outside the lock), rewrites the order and positions, and resumes it. */
#include "data_int.h"

#include "nasc/arena.h"
#include "nasc/rng.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

typedef enum slot_state { SLOT_FREE, SLOT_FILLING, SLOT_READY, SLOT_HELD } slot_state;

struct nasc_loader {
    const nasc_dataset *ds; /* borrowed */
    nasc_loader_config cfg;
    data_norm norm; /* per-channel lookup table */
    size_t n_batches;
    size_t sample_floats; /* H*W*C */
    uint32_t *order;      /* ds->n sample indices of the current epoch */
    float *x[2];          /* slot buffers (B, H, W, C); x[1] only with prefetch */
    int32_t *y[2];        /* slot labels (B) */
    uint32_t epoch;       /* current epoch (written by the caller's thread only) */
    size_t next_take;     /* batch the next nasc_loader_next returns (caller's thread only) */

    /* prefetch state */
    bool threaded;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv_work; /* worker waits: a slot was freed, a new epoch, or stop */
    pthread_cond_t cv_done; /* caller waits: a slot became READY, or the worker went idle */
    slot_state state[2];
    size_t slot_batch[2]; /* batch held by each READY/HELD slot */
    int slot_n[2];        /* images in it */
    int held;             /* slot handed to the caller, -1 if none */
    size_t next_fill;     /* batch the worker fills next */
    uint32_t fill_epoch;  /* epoch of the batches being filled (= epoch, read under mu) */
    bool busy;            /* the worker is filling outside the lock */
    bool paused;          /* start_epoch_at is rewriting the order */
    bool stop;
};

/* The images [*lo, *hi) of a global batch of `count` that this loader's shard returns. */
static void shard_range(const nasc_loader *l, size_t count, size_t *lo, size_t *hi) {
    const size_t k = l->cfg.n_shards > 1 ? (size_t)l->cfg.n_shards : 1;
    const size_t r = l->cfg.n_shards > 1 ? (size_t)l->cfg.shard : 0;
    *lo = count * r / k;
    *hi = count * (r + 1) / k;
}

/* Fills slot s with (this shard's share of) batch b of epoch `epoch`; returns the number of
 * images. Reads order, ds and norm; writes only x[s] and y[s]. */
static int fill_batch(nasc_loader *l, int s, size_t b, uint32_t epoch) {
    const size_t B = (size_t)l->cfg.batch, n = (size_t)l->ds->n;
    size_t lo, hi;
    shard_range(l, n - b * B < B ? n - b * B : B, &lo, &hi);
    const size_t first = b * B + lo, count = hi - lo;
    for (size_t i = 0; i < count; i++) {
        const uint32_t sample = l->order[first + i];
        nasc_data_transform(l->ds, &l->norm, &l->cfg.aug, l->cfg.seed, epoch, sample,
                            l->x[s] + i * l->sample_floats);
        l->y[s][i] = l->ds->labels[sample];
    }
    return (int)count;
}

static void make_order(nasc_loader *l, uint32_t epoch) {
    const size_t n = (size_t)l->ds->n;
    for (size_t i = 0; i < n; i++)
        l->order[i] = (uint32_t)i;
    if (l->cfg.shuffle) {
        nasc_rng r;
        nasc_rng_init(&r, l->cfg.seed, (uint64_t)NASC_STREAM_SHUFFLE | (uint64_t)epoch << 32);
        nasc_rng_shuffle_u32(&r, l->order, n);
    }
}

static void *worker_main(void *arg) {
    nasc_loader *l = arg;
    pthread_mutex_lock(&l->mu);
    for (;;) {
        while (!l->stop && (l->paused || l->next_fill >= l->n_batches ||
                            l->state[l->next_fill % 2] != SLOT_FREE))
            pthread_cond_wait(&l->cv_work, &l->mu);
        if (l->stop)
            break;
        const size_t b = l->next_fill++;
        const int s = (int)(b % 2);
        const uint32_t epoch = l->fill_epoch;
        l->state[s] = SLOT_FILLING;
        l->busy = true;
        pthread_mutex_unlock(&l->mu);

        const int count = fill_batch(l, s, b, epoch);

        pthread_mutex_lock(&l->mu);
        l->busy = false;
        l->state[s] = SLOT_READY;
        l->slot_batch[s] = b;
        l->slot_n[s] = count;
        pthread_cond_broadcast(&l->cv_done);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

static void loader_release(nasc_loader *l) {
    nasc_free(l->order);
    for (int s = 0; s < 2; s++) {
        nasc_free_aligned(l->x[s]);
        nasc_free(l->y[s]);
    }
    nasc_free(l);
}

nasc_status nasc_loader_new(const nasc_dataset *ds, const nasc_loader_config *cfg,
                            nasc_loader **out, nasc_err *err) {
    *out = NULL;
    if (!ds || !cfg)
        return nasc_errorf(err, NASC_ERR_ARG, "loader: NULL dataset or config");
    const char *name = ds->name;
    if (ds->n < 1)
        return nasc_errorf(err, NASC_ERR_ARG, "loader: %s: empty dataset", name);
    if (cfg->batch < 1)
        return nasc_errorf(err, NASC_ERR_ARG, "loader: %s: batch size %d (expected >= 1)", name,
                           cfg->batch);
    const int side = ds->h < ds->w ? ds->h : ds->w;
    if (cfg->n_shards < 0 || cfg->shard < 0 || (cfg->n_shards > 1 && cfg->shard >= cfg->n_shards))
        return nasc_errorf(err, NASC_ERR_ARG, "loader: %s: shard %d of %d", name, cfg->shard,
                           cfg->n_shards);
    if (cfg->aug.crop_pad < 0 || cfg->aug.crop_pad > side)
        return nasc_errorf(err, NASC_ERR_ARG, "loader: %s: crop padding %d out of range [0,%d]",
                           name, cfg->aug.crop_pad, side);
    const int big = ds->h > ds->w ? ds->h : ds->w;
    if (cfg->aug.cutout < 0 || cfg->aug.cutout > 2 * big)
        return nasc_errorf(err, NASC_ERR_ARG, "loader: %s: cutout length %d out of range [0,%d]",
                           name, cfg->aug.cutout, 2 * big);
    for (int c = 0; c < ds->c; c++)
        if (!(ds->std[c] > 0.0f))
            return nasc_errorf(err, NASC_ERR_ARG, "loader: %s: std[%d] = %g (expected > 0)", name,
                               c, (double)ds->std[c]);
    const size_t n = (size_t)ds->n, B = (size_t)cfg->batch;
    const size_t n_batches = cfg->drop_last ? n / B : (n + B - 1) / B;
    if (n_batches == 0)
        return nasc_errorf(err, NASC_ERR_ARG,
                           "loader: %s: batch size %d with drop_last leaves no batch of %zu images",
                           name, cfg->batch, n);
    const size_t sample_floats = nasc_dataset_image_bytes(ds);
    if (sample_floats > SIZE_MAX / sizeof(float) / B)
        return nasc_errorf(err, NASC_ERR_ARG, "loader: %s: batch size %d too large", name,
                           cfg->batch);

    nasc_loader *l = nasc_calloc(1, sizeof *l);
    if (!l)
        return nasc_errorf(err, NASC_ERR_NOMEM, "loader: %s: out of memory", name);
    l->ds = ds;
    l->cfg = *cfg;
    l->n_batches = n_batches;
    l->sample_floats = sample_floats;
    l->held = -1;
    nasc_data_norm_init(&l->norm, ds);
    const int n_slots = cfg->prefetch ? 2 : 1;
    l->order = nasc_malloc(n * sizeof *l->order);
    bool ok = l->order != NULL;
    for (int s = 0; s < n_slots && ok; s++) {
        l->x[s] = nasc_malloc_aligned(B * sample_floats * sizeof(float));
        l->y[s] = nasc_malloc(B * sizeof(int32_t));
        ok = l->x[s] && l->y[s];
    }
    if (!ok) {
        loader_release(l);
        return nasc_errorf(err, NASC_ERR_NOMEM,
                           "loader: %s: out of memory for %d batch buffers of %zu floats", name,
                           n_slots, B * sample_floats);
    }
    make_order(l, 0);
    if (cfg->prefetch) {
        if (pthread_mutex_init(&l->mu, NULL) != 0) {
            loader_release(l);
            return nasc_errorf(err, NASC_ERR_INTERNAL, "loader: cannot create a mutex");
        }
        if (pthread_cond_init(&l->cv_work, NULL) != 0) {
            pthread_mutex_destroy(&l->mu);
            loader_release(l);
            return nasc_errorf(err, NASC_ERR_INTERNAL, "loader: cannot create a condition");
        }
        if (pthread_cond_init(&l->cv_done, NULL) != 0) {
            pthread_cond_destroy(&l->cv_work);
            pthread_mutex_destroy(&l->mu);
            loader_release(l);
            return nasc_errorf(err, NASC_ERR_INTERNAL, "loader: cannot create a condition");
        }
        int rc = pthread_create(&l->thread, NULL, worker_main, l);
        if (rc != 0) {
            pthread_cond_destroy(&l->cv_done);
            pthread_cond_destroy(&l->cv_work);
            pthread_mutex_destroy(&l->mu);
            loader_release(l);
            return nasc_errorf(err, rc == EAGAIN ? NASC_ERR_NOMEM : NASC_ERR_INTERNAL,
                               "loader: cannot start the prefetch thread (%s)", strerror(rc));
        }
        l->threaded = true;
    }
    *out = l;
    return NASC_OK;
}

nasc_status nasc_loader_start_epoch_at(nasc_loader *l, uint32_t epoch, size_t batch,
                                       nasc_err *err) {
    if (batch > l->n_batches)
        return nasc_errorf(err, NASC_ERR_ARG, "loader: %s: batch %zu out of range [0,%zu]",
                           l->ds->name, batch, l->n_batches);
    if (!l->threaded) {
        if (epoch != l->epoch)
            make_order(l, epoch);
        l->epoch = epoch;
        l->next_take = batch;
        return NASC_OK;
    }
    pthread_mutex_lock(&l->mu);
    l->paused = true;
    while (l->busy)
        pthread_cond_wait(&l->cv_done, &l->mu);
    if (epoch != l->epoch)
        make_order(l, epoch);
    l->epoch = l->fill_epoch = epoch;
    l->next_take = l->next_fill = batch;
    l->state[0] = l->state[1] = SLOT_FREE;
    l->held = -1;
    l->paused = false;
    pthread_cond_broadcast(&l->cv_work);
    pthread_mutex_unlock(&l->mu);
    return NASC_OK;
}

void nasc_loader_start_epoch(nasc_loader *l, uint32_t epoch) {
    nasc_status st = nasc_loader_start_epoch_at(l, epoch, 0, NULL);
    NASC_ASSERT(st == NASC_OK); /* batch 0 is always in range */
}

/* out->first and out->n_total of batch out->index. */
static void batch_share(const nasc_loader *l, nasc_batch *out) {
    const size_t B = (size_t)l->cfg.batch, n = (size_t)l->ds->n, first = out->index * B;
    const size_t count = n - first < B ? n - first : B;
    size_t lo, hi;
    shard_range(l, count, &lo, &hi);
    out->first = (int)lo;
    out->n_total = (int)count;
}

bool nasc_loader_next(nasc_loader *l, nasc_batch *out) {
    if (!l->threaded) {
        if (l->next_take >= l->n_batches)
            return false;
        const size_t b = l->next_take++;
        out->n = fill_batch(l, 0, b, l->epoch);
        out->index = b;
        batch_share(l, out);
        out->x = l->x[0];
        out->labels = l->y[0];
        return true;
    }
    pthread_mutex_lock(&l->mu);
    if (l->held >= 0) {
        l->state[l->held] = SLOT_FREE;
        l->held = -1;
        pthread_cond_signal(&l->cv_work);
    }
    if (l->next_take >= l->n_batches) {
        pthread_mutex_unlock(&l->mu);
        return false;
    }
    const int s = (int)(l->next_take % 2);
    while (l->state[s] != SLOT_READY)
        pthread_cond_wait(&l->cv_done, &l->mu);
    NASC_ASSERT(l->slot_batch[s] == l->next_take);
    l->state[s] = SLOT_HELD;
    l->held = s;
    out->n = l->slot_n[s];
    out->index = l->next_take++;
    batch_share(l, out);
    out->x = l->x[s];
    out->labels = l->y[s];
    pthread_mutex_unlock(&l->mu);
    return true;
}

size_t nasc_loader_n_batches(const nasc_loader *l) {
    return l->n_batches;
}

void nasc_loader_tell(const nasc_loader *l, uint32_t *out_epoch, size_t *out_batch) {
    if (out_epoch)
        *out_epoch = l->epoch;
    if (out_batch)
        *out_batch = l->next_take;
}

void nasc_loader_free(nasc_loader *l) {
    if (!l)
        return;
    if (l->threaded) {
        pthread_mutex_lock(&l->mu);
        l->stop = true;
        pthread_cond_broadcast(&l->cv_work);
        pthread_mutex_unlock(&l->mu);
        pthread_join(l->thread, NULL);
        pthread_cond_destroy(&l->cv_done);
        pthread_cond_destroy(&l->cv_work);
        pthread_mutex_destroy(&l->mu);
    }
    loader_release(l);
}
