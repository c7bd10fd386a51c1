/* test_data_split.c — subsets by index, stratified random fractions and train/validation splits:
 * sizes per class, disjointness, order, determinism in the seed, and argument errors. Every image
 * of the synthetic dataset stores its own index in its first four bytes, so a subset's images can
 * be traced back to the original. */
#include "test.h"

#include "nasc/data.h"

/* n images of 2x2x1 (4 bytes = the index, little-endian); class sizes 10*(c+1) for c < 9,
 * plus 3 images of class 9 (a small class). */
static nasc_dataset *make(void) {
    int n = 0;
    for (int c = 0; c < 9; c++)
        n += 10 * (c + 1);
    n += 3;
    nasc_dataset *ds = NULL;
    nasc_err err = {0};
    if (nasc_dataset_new("synthetic", n, 2, 2, 1, 10, &ds, &err) != NASC_OK) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
    /* interleave the classes so that dataset order and class order differ */
    int left[10];
    for (int c = 0; c < 9; c++)
        left[c] = 10 * (c + 1);
    left[9] = 3;
    for (int i = 0, c = 0; i < n; c = (c + 1) % 10) {
        if (left[c] == 0)
            continue;
        left[c]--;
        ds->labels[i] = c;
        for (int k = 0; k < 4; k++)
            ds->images[4 * i + k] = (uint8_t)(i >> (8 * k));
        i++;
    }
    return ds;
}

static int origin(const nasc_dataset *ds, int i) {
    const uint8_t *p = ds->images + 4 * i;
    return p[0] | p[1] << 8 | p[2] << 16 | p[3] << 24;
}

static void class_counts(const nasc_dataset *ds, int out[10]) {
    memset(out, 0, 10 * sizeof *out);
    for (int i = 0; i < ds->n; i++)
        out[ds->labels[i]]++;
}

static bool same(const nasc_dataset *a, const nasc_dataset *b) {
    return a->n == b->n && !memcmp(a->images, b->images, (size_t)a->n * 4) &&
           !memcmp(a->labels, b->labels, (size_t)a->n * sizeof(int32_t));
}

/* Images are genuine copies (label matches the original) and in increasing original order. */
static void check_ordered_copy(const nasc_dataset *all, const nasc_dataset *part) {
    int bad = 0;
    for (int i = 0; i < part->n; i++) {
        int o = origin(part, i);
        if (o < 0 || o >= all->n || all->labels[o] != part->labels[i])
            bad++;
        if (i > 0 && origin(part, i - 1) >= o)
            bad++;
    }
    CHECK_MSG(bad == 0, "%d images out of order or mislabelled", bad);
}

static void test_subset(const nasc_dataset *all) {
    nasc_err err = {0};
    nasc_dataset *sub = NULL;
    const uint32_t idx[] = {5, 0, 5, 99};
    CHECK_STATUS(nasc_dataset_subset(all, idx, 4, &sub, &err), NASC_OK);
    if (sub) {
        CHECK(sub->n == 4 && sub->n_classes == 10 && !strcmp(sub->name, "synthetic"));
        for (int i = 0; i < 4; i++) {
            CHECK(origin(sub, i) == (int)idx[i]);
            CHECK(sub->labels[i] == all->labels[idx[i]]);
        }
    }
    nasc_dataset_free(sub);
    const uint32_t badidx[] = {1, 2, (uint32_t)all->n};
    sub = (nasc_dataset *)1;
    CHECK_STATUS(nasc_dataset_subset(all, badidx, 3, &sub, &err), NASC_ERR_ARG);
    CHECK(sub == NULL);
    CHECK_STR_CONTAINS(err.msg, "at position 2 out of range");
    nasc_err_clear(&err);
    CHECK_STATUS(nasc_dataset_subset(all, NULL, 0, &sub, &err), NASC_OK); /* empty is fine */
    CHECK(sub && sub->n == 0);
    nasc_dataset_free(sub);
}

static void test_fraction(const nasc_dataset *all) {
    nasc_err err = {0};
    int full[10], got[10];
    class_counts(all, full);
    nasc_dataset *a = NULL, *b = NULL, *c = NULL;
    CHECK_STATUS(nasc_dataset_fraction(all, 0.25, 7, &a, &err), NASC_OK);
    CHECK_STATUS(nasc_dataset_fraction(all, 0.25, 7, &b, &err), NASC_OK);
    CHECK_STATUS(nasc_dataset_fraction(all, 0.25, 8, &c, &err), NASC_OK);
    if (a && b && c) {
        class_counts(a, got);
        for (int k = 0; k < 10; k++) {
            int want = (int)(0.25 * full[k] + 0.5);
            want = want < 1 ? 1 : want;
            CHECK_MSG(got[k] == want, "class %d: %d images, expected %d", k, got[k], want);
        }
        check_ordered_copy(all, a);
        CHECK(same(a, b));  /* same seed, same images */
        CHECK(!same(a, c)); /* another seed, other images */
    }
    nasc_dataset_free(a);
    nasc_dataset_free(b);
    nasc_dataset_free(c);
    /* a tiny fraction keeps one image of every class */
    a = NULL;
    CHECK_STATUS(nasc_dataset_fraction(all, 0.001, 1, &a, &err), NASC_OK);
    if (a) {
        CHECK(a->n == 10);
        class_counts(a, got);
        for (int k = 0; k < 10; k++)
            CHECK(got[k] == 1);
    }
    nasc_dataset_free(a);
    a = NULL;
    CHECK_STATUS(nasc_dataset_fraction(all, 1.0, 1, &a, &err), NASC_OK);
    CHECK(a && a->n == all->n && !memcmp(a->images, all->images, (size_t)all->n * 4));
    nasc_dataset_free(a);
    const double bad[] = {0.0, -0.5, 1.5, NAN};
    for (int i = 0; i < 4; i++) {
        nasc_err_clear(&err);
        a = (nasc_dataset *)1;
        CHECK_STATUS(nasc_dataset_fraction(all, bad[i], 1, &a, &err), NASC_ERR_ARG);
        CHECK(a == NULL);
        CHECK_STR_CONTAINS(err.msg, "out of range (0,1]");
    }
}

static void check_split(const nasc_dataset *all, const nasc_dataset *tr, const nasc_dataset *va) {
    CHECK(tr->n + va->n == all->n);
    check_ordered_copy(all, tr);
    check_ordered_copy(all, va);
    /* every original image exactly once */
    int *seen = calloc((size_t)all->n, sizeof *seen), dup = 0;
    for (int i = 0; i < tr->n; i++)
        dup += seen[origin(tr, i)]++ > 0;
    for (int i = 0; i < va->n; i++)
        dup += seen[origin(va, i)]++ > 0;
    CHECK(dup == 0);
    free(seen);
}

static void test_split(const nasc_dataset *all) {
    nasc_err err = {0};
    int full[10], v[10], t[10];
    class_counts(all, full);
    nasc_dataset *tr = NULL, *va = NULL, *tr2 = NULL, *va2 = NULL;
    /* 20% of 453 = 91 (rounded), shared in proportion to the class sizes */
    CHECK_STATUS(nasc_dataset_split(all, 0.2, 3, &tr, &va, &err), NASC_OK);
    CHECK_STATUS(nasc_dataset_split(all, 0.2, 3, &tr2, &va2, &err), NASC_OK);
    if (tr && va && tr2 && va2) {
        check_split(all, tr, va);
        CHECK_MSG(va->n == 91, "validation has %d images", va->n);
        class_counts(va, v);
        class_counts(tr, t);
        for (int k = 0; k < 10; k++) {
            double share = 91.0 * full[k] / all->n;
            CHECK_MSG(v[k] >= (int)share && v[k] <= (int)share + 1, "class %d: %d of %d", k, v[k],
                      full[k]);
            CHECK(t[k] >= 1 && v[k] >= 1); /* every class on both sides */
        }
        CHECK(same(tr, tr2) && same(va, va2));
    }
    nasc_dataset_free(tr);
    nasc_dataset_free(va);
    nasc_dataset_free(tr2);
    nasc_dataset_free(va2);
    tr = va = tr2 = va2 = NULL;
    /* another seed: other images, same sizes */
    CHECK_STATUS(nasc_dataset_split(all, 0.2, 3, &tr, &va, &err), NASC_OK);
    CHECK_STATUS(nasc_dataset_split(all, 0.2, 4, &tr2, &va2, &err), NASC_OK);
    if (va && va2)
        CHECK(va->n == va2->n && !same(va, va2));
    nasc_dataset_free(tr);
    nasc_dataset_free(va);
    nasc_dataset_free(tr2);
    nasc_dataset_free(va2);
    tr = va = NULL;
    /* a count */
    CHECK_STATUS(nasc_dataset_split(all, 50, 3, &tr, &va, &err), NASC_OK);
    if (tr && va) {
        check_split(all, tr, va);
        CHECK(va->n == 50);
    }
    nasc_dataset_free(tr);
    nasc_dataset_free(va);
    /* bad sizes */
    const double bad[] = {0.0, 1.5, (double)all->n, 1e9, -1.0, NAN};
    for (int i = 0; i < 6; i++) {
        nasc_err_clear(&err);
        tr = va = (nasc_dataset *)1;
        CHECK_STATUS(nasc_dataset_split(all, bad[i], 3, &tr, &va, &err), NASC_ERR_ARG);
        CHECK(tr == NULL && va == NULL);
        CHECK_STR_CONTAINS(err.msg, "validation size");
    }
    /* a split that would leave one side empty */
    nasc_dataset *one = NULL;
    const uint32_t idx[] = {0, 1};
    CHECK_STATUS(nasc_dataset_subset(all, idx, 2, &one, &err), NASC_OK);
    if (one) {
        nasc_err_clear(&err);
        CHECK_STATUS(nasc_dataset_split(one, 0.1, 3, &tr, &va, &err), NASC_ERR_ARG);
        CHECK_STR_CONTAINS(err.msg, "empty validation part");
    }
    nasc_dataset_free(one);
    /* labels outside [0, n_classes) are refused, not used as indices */
    nasc_dataset *weird = NULL;
    CHECK_STATUS(nasc_dataset_new("weird", 4, 1, 1, 1, 2, &weird, &err), NASC_OK);
    if (weird) {
        weird->labels[2] = 5;
        nasc_err_clear(&err);
        CHECK_STATUS(nasc_dataset_split(weird, 0.5, 1, &tr, &va, &err), NASC_ERR_ARG);
        CHECK_STR_CONTAINS(err.msg, "label 5 of image 2 out of range [0,1]");
    }
    nasc_dataset_free(weird);
}

int main(void) {
    nasc_dataset *all = make();
    test_subset(all);
    test_fraction(all);
    test_split(all);
    nasc_dataset_free(all);
    return test_done("test_data_split");
}
