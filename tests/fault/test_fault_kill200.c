// ctest: labels=slow timeout=1500
/* test_fault_kill200.c — `nasc search` killed with SIGKILL at 200 random moments of its first
 * second, creation of the database included, and each time resumed (the same command line) to
 * the end: every one of the 200 databases holds exactly the trials of an uninterrupted run and
 * the same best architecture (issue 22). One kill per run, at a delay drawn uniformly from a fixed
 * seed in [0, W) with W the first second or, when the uninterrupted search is shorter (0.16 s on
 * an idle machine, over a second on a loaded one), its duration, until 200 runs were killed (a
 * run that ends before its kill is not counted): the kills fall on every phase, before the file
 * exists, mid-creation, the switch to WAL, and between trials.
 * Slow (several minutes): labelled slow, it runs in the release suite only. */
#include "test.h"

#include "e2e/search_cli.h"

#define KILLS 200
#define BUDGET 60

int main(void) {
    const char *cli = search_cli();
    char dir[256], ref_db[400], ref_out[400], db[400], out[400], tmp[420];
    snprintf(dir, sizeof dir, "%s/test_fault_kill200.XXXXXX", NASC_BINARY_DIR);
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(ref_db, sizeof ref_db, "%s/ref.db", dir);
    snprintf(ref_out, sizeof ref_out, "%s/ref.json", dir);
    snprintf(db, sizeof db, "%s/k.db", dir);
    snprintf(out, sizeof out, "%s/k.json", dir);
    const char *args[] = {"search", "--space",  "nb201", "--strategy", "evolution", "--benchmark",
                          "nb201:cifar100", "--budget", "60", "--seed", "5", "--json", "--quiet",
                          "--db", ref_db, NULL};
    const int i_db = 14;
    const double t0 = search_now();
    CHECK(search_run(cli, args, -1, 0, ref_out, NULL) == 0);
    char *ref = search_slurp(ref_out);
    char best_ref[512], score_ref[64];
    json_field(ref, "best_arch", best_ref, sizeof best_ref);
    json_field(ref, "best_score", score_ref, sizeof score_ref);
    free(ref);
    CHECK(best_ref[0] != '\0');
    const double one_run = search_now() - t0;
    const double window = one_run < 1.0 ? one_run : 1.0;

    unsigned rng = 22;
    int killed = 0, finished_first = 0, no_file = 0, failures_before = test_failures;
    args[i_db] = db;
    /* until 200 runs were killed (a run that finished before its kill counts as no kill) */
    for (int k = 0; killed < KILLS && k < 2 * KILLS && test_failures == failures_before; k++) {
        char cmd[450];
        snprintf(cmd, sizeof cmd, "rm -f %s*", db); /* the database and its side files */
        if (system(cmd) != 0)
            CHECK(!"rm failed");
        const double delay = window * (double)(rand_r(&rng) % 1000000) / 1e6;
        int rc = search_run(cli, args, -1, delay, out, NULL);
        if (rc == 128 + SIGKILL) {
            killed++;
            no_file += !search_exists(db);
            /* resumed with the same command line (it creates the database or continues it) */
            rc = search_run(cli, args, -1, 0, out, NULL);
        } else {
            finished_first++;
        }
        CHECK_MSG(rc == 0, "kill %d at %.3f s: the resumed search exited %d", k, delay, rc);
        char what[64];
        snprintf(what, sizeof what, "kill %d at %.3f s", k, delay);
        if (!same_trials(ref_db, db, BUDGET, what))
            break;
        char *res = search_slurp(out);
        char best[512], score[64];
        json_field(res, "best_arch", best, sizeof best);
        json_field(res, "best_score", score, sizeof score);
        free(res);
        CHECK_MSG(!strcmp(best, best_ref) && !strcmp(score, score_ref), "%s: best %s %s vs %s %s",
                  what, best, score, best_ref, score_ref);
        snprintf(tmp, sizeof tmp, "%s.tmp", db);
        CHECK_MSG(!search_exists(tmp), "%s: %s left behind", what, tmp);
    }
    CHECK_MSG(killed == KILLS, "only %d kills happened", killed);
    printf("%d kills in the first %.2f s (%d before the database file existed), %d runs finished "
           "before their kill, every one resumed to the %d trials of the uninterrupted run "
           "(%.2f s), best %s; %.0f s in all\n",
           killed, window, no_file, finished_first, BUDGET, one_run, score_ref,
           search_now() - t0);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (test_failures == 0 && system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return test_done("test_fault_kill200");
}
