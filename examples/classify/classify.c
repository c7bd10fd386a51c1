/* classify.c — classify images with a network exported as dependency-free C: no libnasc, only
 * the two generated files, libc and libm.
 *
 *     nasc export --model model.nasc --format c --out net.c --name net    # net.c + net.h
 *     cc -std=c99 -O2 classify.c net.c -lm -o classify
 *     ./classify shirt.pgm [more.pgm ...]
 *
 * Images: binary PGM (P5, 8-bit), the network's input size (28x28 for Fashion-MNIST), one channel.
 * Pixels are passed as raw values in [0,1]; the export holds the dataset's normalisation. For an
 * int8 export (--quantize int8 --calibration fashion-mnist) nothing here changes. */
#include "net.h"

#include <stdio.h>

/* Fashion-MNIST's classes, printed when the network has ten outputs. */
static const char *const fashion[10] = {"T-shirt/top", "trouser", "pullover", "dress", "coat",
                                        "sandal", "shirt", "sneaker", "bag", "ankle boot"};

/* Reads a binary PGM of exactly w x h into px as values / maxval; 0 on success. */
static int read_pgm(const char *path, int w, int h, float *px) {
    FILE *f = fopen(path, "rb");
    int W, H, maxval, i, c;
    if (!f)
        return -1;
    if (fscanf(f, "P5 %d %d %d", &W, &H, &maxval) != 3 || W != w || H != h || maxval < 1 ||
        maxval > 255 || fgetc(f) == EOF) {
        fclose(f);
        return -2;
    }
    for (i = 0; i < w * h; i++) {
        if ((c = fgetc(f)) == EOF) {
            fclose(f);
            return -3;
        }
        px[i] = (float)c / (float)maxval;
    }
    fclose(f);
    return 0;
}

int main(int argc, char **argv) {
    static float pixels[NET_IN_C * NET_IN_H * NET_IN_W];
    float logits[NET_N_CLASSES];
    int i, rc = 0;
    if (NET_IN_C != 1) {
        fprintf(stderr, "classify: this example reads grayscale PGM; the network wants %d "
                        "channels\n", NET_IN_C);
        return 2;
    }
    if (argc < 2) {
        fprintf(stderr, "usage: classify IMAGE.pgm ... (%dx%d, binary PGM)\n", NET_IN_W,
                NET_IN_H);
        return 2;
    }
    for (i = 1; i < argc; i++) {
        int cls;
        if (read_pgm(argv[i], NET_IN_W, NET_IN_H, pixels) != 0) {
            fprintf(stderr, "classify: %s: not a %dx%d binary PGM\n", argv[i], NET_IN_W,
                    NET_IN_H);
            rc = 2;
            continue;
        }
        cls = net_predict(pixels, logits);
        printf("%s: class %d%s%s (logit %.3f)\n", argv[i], cls,
               NET_N_CLASSES == 10 ? " " : "", NET_N_CLASSES == 10 ? fashion[cls] : "",
               (double)logits[cls]);
    }
    printf("network: %d weight bytes, %d activation bytes\n", (int)NET_WEIGHT_BYTES,
           (int)NET_ARENA_BYTES);
    return rc;
}
