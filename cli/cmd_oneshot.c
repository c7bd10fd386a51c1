/* cmd_oneshot.c — the one-shot strategies of `nasc search` (darts, darts2, gdas, pc-darts, enas,
 * spos, proxyless): cmd_search.c hands the parsed configuration over; this file prints the
 * per-epoch log (losses, genotype, softmax(alpha)) and the progress line on stderr, the result on
 * stdout, and maps SIGINT / SIGTERM to a clean stop (the checkpoint is kept for --resume). */
#include "cli.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <signal.h>
#include <string.h>

#include "nasc/dist.h"
#include "nasc/oneshot_search.h"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig) {
    (void)sig;
    stop_requested = 1;
}

typedef struct os_cli {
    cli_progress bar;
} os_cli;

static void on_log(const char *text, void *user) {
    os_cli *c = user;
    cli_progress_end(&c->bar);
    fputs(text, stderr);
    fflush(stderr);
}

static void on_memory(const nasc_supernet_memory *m, void *user) {
    (void)user;
    fprintf(stderr,
            "oneshot: predicted step memory %.0f MB (activations %.0f MB, gradients %.0f MB, "
            "parameters and optimizer state %.0f MB, workspace %.0f MB)\n",
            m->total_bytes / 1e6, m->activation_bytes / 1e6, m->grad_bytes / 1e6,
            m->params_bytes / 1e6, m->scratch_bytes / 1e6);
}

static bool on_step(const nasc_oneshot_progress *p, void *user) {
    os_cli *c = user;
    char line[256], el[32], eta[32], total[32];
    if (p->phase) { /* SPOS's evolution after the last epoch: minutes without steps */
        snprintf(line, sizeof line,
                 "search: %s: %lld/%lld candidates scored | best %.2f%% | %s elapsed, ETA %s",
                 p->phase, (long long)p->step, (long long)p->steps, (double)p->acc,
                 cli_fmt_duration(p->elapsed_s, el, sizeof el),
                 p->step > 1 ? cli_fmt_duration(p->eta_s, total, sizeof total) : "?");
        cli_progress_show(&c->bar, line, 2.0, p->step == p->steps);
        return !stop_requested;
    }
    snprintf(line, sizeof line,
             "search: epoch %d/%d step %lld/%lld | loss %.4f acc %.2f%% | %.1f img/s | %s "
             "elapsed, epoch ETA %s, ETA %s",
             p->epoch + 1, p->epochs, (long long)p->step, (long long)p->steps, (double)p->loss,
             (double)p->acc, p->images_per_second, cli_fmt_duration(p->elapsed_s, el, sizeof el),
             cli_fmt_duration(p->epoch_eta_s, eta, sizeof eta),
             cli_fmt_duration(p->eta_s, total, sizeof total));
    cli_progress_show(&c->bar, line, 2.0, p->step == p->steps);
    return !stop_requested;
}

/* Runs the search; under mpirun every rank calls this (rank 0 with its flags, the others with
 * what rank 0 sent them, quiet). A failure on one rank leaves the others waiting in the next
 * collective, so it ends the whole job; a stop (Ctrl-C, SIGTERM) is rank 0's decision, taken by
 * every rank at the same step, and ends normally. */
static int run_search(const nasc_experiment_config *cfg, nasc_oneshot_search_opts *o,
                      nasc_oneshot_result *r) {
    const int rank = nasc_dist_rank(), n_ranks = nasc_dist_size();
    os_cli c;
    cli_progress_init(&c.bar, cfg->quiet || rank > 0);
    o->user = &c;
    o->data_parallel = n_ranks > 1;
    if (!cfg->quiet && rank == 0 && n_ranks > 1)
        fprintf(stderr,
                "nasc search: data-parallel over %d ranks: each takes its share of every batch "
                "(%d threads each)\n",
                n_ranks, cfg->threads);
    cli_signals sig;
    cli_signals_catch(&sig, on_signal);
    nasc_err err = {0};
    const nasc_status st = nasc_oneshot_search(cfg, o, r, &err);
    cli_signals_restore(&sig);
    cli_progress_end(&c.bar);
    if (st != NASC_OK && st != NASC_ERR_ABORTED && n_ranks > 1) {
        const char *msg = err.msg[0] ? err.msg : nasc_status_str(st);
        if (rank > 0)
            cli_error("rank %d: %s", rank, msg);
        else
            cli_error("%s", msg);
        nasc_dist_abort(cli_exit_code(st, true));
    }
    if (st != NASC_OK && rank > 0)
        return cli_exit_code(st, true);
    if (st != NASC_OK) {
        const int code = cli_fail(st, &err, true);
        if (st == NASC_ERR_ABORTED)
            cli_resume_hint(cfg->db);
        return code;
    }
    return CLI_OK;
}

int cli_search_oneshot_rank(bool *handled) {
    *handled = false;
    nasc_experiment_config cfg;
    bool given[256] = {0}; /* indexed like nasc_config_keys (fewer than 96, cmd_search.c) */
    size_t max_memory = 0;
    nasc_err err = {0};
    nasc_status st = nasc_oneshot_search_wait(&cfg, given, &max_memory, handled, &err);
    if (st != NASC_OK) {
        cli_error("rank %d: %s", nasc_dist_rank(), err.msg);
        nasc_dist_abort(cli_exit_code(st, true));
        return cli_exit_code(st, true);
    }
    if (!*handled)
        return CLI_OK;
    cfg.quiet = true;
    cfg.json = false;
    nasc_oneshot_search_opts o = {.given = given, .max_memory = max_memory, .on_step = on_step};
    nasc_oneshot_result r;
    const int code = run_search(&cfg, &o, &r);
    nasc_oneshot_result_free(&r);
    return code;
}

int cli_search_oneshot(const nasc_experiment_config *cfg, const bool *given,
                       const char *max_memory) {
    nasc_oneshot_search_opts o = {.given = given, .on_epoch_log = on_log, .on_step = on_step,
                                  .on_memory = cfg->quiet ? NULL : on_memory};
    if (max_memory && !nasc_oneshot_parse_bytes(max_memory, &o.max_memory)) {
        cli_error("nasc search: --max-memory: expected bytes like 4G, 512M or 1000000 (got '%s')",
                  max_memory);
        return CLI_USAGE;
    }
    nasc_err err = {0};
    nasc_status st;
    if (nasc_dist_size() > 1 &&
        (st = nasc_oneshot_search_share(cfg, given, o.max_memory, &err)) != NASC_OK) {
        if (st != NASC_ERR_ARG) { /* some ranks may have the configuration: end them too */
            cli_error("%s", err.msg);
            nasc_dist_abort(cli_exit_code(st, false));
        }
        return cli_fail(st, &err, false); /* the other ranks get QUIT (cmd_search.c) */
    }
    nasc_oneshot_result r;
    const int code = run_search(cfg, &o, &r);
    if (code != CLI_OK) {
        nasc_oneshot_result_free(&r);
        return code;
    }
    if (cfg->json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "best_arch", r.arch ? r.arch : "");
        if (isfinite(r.val_acc))
            cJSON_AddNumberToObject(j, "best_score", r.val_acc);
        else
            cJSON_AddNullToObject(j, "best_score");
        cJSON_AddNumberToObject(j, "trials", r.epochs_done);
        cJSON_AddStringToObject(j, "space", cfg->space[0] ? cfg->space : "darts");
        cJSON_AddStringToObject(j, "strategy", cfg->strategy);
        cJSON_AddStringToObject(j, "evaluator", "supernet");
        cJSON_AddNumberToObject(j, "param_free_share", r.param_free_share);
        cJSON_AddNumberToObject(j, "memory_bytes", (double)r.memory.total_bytes);
        cJSON_AddBoolToObject(j, "resumed", r.resumed);
        if (r.stop_reason[0])
            cJSON_AddStringToObject(j, "stop_reason", r.stop_reason);
        if (cfg->db[0])
            cJSON_AddStringToObject(j, "db", cfg->db);
        else
            cJSON_AddNullToObject(j, "db");
        cJSON_AddNumberToObject(j, "seconds", round(r.seconds * 1000.0) / 1000.0);
        char *txt = cJSON_PrintUnformatted(j);
        if (txt)
            printf("%s\n", txt);
        cJSON_free(txt);
        cJSON_Delete(j);
    } else {
        printf("best: %s\n", r.arch ? r.arch : "-");
        printf("score: %.4f (supernet validation accuracy after %d epochs; %.0f%% parameter-free "
               "ops)\n",
               (double)r.val_acc, r.epochs_done, 100.0 * r.param_free_share);
    }
    nasc_oneshot_result_free(&r);
    return CLI_OK;
}
