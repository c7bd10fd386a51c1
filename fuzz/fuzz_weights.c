/* fuzz_weights.c — model (weights) files and training checkpoints. Input: byte 0 bit 0 fixes the
 * body size and both CRCs (so the fuzzer reaches the metadata and the tensor table), bit 1 reads
 * the file as a training checkpoint (with an optimizer); the rest is the file. The model is a
 * small baseline CNN whose tensor names and shapes the seed corpus holds. */
#include "fuzz_util.h"

#include "nasc/arena.h"
#include "nasc/nn.h"
#include "nasc/optim.h"
#include "nasc/weights.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static nasc_model *model;
static nasc_optim *optim;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1)
        return 0;
    if (!model) {
        fuzz_quiet_logs();
        const nasc_optim_config oc = {.kind = NASC_OPTIM_SGD, .momentum = 0.9f};
        if (nasc_baseline_new(1, 8, 8, 2, 0.125f, 1, &model, NULL) != NASC_OK ||
            nasc_optim_new(model->params, &oc, &optim, NULL) != NASC_OK)
            abort();
    }
    uint8_t *buf = malloc(size);
    memcpy(buf, data + 1, size - 1);
    if (data[0] & 1)
        fuzz_fix_weights(buf, size - 1);
    char path[128];
    fuzz_write(fuzz_path(path, sizeof path, "w.nasc"), buf, size - 1);
    free(buf);
    nasc_err err = {0};
    char *meta = NULL;
    if (nasc_weights_read_meta(path, &meta, &err) == NASC_OK)
        nasc_free(meta);
    nasc_err_clear(&err);
    if (data[0] & 2)
        (void)nasc_checkpoint_load(path, model, optim, &err);
    else
        (void)nasc_weights_load(path, model, &err);
    return 0;
}
