/* fuzz_idx.c — idx files (MNIST / Fashion-MNIST), plain or gzip. Input: bytes 0-1 (little endian,
 * modulo the rest's length) split the rest into the images file and the labels file of the
 * training split. */
#include "fuzz_util.h"

#include "data/data_int.h"
#include "nasc/data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2)
        return 0;
    static char dir[128];
    if (!dir[0]) {
        fuzz_quiet_logs();
        fuzz_path(dir, sizeof dir, "idx");
        char cmd[200];
        snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dir);
        if (system(cmd) != 0)
            abort();
    }
    const size_t rest = size - 2;
    const size_t split = rest ? ((size_t)data[0] | (size_t)data[1] << 8) % (rest + 1) : 0;
    char p[256];
    snprintf(p, sizeof p, "%s/train-images-idx3-ubyte", dir);
    fuzz_write(p, data + 2, split);
    snprintf(p, sizeof p, "%s/train-labels-idx1-ubyte", dir);
    fuzz_write(p, data + 2 + split, rest - split);
    nasc_dataset *ds = NULL;
    nasc_err err = {0};
    if (nasc_data_idx_load(DATA_FASHION_MNIST, "fuzz", dir, NASC_SPLIT_TRAIN, &ds, &err) == NASC_OK)
        nasc_dataset_free(ds);
    else if (!err.msg[0])
        abort();
    return 0;
}
