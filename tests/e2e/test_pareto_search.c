/* test_pareto_search.c — multi-objective search through the CLI: `nasc search --objective
 * acc,params,flops` on the NAS-Bench-201 table (accuracy from the table, params and multiply-adds
 * from the cost model) reports its Pareto front in --json; the front is exactly the set of
 * recorded trials that no other recorded trial dominates (brute force here), `nasc trials
 * --pareto` lists the same trials; a constraint fails the violating trials with the reason; a bad
 * objective is a usage error (exit 2); and a multi-objective search killed with SIGKILL resumes to
 * the same trials. */
#include "test.h"

#include <math.h>

#include "e2e/search_cli.h"
#include "nasc/pareto.h"

static char dir[256];

/* The "pareto":[...] array of a JSON line, brackets included ("" if absent). */
static void json_array(const char *json, const char *key, char *buf, size_t n) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":[", key);
    const char *p = strstr(json, pat);
    buf[0] = '\0';
    if (!p)
        return;
    p += strlen(pat) - 1;
    const char *e = strchr(p, ']');
    if (!e || (size_t)(e - p + 1) >= n)
        return;
    memcpy(buf, p, (size_t)(e - p + 1));
    buf[e - p + 1] = '\0';
}

/* Objective vectors (score first) of the recorded trials; NaN for failed ones. */
static int load_objectives(const char *db, double (*v)[3], char texts[][200], int max) {
    nasc_trial_record *t = NULL;
    int64_t n = 0;
    if (!search_load(db, &t, &n)) {
        CHECK(0);
        return 0;
    }
    int m = 0;
    for (int64_t i = 0; i < n && m < max; i++, m++) {
        bool ok = t[i].status == NASC_TRIAL_OK && t[i].result && t[i].result->n_objectives == 3;
        for (int j = 0; j < 3; j++)
            v[m][j] = ok ? t[i].result->objectives[j] : NAN;
        if (ok)
            CHECK(v[m][0] == t[i].score && v[m][1] == t[i].cost.params &&
                  v[m][2] == t[i].cost.flops);
        snprintf(texts[m], 200, "%s", t[i].reason);
    }
    nasc_db_trials_free(t, n);
    return m;
}

int main(void) {
    const char *cli = search_cli();
    snprintf(dir, sizeof dir, "%s/test_pareto_search.XXXXXX", NASC_BINARY_DIR);
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    char db[400], out[400], out2[400], err[400];
    snprintf(db, sizeof db, "%s/mo.db", dir);
    snprintf(out, sizeof out, "%s/mo.json", dir);
    snprintf(out2, sizeof out2, "%s/front.csv", dir);
    snprintf(err, sizeof err, "%s/err.txt", dir);

    /* the search and its reported front */
    CHECK(search_runf(cli, out, NULL,
                      "search --space nb201 --strategy nsga2 --strategy-opt population=8 "
                      "--benchmark nb201:cifar10 --budget 32 --objective acc,params,flops --seed 2 "
                      "--db %s --json --quiet",
                      db) == 0);
    char *json = search_slurp(out), pareto[512];
    json_array(json, "pareto", pareto, sizeof pareto);
    CHECK_MSG(pareto[0] == '[', "no pareto field in %s", json);
    static double v[64][3];
    static char reasons[64][200];
    int n = load_objectives(db, v, reasons, 64);
    CHECK(n == 32);
    /* brute force: the non-dominated recorded trials */
    char want[512] = "[";
    size_t k = 1;
    int n_front = 0;
    for (int i = 0; i < n; i++) {
        if (isnan(v[i][0]))
            continue;
        bool dominated = false;
        for (int j = 0; j < n; j++)
            dominated |= nasc_pareto_dominates(v[j], v[i], 3);
        if (!dominated) {
            k += (size_t)snprintf(want + k, sizeof want - k, "%s%d", n_front ? "," : "", i);
            n_front++;
        }
    }
    snprintf(want + k, sizeof want - k, "]");
    CHECK_MSG(!strcmp(pareto, want), "front %s, expected %s", pareto, want);
    CHECK(n_front >= 2);
    /* nasc trials --pareto lists the same ids */
    CHECK(search_runf(cli, out2, NULL, "trials --db %s --pareto --format csv", db) == 0);
    char *csv = search_slurp(out2);
    int rows = 0;
    for (char *line = strchr(csv, '\n'); line && line[1]; line = strchr(line + 1, '\n')) {
        int id = atoi(line + 1);
        char needle[16];
        snprintf(needle, sizeof needle, "%d", id);
        CHECK_MSG(strstr(want, needle) != NULL, "trials --pareto lists %d, not in %s", id, want);
        rows++;
    }
    CHECK_MSG(rows == n_front, "trials --pareto: %d rows, front of %d", rows, n_front);
    printf("nsga2, 32 trials: Pareto front %s\n", pareto);
    free(json);
    free(csv);

    /* a constraint fails the trials that violate it, with the reason */
    snprintf(db, sizeof db, "%s/con.db", dir);
    CHECK(search_runf(cli, out, NULL,
                      "search --space nb201 --strategy bo-gp --strategy-opt init=6 --benchmark "
                      "nb201:cifar10 --budget 20 --objective acc,params --constraint "
                      "params<=400k --db %s --json --quiet",
                      db) == 0);
    n = load_objectives(db, v, reasons, 64);
    int violated = 0;
    for (int i = 0; i < n; i++)
        if (strstr(reasons[i], "constraint params<=400000 violated"))
            violated++;
    CHECK_MSG(violated > 0, "no trial failed the constraint");
    printf("bo-gp with params<=400k: %d of %d trials violated it\n", violated, n);

    /* usage errors */
    CHECK(search_runf(cli, NULL, err,
                      "search --space nb201 --strategy random --benchmark nb201:cifar10 --budget 3 "
                      "--objective acc,size") == 2);
    char *e = search_slurp(err);
    CHECK_STR_CONTAINS(e, "no column 'size' in the header");
    free(e);
    CHECK(search_runf(cli, NULL, err,
                      "search --space nb201 --strategy random --benchmark nb201:cifar10 --budget 3 "
                      "--constraint params>=3") == 2);

    /* SIGKILL and resume: the same trials (objectives included: same scores, params, flops) */
    char ref_db[400], kdb[400], ref_out[400], kout[400];
    snprintf(ref_db, sizeof ref_db, "%s/ref.db", dir);
    snprintf(kdb, sizeof kdb, "%s/kill.db", dir);
    snprintf(ref_out, sizeof ref_out, "%s/ref.json", dir);
    snprintf(kout, sizeof kout, "%s/kill.json", dir);
    const char *args[] = {"search",
                          "--space",
                          "nb201",
                          "--strategy",
                          "bananas",
                          "--strategy-opt",
                          "init=4,top=3,mutations=3,random=10,epochs=10,batch=3",
                          "--benchmark",
                          "nb201:cifar10",
                          "--budget",
                          "20",
                          "--objective",
                          "acc,params",
                          "--json",
                          "--quiet",
                          "--db",
                          ref_db,
                          NULL};
    CHECK(search_run(cli, args, -1, 0, ref_out, NULL) == 0);
    args[16] = kdb;
    unsigned rng = 5;
    int kills = kill_and_resume(cli, args, kdb, &rng, 20, 0, kout);
    CHECK(kills >= 3);
    same_trials(ref_db, kdb, 20, "bananas acc,params");
    static double a[64][3], b[64][3];
    int na = load_objectives(ref_db, a, reasons, 64), nb = load_objectives(kdb, b, reasons, 64);
    CHECK(na == nb && !memcmp(a, b, sizeof a));
    char *ra = search_slurp(ref_out), *rb = search_slurp(kout), pa[512], pb[512];
    json_array(ra, "pareto", pa, sizeof pa);
    json_array(rb, "pareto", pb, sizeof pb);
    CHECK_MSG(pa[0] == '[' && !strcmp(pa, pb), "front %s after kills, %s without", pb, pa);
    printf("bananas acc,params: %d kills, same 20 trials, front %s\n", kills, pb);
    free(ra);
    free(rb);

    if (!test_failures) {
        char cmd[400];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", dir);
    }
    return test_done("test_pareto_search");
}
