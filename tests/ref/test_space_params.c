/* test_space_params.c — parameter counts of nb201 and darts networks against the PyTorch models
 * of tests/ref/gen_space_params.py (values committed in tests/ref/space_params.txt): DARTS_V2 at
 * C=36, L=20 on CIFAR-10 with and without the auxiliary head, at C=16, L=8 on 1x28x28, and
 * several NAS-Bench-201 cells at C=16, N=5. Counts must match exactly; so must the conv + linear
 * multiply-adds of the cost model (cost.h) against PyTorch forward hooks. */
#include "test.h"

#include "nasc/arena.h"
#include "nasc/cost.h"
#include "nasc/space.h"

#include <stdlib.h>

int main(void) {
    const char *path = NASC_SOURCE_DIR "/tests/ref/space_params.txt";
    FILE *f = fopen(path, "r");
    CHECK_MSG(f != NULL, "cannot open %s", path);
    if (!f)
        return test_done("test_space_params");
    char line[4096], text[4096];
    int n_cases = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#')
            continue;
        char space[32], name[64];
        int in_c, in_h, in_w, classes, C, cells, aux;
        long long params, macs;
        if (sscanf(line, "%31s %63s %d %d %d %d %d %d %d %lld %lld", space, name, &in_c, &in_h,
                   &in_w, &classes, &C, &cells, &aux, &params, &macs) != 11 ||
            !fgets(text, sizeof text, f)) {
            CHECK_MSG(0, "%s: malformed line '%s'", path, line);
            break;
        }
        text[strcspn(text, "\n")] = '\0';
        nasc_err err = {0};
        nasc_space *sp = NULL;
        nasc_arch *a = NULL;
        nasc_model *m = NULL;
        CHECK_STATUS(nasc_space_new(space, NULL, &sp, &err), NASC_OK);
        if (sp)
            CHECK_STATUS(nasc_arch_parse(sp, text, &a, &err), NASC_OK);
        nasc_net_config cfg = {.in_c = in_c, .in_h = in_h, .in_w = in_w, .n_classes = classes,
                               .channels = C, .cells = cells, .auxiliary = aux != 0};
        if (a)
            CHECK_STATUS(nasc_space_build(a, &cfg, 1, &m, &err), NASC_OK);
        if (err.code)
            fprintf(stderr, "%s: %s\n", name, err.msg);
        if (m) {
            long long got = (long long)nasc_params_count(m->params);
            CHECK_MSG(got == params, "%s %s: %lld parameters, PyTorch has %lld", space, name, got,
                      params);
            nasc_model_cost cost;
            CHECK_STATUS(nasc_model_cost_measure(m, &(nasc_cost_config){.repeats = -1}, &cost,
                                                 &err),
                         NASC_OK);
            CHECK_MSG(cost.macs == (double)macs, "%s %s: %.0f MACs, PyTorch has %lld", space,
                      name, cost.macs, macs);
            printf("%-32s params %9lld (torch %9lld)  MACs %11.0f (torch %11lld)\n", name, got,
                   params, cost.macs, macs);
        }
        n_cases++;
        nasc_model_free(m);
        nasc_arch_free(a);
        nasc_space_free(sp);
    }
    fclose(f);
    CHECK_MSG(n_cases >= 19, "only %d cases in %s", n_cases, path);
    return test_done("test_space_params");
}
