/* image_decode.c — one image file to uint8 HWC pixels (JPEG through libjpeg-turbo, PNG through
 * libpng, binary PGM/PPM by hand), and fitting it to a dataset's C x H x W: resize so that the
 * image covers H x W, crop the centre, convert grey <-> colour.
 *
 * The format is chosen by the file's first bytes, never by its name. JPEG is decoded with
 * libjpeg's defaults (islow DCT, fancy upsampling), the settings PIL uses, so the pixels equal
 * PIL's (tests/unit/test_data_images.c checks this on CIFAR-10 samples). Any libjpeg warning
 * (corrupt data, premature end of file) fails the decode, as PIL refuses a truncated file. */
#include "data_int.h"

#include "nasc/arena.h"

#include <stdio.h> /* before jpeglib.h, which uses FILE */

#include <jpeglib.h>
#include <math.h>
#include <png.h>
#include <setjmp.h>
#include <string.h>

/* The largest image accepted (pixels), so that a header cannot make nasc allocate gigabytes. */
#define IMG_MAX_PIXELS (1u << 26)

void nasc_data_image_free(data_image *img) {
    nasc_free(img->px);
    img->px = NULL;
}

static nasc_status alloc_px(data_image *img, int w, int h, int c, const char *what,
                            const char *path, nasc_err *err) {
    if (w < 1 || h < 1 || (uint64_t)w * (uint64_t)h > IMG_MAX_PIXELS)
        return nasc_errorf_at(err, NASC_ERR_FORMAT, path, -1,
                              "%s: %s: image of %dx%d pixels (expected 1 to %u pixels)", what,
                              path, w, h, IMG_MAX_PIXELS);
    img->px = nasc_malloc((size_t)w * (size_t)h * (size_t)c);
    if (!img->px)
        return nasc_errorf(err, NASC_ERR_NOMEM, "%s: %s: out of memory for %dx%d pixels", what,
                           path, w, h);
    img->w = w;
    img->h = h;
    img->c = c;
    return NASC_OK;
}

/* ---- JPEG ----
 * libjpeg reports errors through error_exit, which must not return: the only way out it offers is
 * a longjmp back into decode_jpeg. This is the one setjmp in the library; it stays inside this
 * function, and everything it allocates is released on both paths. */
typedef struct jpeg_err {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    char msg[JMSG_LENGTH_MAX];
    bool warned;
} jpeg_err;

static void jpeg_error_exit(j_common_ptr cinfo) {
    jpeg_err *e = (jpeg_err *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, e->msg);
    longjmp(e->jump, 1);
}

static void jpeg_emit(j_common_ptr cinfo, int level) {
    jpeg_err *e = (jpeg_err *)cinfo->err;
    if (level < 0 && !e->warned) { /* a warning: corrupt data; keep the first message */
        e->warned = true;
        (*cinfo->err->format_message)(cinfo, e->msg);
    }
}

static nasc_status decode_jpeg(const char *what, const char *path, const uint8_t *buf, size_t n,
                               data_image *out, nasc_err *err) {
    struct jpeg_decompress_struct cinfo;
    jpeg_err je;
    memset(&je, 0, sizeof je);
    cinfo.err = jpeg_std_error(&je.pub);
    je.pub.error_exit = jpeg_error_exit;
    je.pub.emit_message = jpeg_emit;
    /* volatile: read after the longjmp */
    data_image *volatile img = out;
    if (setjmp(je.jump)) {
        jpeg_destroy_decompress(&cinfo);
        nasc_data_image_free(img);
        return nasc_errorf_at(err, NASC_ERR_FORMAT, path, -1,
                              "%s: %s: not a decodable JPEG image (libjpeg: %s)", what, path,
                              je.msg);
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, buf, (unsigned long)n);
    jpeg_read_header(&cinfo, TRUE);
    const bool grey = cinfo.jpeg_color_space == JCS_GRAYSCALE;
    cinfo.out_color_space = grey ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_start_decompress(&cinfo);
    nasc_status st = alloc_px(img, (int)cinfo.output_width, (int)cinfo.output_height,
                              grey ? 1 : 3, what, path, err);
    if (st != NASC_OK || cinfo.output_components != img->c) {
        jpeg_destroy_decompress(&cinfo);
        nasc_data_image_free(img);
        return st != NASC_OK ? st
                             : nasc_errorf_at(err, NASC_ERR_FORMAT, path, -1,
                                              "%s: %s: JPEG with %d components (expected 1 or 3)",
                                              what, path, cinfo.output_components);
    }
    const size_t row = (size_t)img->w * (size_t)img->c;
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW r = img->px + (size_t)cinfo.output_scanline * row;
        jpeg_read_scanlines(&cinfo, &r, 1);
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    if (je.warned) {
        nasc_data_image_free(img);
        return nasc_errorf_at(err, NASC_ERR_FORMAT, path, -1,
                              "%s: %s: corrupt JPEG image (libjpeg: %s)", what, path, je.msg);
    }
    return NASC_OK;
}

/* ---- PNG (libpng's simplified API: every bit depth, palette and alpha) ---- */
static nasc_status decode_png(const char *what, const char *path, const uint8_t *buf, size_t n,
                              data_image *out, nasc_err *err) {
    png_image pi;
    memset(&pi, 0, sizeof pi);
    pi.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_memory(&pi, buf, n))
        return nasc_errorf_at(err, NASC_ERR_FORMAT, path, -1,
                              "%s: %s: not a decodable PNG image (libpng: %s)", what, path,
                              pi.message);
    const bool colour = (pi.format & PNG_FORMAT_FLAG_COLOR) != 0;
    /* Alpha is composited onto black (libpng's rule without a background colour). */
    pi.format = colour ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY;
    nasc_status st = alloc_px(out, (int)pi.width, (int)pi.height, colour ? 3 : 1, what, path, err);
    if (st != NASC_OK) {
        png_image_free(&pi);
        return st;
    }
    if (!png_image_finish_read(&pi, NULL, out->px, 0, NULL)) {
        nasc_data_image_free(out);
        return nasc_errorf_at(err, NASC_ERR_FORMAT, path, -1,
                              "%s: %s: not a decodable PNG image (libpng: %s)", what, path,
                              pi.message);
    }
    return NASC_OK;
}

/* ---- binary PGM (P5) / PPM (P6), maxval <= 255 ---- */
static bool pnm_int(const uint8_t *b, size_t n, size_t *pos, int *out) {
    for (;;) { /* whitespace and # comments */
        while (*pos < n && (b[*pos] == ' ' || b[*pos] == '\t' || b[*pos] == '\n' ||
                            b[*pos] == '\r'))
            (*pos)++;
        if (*pos < n && b[*pos] == '#') {
            while (*pos < n && b[*pos] != '\n')
                (*pos)++;
            continue;
        }
        break;
    }
    long v = 0;
    size_t start = *pos;
    while (*pos < n && b[*pos] >= '0' && b[*pos] <= '9' && v < 1000000)
        v = v * 10 + (b[(*pos)++] - '0');
    if (*pos == start || v >= 1000000)
        return false;
    *out = (int)v;
    return true;
}

static nasc_status decode_pnm(const char *what, const char *path, const uint8_t *buf, size_t n,
                              data_image *out, nasc_err *err) {
    const int c = buf[1] == '5' ? 1 : 3;
    size_t pos = 2;
    int w = 0, h = 0, maxval = 0;
    if (!pnm_int(buf, n, &pos, &w) || !pnm_int(buf, n, &pos, &h) ||
        !pnm_int(buf, n, &pos, &maxval) || pos >= n)
        return nasc_errorf_at(err, NASC_ERR_FORMAT, path, (int64_t)pos,
                              "%s: %s: byte %zu: bad P%c header (expected width, height, maxval)",
                              what, path, pos, buf[1]);
    if (maxval < 1 || maxval > 255)
        return nasc_errorf_at(err, NASC_ERR_FORMAT, path, (int64_t)pos,
                              "%s: %s: maxval %d (expected 1 to 255; 16-bit files are not read)",
                              what, path, maxval);
    pos++; /* the single whitespace byte after maxval */
    NASC_TRY(alloc_px(out, w, h, c, what, path, err));
    const size_t need = (size_t)w * (size_t)h * (size_t)c;
    if (n - pos < need) {
        nasc_data_image_free(out);
        return nasc_errorf_at(err, NASC_ERR_FORMAT, path, (int64_t)n,
                              "%s: %s: truncated at byte %zu (expected %zu bytes)", what, path, n,
                              pos + need);
    }
    for (size_t i = 0; i < need; i++) {
        const unsigned v = buf[pos + i];
        out->px[i] = (uint8_t)(v >= (unsigned)maxval ? 255 : (v * 255 + (unsigned)maxval / 2) /
                                                                  (unsigned)maxval);
    }
    return NASC_OK;
}

nasc_status nasc_data_image_decode(const char *what, const char *path, const uint8_t *buf,
                                   size_t n, data_image *out, nasc_err *err) {
    memset(out, 0, sizeof *out);
    if (n >= 3 && buf[0] == 0xFF && buf[1] == 0xD8 && buf[2] == 0xFF)
        return decode_jpeg(what, path, buf, n, out, err);
    if (n >= 8 && !memcmp(buf, "\x89PNG\r\n\x1a\n", 8))
        return decode_png(what, path, buf, n, out, err);
    if (n >= 3 && buf[0] == 'P' && (buf[1] == '5' || buf[1] == '6'))
        return decode_pnm(what, path, buf, n, out, err);
    unsigned char head[4] = {0};
    memcpy(head, buf, n < 4 ? n : 4);
    return nasc_errorf_at(err, NASC_ERR_FORMAT, path, 0,
                          "%s: %s: byte 0: not a JPEG, PNG, PGM or PPM image (starts with %02x %02x "
                          "%02x %02x)",
                          what, path, head[0], head[1], head[2], head[3]);
}

/* ---- fitting to C x H x W ---- */

/* Grey value of an RGB pixel: ITU-R 601-2 luma with PIL's fixed-point weights (convert("L")). */
static uint8_t luma(const uint8_t *p) {
    return (uint8_t)(((uint32_t)p[0] * 19595u + (uint32_t)p[1] * 38470u + (uint32_t)p[2] * 7471u +
                      0x8000u) >> 16);
}

/* Triangle-filter weights (PIL's antialiased bilinear): output o of n_out samples a source box
 * [x0, x0 + box) of an axis of n_in pixels. The filter widens to the scale when shrinking, so
 * every source pixel contributes. Writes the first index and count per output and the weights
 * (normalised to sum 1) at w[o * ksize]. */
static void axis_weights(int n_in, int n_out, double x0, double box, int ksize, int *first,
                         int *count, float *w) {
    const double scale = box / n_out, support = scale > 1.0 ? scale : 1.0;
    for (int o = 0; o < n_out; o++) {
        const double centre = x0 + (o + 0.5) * scale;
        int lo = (int)floor(centre - support), hi = (int)ceil(centre + support);
        if (lo < 0)
            lo = 0;
        if (hi > n_in)
            hi = n_in;
        if (hi - lo > ksize)
            hi = lo + ksize;
        double sum = 0.0, tmp[1024];
        for (int j = lo; j < hi; j++) {
            const double d = fabs((j + 0.5 - centre) / support);
            tmp[j - lo] = d < 1.0 ? 1.0 - d : 0.0;
            sum += tmp[j - lo];
        }
        if (sum <= 0.0) { /* cannot happen for a box inside the image; nearest pixel then */
            int j = (int)centre;
            lo = j < 0 ? 0 : (j >= n_in ? n_in - 1 : j);
            hi = lo + 1;
            tmp[0] = sum = 1.0;
        }
        first[o] = lo;
        count[o] = hi - lo;
        for (int j = 0; j < hi - lo; j++)
            w[(size_t)o * (size_t)ksize + (size_t)j] = (float)(tmp[j] / sum);
    }
}

static uint8_t to_u8(float v) {
    return v <= 0.0f ? 0 : (v >= 255.0f ? 255 : (uint8_t)(v + 0.5f));
}

nasc_status nasc_data_image_fit(const data_image *img, int H, int W, int C, uint8_t *out,
                                nasc_err *err) {
    const int h = img->h, w = img->w, c = img->c;
    /* Source channels converted to C first: grey copied to R, G and B, colour to luma. */
    uint8_t *conv = NULL;
    const uint8_t *src = img->px;
    if (c != C) {
        conv = nasc_malloc((size_t)h * (size_t)w * (size_t)C);
        if (!conv)
            return nasc_errorf(err, NASC_ERR_NOMEM, "images: out of memory");
        for (size_t i = 0; i < (size_t)h * (size_t)w; i++) {
            if (C == 3)
                conv[3 * i] = conv[3 * i + 1] = conv[3 * i + 2] = img->px[i];
            else
                conv[i] = luma(img->px + 3 * i);
        }
        src = conv;
    }
    if (h == H && w == W) {
        memcpy(out, src, (size_t)H * (size_t)W * (size_t)C);
        nasc_free(conv);
        return NASC_OK;
    }
    /* Scale so the image covers H x W (the shorter side fits), then take the centre: as
     * torchvision's Resize(min side) + CenterCrop, done in one resampling of the central box. */
    const double s = fmax((double)H / h, (double)W / w);
    const double bh = H / s, bw = W / s, y0 = (h - bh) / 2.0, x0 = (w - bw) / 2.0;
    const int kx = (int)ceil(2.0 * fmax(bw / W, 1.0)) + 2, ky = (int)ceil(2.0 * fmax(bh / H, 1.0)) + 2;
    if (kx > 1024 || ky > 1024) {
        nasc_free(conv);
        return nasc_errorf(err, NASC_ERR_ARG,
                           "images: shrinking a %dx%d image to %dx%d is more than 500x", w, h, W,
                           H);
    }
    int *fx = nasc_malloc(sizeof(int) * 2 * (size_t)(W + H));
    float *wx = nasc_malloc(sizeof(float) * ((size_t)W * (size_t)kx + (size_t)H * (size_t)ky));
    float *rows = nasc_malloc(sizeof(float) * (size_t)h * (size_t)W * (size_t)C);
    if (!fx || !wx || !rows) {
        nasc_free(fx);
        nasc_free(wx);
        nasc_free(rows);
        nasc_free(conv);
        return nasc_errorf(err, NASC_ERR_NOMEM, "images: out of memory");
    }
    int *nx = fx + W, *fy = fx + 2 * W, *ny = fy + H;
    float *wy = wx + (size_t)W * (size_t)kx;
    axis_weights(w, W, x0, bw, kx, fx, nx, wx);
    axis_weights(h, H, y0, bh, ky, fy, ny, wy);
    /* rows: (h, W, C) after the horizontal pass; out: (H, W, C) after the vertical one. */
    for (int y = 0; y < h; y++)
        for (int x = 0; x < W; x++)
            for (int ch = 0; ch < C; ch++) {
                float acc = 0.0f;
                for (int j = 0; j < nx[x]; j++)
                    acc += wx[(size_t)x * (size_t)kx + (size_t)j] *
                           (float)src[((size_t)y * (size_t)w + (size_t)(fx[x] + j)) * (size_t)C +
                                      (size_t)ch];
                rows[((size_t)y * (size_t)W + (size_t)x) * (size_t)C + (size_t)ch] = acc;
            }
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            for (int ch = 0; ch < C; ch++) {
                float acc = 0.0f;
                for (int j = 0; j < ny[y]; j++)
                    acc += wy[(size_t)y * (size_t)ky + (size_t)j] *
                           rows[((size_t)(fy[y] + j) * (size_t)W + (size_t)x) * (size_t)C +
                                (size_t)ch];
                out[((size_t)y * (size_t)W + (size_t)x) * (size_t)C + (size_t)ch] = to_u8(acc);
            }
    nasc_free(fx);
    nasc_free(wx);
    nasc_free(rows);
    nasc_free(conv);
    return NASC_OK;
}
