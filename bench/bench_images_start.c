/* bench_images_start.c — the start time of an image-folder dataset: what `nasc train --data
 * images:DIR` spends loading both splits before its first step, on the first run (decoding every
 * file, then writing the cache) and on later runs (mapping the cache), and with the cache off.
 *
 *   bench_images_start DIR [OPTIONS]     e.g. bench_images_start /data/cifar10-jpeg
 *                                            bench_images_start /data/cifar10-jpeg/train test-fraction=0.5
 *
 * The cache goes to a fresh temporary folder, so the first run is a true first run (the files
 * themselves may already be in the OS page cache; run it twice to see). Results in docs/DATA.md. */
#include "nasc/data.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Seconds to load the train and test splits of spec; -1 on error (printed). */
static double load_both(const char *spec, int *n_train, int *n_test) {
    nasc_err err = {0};
    nasc_dataset *tr = NULL, *te = NULL;
    const double t0 = now();
    nasc_status st = nasc_dataset_load(spec, NASC_SPLIT_TRAIN, &tr, &err);
    if (st == NASC_OK)
        st = nasc_dataset_load(spec, NASC_SPLIT_TEST, &te, &err);
    const double t = now() - t0;
    if (st != NASC_OK) {
        fprintf(stderr, "bench_images_start: %s\n", err.msg);
        return -1;
    }
    *n_train = tr->n;
    *n_test = te->n;
    nasc_dataset_free(tr);
    nasc_dataset_free(te);
    return t;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: bench_images_start DIR [OPTIONS]\n");
        return 2;
    }
    char spec[4200], cache[] = "/tmp/nasc_bench_cache_XXXXXX";
    snprintf(spec, sizeof spec, "images:%s%s%s", argv[1], argc > 2 ? "?" : "",
             argc > 2 ? argv[2] : "");
    if (!mkdtemp(cache))
        return 1;
    setenv("NASC_CACHE_DIR", cache, 1);
    int ntr = 0, nte = 0;
    const double first = load_both(spec, &ntr, &nte);
    double warm[3];
    for (int i = 0; i < 3 && first >= 0; i++)
        warm[i] = load_both(spec, &ntr, &nte);
    setenv("NASC_CACHE_DIR", "", 1);
    const double off = first >= 0 ? load_both(spec, &ntr, &nte) : -1;
    char cmd[256];
    snprintf(cmd, sizeof cmd, "du -sh %s | cut -f1", cache);
    printf("%s: %d training + %d test images\n", spec, ntr, nte);
    printf("first start (decode + write cache): %.2f s\n", first);
    if (first >= 0)
        printf("second start (cache), 3 runs:       %.2f %.2f %.2f s\n", warm[0], warm[1],
               warm[2]);
    printf("cache off (decode only):            %.2f s\n", off);
    printf("cache size: ");
    fflush(stdout);
    if (system(cmd) != 0)
        printf("?\n");
    snprintf(cmd, sizeof cmd, "rm -rf %s", cache);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", cache);
    return first >= 0 ? 0 : 1;
}
