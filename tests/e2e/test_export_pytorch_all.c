/* test_export_pytorch_all.c — test_export_pytorch on all 10,000 Fashion-MNIST test images for
 * every one of the four networks (baseline, nb201, DARTS C=16 8 cells with the auxiliary head,
 * mobilenet), as issue 15 asks. Labelled long (CI runs the shorter test_export_pytorch): run it
 * with ctest --test-dir build -L long. */
// ctest: labels=slow;long timeout=3600
#define XC_ALL 1
#include "test_export_pytorch.c"
