/*
 * rng.h — counter-based random numbers (Philox4x32-10, Salmon et al., SC'11).
 *
 * A random value is a pure function of (seed, stream, counter): no state is shared between
 * threads, and a value can be recomputed anywhere. That is what makes runs bit-identical for the
 * same seed and thread count: a dropout mask element is keyed by (seed, stream = the op's stream,
 * counter = step * 2^32 + element), never by the order in which threads draw.
 *
 * nasc_rng is a small sequential wrapper for code that wants a stream of values; its state is four
 * plain integers, so it is saved and restored with a checkpoint (resume gives the same draws).
 *
 *     nasc_rng r;
 *     nasc_rng_init(&r, seed, NASC_STREAM_INIT);
 *     float u = nasc_rng_uniform(&r);           // [0, 1)
 *     float z = nasc_rng_normal(&r);            // N(0, 1)
 *     uint32_t k = nasc_rng_below(&r, 10);      // uniform in [0, 10), unbiased
 *     float m = nasc_philox_uniform(seed, stream, counter);   // stateless
 */
#ifndef NASC_RNG_H
#define NASC_RNG_H

#include "nasc/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Well-known stream ids so that different consumers of one seed never overlap. */
enum nasc_stream {
    NASC_STREAM_INIT = 1,      /* parameter initialisation */
    NASC_STREAM_SHUFFLE = 2,   /* data order */
    NASC_STREAM_AUGMENT = 3,   /* crops, flips, cutout */
    NASC_STREAM_SPLIT = 4,     /* train/validation split */
    NASC_STREAM_DROPOUT = 5,   /* dropout / drop-path masks (counter carries step and op) */
    NASC_STREAM_STRATEGY = 16, /* search strategies */
    NASC_STREAM_USER = 1024    /* first id free for callers */
};

/* One Philox4x32-10 block: 4 random words for key (2 words) and counter (4 words). */
NASC_API void nasc_philox4x32(const uint32_t key[2], const uint32_t ctr[4], uint32_t out[4]);

/* Stateless helpers: a uniform float in [0,1) (24 random bits) or a u32, for (seed, stream, index). */
NASC_API uint32_t nasc_philox_u32(uint64_t seed, uint64_t stream, uint64_t index);
NASC_API float nasc_philox_uniform(uint64_t seed, uint64_t stream, uint64_t index);

typedef struct nasc_rng {
    uint64_t seed;    /* key */
    uint64_t stream;  /* counter high half */
    uint64_t counter; /* next block index */
    uint32_t buf[4];  /* current block */
    uint32_t pos;     /* next unused word of buf (4 = empty) */
} nasc_rng;

NASC_API void nasc_rng_init(nasc_rng *r, uint64_t seed, uint64_t stream);
NASC_API uint32_t nasc_rng_u32(nasc_rng *r);
NASC_API uint64_t nasc_rng_u64(nasc_rng *r);
/* Uniform in [0, 1) with 24 bits of randomness. */
NASC_API float nasc_rng_uniform(nasc_rng *r);
/* Uniform in [0, 1) with 53 bits of randomness. */
NASC_API double nasc_rng_uniform_double(nasc_rng *r);
/* Standard normal (Box-Muller on two uniforms; no cached second value, so the state stays 4 words). */
NASC_API float nasc_rng_normal(nasc_rng *r);
/* Uniform integer in [0, n) without modulo bias; n must be > 0. */
NASC_API uint32_t nasc_rng_below(nasc_rng *r, uint32_t n);
/* Fisher-Yates shuffle of idx[0..n). */
NASC_API void nasc_rng_shuffle_u32(nasc_rng *r, uint32_t *idx, size_t n);

#ifdef __cplusplus
}
#endif
#endif /* NASC_RNG_H */
