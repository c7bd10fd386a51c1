/* rng.c — Philox4x32-10 (Salmon, Moraes, Dror, Shaw: "Parallel random numbers: as easy as 1, 2, 3",
 * SC'11). Counter layout used throughout nasc: ctr = {index lo, index hi, stream lo, stream hi},
 * key = {seed lo, seed hi}. */
#include "nasc/rng.h"

#include <math.h>

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

static inline void mulhilo(uint32_t a, uint32_t b, uint32_t *hi, uint32_t *lo) {
    uint64_t p = (uint64_t)a * b;
    *hi = (uint32_t)(p >> 32);
    *lo = (uint32_t)p;
}

void nasc_philox4x32(const uint32_t key[2], const uint32_t ctr[4], uint32_t out[4]) {
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
    uint32_t k0 = key[0], k1 = key[1];
    for (int r = 0; r < 10; r++) {
        uint32_t hi0, lo0, hi1, lo1;
        mulhilo(PHILOX_M0, c0, &hi0, &lo0);
        mulhilo(PHILOX_M1, c2, &hi1, &lo1);
        uint32_t n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
        c0 = n0;
        c1 = lo1;
        c2 = n2;
        c3 = lo0;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

static void block(uint64_t seed, uint64_t stream, uint64_t index, uint32_t out[4]) {
    const uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    const uint32_t ctr[4] = {(uint32_t)index, (uint32_t)(index >> 32), (uint32_t)stream,
                             (uint32_t)(stream >> 32)};
    nasc_philox4x32(key, ctr, out);
}

uint32_t nasc_philox_u32(uint64_t seed, uint64_t stream, uint64_t index) {
    uint32_t out[4];
    block(seed, stream, index, out);
    return out[0];
}

float nasc_philox_uniform(uint64_t seed, uint64_t stream, uint64_t index) {
    return (float)(nasc_philox_u32(seed, stream, index) >> 8) * (1.0f / 16777216.0f);
}

void nasc_rng_init(nasc_rng *r, uint64_t seed, uint64_t stream) {
    r->seed = seed;
    r->stream = stream;
    r->counter = 0;
    r->pos = 4;
    r->buf[0] = r->buf[1] = r->buf[2] = r->buf[3] = 0;
}

uint32_t nasc_rng_u32(nasc_rng *r) {
    if (r->pos >= 4) {
        block(r->seed, r->stream, r->counter++, r->buf);
        r->pos = 0;
    }
    return r->buf[r->pos++];
}

uint64_t nasc_rng_u64(nasc_rng *r) {
    uint64_t hi = nasc_rng_u32(r);
    return (hi << 32) | nasc_rng_u32(r);
}

float nasc_rng_uniform(nasc_rng *r) {
    return (float)(nasc_rng_u32(r) >> 8) * (1.0f / 16777216.0f);
}

double nasc_rng_uniform_double(nasc_rng *r) {
    return (double)(nasc_rng_u64(r) >> 11) * (1.0 / 9007199254740992.0);
}

float nasc_rng_normal(nasc_rng *r) {
    /* u1 in (0, 1] so the log is finite. */
    double u1 = 1.0 - nasc_rng_uniform_double(r);
    double u2 = nasc_rng_uniform_double(r);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

uint32_t nasc_rng_below(nasc_rng *r, uint32_t n) {
    NASC_ASSERT(n > 0);
    /* Lemire's nearly divisionless method with rejection. */
    uint64_t m = (uint64_t)nasc_rng_u32(r) * n;
    uint32_t l = (uint32_t)m;
    if (l < n) {
        uint32_t t = (uint32_t)(-n) % n;
        while (l < t) {
            m = (uint64_t)nasc_rng_u32(r) * n;
            l = (uint32_t)m;
        }
    }
    return (uint32_t)(m >> 32);
}

void nasc_rng_shuffle_u32(nasc_rng *r, uint32_t *idx, size_t n) {
    for (size_t i = n; i > 1; i--) {
        size_t j = nasc_rng_below(r, (uint32_t)i);
        uint32_t t = idx[i - 1];
        idx[i - 1] = idx[j];
        idx[j] = t;
    }
}
