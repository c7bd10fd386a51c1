/* dataset.c — dataset specs ("fashion-mnist", "cifar10:DIR", ...), allocation and subsets. */
#include "data_int.h"

#include "nasc/arena.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SPEC_FORMS                                                                                 \
    "fashion-mnist, fashion-mnist:DIR, mnist:DIR, cifar10:DIR, cifar100:DIR or images:DIR"

static const struct {
    const char *name;
    data_kind kind;
} kinds[] = {
    {"fashion-mnist", DATA_FASHION_MNIST},
    {"mnist", DATA_MNIST},
    {"cifar10", DATA_CIFAR10},
    {"cifar100", DATA_CIFAR100},
    {"images", DATA_IMAGES},
};

nasc_status nasc_dataset_new(const char *name, int n, int h, int w, int c, int n_classes,
                             nasc_dataset **out, nasc_err *err) {
    *out = NULL;
    if (n < 0 || h < 1 || w < 1 || c < 1 || c > 3 || n_classes < 1)
        return nasc_errorf(err, NASC_ERR_ARG,
                           "dataset: n=%d, h=%d, w=%d, c=%d, classes=%d: expected n >= 0, "
                           "h, w >= 1, c in [1,3], classes >= 1",
                           n, h, w, c, n_classes);
    const size_t img = (size_t)h * (size_t)w * (size_t)c;
    if (img > SIZE_MAX / ((size_t)n + 1)) /* n*img + 1 below must not wrap */
        return nasc_errorf(err, NASC_ERR_ARG, "dataset: %d images of %dx%dx%d: too large", n, h, w,
                           c);
    nasc_dataset *ds = nasc_calloc(1, sizeof *ds);
    if (!ds)
        return nasc_errorf(err, NASC_ERR_NOMEM, "dataset: out of memory");
    /* At least one byte each, so an empty dataset still has valid (unused) pointers. */
    ds->images = nasc_calloc(img * (size_t)n + 1, 1);
    ds->labels = nasc_calloc((size_t)n + 1, sizeof *ds->labels);
    if (!ds->images || !ds->labels) {
        nasc_dataset_free(ds);
        return nasc_errorf(err, NASC_ERR_NOMEM, "dataset: out of memory for %d images of %zu bytes",
                           n, img);
    }
    snprintf(ds->name, sizeof ds->name, "%s", name ? name : "dataset");
    ds->n = n;
    ds->h = h;
    ds->w = w;
    ds->c = c;
    ds->n_classes = n_classes;
    for (int i = 0; i < 3; i++) {
        ds->mean[i] = 0.0f;
        ds->std[i] = 1.0f;
    }
    *out = ds;
    return NASC_OK;
}

void nasc_dataset_free(nasc_dataset *ds) {
    if (!ds)
        return;
    nasc_free(ds->images);
    nasc_free(ds->labels);
    nasc_free(ds->class_names);
    nasc_free(ds);
}

nasc_status nasc_dataset_subset(const nasc_dataset *ds, const uint32_t *idx, size_t n,
                                nasc_dataset **out, nasc_err *err) {
    *out = NULL;
    if (n > (size_t)INT32_MAX)
        return nasc_errorf(err, NASC_ERR_ARG, "%s: subset of %zu images: too many", ds->name, n);
    for (size_t i = 0; i < n; i++)
        if (idx[i] >= (uint32_t)ds->n)
            return nasc_errorf(err, NASC_ERR_ARG,
                               "%s: subset: index %u at position %zu out of range [0,%d)", ds->name,
                               idx[i], i, ds->n);
    /* A copy, not a view: a subset outlives its parent (the CLI frees the full training set
     * after taking --data-fraction of it). */
    nasc_dataset *sub = NULL;
    NASC_TRY(nasc_dataset_new(ds->name, (int)n, ds->h, ds->w, ds->c, ds->n_classes, &sub, err));
    const size_t img = nasc_dataset_image_bytes(ds);
    for (size_t i = 0; i < n; i++) {
        memcpy(sub->images + i * img, ds->images + (size_t)idx[i] * img, img);
        sub->labels[i] = ds->labels[idx[i]];
    }
    memcpy(sub->mean, ds->mean, sizeof sub->mean);
    memcpy(sub->std, ds->std, sizeof sub->std);
    if (ds->class_names) {
        const size_t bytes = (size_t)ds->n_classes * NASC_CLASS_NAME_BYTES;
        if (!(sub->class_names = nasc_malloc(bytes))) {
            nasc_dataset_free(sub);
            return nasc_errorf(err, NASC_ERR_NOMEM, "%s: subset: out of memory", ds->name);
        }
        memcpy(sub->class_names, ds->class_names, bytes);
    }
    *out = sub;
    return NASC_OK;
}

nasc_status nasc_dataset_load(const char *spec, nasc_split split, nasc_dataset **out,
                              nasc_err *err) {
    *out = NULL;
    if (!spec)
        spec = "";
    if (split != NASC_SPLIT_TRAIN && split != NASC_SPLIT_TEST)
        return nasc_errorf(err, NASC_ERR_ARG, "data: split %d (expected train or test)",
                           (int)split);
    /* NAME or NAME:DIR; only the first colon splits, so DIR may contain colons. */
    const char *colon = strchr(spec, ':');
    size_t name_len = colon ? (size_t)(colon - spec) : strlen(spec);
    int k = -1;
    for (int i = 0; i < (int)(sizeof kinds / sizeof kinds[0]); i++)
        if (strlen(kinds[i].name) == name_len && !strncmp(spec, kinds[i].name, name_len))
            k = i;
    if (k < 0)
        return nasc_errorf(err, NASC_ERR_ARG, "data: unknown dataset '%s' (expected %s)", spec,
                           SPEC_FORMS);
    const char *what = kinds[k].name;
    if (kinds[k].kind == DATA_IMAGES) {
        if (!colon || colon[1] == '\0')
            return nasc_errorf(err, NASC_ERR_ARG,
                               "data: '%s' needs a directory: images:DIR (expected %s)", spec,
                               SPEC_FORMS);
        return nasc_data_images_load(colon + 1, split, out, err);
    }
    char dir[4096];
    if (colon) {
        if (colon[1] == '\0')
            return nasc_errorf(err, NASC_ERR_ARG, "data: '%s': empty directory (expected %s)", spec,
                               SPEC_FORMS);
        if (snprintf(dir, sizeof dir, "%s", colon + 1) >= (int)sizeof dir)
            return nasc_errorf(err, NASC_ERR_ARG, "data: '%s': directory name too long", spec);
    } else {
        /* A bare name: $NASC_DATA_DIR/<name> if set (one root for every dataset). Fashion-MNIST
         * falls back to Debian's package when that folder does not exist, so setting the
         * variable for CIFAR does not hide it; the others are not packaged and need a folder. */
        const char *root = getenv("NASC_DATA_DIR");
        const bool fashion = kinds[k].kind == DATA_FASHION_MNIST;
        bool have = false;
        if (root && *root) {
            if (snprintf(dir, sizeof dir, "%s/%s", root, what) >= (int)sizeof dir)
                return nasc_errorf(err, NASC_ERR_ARG, "data: NASC_DATA_DIR too long");
            struct stat st;
            have = !fashion || (stat(dir, &st) == 0 && S_ISDIR(st.st_mode));
        }
        if (!have && fashion) {
            snprintf(dir, sizeof dir, "%s", NASC_FASHION_MNIST_DIR);
        } else if (!have) {
            return nasc_errorf(err, NASC_ERR_ARG,
                               "data: '%s' needs a directory: %s:DIR, or set NASC_DATA_DIR "
                               "(expected %s)",
                               spec, what, SPEC_FORMS);
        }
    }
    switch (kinds[k].kind) {
    case DATA_MNIST:
    case DATA_FASHION_MNIST:
        return nasc_data_idx_load(kinds[k].kind, what, dir, split, out, err);
    case DATA_CIFAR10:
    case DATA_CIFAR100:
        return nasc_data_cifar_load(kinds[k].kind, what, dir, split, out, err);
    case DATA_IMAGES:
        break;
    }
    return nasc_errorf(err, NASC_ERR_INTERNAL, "data: unhandled dataset kind");
}
