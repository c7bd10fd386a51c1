/* test_weights.c — weights file round trip, and rejection of every corruption: each byte flipped,
 * the file truncated at every offset, trailing data, wrong magic/version, a model of a different
 * shape. The model must be unchanged after any failed load. */
#include "test.h"

#include "nasc/arena.h"
#include "nasc/weights.h"

#include <sys/stat.h>
#include <unistd.h>

static char dir[] = "/tmp/nasc_weights_XXXXXX";

static unsigned char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(*n);
    CHECK(fread(b, 1, *n, f) == *n);
    fclose(f);
    return b;
}

static void spit(const char *path, const unsigned char *b, size_t n) {
    FILE *f = fopen(path, "wb");
    fwrite(b, 1, n, f);
    fclose(f);
}

int main(void) {
    CHECK(mkdtemp(dir) != NULL);
    char path[256], bad[256];
    snprintf(path, sizeof path, "%s/m.nasc", dir);
    snprintf(bad, sizeof bad, "%s/bad.nasc", dir);
    nasc_err err = {0};
    nasc_model *m = NULL, *m2 = NULL, *other = NULL;
    CHECK_STATUS(nasc_baseline_new(1, 8, 8, 3, 0.07f, 1, &m, &err), NASC_OK);
    CHECK_STATUS(nasc_baseline_new(1, 8, 8, 3, 0.07f, 2, &m2, &err), NASC_OK);
    CHECK_STATUS(nasc_baseline_new(1, 8, 8, 4, 0.07f, 2, &other, &err), NASC_OK);
    /* make buffers non-trivial so they are checked too */
    nasc_params_buffer(m->params, 0)->data[0] = 0.375f;
    const char *meta = "{\"space\":\"baseline\",\"arch\":\"baseline\",\"classes\":3}";
    CHECK_STATUS(nasc_weights_save(path, m, meta, &err), NASC_OK);
    char tmp[300];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    CHECK(access(tmp, F_OK) != 0); /* no temporary left behind */

    /* round trip */
    char *got_meta = NULL;
    CHECK_STATUS(nasc_weights_read_meta(path, &got_meta, &err), NASC_OK);
    CHECK(got_meta && !strcmp(got_meta, meta));
    nasc_free(got_meta);
    CHECK_STATUS(nasc_weights_load(path, m2, &err), NASC_OK);
    CHECK(memcmp(nasc_params_data(m->params), nasc_params_data(m2->params),
                 nasc_params_flat_len(m->params) * sizeof(float)) == 0);
    CHECK(nasc_params_buffer(m2->params, 0)->data[0] == 0.375f);

    /* shape mismatch: SHAPE error naming the tensor, model unchanged */
    float before = nasc_params_data(other->params)[0];
    nasc_err e = {0};
    CHECK_STATUS(nasc_weights_load(path, other, &e), NASC_ERR_SHAPE);
    CHECK_STR_CONTAINS(e.msg, "fc.w");
    CHECK(nasc_params_data(other->params)[0] == before);

    /* missing file: IO error naming it */
    nasc_err_clear(&e);
    CHECK_STATUS(nasc_weights_load("/nonexistent/x.nasc", m2, &e), NASC_ERR_IO);
    CHECK_STR_CONTAINS(e.msg, "/nonexistent/x.nasc");

    size_t n;
    unsigned char *good = slurp(path, &n);
    unsigned char *b = malloc(n + 16);
    /* every single-byte corruption is detected (header CRC or body CRC), model untouched */
    int undetected = 0, unnamed = 0;
    nasc_params_init(m2->params, 99);
    const float sentinel = nasc_params_data(m2->params)[3];
    for (size_t i = 0; i < n; i++) {
        memcpy(b, good, n);
        b[i] ^= 0x5a;
        spit(bad, b, n);
        nasc_err_clear(&e);
        nasc_status st = nasc_weights_load(bad, m2, &e);
        if (st != NASC_ERR_FORMAT)
            undetected++;
        else if (!strstr(e.msg, bad) || !strstr(e.msg, "byte"))
            unnamed++;
    }
    CHECK_MSG(undetected == 0, "%d of %zu flipped bytes not detected", undetected, n);
    CHECK_MSG(unnamed == 0, "%d messages without file or byte offset", unnamed);
    CHECK(nasc_params_data(m2->params)[3] == sentinel);
    /* truncated at every offset */
    int bad_trunc = 0;
    for (size_t len = 0; len < n; len++) {
        spit(bad, good, len);
        nasc_err_clear(&e);
        nasc_status st = nasc_weights_load(bad, m2, &e);
        if (st != NASC_ERR_FORMAT || !strstr(e.msg, bad))
            bad_trunc++;
    }
    CHECK_MSG(bad_trunc == 0, "%d truncations not reported as FORMAT with the path", bad_trunc);
    /* trailing data */
    memcpy(b, good, n);
    memset(b + n, 0, 16);
    spit(bad, b, n + 16);
    nasc_err_clear(&e);
    CHECK_STATUS(nasc_weights_load(bad, m2, &e), NASC_ERR_FORMAT);
    CHECK_STR_CONTAINS(e.msg, "trailing data");
    /* a foreign file */
    spit(bad, (const unsigned char *)"PK\3\4 this is a zip file, not weights....................."
                                     "..........................................",
         100);
    nasc_err_clear(&e);
    CHECK_STATUS(nasc_weights_load(bad, m2, &e), NASC_ERR_FORMAT);
    CHECK_STR_CONTAINS(e.msg, "bad magic");
    free(b);
    free(good);
    unlink(bad);
    unlink(path);
    rmdir(dir);
    nasc_model_free(m);
    nasc_model_free(m2);
    nasc_model_free(other);
    return test_done("weights");
}
