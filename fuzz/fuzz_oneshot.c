/* fuzz_oneshot.c — one-shot search checkpoints (nasc search --strategy darts ... --resume). Byte 0
 * bit 0 fixes the payload length and CRC so the fuzzer reaches the records; the rest is the
 * checkpoint, resumed by a tiny DARTS search over NB201 (C=2, one cell per stage, 40 random
 * 28x28 images) that stops after one step. The seed corpus holds this search's own checkpoint. */
#include "fuzz_util.h"

#include "fuzz_oneshot.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1)
        return 0;
    static bool init;
    if (!init) {
        fuzz_quiet_logs();
        init = true;
    }
    uint8_t *buf = malloc(size);
    memcpy(buf, data + 1, size - 1);
    if (data[0] & 1)
        fuzz_fix_oneshot(buf, size - 1);
    nasc_oneshot_config cfg;
    fuzz_oneshot_config(&cfg);
    fuzz_write(cfg.checkpoint, buf, size - 1);
    free(buf);
    nasc_oneshot_result r = {0};
    nasc_err err = {0};
    nasc_status st = nasc_oneshot_run(&cfg, NULL, &r, &err);
    if (st != NASC_OK && st != NASC_ERR_ABORTED && !err.msg[0])
        abort(); /* a refusal says why */
    nasc_oneshot_result_free(&r);
    return 0;
}
