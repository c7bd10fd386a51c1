/* image_file.c — one image file fitted to a network's input (data.h: nasc_image_load), for
 * `nasc predict --image`. The decoding and fitting are those of image folders (image_decode.c),
 * so a file predicted alone gets exactly the pixels it would get inside an images:DIR dataset. */
#include "data_int.h"

#include "nasc/arena.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* The largest file read (bytes): far above any image a classifier takes. */
#define IMAGE_FILE_MAX (256u << 20)

nasc_status nasc_image_load(const char *path, int C, int H, int W, uint8_t *out, nasc_err *err) {
    if (C < 1 || C > 3 || C == 2 || H < 1 || W < 1)
        return nasc_errorf(err, NASC_ERR_ARG, "image: %s: target %dx%dx%d (CxHxW) is not 1 or 3 "
                                              "channels of at least 1x1",
                           path, C, H, W);
    FILE *f = fopen(path, "rb");
    if (!f)
        return nasc_errorf_at(err, NASC_ERR_IO, path, -1, "image: %s: cannot open: %s", path,
                              strerror(errno));
    uint8_t *buf = NULL;
    size_t n = 0, cap = 0;
    nasc_status st = NASC_OK;
    for (;;) {
        if (n == cap) {
            cap = cap ? 2 * cap : 1u << 16;
            uint8_t *nb = cap <= IMAGE_FILE_MAX ? nasc_realloc(buf, cap) : NULL;
            if (!nb) {
                st = cap > IMAGE_FILE_MAX
                         ? nasc_errorf_at(err, NASC_ERR_FORMAT, path, (int64_t)n,
                                          "image: %s: larger than %u bytes", path, IMAGE_FILE_MAX)
                         : nasc_errorf(err, NASC_ERR_NOMEM, "image: %s: out of memory", path);
                break;
            }
            buf = nb;
        }
        const size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0) {
            if (ferror(f))
                st = nasc_errorf_at(err, NASC_ERR_IO, path, (int64_t)n,
                                    "image: %s: read error at byte %zu", path, n);
            break;
        }
    }
    fclose(f);
    data_image img = {0};
    if (st == NASC_OK)
        st = nasc_data_image_decode("image", path, buf, n, &img, err);
    nasc_free(buf);
    if (st == NASC_OK)
        st = nasc_data_image_fit(&img, H, W, C, out, err);
    nasc_data_image_free(&img);
    return st;
}
