/* fuzz_table.c — user CSV tables (--benchmark table:FILE.csv:COLUMN). Byte 0 picks the space whose
 * architectures the arch column holds; the rest is the file. Loads every column and looks each
 * row's architecture up again. */
#include "fuzz_util.h"

#include "nasc/estimate.h"
#include "nasc/space.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const spaces[] = {"nb201", "darts", "chain", "mobilenet", "macro", "morph"};
static nasc_space *sp[6];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1)
        return 0;
    if (!sp[0]) {
        fuzz_quiet_logs();
        for (int i = 0; i < 6; i++)
            if (nasc_space_new(spaces[i], NULL, &sp[i], NULL) != NASC_OK)
                abort();
    }
    char path[128];
    fuzz_write(fuzz_path(path, sizeof path, "t.csv"), data + 1, size - 1);
    nasc_table *t = NULL;
    nasc_err err = {0};
    const char *cols[] = {"valid_acc", "test_acc"};
    if (nasc_table_load_columns(sp[data[0] % 6], path, cols, (data[0] >> 4) & 1 ? 1 : 2, &t,
                                &err) == NASC_OK) {
        const size_t n = nasc_table_size(t);
        for (size_t i = 0; i < n && i < 64; i++) {
            double v;
            if (!nasc_table_lookup_text(t, nasc_table_arch(t, i), &v))
                abort(); /* every row's architecture is found again */
            for (int c = 0; c < nasc_table_n_columns(t); c++)
                (void)nasc_table_get(t, i, c);
        }
        nasc_table_free(t);
    }
    return 0;
}
