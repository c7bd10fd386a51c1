/* data_int.h — internals of the data module: a validating reader over plain or gzip files, the
 * per-format loaders, and the per-sample transform shared by the loader and its prefetch thread.
 * Never installed. */
#ifndef NASC_DATA_INT_H
#define NASC_DATA_INT_H

#include "nasc/data.h"

#include <zlib.h>

/* ---- file.c: a sequential reader that knows its byte offset ----
 *
 * Reads a plain file, or a gzip file (detected by its 1f 8b magic) through zlib's inflate with
 * allocations routed to nasc_malloc. `pos` counts the bytes delivered so far: the offset in the
 * decompressed stream, which is what every message reports. All failures are reported on err with
 * "<what>: <path>: ..." and err->path/offset set. */
typedef struct data_file {
    const char *what;   /* dataset name, first word of every message */
    const char *path;   /* borrowed; must outlive the reader */
    int fd;             /* -1 when closed */
    bool gz;            /* gzip stream (else plain bytes) */
    bool zs_live;       /* zs was initialised and needs inflateEnd */
    bool member_done;   /* the current gzip member reached Z_STREAM_END */
    z_stream zs;        /* inflate state (gz only) */
    unsigned char *in;  /* compressed input buffer, DATA_IN_BYTES (gz only) */
    int64_t in_read;    /* compressed bytes read from fd so far */
    int64_t file_bytes; /* size on disk */
    int64_t pos;        /* bytes delivered: offset in the (decompressed) stream */
} data_file;

enum { DATA_IN_BYTES = 1 << 16 };

/* Opens path. NASC_ERR_IO if it cannot be opened or read, NASC_ERR_NOMEM. On failure f is closed
 * (data_file_close is still safe). */
NASC_INTERNAL nasc_status nasc_data_file_open(data_file *f, const char *what, const char *path,
                                              nasc_err *err);
NASC_INTERNAL void nasc_data_file_close(data_file *f);

/* Reads exactly n bytes of a header at the start of the file:
 * "truncated at byte P (expected a N-byte header)" if the file is shorter. */
NASC_INTERNAL nasc_status nasc_data_file_read_header(data_file *f, void *buf, size_t n,
                                                     nasc_err *err);

/* Reads exactly n bytes of a file whose valid size is total bytes:
 * "truncated at byte P (expected TOTAL bytes)" if it ends early. */
NASC_INTERNAL nasc_status nasc_data_file_read(data_file *f, void *buf, size_t n, int64_t total,
                                              nasc_err *err);

/* For a plain file, checks its size on disk is exactly total (truncated / trailing bytes), so that
 * a wrong count is reported before anything large is allocated. No-op for gzip files. */
NASC_INTERNAL nasc_status nasc_data_file_check_size(data_file *f, int64_t total, nasc_err *err);

/* After the last expected byte: checks nothing follows ("byte TOTAL: trailing bytes (expected
 * TOTAL bytes)") and, for gzip, that the stream ends cleanly (CRC and length trailer checked). */
NASC_INTERNAL nasc_status nasc_data_file_finish(data_file *f, int64_t total, nasc_err *err);

/* Sets *out (a buffer of n_bytes) to the first of candidates[] that exists in dir: "dir/name".
 * NASC_ERR_IO naming the first candidate if none exists. */
NASC_INTERNAL nasc_status nasc_data_find_file(const char *what, const char *dir,
                                              const char *const *candidates, int n_candidates,
                                              char *out, size_t n_bytes, nasc_err *err);

/* ---- idx.c, cifar.c: format loaders (dir already resolved) ---- */

typedef enum data_kind {
    DATA_MNIST,
    DATA_FASHION_MNIST,
    DATA_CIFAR10,
    DATA_CIFAR100,
    DATA_IMAGES
} data_kind;

NASC_INTERNAL nasc_status nasc_data_idx_load(data_kind kind, const char *what, const char *dir,
                                             nasc_split split, nasc_dataset **out, nasc_err *err);
NASC_INTERNAL nasc_status nasc_data_cifar_load(data_kind kind, const char *what, const char *dir,
                                               nasc_split split, nasc_dataset **out, nasc_err *err);

/* images.c: spec is what follows "images:" (DIR, optionally ?input=CxHxW&test-fraction=F&skip-bad);
 * see docs/DATA.md, "Image folders". */
NASC_INTERNAL nasc_status nasc_data_images_load(const char *spec, nasc_split split,
                                                nasc_dataset **out, nasc_err *err);

/* ---- image_decode.c: one image file, and fitting it to the dataset's shape ---- */

typedef struct data_image {
    int w, h, c; /* c: 1 (grey) or 3 (RGB) */
    uint8_t *px; /* h*w*c bytes, HWC; owned (nasc_malloc) */
} data_image;

/* Decodes the n bytes of an image file (JPEG, PNG, binary PGM/PPM, chosen by its first bytes) into
 * *out (px owned by the caller: nasc_data_image_free). NASC_ERR_FORMAT naming path when the bytes
 * are not a decodable image; *out is then empty. */
NASC_INTERNAL nasc_status nasc_data_image_decode(const char *what, const char *path,
                                                 const uint8_t *buf, size_t n, data_image *out,
                                                 nasc_err *err);
NASC_INTERNAL void nasc_data_image_free(data_image *img);

/* Writes img fitted to H x W x C into out (H*W*C bytes, HWC): grey copied to three channels or
 * colour reduced to luma, then resized (antialiased bilinear) so it covers H x W and
 * centre-cropped. A same-size image is copied exactly. NASC_ERR_NOMEM. */
NASC_INTERNAL nasc_status nasc_data_image_fit(const data_image *img, int H, int W, int C,
                                              uint8_t *out, nasc_err *err);

#ifdef NASC_TEST
/* Test hook: every CIFAR file is expected to hold n records instead of the official 10000/50000
 * (0 restores the official counts), so tests can use small fixtures. Not thread-safe. */
NASC_INTERNAL void nasc_data_test_cifar_records(int n);
#endif

/* ---- augment.c: one sample, uint8 HWC -> normalised float HWC ---- */

/* Normalisation table: lut[c][v] = (v/255 - mean[c]) / std[c]. */
typedef struct data_norm {
    float lut[3][256];
} data_norm;

NASC_INTERNAL void nasc_data_norm_init(data_norm *nm, const nasc_dataset *ds);

/* Writes image `sample` of ds, augmented for (seed, epoch) and normalised, to out (H*W*C floats).
 * The random draws are Philox blocks keyed by (seed, epoch, sample) only, so the result does not
 * depend on which thread runs it or when. */
NASC_INTERNAL void nasc_data_transform(const nasc_dataset *ds, const data_norm *nm,
                                       const nasc_augment *aug, uint64_t seed, uint32_t epoch,
                                       uint32_t sample, float *out);

#endif /* NASC_DATA_INT_H */
