/* test_weights.c — weights file and training checkpoint round trips, and rejection of every corruption: each byte flipped,
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

/* A training checkpoint holds the optimizer's state and step count besides the weights; it is
 * also a weights file; loading it into another optimizer, or a corrupt copy, changes nothing. */
static void checkpoint_round_trip(nasc_model *m, nasc_model *m2, nasc_model *other,
                                  const char *path, const char *bad) {
    nasc_err err = {0};
    nasc_optim *adam = NULL, *adam2 = NULL, *sgd = NULL;
    const nasc_optim_config ac = {.kind = NASC_OPTIM_ADAM};
    CHECK_STATUS(nasc_optim_new(m->params, &ac, &adam, &err), NASC_OK);
    CHECK_STATUS(nasc_optim_new(m2->params, &ac, &adam2, &err), NASC_OK);
    CHECK_STATUS(nasc_optim_new(m2->params, &(nasc_optim_config){.kind = NASC_OPTIM_SGD,
                                                               .momentum = 0.9f},
                                &sgd, &err),
                 NASC_OK);
    size_t len = 0, len2 = 0;
    float *st = nasc_optim_state(adam, &len);
    CHECK(len == 2 * nasc_params_flat_len(m->params));
    for (size_t i = 0; i < len; i++)
        st[i] = (float)i * 0.25f - 3.0f;
    nasc_optim_set_steps(adam, 1234567);
    nasc_params_init(m->params, 5);
    CHECK_STATUS(nasc_checkpoint_save(path, m, adam, "{\"train_state\":{}}", &err), NASC_OK);

    nasc_params_init(m2->params, 77);
    CHECK_STATUS(nasc_checkpoint_load(path, m2, adam2, &err), NASC_OK);
    CHECK(memcmp(nasc_params_data(m->params), nasc_params_data(m2->params),
                 nasc_params_flat_len(m->params) * sizeof(float)) == 0);
    float *st2 = nasc_optim_state(adam2, &len2);
    CHECK(len2 == len && memcmp(st, st2, len * sizeof(float)) == 0);
    CHECK(nasc_optim_steps(adam2) == 1234567);

    /* a checkpoint is a weights file */
    nasc_params_init(m2->params, 78);
    CHECK_STATUS(nasc_weights_load(path, m2, &err), NASC_OK);
    CHECK(memcmp(nasc_params_data(m->params), nasc_params_data(m2->params),
                 nasc_params_flat_len(m->params) * sizeof(float)) == 0);
    /* a weights file is not a checkpoint; another optimizer's state does not fit */
    CHECK_STATUS(nasc_weights_save(bad, m, NULL, &err), NASC_OK);
    nasc_err e = {0};
    nasc_params_init(m2->params, 79);
    const float sentinel = nasc_params_data(m2->params)[0];
    CHECK_STATUS(nasc_checkpoint_load(bad, m2, adam2, &e), NASC_ERR_SHAPE);
    CHECK_STR_CONTAINS(e.msg, "optimizer state");
    nasc_err_clear(&e);
    CHECK_STATUS(nasc_checkpoint_load(path, m2, sgd, &e), NASC_ERR_SHAPE);
    CHECK_STR_CONTAINS(e.msg, "optimizer state");
    CHECK(nasc_params_data(m2->params)[0] == sentinel);
    CHECK(nasc_optim_steps(sgd) == 0);
    /* another model: the tensor is named, nothing changes */
    nasc_optim *adam3 = NULL;
    CHECK_STATUS(nasc_optim_new(other->params, &ac, &adam3, &err), NASC_OK);
    nasc_err_clear(&e);
    CHECK_STATUS(nasc_checkpoint_load(path, other, adam3, &e), NASC_ERR_SHAPE);
    CHECK_STR_CONTAINS(e.msg, "fc.w");
    /* every flipped byte of the checkpoint is caught; the optimizer is untouched */
    size_t n;
    unsigned char *good = slurp(path, &n), *b = malloc(n);
    memset(st2, 0, len2 * sizeof(float));
    nasc_optim_set_steps(adam2, 0);
    int undetected = 0;
    for (size_t i = 0; i < n; i += 7) {
        memcpy(b, good, n);
        b[i] ^= 0xa5;
        spit(bad, b, n);
        nasc_err_clear(&e);
        if (nasc_checkpoint_load(bad, m2, adam2, &e) != NASC_ERR_FORMAT)
            undetected++;
    }
    CHECK_MSG(undetected == 0, "%d flipped checkpoint bytes not detected", undetected);
    CHECK(st2[1] == 0.0f && nasc_optim_steps(adam2) == 0);
    free(b);
    free(good);
    nasc_optim_free(adam);
    nasc_optim_free(adam2);
    nasc_optim_free(adam3);
    nasc_optim_free(sgd);
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
    checkpoint_round_trip(m, m2, other, path, bad);
    unlink(bad);
    unlink(path);
    rmdir(dir);
    nasc_model_free(m);
    nasc_model_free(m2);
    nasc_model_free(other);
    return test_done("weights");
}
