/* test_oneshot_methods.c — the resume check of test_oneshot_search.c for the costlier cases:
 * second-order DARTS, PC-DARTS, and the nb201 supernet (darts, gdas, spos, proxyless), plus
 * ProxylessNAS with latencies measured by the cost model (a plain run: measured latencies vary,
 * so two runs are not compared). */
// ctest: labels=slow timeout=900
#include <stdbool.h>

#define ONESHOT_CASES
#define RUN_REFUSALS 0
static const struct {
    const char *method, *space;
    bool resume;
} cases[] = {{"darts2", "darts", true},    {"pc-darts", "darts", true},
             {"darts", "nb201", true},     {"gdas", "nb201", true},
             {"spos", "nb201", true},      {"proxyless", "nb201", true},
             {"proxyless-measured", "darts", false}};

#include "test_oneshot_search.c"
