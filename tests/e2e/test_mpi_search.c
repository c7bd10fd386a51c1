/* test_mpi_search.c — `mpirun -n N nasc search` (a distributed search: rank 0 runs the strategy
 * and the database, ranks 1..N-1 evaluate) gives exactly the trials of one process with
 * --workers N-1: evolution on the NB201 table over 4 ranks, and a small training search over 3
 * ranks (every trial recorded, the same validation accuracies bit for bit), and bohb with the
 * default ask-ahead (asynchronous brackets) over 4 ranks, whose ranks get a second trial while they
 * run one (never a 200-epoch one behind another); bananas over 4 ranks with its fits in a
 * background thread (pipeline=on; with --workers 3 the thread trains while rank 0 forks
 * workers); --wall-budget over 4 ranks stops with the trials still running
 * cancelled and the finished ones those of --workers 3. Skipped (77) where the build has no MPI or
 * mpirun is missing. The failure cases are in fault/test_mpi_resume. */
// ctest: labels=mpi timeout=600
#include "test.h"

#include "e2e/mpi_cli.h"

int main(void) {
    const char *cli = search_cli();
    mpi_setup("test_mpi_search");
    same_as_workers(cli, "evolution", 4, NB " --strategy evolution --ask-ahead 2", 40);
    same_as_workers(
        cli, "train", 3,
        "search --space nb201 --strategy evolution --strategy-opt population=3,sample=2 "
        "--ask-ahead 1 --data fashion-mnist --data-fraction 0.01 --epochs 1 "
        "--channels 4 --cells 1 --batch 32 --threads 1 --seed 3 --json --quiet",
        6);
    /* bohb with the default ask-ahead (auto: 8 x 3 = 24, so asynchronous brackets, ASHA) and
     * sleeping trials: the worker ranks are also handed a second trial while they run one */
    same_as_workers(cli, "bohb", 4, NB " --strategy bohb --sim-sleep 0.02", 60);
    char db[300];
    path(db, sizeof db, "bohb-mpi.db");
    nasc_trial_record *t = NULL;
    int64_t n = 0;
    if (search_load(db, &t, &n)) {
        int n_ahead = 0, n_top = 0; /* trials sent before their rank had finished the one before */
        int n_top_behind_top = 0;   /* ... a 200-epoch one behind another */
        for (int64_t i = 0; i < n; i++) {
            n_top += t[i].fidelity == 200;
            for (int64_t j = 0; j < i; j++) {
                bool held = t[j].worker == t[i].worker && t[i].started_at < t[j].ended_at &&
                            t[j].started_at < t[i].started_at;
                n_ahead += held;
                n_top_behind_top += held && t[i].fidelity == 200 && t[j].fidelity == 200;
            }
        }
        CHECK_MSG(n_ahead > 0, "bohb over 4 ranks: no trial was sent ahead to a busy rank");
        CHECK_MSG(n_top_behind_top == 0, "bohb over 4 ranks: %d 200-epoch trials held behind one",
                  n_top_behind_top);
        CHECK_MSG(n_top > 0, "bohb over 4 ranks: nothing promoted to 200 epochs");
        nasc_db_trials_free(t, n);
        t = NULL;
        n = 0;
    }
    /* bananas with pipeline=on (the default from ask-ahead 64): its pipelined fits (a thread) give
     * the trials of --workers 3, where rank 0 forks the workers while the thread trains */
    same_as_workers(cli, "bananas", 4,
                    NB " --strategy bananas --strategy-opt init=4,top=3,mutations=3,random=10,"
                       "epochs=20,batch=3,pipeline=on --sim-sleep 0.02",
                    40);
    /* --wall-budget over 4 ranks: stopped 1 s after the first trial started; the trials still
     * running (or sent ahead to a busy rank) are left 'running' and counted as cancelled; the
     * finished ones are those of the --workers 3 run of bohb above (a prefix of it) */
    char w[300], wo[300], we[300];
    path(w, sizeof w, "wall-mpi.db");
    path(wo, sizeof wo, "wall-out.txt");
    path(we, sizeof we, "wall-err.txt");
    int rc =
        mpi_run(cli, 4, -1, wo, we,
                NB " --strategy bohb --sim-sleep 0.02 --budget 100000 --wall-budget 1 --db %s", w);
    CHECK_MSG(rc == 0, "wall budget over 4 ranks: exit %d", rc);
    char *j = search_slurp(wo);
    CHECK_STR_CONTAINS(j, "\"wall_stopped\":true");
    const char *c = strstr(j, "\"cancelled\":");
    long cancelled = c ? strtol(c + 12, NULL, 10) : -1;
    free(j);
    char ref[300];
    path(ref, sizeof ref, "bohb-w.db");
    nasc_trial_record *r = NULL;
    int64_t nr = 0;
    if (search_load(w, &t, &n) && search_load(ref, &r, &nr)) {
        long running = 0, differ = 0, finished = 0;
        for (int64_t i = 0; i < n; i++) {
            running += t[i].status == NASC_TRIAL_RUNNING;
            if (t[i].status == NASC_TRIAL_OK && i < nr) {
                finished++;
                differ += strcmp(t[i].arch, r[i].arch) != 0 || t[i].score != r[i].score;
            }
        }
        CHECK_MSG(running == cancelled, "wall budget: %ld trials running, %ld cancelled reported",
                  running, cancelled);
        CHECK_MSG(finished > 0 && differ == 0,
                  "wall budget: %ld of %ld finished trials differ "
                  "from --workers 3",
                  differ, finished);
        if (!differ)
            printf("%-22s 4 ranks, 1 s: %ld of the first 60 finished, as --workers 3; %ld "
                   "cancelled\n",
                   "wall-budget", finished, running);
    }
    nasc_db_trials_free(t, n);
    nasc_db_trials_free(r, nr);
    mpi_cleanup();
    return test_done("test_mpi_search");
}
