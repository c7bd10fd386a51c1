/* split.c — stratified random fractions and train/validation splits.
 *
 * Both group the images by class (keeping dataset order inside a class), shuffle each class's
 * block with one Philox sequence (seed, stream) walking the classes in order, and take the first
 * k_c images of class c's shuffled block. The chosen images are then gathered in dataset order.
 * Streams: NASC_STREAM_SPLIT for splits, NASC_STREAM_SPLIT + 2^32 for fractions, so that a
 * fraction and a split drawn with the same seed are independent. */
#include "data_int.h"

#include "nasc/arena.h"
#include "nasc/rng.h"

#include <math.h>
#include <string.h>

#define FRACTION_STREAM ((uint64_t)NASC_STREAM_SPLIT | ((uint64_t)1 << 32))

typedef struct class_blocks {
    uint32_t *order; /* n image indices grouped by class, each block shuffled */
    size_t *start;   /* n_classes + 1 block boundaries */
} class_blocks;

static void blocks_free(class_blocks *b) {
    nasc_free(b->order);
    nasc_free(b->start);
    b->order = NULL;
    b->start = NULL;
}

static nasc_status blocks_make(const nasc_dataset *ds, const char *op, uint64_t seed,
                               uint64_t stream, class_blocks *b, nasc_err *err) {
    const int k = ds->n_classes;
    b->order = nasc_malloc(((size_t)ds->n + 1) * sizeof *b->order);
    b->start = nasc_calloc((size_t)k + 2, sizeof *b->start);
    if (!b->order || !b->start) {
        blocks_free(b);
        return nasc_errorf(err, NASC_ERR_NOMEM, "%s: %s: out of memory", ds->name, op);
    }
    for (int i = 0; i < ds->n; i++) {
        int32_t y = ds->labels[i];
        if (y < 0 || y >= k) {
            blocks_free(b);
            return nasc_errorf(err, NASC_ERR_ARG,
                               "%s: %s: label %d of image %d out of range [0,%d]", ds->name, op,
                               (int)y, i, k - 1);
        }
        b->start[y + 2]++;
    }
    /* counting sort: start[c+1] = first slot of class c+1 once prefix-summed from index 2 */
    for (int c = 0; c < k; c++)
        b->start[c + 2] += b->start[c + 1];
    for (int i = 0; i < ds->n; i++)
        b->order[b->start[ds->labels[i] + 1]++] = (uint32_t)i;
    nasc_rng r;
    nasc_rng_init(&r, seed, stream);
    for (int c = 0; c < k; c++)
        nasc_rng_shuffle_u32(&r, b->order + b->start[c], b->start[c + 1] - b->start[c]);
    return NASC_OK;
}

/* Marks the first take[c] images of each class block in pick[] (n bytes). */
static void blocks_pick(const class_blocks *b, int n_classes, const size_t *take, uint8_t *pick) {
    for (int c = 0; c < n_classes; c++)
        for (size_t j = 0; j < take[c]; j++)
            pick[b->order[b->start[c] + j]] = 1;
}

/* Gathers the images whose pick[] equals want, in dataset order, into a new dataset. */
static nasc_status gather(const nasc_dataset *ds, const uint8_t *pick, uint8_t want, size_t count,
                          uint32_t *idx, nasc_dataset **out, nasc_err *err) {
    size_t m = 0;
    for (int i = 0; i < ds->n; i++)
        if (pick[i] == want)
            idx[m++] = (uint32_t)i;
    NASC_ASSERT(m == count);
    return nasc_dataset_subset(ds, idx, m, out, err);
}

nasc_status nasc_dataset_fraction(const nasc_dataset *ds, double fraction, uint64_t seed,
                                  nasc_dataset **out, nasc_err *err) {
    *out = NULL;
    if (!(fraction > 0.0 && fraction <= 1.0))
        return nasc_errorf(err, NASC_ERR_ARG, "%s: data fraction %g out of range (0,1]", ds->name,
                           fraction);
    class_blocks b = {0};
    size_t *take = NULL;
    uint8_t *pick = NULL;
    uint32_t *idx = NULL;
    nasc_status st = blocks_make(ds, "fraction", seed, FRACTION_STREAM, &b, err);
    if (st != NASC_OK)
        return st;
    take = nasc_calloc((size_t)ds->n_classes, sizeof *take);
    pick = nasc_calloc((size_t)ds->n + 1, 1);
    idx = nasc_malloc(((size_t)ds->n + 1) * sizeof *idx);
    if (!take || !pick || !idx) {
        st = nasc_errorf(err, NASC_ERR_NOMEM, "%s: fraction: out of memory", ds->name);
        goto done;
    }
    size_t total = 0;
    for (int c = 0; c < ds->n_classes; c++) {
        size_t m = b.start[c + 1] - b.start[c];
        size_t t = (size_t)floor(fraction * (double)m + 0.5);
        if (t < 1 && m > 0)
            t = 1;
        take[c] = t < m ? t : m;
        total += take[c];
    }
    blocks_pick(&b, ds->n_classes, take, pick);
    st = gather(ds, pick, 1, total, idx, out, err);
done:
    nasc_free(idx);
    nasc_free(pick);
    nasc_free(take);
    blocks_free(&b);
    return st;
}

/* Validation images a class of m images may give: at most m - 1 (one stays for training), at
 * least 1 when there are enough validation images for every class (min_one) and m >= 2. */
static void val_bounds(size_t m, bool min_one, size_t *lo, size_t *hi) {
    *hi = m > 0 ? m - 1 : 0;
    *lo = (min_one && m >= 2) ? 1 : 0;
}

nasc_status nasc_dataset_split(const nasc_dataset *ds, double val, uint64_t seed,
                               nasc_dataset **out_train, nasc_dataset **out_val, nasc_err *err) {
    *out_train = NULL;
    *out_val = NULL;
    const double n = (double)ds->n;
    double n_val;
    if (val > 0.0 && val < 1.0)
        n_val = floor(val * n + 0.5);
    else if (val >= 1.0 && val < n && val == floor(val))
        n_val = val;
    else
        return nasc_errorf(err, NASC_ERR_ARG,
                           "%s: validation size %g out of range (expected a fraction in (0,1) or "
                           "a whole count in [1,%d))",
                           ds->name, val, ds->n);
    const int k = ds->n_classes;
    class_blocks b = {0};
    size_t *take = NULL;
    uint8_t *pick = NULL;
    uint32_t *idx = NULL;
    nasc_dataset *tr = NULL, *va = NULL;
    nasc_status st = blocks_make(ds, "split", seed, NASC_STREAM_SPLIT, &b, err);
    if (st != NASC_OK)
        return st;
    take = nasc_calloc((size_t)k, sizeof *take);
    pick = nasc_calloc((size_t)ds->n + 1, 1);
    idx = nasc_malloc(((size_t)ds->n + 1) * sizeof *idx);
    if (!take || !pick || !idx) {
        st = nasc_errorf(err, NASC_ERR_NOMEM, "%s: split: out of memory", ds->name);
        goto done;
    }
    /* Class c's fair share is q_c = n_val * m_c / n. Each class starts at floor(q_c), kept within
     * [lo_c, hi_c]: hi_c = m_c - 1 keeps one image of the class for training, lo_c = 1 (when there
     * are at least as many validation images as classes) puts one in validation. Then single
     * images move, one at a time, to the class furthest below its share (or away from the one
     * furthest above it) until the total is n_val: largest remainder, ties to the lowest class. */
    size_t total = 0;
    int present = 0;
    for (int c = 0; c < k; c++)
        present += b.start[c + 1] > b.start[c];
    for (int c = 0; c < k; c++) {
        size_t m = b.start[c + 1] - b.start[c], low, hi;
        val_bounds(m, n_val >= (double)present, &low, &hi);
        double q = n_val * (double)m / n;
        size_t t = (size_t)floor(q);
        take[c] = t < low ? low : t > hi ? hi : t;
        total += take[c];
    }
    while (total != (size_t)n_val) {
        const bool up = total < (size_t)n_val;
        int best = -1;
        double best_gap = 0.0;
        for (int c = 0; c < k; c++) {
            size_t m = b.start[c + 1] - b.start[c], low, hi;
            val_bounds(m, n_val >= (double)present, &low, &hi);
            if (up ? take[c] >= hi : take[c] <= low)
                continue;
            double gap = n_val * (double)m / n - (double)take[c]; /* > 0: below its share */
            if (!up)
                gap = -gap;
            if (best < 0 || gap > best_gap) {
                best = c;
                best_gap = gap;
            }
        }
        if (best < 0)
            break; /* the bounds do not allow exactly n_val */
        take[best] = up ? take[best] + 1 : take[best] - 1;
        total = up ? total + 1 : total - 1;
    }
    if (total == 0 || total == (size_t)ds->n) {
        st = nasc_errorf(err, NASC_ERR_ARG,
                         "%s: validation size %g of %d images leaves an empty %s part", ds->name,
                         val, ds->n, total == 0 ? "validation" : "training");
        goto done;
    }
    blocks_pick(&b, k, take, pick);
    if ((st = gather(ds, pick, 0, (size_t)ds->n - total, idx, &tr, err)) != NASC_OK)
        goto done;
    if ((st = gather(ds, pick, 1, total, idx, &va, err)) != NASC_OK)
        goto done;
    *out_train = tr;
    *out_val = va;
    tr = va = NULL;
done:
    nasc_dataset_free(tr);
    nasc_dataset_free(va);
    nasc_free(idx);
    nasc_free(pick);
    nasc_free(take);
    blocks_free(&b);
    return st;
}
