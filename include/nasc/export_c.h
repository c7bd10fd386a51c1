/*
 * export_c.h — a network as one dependency-free C99 file pair (NAME.c, NAME.h), float32 or int8.
 *
 * Written from the inference graph (export.h). The generated code needs only libc and libm,
 * never allocates, and has one entry point:
 *
 *     int NAME_predict(const float *pixels, float *logits);
 *
 * pixels: one image (C,H,W), NCHW, raw values in [0,1] (the dataset normalisation is folded in);
 * logits: NAME_N_CLASSES floats; returns the index of the largest logit. All activations live in
 * one static arena (NAME_ARENA_BYTES, stated in the header with NAME_WEIGHT_BYTES), so the
 * function is not reentrant. Buffers are placed in the arena by liveness: a value's bytes are
 * reused once its last reader has run. The output compiles clean with
 * `cc -std=c99 -O2 -Wall -Wextra -pedantic` (gcc and clang).
 *
 * int8 (post-training quantization): weights int8 with one scale per output channel (symmetric),
 * activations int8 with one scale and zero point per value, calibrated as the min/max of each
 * value over the calibration images (run through the float graph). Convolutions and linear layers
 * accumulate in int32 and requantize with a 32-bit fixed-point multiplier and shift (no float in
 * the kernels); element-wise ops (relu, sigmoid, tanh, scale, affine) are 256-entry lookup tables
 * computed at export time; add and concat requantize their inputs to the output's scale. Only the
 * input (float pixels -> int8) and the logits (int8 -> float) convert.
 *
 *     nasc_export_c_opts o = {.name = "net"};
 *     nasc_export_c_info info;
 *     if (nasc_export_c(xg, &o, "out/net.c", "out/net.h", &info, &err) != NASC_OK)
 *         fprintf(stderr, "%s\n", err.msg);
 *     printf("%zu weight bytes, %zu arena bytes\n", info.weight_bytes, info.arena_bytes);
 *
 * Files are written atomically (path.tmp, fsync, rename); on any error neither file is left.
 */
#ifndef NASC_EXPORT_C_H
#define NASC_EXPORT_C_H

#include "nasc/export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nasc_export_c_opts {
    const char *name;     /* C identifier prefix of everything generated ([A-Za-z_][A-Za-z0-9_]*) */
    bool int8;            /* post-training int8 quantization (needs calibration images) */
    const float *calib;   /* int8: n_calib images (C,H,W) NCHW in [0,1], not owned */
    int n_calib;          /* int8: >= 1 */
} nasc_export_c_opts;

typedef struct nasc_export_c_info {
    size_t weight_bytes;       /* constant data of the generated file (weights, biases, scales) */
    size_t float_weight_bytes; /* the same network's weights as float32 (for the int8 saving) */
    size_t arena_bytes;        /* the static activation arena */
    int n_nodes;
} nasc_export_c_info;

/* Writes NAME.c to c_path and NAME.h to h_path (the .c includes the header by its base name).
 * info may be NULL. Errors: NASC_ERR_ARG (name not an identifier, int8 without calibration
 * images), NASC_ERR_IO naming the path (nothing left behind), NASC_ERR_NOMEM. */
NASC_API nasc_status nasc_export_c(const nasc_export_graph *xg, const nasc_export_c_opts *o,
                                   const char *c_path, const char *h_path,
                                   nasc_export_c_info *info, nasc_err *err);

#ifdef __cplusplus
}
#endif
#endif /* NASC_EXPORT_C_H */
