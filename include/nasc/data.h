/*
 * data.h — datasets (MNIST, Fashion-MNIST, CIFAR-10, CIFAR-100), deterministic subsets and
 * splits, and a batch loader with augmentation and a background prefetch thread.
 *
 * A nasc_dataset holds a whole split in memory: images as uint8 NHWC (image i is the H*W*C bytes
 * at images + i*H*W*C; CIFAR is converted from its on-disk CHW order), labels as int32, and the
 * dataset's standard per-channel mean/std. It owns both buffers (allocated with nasc_malloc).
 * Loading validates every header, size and label; the first problem is reported as
 * NASC_ERR_FORMAT (NASC_ERR_IO when a file cannot be opened or read) with a message naming the file
 * and the byte offset, e.g.
 *     fashion-mnist: /d/train-labels-idx1-ubyte.gz: byte 8: label 11 out of range [0,9]
 * and err->path / err->offset set. For .gz files the offset is in the decompressed stream.
 * docs/DATA.md lists the accepted files and every message.
 *
 * A nasc_loader turns a dataset into float32 NHWC batches [B][H][W][C], normalised per channel,
 * optionally augmented (random crop with zero padding, horizontal flip, cutout). Everything random
 * is a pure function of the seed: the order of epoch e is a Philox shuffle keyed by (seed, e); the
 * augmentation of a sample by (seed, e, sample index). So batches are bit-identical with or without
 * prefetching, whatever the thread timing, and a run can resume at any batch of any epoch.
 * The loader borrows its dataset (which must outlive it and not change) and owns its batch
 * buffers, allocated once: after nasc_loader_new, it never allocates.
 *
 *     nasc_err err = {0};
 *     nasc_dataset *all = NULL, *train = NULL, *val = NULL;
 *     NASC_TRY(nasc_dataset_load("fashion-mnist", NASC_SPLIT_TRAIN, &all, &err));
 *     NASC_TRY(nasc_dataset_split(all, 0.1, seed, &train, &val, &err)); // stratified 90/10
 *     nasc_loader_config cfg = {.batch = 64, .shuffle = true, .prefetch = true, .seed = seed,
 *                               .aug = {.crop_pad = 2, .hflip = true}};
 *     nasc_loader *ld = NULL;
 *     NASC_TRY(nasc_loader_new(train, &cfg, &ld, &err));
 *     for (uint32_t epoch = 0; epoch < n_epochs; epoch++) {
 *         nasc_loader_start_epoch(ld, epoch);
 *         nasc_batch b;
 *         while (nasc_loader_next(ld, &b))
 *             step(b.x, b.labels, b.n);            // b.x: (b.n, H, W, C) floats, valid until next
 *     }
 *     nasc_loader_free(ld);
 *     nasc_dataset_free(val); nasc_dataset_free(train); nasc_dataset_free(all);
 */
#ifndef NASC_DATA_H
#define NASC_DATA_H

#include "nasc/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Which half of a dataset's files to load. */
typedef enum nasc_split {
    NASC_SPLIT_TRAIN, /* train-*-ubyte, data_batch_1..5.bin, train.bin */
    NASC_SPLIT_TEST   /* t10k-*-ubyte, test_batch.bin, test.bin */
} nasc_split;

/* The Debian package dataset-fashion-mnist installs here; plain "fashion-mnist" reads it. */
#define NASC_FASHION_MNIST_DIR "/usr/share/datasets/fashion-mnist"

typedef struct nasc_dataset {
    char name[64];   /* "fashion-mnist", "mnist", "cifar10", "cifar100" (for messages) */
    int n;           /* number of images */
    int c, h, w;     /* channels (1 or 3), height, width */
    int n_classes;   /* labels are in [0, n_classes) */
    uint8_t *images; /* n*h*w*c bytes, NHWC; owned */
    int32_t *labels; /* n labels; owned */
    float mean[3];   /* per-channel mean of pixel/255 (only the first c are used) */
    float std[3];    /* per-channel standard deviation of pixel/255 */
    char *class_names; /* image folders: n_classes names of NASC_CLASS_NAME_BYTES bytes each
                          (NUL-terminated), name k at k*NASC_CLASS_NAME_BYTES; else NULL; owned */
} nasc_dataset;

/* Room for one class name (a class folder's name) in nasc_dataset.class_names. */
#define NASC_CLASS_NAME_BYTES 64

/* The name of class k, or NULL when the dataset has no names (idx, CIFAR binaries). */
static inline const char *nasc_dataset_class_name(const nasc_dataset *ds, int k) {
    return ds->class_names && k >= 0 && k < ds->n_classes
               ? ds->class_names + (size_t)k * NASC_CLASS_NAME_BYTES
               : NULL;
}

/* Loads one split of the dataset named by spec:
 *   fashion-mnist      $NASC_DATA_DIR/fashion-mnist if the environment variable NASC_DATA_DIR is
 *                      set and that folder exists, else Debian's NASC_FASHION_MNIST_DIR
 *   fashion-mnist:DIR  idx files in DIR: {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]
 *   mnist:DIR          the same files (MNIST's mean/std)
 *   cifar10:DIR        data_batch_{1..5}.bin / test_batch.bin in DIR or DIR/cifar-10-batches-bin
 *   cifar100:DIR       train.bin / test.bin in DIR or DIR/cifar-100-binary (fine labels)
 *   mnist, cifar10, cifar100 without DIR read $NASC_DATA_DIR/<name>.
 *   images:DIR[?OPTS]  image folders, one subfolder per class (sorted names are the labels), in
 *                      DIR/train and DIR/test when both exist, else in DIR split into train and
 *                      test (a stratified, fixed share). JPEG, PNG, PGM and PPM files, fitted
 *                      to one C x H x W (default: the first image's). Mean/std are computed from
 *                      the training images; class names are kept. OPTS, joined by '&':
 *                      input=CxHxW, test-fraction=F (default 0.2), skip-bad (count and skip
 *                      files that do not decode instead of failing). The decoded images are
 *                      cached in $NASC_CACHE_DIR (else $XDG_CACHE_HOME/nasc, ~/.cache/nasc;
 *                      NASC_CACHE_DIR="" turns the cache off), keyed by the folder's file list,
 *                      sizes and modification times. docs/DATA.md, "Image folders".
 * On success *out is a new dataset the caller frees with nasc_dataset_free. On failure *out is
 * NULL, nothing is leaked, and err says why: NASC_ERR_ARG for a bad spec (listing the accepted
 * forms), NASC_ERR_IO for a missing or unreadable file, NASC_ERR_FORMAT for a malformed one,
 * NASC_ERR_NOMEM when an allocation fails. */
NASC_API nasc_status nasc_dataset_load(const char *spec, nasc_split split, nasc_dataset **out,
                                       nasc_err *err);

/* A new dataset of n zeroed h*w*c images with labels 0, mean 0 and std 1, for callers that fill it
 * themselves (synthetic data, tests). n >= 0, c in 1..3, h, w, n_classes >= 1, else
 * NASC_ERR_ARG. */
NASC_API nasc_status nasc_dataset_new(const char *name, int n, int h, int w, int c, int n_classes,
                                      nasc_dataset **out, nasc_err *err);

/* Frees ds and its buffers. NULL is a no-op. */
NASC_API void nasc_dataset_free(nasc_dataset *ds);

/* Bytes of one image (h*w*c); image i starts at ds->images + i * nasc_dataset_image_bytes(ds). */
static inline size_t nasc_dataset_image_bytes(const nasc_dataset *ds) {
    return (size_t)ds->h * (size_t)ds->w * (size_t)ds->c;
}

/* A new dataset holding copies of images idx[0..n) of ds, in that order (repeats allowed), with
 * ds's name, shape, classes, class names and mean/std. NASC_ERR_ARG naming the position of an index >= ds->n. */
NASC_API nasc_status nasc_dataset_subset(const nasc_dataset *ds, const uint32_t *idx, size_t n,
                                         nasc_dataset **out, nasc_err *err);

/* A random share of ds (for --data-fraction), stratified: from each class with m images it takes
 * round(fraction*m), at least 1, so small fractions keep every class. Images keep their relative
 * order. Deterministic in (seed) (Philox, stream NASC_STREAM_SPLIT + 2^32). fraction must be in
 * (0, 1], else NASC_ERR_ARG; fraction 1 returns a full copy. The caller frees *out. */
NASC_API nasc_status nasc_dataset_fraction(const nasc_dataset *ds, double fraction, uint64_t seed,
                                           nasc_dataset **out, nasc_err *err);

/* Splits ds into train and validation parts, stratified by class and deterministic in (seed)
 * (Philox stream NASC_STREAM_SPLIT, independent of nasc_dataset_fraction's draws). val is a
 * fraction of ds when 0 < val < 1, or a count of images when val >= 1 is a whole number; the
 * count is shared among classes in proportion to their size (largest remainder), with at least
 * one image of each class on either side when the numbers allow. Every image of ds lands in
 * exactly one part; both keep ds's order. NASC_ERR_ARG if val is out of range or a part would be
 * empty. On failure both outputs are NULL. The caller frees both. */
NASC_API nasc_status nasc_dataset_split(const nasc_dataset *ds, double val, uint64_t seed,
                                        nasc_dataset **out_train, nasc_dataset **out_val,
                                        nasc_err *err);

/* Reads one image file (PNG, JPEG or binary PGM/PPM, chosen by its first bytes) and fits it to
 * C x H x W as image folders do (grey <-> colour, resize to cover, centre crop): out receives
 * H*W*C bytes, HWC. NASC_ERR_IO (cannot read), NASC_ERR_FORMAT (not a decodable image, naming
 * the file), NASC_ERR_ARG (bad target), NASC_ERR_NOMEM. */
NASC_API nasc_status nasc_image_load(const char *path, int C, int H, int W, uint8_t *out,
                                     nasc_err *err);

/* ---- loader ---- */

/* Augmentation, applied in this order (as torchvision in the DARTS training code):
 *   crop_pad P > 0: pad the image with P zero pixels on each side (pixel value 0, i.e. -mean/std
 *                   after normalisation) and take a random H x W window;
 *   hflip:          mirror left-right with probability 1/2;
 *   normalise:      x = (pixel/255 - mean[c]) / std[c];
 *   cutout L > 0:   pick a centre (cy, cx) uniformly in the image and set rows
 *                   [max(0,cy-L/2), min(H,cy+L/2)) x the same for columns to 0 (after
 *                   normalisation; L/2 rounds down, as in the DARTS code). */
typedef struct nasc_augment {
    int crop_pad; /* P >= 0; 0 = no crop */
    bool hflip;   /* random horizontal flip */
    int cutout;   /* L >= 0; 0 = no cutout */
} nasc_augment;

typedef struct nasc_loader_config {
    int batch;        /* B >= 1 images per batch */
    bool shuffle;     /* new order every epoch (else dataset order) */
    bool drop_last;   /* skip the last batch if it has fewer than B images */
    bool prefetch;    /* prepare the next batch on a background thread */
    uint64_t seed;    /* keys the shuffle and the augmentation */
    nasc_augment aug; /* all zero: no augmentation (evaluation) */
    /* Data-parallel training (dist.h): with n_shards > 1 each batch is the same global batch as
     * with one shard, but only its contiguous share [n*shard/n_shards, n*(shard+1)/n_shards) is
     * transformed and returned, with the same augmentation draws. 0 and 1 both mean whole. */
    int shard, n_shards;
} nasc_loader_config;

typedef struct nasc_batch {
    int n;                 /* images in this batch (B, or fewer for the last one; a shard's
                            * share of it with n_shards > 1, possibly 0) */
    size_t index;          /* batch index within the epoch */
    int first, n_total;    /* the share's first image within the global batch, and the global
                            * batch's size (0 and n without shards) */
    const float *x;        /* (n, H, W, C) normalised floats, NHWC */
    const int32_t *labels; /* n labels */
} nasc_batch;

typedef struct nasc_loader nasc_loader;

/* A loader over ds (borrowed: it must outlive the loader and stay unchanged) with a copy of cfg,
 * positioned at the start of epoch 0. With cfg->prefetch it starts the prefetch thread, which
 * begins on batch 0 at once. NASC_ERR_ARG for a bad config (batch < 1, crop_pad or cutout out of
 * range, no batch at all), NASC_ERR_NOMEM, NASC_ERR_INTERNAL if the thread cannot start. On
 * failure *out is NULL and nothing is leaked. Free with nasc_loader_free. */
NASC_API nasc_status nasc_loader_new(const nasc_dataset *ds, const nasc_loader_config *cfg,
                                     nasc_loader **out, nasc_err *err);

/* Starts epoch `epoch` at its first batch; the previous batch handed out becomes invalid. */
NASC_API void nasc_loader_start_epoch(nasc_loader *l, uint32_t epoch);

/* Starts epoch `epoch` at batch `batch` (0 <= batch <= nasc_loader_n_batches): the batches that
 * follow are exactly those an uninterrupted run of that epoch would have produced from there, so
 * a checkpoint only needs (epoch, batch) (see nasc_loader_tell). NASC_ERR_ARG if batch is out of
 * range (the loader is then unchanged). */
NASC_API nasc_status nasc_loader_start_epoch_at(nasc_loader *l, uint32_t epoch, size_t batch,
                                                nasc_err *err);

/* Fills *out with the next batch of the current epoch and returns true, or returns false at the
 * end of the epoch. out's pointers belong to the loader and stay valid until the next call to
 * nasc_loader_next, nasc_loader_start_epoch[_at] or nasc_loader_free. Never fails otherwise. */
NASC_API bool nasc_loader_next(nasc_loader *l, nasc_batch *out);

/* Batches per epoch: ceil(n/B), or floor(n/B) with drop_last. */
NASC_API size_t nasc_loader_n_batches(const nasc_loader *l);

/* The current epoch and the index of the batch nasc_loader_next will return next: what a
 * checkpoint saves to resume with nasc_loader_start_epoch_at. Either pointer may be NULL. */
NASC_API void nasc_loader_tell(const nasc_loader *l, uint32_t *out_epoch, size_t *out_batch);

/* Stops the prefetch thread (waiting for it) and frees the loader's buffers. NULL is a no-op. */
NASC_API void nasc_loader_free(nasc_loader *l);

#ifdef __cplusplus
}
#endif
#endif /* NASC_DATA_H */
