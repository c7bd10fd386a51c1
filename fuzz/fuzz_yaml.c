/* fuzz_yaml.c — YAML experiment files (nasc search --config): the loader, then validation. */
#include "fuzz_util.h"

#include "nasc/experiment.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static bool init;
    if (!init) {
        fuzz_quiet_logs();
        init = true;
    }
    char path[128];
    fuzz_write(fuzz_path(path, sizeof path, "c.yaml"), data, size);
    nasc_experiment_config cfg;
    nasc_config_default(&cfg);
    bool given[128] = {0};
    nasc_err err = {0};
    nasc_status st = nasc_config_load_yaml(&cfg, path, given, &err);
    if (st != NASC_OK && (st != NASC_ERR_FORMAT && st != NASC_ERR_IO && st != NASC_ERR_NOMEM))
        abort(); /* a bad file is FORMAT (or IO for the file itself) */
    if (st != NASC_OK && err.line <= 0 && st == NASC_ERR_FORMAT)
        abort(); /* every YAML error names its line */
    if (st == NASC_OK)
        (void)nasc_config_validate(&cfg, &err);
    return 0;
}
