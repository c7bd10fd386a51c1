/* fuzz_cifar.c — CIFAR-10 / CIFAR-100 binary batches, plain or gzip. Byte 0: bit 0 picks
 * CIFAR-100 (test.bin) or CIFAR-10 (test_batch.bin), bits 1-2 the expected record count (1-4,
 * through the NASC_TEST hook, so small inputs can be whole files); the rest is the file. */
#include "fuzz_util.h"

#include "data/data_int.h"
#include "nasc/data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1)
        return 0;
    static char dir[128];
    if (!dir[0]) {
        fuzz_quiet_logs();
        fuzz_path(dir, sizeof dir, "cifar");
        char cmd[200];
        snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dir);
        if (system(cmd) != 0)
            abort();
    }
    const bool c100 = data[0] & 1;
    nasc_data_test_cifar_records(1 + ((data[0] >> 1) & 3));
    char p[256];
    snprintf(p, sizeof p, "%s/%s", dir, c100 ? "test.bin" : "test_batch.bin");
    fuzz_write(p, data + 1, size - 1);
    nasc_dataset *ds = NULL;
    nasc_err err = {0};
    if (nasc_data_cifar_load(c100 ? DATA_CIFAR100 : DATA_CIFAR10, "fuzz", dir, NASC_SPLIT_TEST, &ds,
                             &err) == NASC_OK)
        nasc_dataset_free(ds);
    else if (!err.msg[0])
        abort();
    return 0;
}
