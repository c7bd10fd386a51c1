/* test_export_c_all.c — test_export_c on all four networks of the issue (baseline, nb201, DARTS
 * C=16 8 cells with auxiliary head and drop-path, mobilenet) and all 10,000 Fashion-MNIST test
 * images, each generated file compiled with gcc and with clang. Labelled long: it takes over
 * 5 minutes on 2 cores, so CI leaves it out; run it with ctest --test-dir build -L long. */
// ctest: labels=slow;long timeout=3600
#define XC_ALL 1
#include "test_export_c.c"
