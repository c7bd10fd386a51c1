/* mpi_cli.h — helpers for the tests that run `mpirun -n N nasc search` (test_mpi_search,
 * test_mpi_resume): find mpirun (or skip), run nasc under it, compare with --workers N-1. */
#ifndef NASC_TEST_MPI_CLI_H
#define NASC_TEST_MPI_CLI_H

#include <stdarg.h>

#include "e2e/search_cli.h"
#include "nasc/dist.h"

static char dir[200];    /* the test's directory (mpi_setup) */
static char mpirun[256]; /* mpirun's path */

static inline bool find_mpirun(void) {
    const char *path = getenv("PATH");
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path ? path : "/usr/bin:/bin");
    for (char *d = strtok(buf, ":"); d; d = strtok(NULL, ":")) {
        snprintf(mpirun, sizeof mpirun, "%s/mpirun", d);
        if (access(mpirun, X_OK) == 0)
            return true;
    }
    return false;
}

/* Runs `mpirun -n ranks nasc <args>` (args NULL-terminated, split like search_runf) with stdout
 * and stderr to out / errf; kill_at as search_run (NASC_TEST_KILL_AT on every rank: only rank 0
 * writes the database). Returns mpirun's exit code. */
static inline int mpi_run(const char *cli, int ranks, long kill_at, const char *out,
                          const char *errf, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
static inline int mpi_run(const char *cli, int ranks, long kill_at, const char *out,
                          const char *errf, const char *fmt, ...) {
    static char buf[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    char n[16];
    snprintf(n, sizeof n, "%d", ranks);
    const char *args[SEARCH_ARGS_MAX + 1] = {"--oversubscribe", "--allow-run-as-root", "-n", n,
                                             cli};
    int k = 5;
    for (char *tok = strtok(buf, " "); tok && k < SEARCH_ARGS_MAX; tok = strtok(NULL, " "))
        args[k++] = tok;
    args[k] = NULL;
    return search_run(mpirun, args, kill_at, 0, out, errf);
}

static inline void path(char *buf, size_t n, const char *name) { /* n >= 300 */
    snprintf(buf, n, "%.200s/%.64s", dir, name);
}

#define NB "search --space nb201 --benchmark nb201:cifar10 --seed 3 --json --quiet"

/* The same search (cmd: "search ..." without --budget, --workers, --db) with --workers (ranks-1)
 * in one process and over `ranks` MPI ranks. */
static inline void same_as_workers(const char *cli, const char *name, int ranks, const char *cmd,
                                   int budget) {
    char a[300], b[300], ea[300];
    char an[64], bn[64];
    snprintf(an, sizeof an, "%s-w.db", name);
    snprintf(bn, sizeof bn, "%s-mpi.db", name);
    path(a, sizeof a, an);
    path(b, sizeof b, bn);
    path(ea, sizeof ea, "stderr.txt");
    int rc = search_runf(cli, NULL, ea, "%s --budget %d --workers %d --db %s", cmd, budget,
                         ranks - 1, a);
    CHECK_MSG(rc == 0, "%s: --workers %d: exit %d", name, ranks - 1, rc);
    rc = mpi_run(cli, ranks, -1, NULL, ea, "%s --budget %d --db %s", cmd, budget, b);
    if (rc != 0) {
        char *e = search_slurp(ea);
        fprintf(stderr, "%s", e);
        free(e);
    }
    CHECK_MSG(rc == 0, "%s: mpirun -n %d: exit %d", name, ranks, rc);
    if (same_trials(a, b, budget, name))
        printf("%-22s %d ranks = --workers %d: %d trials identical\n", name, ranks, ranks - 1,
               budget);
}

/* Skips (exit 77, with the reason) without MPI or mpirun; makes the test's directory. */
static inline void mpi_setup(const char *name) {
    if (!nasc_dist_compiled()) {
        fprintf(stderr, "skipped: this nasc was built without MPI (NASC_MPI=OFF or no "
                        "libopenmpi-dev)\n");
        exit(77);
    }
    if (!find_mpirun()) {
        fprintf(stderr, "skipped: mpirun not found (Debian: openmpi-bin)\n");
        exit(77);
    }
    /* containers often forbid the cross-memory attach of Open MPI's shared-memory transport */
    setenv("OMPI_MCA_btl_vader_single_copy_mechanism", "none", 0);
    snprintf(dir, sizeof dir, "%s/%s.XXXXXX", NASC_BINARY_DIR, name);
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        exit(1);
    }
}

/* Removes the test's directory if every check passed. */
static inline void mpi_cleanup(void) {
    if (!test_failures) {
        char cmd[400];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", dir);
    }
}

#endif /* NASC_TEST_MPI_CLI_H */
