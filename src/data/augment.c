/* augment.c — one training sample: random crop with zero padding, horizontal flip, per-channel
 * normalisation and cutout, as torchvision's RandomCrop(padding=P), RandomHorizontalFlip,
 * ToTensor, Normalize and the DARTS Cutout, in that order.
 *
 * Randomness: two Philox4x32 blocks per sample, keyed by the seed, with counter
 * {sample, epoch, NASC_STREAM_AUGMENT, j} for j = 0, 1 (the rng.h layout {index lo, index hi,
 * stream lo, stream hi} with index = epoch<<32 | sample and the block number in the stream's high
 * word). Words: b0[0] crop dy, b0[1] crop dx, b0[2] flip (top bit), b0[3] cutout cy, b1[0] cutout
 * cx. They are drawn whether or not each augmentation is on, so turning one on does not change
 * the others. A word w maps to [0, m) as (w * m) >> 32 (bias below m / 2^32). */
#include "data_int.h"

#include "nasc/rng.h"

static uint32_t below(uint32_t w, uint32_t m) {
    return (uint32_t)(((uint64_t)w * m) >> 32);
}

void nasc_data_norm_init(data_norm *nm, const nasc_dataset *ds) {
    for (int c = 0; c < 3; c++) {
        const float mean = c < ds->c ? ds->mean[c] : 0.0f, std = c < ds->c ? ds->std[c] : 1.0f;
        for (int v = 0; v < 256; v++) /* float ops in torchvision's order: (v/255 - mean)/std */
            nm->lut[c][v] = ((float)v / 255.0f - mean) / std;
    }
}

void nasc_data_transform(const nasc_dataset *ds, const data_norm *nm, const nasc_augment *aug,
                         uint64_t seed, uint32_t epoch, uint32_t sample, float *out) {
    const int H = ds->h, W = ds->w, C = ds->c;
    const uint8_t *src = ds->images + (size_t)sample * nasc_dataset_image_bytes(ds);
    if (aug->crop_pad <= 0 && !aug->hflip && aug->cutout <= 0) {
        const size_t n_px = (size_t)H * (size_t)W;
        for (size_t p = 0; p < n_px; p++)
            for (int c = 0; c < C; c++)
                out[p * (size_t)C + (size_t)c] = nm->lut[c][src[p * (size_t)C + (size_t)c]];
        return;
    }
    const uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    uint32_t b0[4], b1[4];
    nasc_philox4x32(key, (const uint32_t[4]){sample, epoch, NASC_STREAM_AUGMENT, 0}, b0);
    nasc_philox4x32(key, (const uint32_t[4]){sample, epoch, NASC_STREAM_AUGMENT, 1}, b1);

    /* out(h, w) = src(h + dy, sw + dx) with sw = flip ? W-1-w : w; zero pixel outside. */
    int dy = 0, dx = 0;
    if (aug->crop_pad > 0) {
        const uint32_t span = 2u * (uint32_t)aug->crop_pad + 1u;
        dy = (int)below(b0[0], span) - aug->crop_pad;
        dx = (int)below(b0[1], span) - aug->crop_pad;
    }
    const bool flip = aug->hflip && (b0[2] >> 31);
    for (int h = 0; h < H; h++) {
        const int sy = h + dy;
        float *row = out + (size_t)h * (size_t)W * (size_t)C;
        for (int w = 0; w < W; w++) {
            const int sx = (flip ? W - 1 - w : w) + dx;
            float *px = row + (size_t)w * (size_t)C;
            if (sy < 0 || sy >= H || sx < 0 || sx >= W) {
                for (int c = 0; c < C; c++)
                    px[c] = nm->lut[c][0];
            } else {
                const uint8_t *s = src + ((size_t)sy * (size_t)W + (size_t)sx) * (size_t)C;
                for (int c = 0; c < C; c++)
                    px[c] = nm->lut[c][s[c]];
            }
        }
    }
    if (aug->cutout > 0) {
        const int half = aug->cutout / 2;
        const int cy = (int)below(b0[3], (uint32_t)H), cx = (int)below(b1[0], (uint32_t)W);
        const int y1 = cy - half < 0 ? 0 : cy - half, y2 = cy + half > H ? H : cy + half;
        const int x1 = cx - half < 0 ? 0 : cx - half, x2 = cx + half > W ? W : cx + half;
        for (int h = y1; h < y2; h++)
            for (int w = x1; w < x2; w++)
                for (int c = 0; c < C; c++)
                    out[((size_t)h * (size_t)W + (size_t)w) * (size_t)C + (size_t)c] = 0.0f;
    }
}
