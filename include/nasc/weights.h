/*
 * weights.h — saving and loading a model's parameters and buffers in nasc's versioned, checksummed
 * binary format (byte layout in docs/FORMAT.md, "Weights file").
 *
 * A file holds a JSON metadata block (what network it is: space, architecture text, input shape,
 * classes, network options — enough to rebuild the model) and every trainable tensor and buffer by
 * name and shape. Saving is crash-safe: the file is written to PATH.tmp, fsynced and renamed over
 * PATH, so PATH is always either the old file or the complete new one. Loading checks magic,
 * version, sizes, both CRC-32 checksums and every tensor's name and shape, and reports the first
 * problem with the file and byte offset (NASC_ERR_FORMAT) or a mismatch with the model
 * (NASC_ERR_SHAPE); the model is modified only if the whole file is valid.
 *
 *     nasc_weights_save("model.nasc", model, meta_json, &err);
 *     char *meta = NULL;
 *     nasc_weights_read_meta("model.nasc", &meta, &err);   // rebuild the model from meta, then:
 *     nasc_weights_load("model.nasc", model, &err);
 *     nasc_free(meta);
 */
#ifndef NASC_WEIGHTS_H
#define NASC_WEIGHTS_H

#include "nasc/nn.h"
#include "nasc/optim.h"

#ifdef __cplusplus
extern "C" {
#endif

#define NASC_WEIGHTS_MAGIC "NASCWTS"  /* 8 bytes with the terminating NUL */
#define NASC_WEIGHTS_VERSION 1u

/* Writes every trainable tensor and buffer of m with the metadata JSON text meta (may be NULL:
 * "{}"). Atomic (PATH.tmp + fsync + rename). NASC_ERR_IO naming the path on failure. */
NASC_API nasc_status nasc_weights_save(const char *path, const nasc_model *m, const char *meta,
                                       nasc_err *err);
/* Reads and validates the file's header and metadata; *out_meta is a nasc_malloc'd JSON string. */
NASC_API nasc_status nasc_weights_read_meta(const char *path, char **out_meta, nasc_err *err);
/* Validates the whole file and copies its tensors into m (matched by name; every tensor of m must
 * be in the file with the same shape and vice versa). m is unchanged on any error. */
NASC_API nasc_status nasc_weights_load(const char *path, nasc_model *m, nasc_err *err);

/* A training checkpoint: a weights file (the same format, so nasc_weights_load and `nasc eval` read
 * it) whose table also holds the optimizer's flat state as the tensor "optim.state" (kind 2) and
 * whose header holds the optimizer's step count (bytes 36..43). Save is atomic like
 * nasc_weights_save. Load validates as nasc_weights_load does, and also that the file holds a
 * state of exactly this optimizer's length (NASC_ERR_SHAPE otherwise); m and o are unchanged on
 * any error. Progress (epoch, counters) belongs in meta, which the caller reads with
 * nasc_weights_read_meta. */
NASC_API nasc_status nasc_checkpoint_save(const char *path, const nasc_model *m, nasc_optim *o,
                                          const char *meta, nasc_err *err);
NASC_API nasc_status nasc_checkpoint_load(const char *path, nasc_model *m, nasc_optim *o,
                                          nasc_err *err);

/* Writes len bytes to path atomically (path.tmp, fsync, rename, fsync of the directory). Shared by
 * every writer of result files. */
NASC_API nasc_status nasc_write_file_atomic(const char *path, const void *data, size_t len,
                                            nasc_err *err);

#ifdef __cplusplus
}
#endif
#endif /* NASC_WEIGHTS_H */
