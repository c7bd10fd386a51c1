/* cifar.c — CIFAR-10 and CIFAR-100 binary batches (https://www.cs.toronto.edu/~kriz/cifar.html).
 *   CIFAR-10:  records of 1 label byte + 3072 pixel bytes; data_batch_1..5.bin hold 10000 records
 *              each, test_batch.bin 10000.
 *   CIFAR-100: records of 2 label bytes (coarse, fine) + 3072 pixel bytes; train.bin holds 50000,
 *              test.bin 10000. nasc uses the fine labels (100 classes).
 * The pixels of a record are CHW: 1024 red, then 1024 green, then 1024 blue bytes, rows top to
 * bottom. They are converted to HWC as they are read. The files have no header, so the size is the
 * only integrity check there is: each file must hold exactly its official number of records
 * (a test hook lowers that count for small fixtures). A .gz version of any file is accepted. */
#include "data_int.h"

#include "nasc/arena.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

enum {
    CIFAR_SIDE = 32,
    CIFAR_PLANE = CIFAR_SIDE * CIFAR_SIDE, /* 1024 */
    CIFAR_PIXELS = 3 * CIFAR_PLANE,        /* 3072 */
    CIFAR_CHUNK = 256                      /* records read per read call */
};

static int test_records; /* NASC_TEST override of the records per file; 0 = official counts */

#ifdef NASC_TEST
void nasc_data_test_cifar_records(int n) {
    test_records = n > 0 ? n : 0;
}
#endif

typedef struct cifar_file {
    const char *name;
    int records;
} cifar_file;

static bool is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Reads one file's records into ds starting at image `first`, validating every label. */
static nasc_status load_file(data_kind kind, const char *what, const char *path, int records,
                             nasc_dataset *ds, int first, uint8_t *scratch, int chunk,
                             nasc_err *err) {
    const int label_bytes = kind == DATA_CIFAR100 ? 2 : 1;
    const int64_t rec = label_bytes + CIFAR_PIXELS;
    const int64_t total = rec * records;
    data_file f;
    nasc_status st = nasc_data_file_open(&f, what, path, err);
    if (st != NASC_OK)
        return st;
    if ((st = nasc_data_file_check_size(&f, total, err)) != NASC_OK)
        goto done;
    for (int r0 = 0; r0 < records; r0 += chunk) {
        int k = records - r0 < chunk ? records - r0 : chunk;
        if ((st = nasc_data_file_read(&f, scratch, (size_t)(k * rec), total, err)) != NASC_OK)
            goto done;
        for (int j = 0; j < k; j++) {
            const uint8_t *src = scratch + j * rec;
            const int64_t off = (r0 + j) * rec;
            int label;
            if (kind == DATA_CIFAR100) {
                if (src[0] >= 20) {
                    st = nasc_errorf_at(err, NASC_ERR_FORMAT, path, off,
                                        "%s: %s: byte %lld: coarse label %u out of range [0,19]",
                                        what, path, (long long)off, src[0]);
                    goto done;
                }
                label = src[1];
            } else {
                label = src[0];
            }
            if (label >= ds->n_classes) {
                st = nasc_errorf_at(err, NASC_ERR_FORMAT, path, off + label_bytes - 1,
                                    "%s: %s: byte %lld: label %d out of range [0,%d]", what, path,
                                    (long long)(off + label_bytes - 1), label, ds->n_classes - 1);
                goto done;
            }
            const size_t i = (size_t)first + (size_t)(r0 + j);
            ds->labels[i] = label;
            /* CHW -> HWC: dst[p*3 + c] = src[c*1024 + p] */
            uint8_t *dst = ds->images + i * CIFAR_PIXELS;
            const uint8_t *px = src + label_bytes;
            for (int p = 0; p < CIFAR_PLANE; p++) {
                dst[3 * p + 0] = px[p];
                dst[3 * p + 1] = px[CIFAR_PLANE + p];
                dst[3 * p + 2] = px[2 * CIFAR_PLANE + p];
            }
        }
    }
    st = nasc_data_file_finish(&f, total, err);
done:
    nasc_data_file_close(&f);
    return st;
}

nasc_status nasc_data_cifar_load(data_kind kind, const char *what, const char *dir,
                                 nasc_split split, nasc_dataset **out, nasc_err *err) {
    *out = NULL;
    const bool c100 = kind == DATA_CIFAR100;
    /* DIR may be the extracted folder itself or its parent. */
    char base[4096];
    int len = snprintf(base, sizeof base, "%s/%s", dir,
                       c100 ? "cifar-100-binary" : "cifar-10-batches-bin");
    if (len < 0 || (size_t)len >= sizeof base)
        return nasc_errorf(err, NASC_ERR_ARG, "%s: %s: directory name too long", what, dir);
    if (!is_dir(base))
        snprintf(base, sizeof base, "%s", dir);

    static const cifar_file c10_train[] = {{"data_batch_1.bin", 10000},
                                           {"data_batch_2.bin", 10000},
                                           {"data_batch_3.bin", 10000},
                                           {"data_batch_4.bin", 10000},
                                           {"data_batch_5.bin", 10000}};
    static const cifar_file c10_test[] = {{"test_batch.bin", 10000}};
    static const cifar_file c100_train[] = {{"train.bin", 50000}};
    static const cifar_file c100_test[] = {{"test.bin", 10000}};
    const bool train = split == NASC_SPLIT_TRAIN;
    const cifar_file *files =
        c100 ? (train ? c100_train : c100_test) : (train ? c10_train : c10_test);
    const int n_files = c100 || !train ? 1 : 5;
    int records[5];

    char paths[5][4096];
    int n = 0;
    for (int i = 0; i < n_files; i++) {
        records[i] = test_records > 0 ? test_records : files[i].records;
        char gz[32];
        snprintf(gz, sizeof gz, "%s.gz", files[i].name);
        const char *names[] = {files[i].name, gz};
        NASC_TRY(nasc_data_find_file(what, base, names, 2, paths[i], sizeof paths[i], err));
        n += records[i];
    }

    nasc_dataset *ds = NULL;
    uint8_t *scratch = NULL;
    nasc_status st =
        nasc_dataset_new(what, n, CIFAR_SIDE, CIFAR_SIDE, 3, c100 ? 100 : 10, &ds, err);
    if (st != NASC_OK)
        return st;
    int chunk = 0; /* records per read: CIFAR_CHUNK, or fewer for small files */
    for (int i = 0; i < n_files; i++)
        chunk = records[i] > chunk ? records[i] : chunk;
    chunk = chunk < CIFAR_CHUNK ? chunk : CIFAR_CHUNK;
    const size_t scratch_bytes = (size_t)chunk * (size_t)((c100 ? 2 : 1) + CIFAR_PIXELS);
    scratch = nasc_malloc(scratch_bytes);
    if (!scratch) {
        st = nasc_errorf(err, NASC_ERR_NOMEM, "%s: out of memory (%zu bytes)", what, scratch_bytes);
        goto fail;
    }
    for (int i = 0, first = 0; i < n_files; first += records[i], i++)
        if ((st = load_file(kind, what, paths[i], records[i], ds, first, scratch, chunk, err)) !=
            NASC_OK)
            goto fail;
    nasc_free(scratch);
    if (c100) {
        const float mean[3] = {0.5071f, 0.4865f, 0.4409f}, std[3] = {0.2673f, 0.2564f, 0.2762f};
        memcpy(ds->mean, mean, sizeof mean);
        memcpy(ds->std, std, sizeof std);
    } else {
        const float mean[3] = {0.4914f, 0.4822f, 0.4465f}, std[3] = {0.2470f, 0.2435f, 0.2616f};
        memcpy(ds->mean, mean, sizeof mean);
        memcpy(ds->std, std, sizeof std);
    }
    *out = ds;
    return NASC_OK;
fail:
    nasc_free(scratch);
    nasc_dataset_free(ds);
    return st;
}
