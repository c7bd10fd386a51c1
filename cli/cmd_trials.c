/* cmd_trials.c — `nasc trials --db FILE`: list an experiment's trials as a table, CSV or JSON.
 * The database is opened read-only, so it can be listed while the search is running. */
#include "cli.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nasc/arena.h"
#include "nasc/db.h"
#include "nasc/experiment.h"

static void csv_str(const char *s) {
    if (!strpbrk(s, ",\"\n\r")) {
        fputs(s, stdout);
        return;
    }
    putchar('"');
    for (; *s; s++) {
        if (*s == '"')
            putchar('"');
        putchar(*s);
    }
    putchar('"');
}

static void csv_num(double v, const char *fmt) {
    if (isfinite(v))
        printf(fmt, v);
}

/* The shortest text that reads back as v exactly. */
static void csv_exact(double v) {
    if (!isfinite(v))
        return;
    char buf[40];
    snprintf(buf, sizeof buf, "%.15g", v);
    if (strtod(buf, NULL) != v)
        snprintf(buf, sizeof buf, "%.17g", v);
    fputs(buf, stdout);
}

static void add_num(cJSON *o, const char *k, double v) {
    if (isfinite(v))
        cJSON_AddNumberToObject(o, k, v);
    else
        cJSON_AddNullToObject(o, k);
}

/* The best trial of the whole experiment (nasc_trials_best), kept apart from the listed rows
 * (--status and --pareto filter those). */
typedef struct best_trial {
    int64_t id; /* -1: no trial finished ok */
    double score, test_score;
    char *arch; /* owned */
} best_trial;

static int print_json(const char *path, const nasc_kv *cfg, int n_cfg, const nasc_trial_record *t,
                      int64_t n, bool oracle, const best_trial *b) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "db", path);
    cJSON_AddBoolToObject(root, "oracle", oracle); /* scores are test accuracy searched on */
    /* as nasc search --json: what the search selected on (validation accuracy; null for an
     * oracle search) and the reported test accuracy of that architecture */
    if (b->id >= 0) {
        cJSON_AddNumberToObject(root, "best_trial", (double)b->id);
        cJSON_AddStringToObject(root, "best_arch", b->arch);
    } else {
        cJSON_AddNullToObject(root, "best_trial");
        cJSON_AddNullToObject(root, "best_arch");
    }
    add_num(root, "best_score", b->id >= 0 ? b->score : (double)NAN);
    add_num(root, "best_valid", b->id >= 0 && !oracle ? b->score : (double)NAN);
    add_num(root, "best_test", b->id >= 0 ? b->test_score : (double)NAN);
    cJSON *c = cJSON_AddObjectToObject(root, "config");
    for (int i = 0; i < n_cfg; i++)
        cJSON_AddStringToObject(c, cfg[i].key, cfg[i].value);
    cJSON *arr = cJSON_AddArrayToObject(root, "trials");
    for (int64_t i = 0; i < n; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "id", (double)t[i].id);
        cJSON_AddStringToObject(o, "status", nasc_trial_status_str(t[i].status));
        add_num(o, "score", t[i].score);
        add_num(o, "test_score", t[i].test_score);
        add_num(o, "sim_seconds", t[i].sim_seconds);
        cJSON_AddStringToObject(o, "arch", t[i].arch);
        char hash[17];
        snprintf(hash, sizeof hash, "%016llx", (unsigned long long)t[i].hash);
        cJSON_AddStringToObject(o, "hash", hash);
        add_num(o, "fidelity", t[i].fidelity);
        cJSON_AddStringToObject(o, "reason", t[i].reason);
        add_num(o, "params", t[i].cost.params);
        add_num(o, "flops", t[i].cost.flops);
        add_num(o, "latency_ms", t[i].cost.latency_ms);
        add_num(o, "seconds", t[i].seconds);
        cJSON_AddNumberToObject(o, "worker", t[i].worker);
        cJSON_AddNumberToObject(o, "attempts", t[i].attempts);
        add_num(o, "started_at", t[i].started_at);
        add_num(o, "ended_at", t[i].ended_at);
        char seed[32];
        snprintf(seed, sizeof seed, "%llu", (unsigned long long)t[i].seed);
        cJSON_AddRawToObject(o, "seed", seed);
        cJSON *m = cJSON_Parse(t[i].metrics);
        if (m)
            cJSON_AddItemToObject(o, "metrics", m);
        cJSON_AddItemToArray(arr, o);
    }
    char *txt = cJSON_Print(root);
    int rc = txt ? CLI_OK : CLI_FAIL;
    if (txt)
        printf("%s\n", txt);
    else
        cli_error("nasc trials: out of memory");
    cJSON_free(txt);
    cJSON_Delete(root);
    return rc;
}

int cmd_trials(int argc, char **argv) {
    const char *db_path = NULL, *format = "table", *status = NULL;
    bool pareto = false;
    cli_flag flags[] = {
        {"db", CLI_STR, &db_path, "FILE", "experiment database (required)", false},
        {"format", CLI_STR, &format, "FMT", "table (default), csv or json", false},
        {"status", CLI_STR, &status, "S", "only trials in this state: pending, running, ok, failed",
         false},
        {"pareto", CLI_BOOL, &pareto, NULL,
         "only the Pareto front (--objective; the best trial for one objective)", false},
    };
    int rc = cli_parse("trials", argc, argv, 2, flags, (int)(sizeof flags / sizeof flags[0]),
                       "nasc trials --db FILE [--format table|csv|json] [--status S] [--pareto]",
                       "Lists the trials of an experiment database (read-only: works while the "
                       "search runs).");
    if (rc == CLI_HELP)
        return CLI_OK;
    if (rc != CLI_OK)
        return rc;
    if (!db_path) {
        cli_error("nasc trials: --db FILE is required");
        return CLI_USAGE;
    }
    if (strcmp(format, "table") && strcmp(format, "csv") && strcmp(format, "json")) {
        cli_error("nasc trials: --format: expected table, csv or json (got '%s')", format);
        return CLI_USAGE;
    }
    nasc_trial_status want = NASC_TRIAL_OK;
    if (status && !nasc_trial_status_parse(status, &want)) {
        cli_error("nasc trials: --status: expected pending, running, ok or failed (got '%s')",
                  status);
        return CLI_USAGE;
    }
    nasc_err err = {0};
    nasc_db *db = NULL;
    nasc_status st = nasc_db_open_readonly(db_path, &db, &err);
    if (st != NASC_OK)
        return cli_fail(st, &err, true);
    nasc_kv *cfg = NULL;
    int n_cfg = 0;
    nasc_trial_record *t = NULL;
    int64_t n = 0;
    if ((st = nasc_db_config_get(db, &cfg, &n_cfg, &err)) == NASC_OK)
        st = nasc_db_trials_load(db, &t, &n, &err);
    nasc_db_close(db);
    if (st != NASC_OK) {
        nasc_free(cfg);
        return cli_fail(st, &err, true);
    }
    best_trial best = {.id = -1};
    int64_t ib = nasc_trials_best(t, n);
    if (ib >= 0) {
        best = (best_trial){t[ib].id, t[ib].score, t[ib].test_score, nasc_strdup(t[ib].arch)};
        if (!best.arch) {
            nasc_db_trials_free(t, n);
            nasc_free(cfg);
            cli_error("nasc trials: out of memory");
            return CLI_FAIL;
        }
    }
    bool *keep = NULL;
    if (pareto) { /* the front, then the same in-place filter as --status */
        int64_t *front = nasc_malloc(sizeof(int64_t) * (size_t)(n ? n : 1));
        keep = nasc_calloc((size_t)(n ? n : 1), sizeof(bool));
        int64_t nf = front && keep ? nasc_trials_pareto(t, n, front) : -1;
        for (int64_t i = 0; i < nf; i++)
            keep[front[i]] = true;
        nasc_free(front);
        if (nf < 0) {
            nasc_free(best.arch);
            nasc_free(keep);
            nasc_db_trials_free(t, n);
            nasc_free(cfg);
            cli_error("nasc trials: out of memory");
            return CLI_FAIL;
        }
    }
    if (status || pareto) { /* filter in place */
        int64_t k = 0;
        for (int64_t i = 0; i < n; i++) {
            if ((!status || t[i].status == want) && (!keep || keep[i])) {
                nasc_trial_record tmp = t[k];
                t[k++] = t[i];
                t[i] = tmp;
            }
        }
        for (int64_t i = k; i < n; i++) { /* free the dropped records' strings */
            nasc_free((char *)t[i].arch);
            nasc_free((char *)t[i].reason);
            nasc_free((char *)t[i].metrics);
            nasc_free(t[i].result);
            memset(&t[i], 0, sizeof t[i]);
        }
        n = k;
    }
    nasc_free(keep);
    /* an oracle search (nb201 tables searched on test accuracy, --oracle, or a database from
     * before validation accuracy was searched on) says so in every format */
    bool oracle = false, nb201 = false, has_oracle_key = false;
    for (int i = 0; i < n_cfg; i++) {
        if (!strcmp(cfg[i].key, "oracle")) {
            has_oracle_key = true;
            oracle = !strcmp(cfg[i].value, "true");
        }
        if (!strcmp(cfg[i].key, "benchmark") && !strncmp(cfg[i].value, "nb201:", 6))
            nb201 = true;
    }
    if (!has_oracle_key && nb201)
        oracle = true;
    const char *score_name = oracle ? "score_ORACLE_test" : "score";
    rc = CLI_OK;
    if (!strcmp(format, "json")) {
        rc = print_json(db_path, cfg, n_cfg, t, n, oracle, &best);
    } else if (!strcmp(format, "csv")) {
        printf("id,status,%s,test,fidelity,reached,seconds,sim_seconds,params,flops,worker,"
               "attempts,arch,reason\n",
               score_name);
        for (int64_t i = 0; i < n; i++) {
            printf("%lld,%s,", (long long)t[i].id, nasc_trial_status_str(t[i].status));
            csv_exact(t[i].score);
            putchar(',');
            csv_exact(t[i].test_score);
            putchar(',');
            csv_num(t[i].fidelity, "%g");
            putchar(',');
            csv_num(t[i].result ? t[i].result->fidelity : (double)NAN, "%g");
            putchar(',');
            csv_num(t[i].seconds, "%.3f");
            putchar(',');
            csv_num(t[i].sim_seconds, "%.1f");
            putchar(',');
            csv_num(t[i].cost.params, "%.0f");
            putchar(',');
            csv_num(t[i].cost.flops, "%.0f");
            printf(",%d,%d,", t[i].worker, t[i].attempts);
            csv_str(t[i].arch);
            putchar(',');
            csv_str(t[i].reason);
            putchar('\n');
        }
    } else {
        if (oracle)
            printf("ORACLE: the scores are test accuracy, and the search selected on them\n");
        printf("%6s  %-7s  %9s  %9s  %8s  %9s  %10s  %s\n", "id", "status", "score", "test",
               "fidelity", "seconds", "sim_s", "arch / reason");
        for (int64_t i = 0; i < n; i++) {
            char score[32] = "-", test[32] = "-", fid[32] = "-", secs[32] = "-", sim[32] = "-";
            if (isfinite(t[i].score))
                snprintf(score, sizeof score, fabs(t[i].score) < 1e6 ? "%.4f" : "%.4g",
                         t[i].score); /* proxies reach 1e49 */
            if (isfinite(t[i].test_score))
                snprintf(test, sizeof test, "%.4f", t[i].test_score);
            if (isfinite(t[i].sim_seconds))
                snprintf(sim, sizeof sim, "%.1f", t[i].sim_seconds);
            /* the fidelity reached (epochs trained) where known, else the one asked */
            double f = t[i].result && isfinite(t[i].result->fidelity) ? t[i].result->fidelity
                                                                      : t[i].fidelity;
            if (isfinite(f) && f > 0)
                snprintf(fid, sizeof fid, "%g", f);
            if (isfinite(t[i].seconds))
                snprintf(secs, sizeof secs, "%.2f", t[i].seconds);
            printf("%6lld  %-7s  %9s  %9s  %8s  %9s  %10s  %s\n", (long long)t[i].id,
                   nasc_trial_status_str(t[i].status), score, test, fid, secs, sim, t[i].arch);
            if (t[i].reason[0])
                printf("%6s  %-7s  %9s  %9s  %8s  %9s  %10s  (%s)\n", "", "", "", "", "", "", "",
                       t[i].reason);
            if (pareto && t[i].result && t[i].result->n_objectives > 1) {
                printf("%6s  %-7s  %9s  %9s  %8s  %9s  %10s  (objectives", "", "", "", "", "", "",
                       "");
                for (int j = 0; j < t[i].result->n_objectives; j++)
                    printf(" %.6g", t[i].result->objectives[j]);
                printf(")\n");
            }
        }
        /* the architecture the search selected, and on a table the number to report: the test
         * accuracy of the best on validation */
        if (best.id >= 0) {
            printf("best: trial %lld, ", (long long)best.id);
            if (oracle)
                printf("ORACLE test %.4f (searched on test accuracy)", best.score);
            else if (isfinite(best.test_score))
                printf("validation %.4f, test %.4f (test accuracy of the best on validation)",
                       best.score, best.test_score);
            else
                printf(fabs(best.score) < 1e6 ? "score %.4f" : "score %.4g", best.score);
            printf("\n      %s\n", best.arch);
        }
    }
    nasc_free(best.arch);
    nasc_db_trials_free(t, n);
    nasc_free(cfg);
    return rc;
}
