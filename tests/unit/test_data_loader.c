/* test_data_loader.c — the batch loader: shapes, normalisation, each augmentation checked against
 * its definition, shuffling, determinism (same seed -> same bytes, prefetch on = off, another
 * seed differs), resuming mid-epoch, argument errors, and no allocation after creation. */
#include "test.h"

#include "nasc/arena.h"
#include "nasc/data.h"

enum { H = 6, W = 5, C = 3, N = 23 };

static uint8_t pixel(int i, int h, int w, int c) {
    return (uint8_t)(1 + i * 9 + h * 31 + w * 7 + c * 50);
}

static nasc_dataset *make(int n) {
    nasc_dataset *ds = NULL;
    nasc_err err = {0};
    if (nasc_dataset_new("synthetic", n, H, W, C, 4, &ds, &err) != NASC_OK) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
    for (int i = 0; i < n; i++) {
        ds->labels[i] = i % 4;
        for (int h = 0; h < H; h++)
            for (int w = 0; w < W; w++)
                for (int c = 0; c < C; c++)
                    ds->images[((size_t)i * H * W + (size_t)h * W + (size_t)w) * C + (size_t)c] =
                        pixel(i, h, w, c);
    }
    /* means that no pixel value hits exactly, so only cutout produces 0.0f */
    const float mean[3] = {0.4123f, 0.5321f, 0.3777f}, std[3] = {0.25f, 0.3f, 0.2f};
    memcpy(ds->mean, mean, sizeof mean);
    memcpy(ds->std, std, sizeof std);
    return ds;
}

static float norm(const nasc_dataset *ds, int v, int c) {
    return ((float)v / 255.0f - ds->mean[c]) / ds->std[c];
}

/* Sample index of an output image: the pixel at (0,0,0) of an unaugmented image identifies it,
 * but augmented ones move; so the loader tests find samples through their labels and compare
 * against every candidate. For the augmentation tests batch = N with shuffle off: slot i is
 * sample i. */
static const float *one_epoch(nasc_loader *l, uint32_t epoch, float *copy) {
    nasc_loader_start_epoch(l, epoch);
    nasc_batch b;
    CHECK(nasc_loader_next(l, &b));
    memcpy(copy, b.x, (size_t)b.n * H * W * C * sizeof(float));
    CHECK(!nasc_loader_next(l, &b));
    return copy;
}

static nasc_loader *make_loader(const nasc_dataset *ds, nasc_loader_config cfg) {
    nasc_err err = {0};
    nasc_loader *l = NULL;
    nasc_status st = nasc_loader_new(ds, &cfg, &l, &err);
    CHECK_STATUS(st, NASC_OK);
    if (st != NASC_OK) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
    return l;
}

static void test_shapes_and_norm(const nasc_dataset *ds) {
    for (int pf = 0; pf < 2; pf++) {
        nasc_loader *l = make_loader(ds, (nasc_loader_config){.batch = 10, .prefetch = pf});
        CHECK(nasc_loader_n_batches(l) == 3);
        nasc_batch b;
        int sizes[4] = {0}, k = 0, bad = 0;
        while (nasc_loader_next(l, &b) && k < 4) {
            CHECK(b.index == (size_t)k);
            sizes[k++] = b.n;
            for (int j = 0; j < b.n; j++) {
                int i = (int)b.index * 10 + j; /* no shuffle: dataset order */
                if (b.labels[j] != i % 4)
                    bad++;
                for (int h = 0; h < H; h++)
                    for (int w = 0; w < W; w++)
                        for (int c = 0; c < C; c++)
                            if (b.x[(((size_t)j * H + (size_t)h) * W + (size_t)w) * C +
                                    (size_t)c] != norm(ds, pixel(i, h, w, c), c))
                                bad++;
            }
        }
        CHECK(k == 3 && sizes[0] == 10 && sizes[1] == 10 && sizes[2] == 3);
        CHECK_MSG(bad == 0, "%d values differ from (v/255 - mean)/std", bad);
        CHECK(!nasc_loader_next(l, &b)); /* stays at the end */
        nasc_loader_free(l);
        l = make_loader(ds, (nasc_loader_config){.batch = 10, .drop_last = true, .prefetch = pf});
        CHECK(nasc_loader_n_batches(l) == 2);
        k = 0;
        while (nasc_loader_next(l, &b))
            CHECK(b.n == 10 && k++ < 2);
        CHECK(k == 2);
        nasc_loader_free(l);
    }
}

static void test_shuffle(const nasc_dataset *ds) {
    nasc_loader *l = make_loader(ds, (nasc_loader_config){.batch = 4, .shuffle = true, .seed = 5});
    int order[2][N];
    for (uint32_t e = 0; e < 2; e++) {
        nasc_loader_start_epoch(l, e);
        nasc_batch b;
        int k = 0, seen[N] = {0};
        while (nasc_loader_next(l, &b))
            for (int j = 0; j < b.n; j++) {
                /* identify the sample by its first value */
                int i = -1;
                for (int s = 0; s < N; s++)
                    if (b.x[(size_t)j * H * W * C] == norm(ds, pixel(s, 0, 0, 0), 0))
                        i = s;
                CHECK(i >= 0 && b.labels[j] == i % 4);
                if (i >= 0)
                    seen[i]++;
                order[e][k++] = i;
            }
        int once = 0;
        for (int s = 0; s < N; s++)
            once += seen[s] == 1;
        CHECK_MSG(once == N, "epoch %u is not a permutation", e);
        int moved = 0;
        for (int s = 0; s < N; s++)
            moved += order[e][s] != s;
        CHECK(moved > N / 2);
    }
    CHECK(memcmp(order[0], order[1], sizeof order[0]) != 0); /* a new order every epoch */
    nasc_loader_free(l);
}

static void test_flip(const nasc_dataset *ds) {
    nasc_loader *l =
        make_loader(ds, (nasc_loader_config){.batch = N, .seed = 11, .aug = {.hflip = true}});
    static float x[N * H * W * C];
    int flipped = 0, plain = 0, bad = 0, state[3][N];
    for (uint32_t e = 0; e < 3; e++) {
        one_epoch(l, e, x);
        for (int i = 0; i < N; i++) {
            int is_plain = 1, is_flip = 1;
            for (int h = 0; h < H; h++)
                for (int w = 0; w < W; w++)
                    for (int c = 0; c < C; c++) {
                        float v = x[(((size_t)i * H + (size_t)h) * W + (size_t)w) * C + (size_t)c];
                        is_plain &= v == norm(ds, pixel(i, h, w, c), c);
                        is_flip &= v == norm(ds, pixel(i, h, W - 1 - w, c), c);
                    }
            plain += is_plain;
            flipped += is_flip;
            state[e][i] = is_flip;
            bad += !is_plain && !is_flip;
        }
    }
    CHECK_MSG(bad == 0, "%d images neither plain nor mirrored", bad);
    CHECK_MSG(flipped > 10 && plain > 10, "%d flipped, %d plain of %d", flipped, plain, 3 * N);
    /* the draws change with the epoch: some image is flipped in one epoch and not in another */
    int changed = 0;
    for (int i = 0; i < N; i++)
        changed += state[0][i] != state[1][i] || state[1][i] != state[2][i];
    CHECK_MSG(changed > 0, "every image has the same flip in every epoch");
    nasc_loader_free(l);
}

static void test_crop(const nasc_dataset *ds) {
    enum { P = 2 };
    nasc_loader *l =
        make_loader(ds, (nasc_loader_config){.batch = N, .seed = 12, .aug = {.crop_pad = P}});
    static float x[N * H * W * C];
    int shifts[2 * P + 1][2 * P + 1] = {{0}}, bad = 0;
    for (uint32_t e = 0; e < 4; e++) {
        one_epoch(l, e, x);
        for (int i = 0; i < N; i++) {
            /* find the (dy, dx) with out(h, w) = src(h+dy, w+dx), zero pixel outside */
            int found = 0;
            for (int dy = -P; dy <= P; dy++)
                for (int dx = -P; dx <= P; dx++) {
                    int ok = 1;
                    for (int h = 0; h < H; h++)
                        for (int w = 0; w < W; w++)
                            for (int c = 0; c < C; c++) {
                                int sy = h + dy, sx = w + dx;
                                int v = sy < 0 || sy >= H || sx < 0 || sx >= W
                                            ? 0
                                            : pixel(i, sy, sx, c);
                                ok &= x[(((size_t)i * H + (size_t)h) * W + (size_t)w) * C +
                                        (size_t)c] == norm(ds, v, c);
                            }
                    if (ok && !found) {
                        shifts[dy + P][dx + P]++;
                        found = 1;
                    }
                }
            bad += !found;
        }
    }
    CHECK_MSG(bad == 0, "%d images are not a shifted, zero-padded crop", bad);
    int distinct = 0,
        corner = shifts[0][0] + shifts[0][2 * P] + shifts[2 * P][0] + shifts[2 * P][2 * P];
    for (int a = 0; a <= 2 * P; a++)
        for (int b = 0; b <= 2 * P; b++)
            distinct += shifts[a][b] > 0;
    CHECK_MSG(distinct >= 15, "only %d of 25 shifts seen", distinct);
    CHECK(corner > 0); /* the full padding is reachable */
    nasc_loader_free(l);
}

static void test_cutout(const nasc_dataset *ds) {
    const int L = 4; /* rows [cy-2, cy+2) clipped to the image */
    nasc_loader *l =
        make_loader(ds, (nasc_loader_config){.batch = N, .seed = 13, .aug = {.cutout = L}});
    static float x[N * H * W * C];
    int bad = 0, full = 0, clipped = 0;
    for (uint32_t e = 0; e < 3; e++) {
        one_epoch(l, e, x);
        for (int i = 0; i < N; i++) {
            int y1 = H, y2 = -1, x1 = W, x2 = -1, zeros = 0;
            for (int h = 0; h < H; h++)
                for (int w = 0; w < W; w++)
                    for (int c = 0; c < C; c++) {
                        float v = x[(((size_t)i * H + (size_t)h) * W + (size_t)w) * C + (size_t)c];
                        if (v == 0.0f) {
                            zeros++;
                            y1 = h < y1 ? h : y1;
                            y2 = h > y2 ? h : y2;
                            x1 = w < x1 ? w : x1;
                            x2 = w > x2 ? w : x2;
                        } else if (v != norm(ds, pixel(i, h, w, c), c)) {
                            bad++;
                        }
                    }
            /* the zeros form one rectangle, all channels, at most L x L, at least (L/2)^2 */
            int rh = y2 - y1 + 1, rw = x2 - x1 + 1;
            if (zeros == 0 || zeros != rh * rw * C || rh > L || rw > L || rh < L / 2 || rw < L / 2)
                bad++;
            full += rh == L && rw == L;
            clipped += rh < L || rw < L;
        }
    }
    CHECK_MSG(bad == 0, "%d cutout errors", bad);
    CHECK(full > 0 && clipped > 0);
    nasc_loader_free(l);
}

/* Every byte of every batch of two epochs. */
static size_t run(const nasc_dataset *ds, nasc_loader_config cfg, uint32_t first_epoch,
                  size_t start_batch, float *out, int32_t *labels) {
    nasc_loader *l = make_loader(ds, cfg);
    size_t nf = 0, nl = 0;
    nasc_err err = {0};
    for (uint32_t e = first_epoch; e < first_epoch + 2; e++) {
        CHECK_STATUS(nasc_loader_start_epoch_at(l, e, e == first_epoch ? start_batch : 0, &err),
                     NASC_OK);
        nasc_batch b;
        while (nasc_loader_next(l, &b)) {
            memcpy(out + nf, b.x, (size_t)b.n * H * W * C * sizeof(float));
            memcpy(labels + nl, b.labels, (size_t)b.n * sizeof(int32_t));
            nf += (size_t)b.n * H * W * C;
            nl += (size_t)b.n;
        }
    }
    nasc_loader_free(l);
    return nf;
}

static void test_determinism(const nasc_dataset *ds) {
    enum { MAXF = 2 * N * H * W * C };
    static float a[MAXF], b[MAXF];
    static int32_t la[2 * N], lb[2 * N];
    nasc_loader_config cfg = {.batch = 5,
                              .shuffle = true,
                              .seed = 99,
                              .aug = {.crop_pad = 2, .hflip = true, .cutout = 3}};
    size_t na = run(ds, cfg, 0, 0, a, la);
    size_t nb = run(ds, cfg, 0, 0, b, lb);
    CHECK(na == (size_t)MAXF && na == nb);
    CHECK(!memcmp(a, b, na * sizeof(float)) && !memcmp(la, lb, sizeof la));
    cfg.prefetch = true;
    memset(b, 0, sizeof b);
    nb = run(ds, cfg, 0, 0, b, lb);
    CHECK_MSG(nb == na && !memcmp(a, b, na * sizeof(float)) && !memcmp(la, lb, sizeof la),
              "prefetch on differs from prefetch off");
    cfg.seed = 100;
    nb = run(ds, cfg, 0, 0, b, lb);
    CHECK(memcmp(a, b, na * sizeof(float)) != 0);

    /* resume: epoch 0 from batch 2 (and then epoch 1) equals the tail of an uninterrupted run */
    cfg.seed = 99;
    for (int pf = 0; pf < 2; pf++) {
        cfg.prefetch = pf;
        memset(b, 0, sizeof b);
        nb = run(ds, cfg, 0, 2, b, lb);
        const size_t skip = (size_t)2 * 5 * H * W * C;
        CHECK(nb == na - skip);
        CHECK_MSG(!memcmp(a + skip, b, nb * sizeof(float)) &&
                      !memcmp(la + 10, lb, (2 * N - 10) * sizeof(int32_t)),
                  "resume at batch 2 differs (prefetch %d)", pf);
    }
}

/* Restarting in the middle of an epoch, again and again, on one loader (the prefetch thread is
 * busy at random points), always yields the reference batches. */
static void test_restart(const nasc_dataset *ds) {
    nasc_loader_config cfg = {
        .batch = 3, .shuffle = true, .seed = 4, .aug = {.crop_pad = 1, .hflip = true}};
    nasc_loader *ref = make_loader(ds, cfg);
    const size_t nb = nasc_loader_n_batches(ref);
    CHECK(nb == 8);
    static float want[3][8][3 * H * W * C];
    static int32_t want_y[3][8][3];
    for (uint32_t e = 0; e < 3; e++) {
        nasc_loader_start_epoch(ref, e);
        nasc_batch b;
        for (size_t k = 0; nasc_loader_next(ref, &b); k++) {
            memcpy(want[e][k], b.x, (size_t)b.n * H * W * C * sizeof(float));
            memcpy(want_y[e][k], b.labels, (size_t)b.n * sizeof(int32_t));
        }
    }
    nasc_loader_free(ref);
    cfg.prefetch = true;
    nasc_loader *l = make_loader(ds, cfg);
    nasc_err err = {0};
    int bad = 0;
    for (int round = 0; round < 300; round++) {
        uint32_t e = (uint32_t)(round * 7 % 3);
        size_t at = (size_t)(round * 5 % 9); /* 0..8: 8 = at the end */
        CHECK_STATUS(nasc_loader_start_epoch_at(l, e, at, &err), NASC_OK);
        uint32_t te;
        size_t tb;
        nasc_loader_tell(l, &te, &tb);
        bad += te != e || tb != at;
        nasc_batch b;
        for (int k = 0; k < round % 4 && nasc_loader_next(l, &b); k++) {
            bad += b.index != at + (size_t)k;
            bad += memcmp(b.x, want[e][b.index], (size_t)b.n * H * W * C * sizeof(float)) != 0;
            bad += memcmp(b.labels, want_y[e][b.index], (size_t)b.n * sizeof(int32_t)) != 0;
        }
    }
    CHECK_MSG(bad == 0, "%d mismatches after restarts", bad);
    CHECK_STATUS(nasc_loader_start_epoch_at(l, 0, 9, &err), NASC_ERR_ARG);
    CHECK_STR_CONTAINS(err.msg, "batch 9 out of range [0,8]");
    nasc_loader_free(l);
    /* freeing while the worker is mid-epoch */
    l = make_loader(ds, cfg);
    nasc_loader_free(l);
    nasc_loader_free(NULL);
}

static long n_allocs;
static void *count_malloc(size_t n, void *u) {
    (void)u;
    __atomic_add_fetch(&n_allocs, 1, __ATOMIC_RELAXED);
    return malloc(n);
}
static void *count_realloc(void *p, size_t n, void *u) {
    (void)u;
    __atomic_add_fetch(&n_allocs, 1, __ATOMIC_RELAXED);
    return realloc(p, n);
}
static void count_free(void *p, void *u) {
    (void)u;
    free(p);
}

static void test_no_steady_alloc(const nasc_dataset *ds) {
    nasc_alloc_set_hooks(&(nasc_alloc_hooks){count_malloc, count_realloc, count_free, NULL});
    for (int pf = 0; pf < 2; pf++) {
        nasc_loader *l = make_loader(ds, (nasc_loader_config){.batch = 4,
                                                              .shuffle = true,
                                                              .prefetch = pf,
                                                              .aug = {.crop_pad = 1, .cutout = 2}});
        long before = __atomic_load_n(&n_allocs, __ATOMIC_RELAXED);
        for (uint32_t e = 0; e < 3; e++) {
            nasc_loader_start_epoch(l, e);
            nasc_batch b;
            while (nasc_loader_next(l, &b)) {
            }
        }
        CHECK_MSG(__atomic_load_n(&n_allocs, __ATOMIC_RELAXED) == before,
                  "%ld allocations after creation", n_allocs - before);
        nasc_loader_free(l);
    }
    nasc_alloc_set_hooks(NULL);
}

/* Data-parallel shards: for 1..4 shards, with and without prefetch, every batch's shares
 * concatenated in shard order are the whole batch of one loader, byte for byte (the same order
 * and augmentation draws), with first/n_total describing the share; the uneven last batch (23 =
 * 3 x 7 + 2) included, where some shards get no image (2 images over 4 shards: 0, 1, 0, 1). */
static void test_shards(const nasc_dataset *ds) {
    const nasc_loader_config whole = {.batch = 7, .shuffle = true, .seed = 11,
                                      .aug = {.crop_pad = 2, .hflip = true, .cutout = 3}};
    const size_t img = (size_t)H * W * C;
    for (int k = 1; k <= 4; k++) {
        for (int pf = 0; pf < 2; pf++) {
            nasc_loader_config wc = whole;
            wc.prefetch = pf;
            nasc_loader *ref = make_loader(ds, wc);
            nasc_loader *sh[4];
            for (int r = 0; r < k; r++) {
                nasc_loader_config c = wc;
                c.shard = r;
                c.n_shards = k;
                sh[r] = make_loader(ds, c);
                CHECK(nasc_loader_n_batches(sh[r]) == nasc_loader_n_batches(ref));
            }
            for (uint32_t epoch = 0; epoch < 2; epoch++) {
                nasc_loader_start_epoch(ref, epoch);
                for (int r = 0; r < k; r++)
                    nasc_loader_start_epoch(sh[r], epoch);
                nasc_batch b;
                while (nasc_loader_next(ref, &b)) {
                    int at = 0;
                    for (int r = 0; r < k; r++) {
                        nasc_batch s;
                        CHECK(nasc_loader_next(sh[r], &s));
                        CHECK(s.index == b.index && s.n_total == b.n && s.first == at);
                        CHECK(s.n == b.n * (r + 1) / k - b.n * r / k);
                        CHECK(at + s.n <= b.n);
                        if (s.n > 0 && at + s.n <= b.n) {
                            CHECK(!memcmp(s.x, b.x + (size_t)at * img, (size_t)s.n * img * sizeof(float)));
                            CHECK(!memcmp(s.labels, b.labels + at, (size_t)s.n * sizeof(int32_t)));
                        }
                        at += s.n;
                    }
                    CHECK(at == b.n && b.first == 0 && b.n_total == b.n);
                }
            }
            nasc_loader_free(ref);
            for (int r = 0; r < k; r++)
                nasc_loader_free(sh[r]);
        }
    }
    nasc_err err = {0};
    nasc_loader *l = (nasc_loader *)1;
    CHECK_STATUS(nasc_loader_new(ds, &(nasc_loader_config){.batch = 4, .shard = 2, .n_shards = 2},
                                 &l, &err),
                 NASC_ERR_ARG);
    CHECK(l == NULL);
    CHECK_STR_CONTAINS(err.msg, "shard 2 of 2");
}

static void test_config_errors(const nasc_dataset *ds) {
    struct {
        nasc_loader_config cfg;
        const char *msg;
    } cases[] = {
        {{.batch = 0}, "batch size 0 (expected >= 1)"},
        {{.batch = 4, .aug = {.crop_pad = -1}}, "crop padding -1 out of range [0,5]"},
        {{.batch = 4, .aug = {.crop_pad = 6}}, "crop padding 6 out of range [0,5]"},
        {{.batch = 4, .aug = {.cutout = -2}}, "cutout length -2 out of range [0,12]"},
        {{.batch = 24, .drop_last = true}, "leaves no batch of 23 images"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        nasc_err err = {0};
        nasc_loader *l = (nasc_loader *)1;
        CHECK_STATUS(nasc_loader_new(ds, &cases[k].cfg, &l, &err), NASC_ERR_ARG);
        CHECK(l == NULL);
        CHECK_STR_CONTAINS(err.msg, cases[k].msg);
    }
    nasc_dataset *empty = NULL;
    nasc_err err = {0};
    CHECK_STATUS(nasc_dataset_new("empty", 0, 2, 2, 1, 2, &empty, &err), NASC_OK);
    nasc_loader *l = NULL;
    CHECK_STATUS(nasc_loader_new(empty, &(nasc_loader_config){.batch = 1}, &l, &err), NASC_ERR_ARG);
    CHECK_STR_CONTAINS(err.msg, "empty dataset");
    nasc_dataset_free(empty);
}

int main(void) {
    nasc_dataset *ds = make(N);
    test_shapes_and_norm(ds);
    test_shuffle(ds);
    test_flip(ds);
    test_crop(ds);
    test_cutout(ds);
    test_determinism(ds);
    test_restart(ds);
    test_no_steady_alloc(ds);
    test_config_errors(ds);
    test_shards(ds);
    nasc_dataset_free(ds);
    return test_done("test_data_loader");
}
