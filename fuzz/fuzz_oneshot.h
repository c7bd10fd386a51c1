/* fuzz_oneshot.h — the tiny one-shot search of fuzz_oneshot.c, shared with gen_seeds.c so that
 * the seed checkpoint is one this search resumes. */
#ifndef NASC_FUZZ_ONESHOT_H
#define NASC_FUZZ_ONESHOT_H

#include "fuzz_util.h"

#include "nasc/oneshot.h"

static void fuzz_oneshot_config(nasc_oneshot_config *cfg) {
    static char data_dir[128];
    if (!data_dir[0]) {
        fuzz_path(data_dir, sizeof data_dir, "fm");
        char cmd[200];
        snprintf(cmd, sizeof cmd, "mkdir -p '%s'", data_dir);
        if (system(cmd) != 0)
            abort();
        fuzz_write_idx(data_dir, 40);
    }
    nasc_oneshot_config_default(cfg, "darts");
    snprintf(cfg->space, sizeof cfg->space, "nb201");
    snprintf(cfg->data, sizeof cfg->data, "fashion-mnist:%s", data_dir);
    cfg->epochs = 2;
    cfg->batch = 4;
    cfg->channels = 2;
    cfg->cells = 1;
    cfg->threads = 1;
    cfg->seed = 1;
    cfg->checkpoint_every = 1;
    cfg->resume = true;
    cfg->stop_after_steps = 1;
    fuzz_path(cfg->checkpoint, sizeof cfg->checkpoint, "os.ckpt");
}

#endif /* NASC_FUZZ_ONESHOT_H */
