/* cmd_train.c — `nasc train`: train the baseline CNN or an architecture, report test accuracy. */
#include "train_opts.h"

#include "nasc/arena.h"
#include "nasc/dist.h"
#include "nasc/limits.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

typedef struct train_ui {
    cli_progress prog;
    FILE *step_log; /* --log-steps */
} train_ui;

static bool on_event(const nasc_train_event *ev, void *user) {
    train_ui *ui = user;
    char line[256], eta[32], el[32];
    if (ev->kind == NASC_TRAIN_STEP) {
        if (ui->step_log)
            fprintf(ui->step_log, "epoch %d step %lld loss %.9g\n", ev->epoch + 1,
                    (long long)ev->step + 1, (double)ev->loss);
        const int width = 20;
        const int done = (int)((ev->step + 1) * width / (ev->steps_per_epoch ? ev->steps_per_epoch : 1));
        char bar[32];
        for (int i = 0; i < width; i++)
            bar[i] = i < done ? '=' : (i == done ? '>' : ' ');
        bar[width] = '\0';
        snprintf(line, sizeof line,
                 "epoch %d/%d [%s] %lld/%lld loss %.4f acc %.2f%% %.0f img/s ETA %s",
                 ev->epoch + 1, ev->epochs, bar, (long long)ev->step + 1,
                 (long long)ev->steps_per_epoch, (double)ev->avg_loss, (double)ev->avg_acc,
                 ev->images_per_second, cli_fmt_duration(ev->eta_s, eta, sizeof eta));
        cli_progress_show(&ui->prog, line, 10.0, false);
    } else {
        int n = snprintf(line, sizeof line, "epoch %d/%d: train loss %.4f acc %.2f%%",
                         ev->epoch + 1, ev->epochs, (double)ev->avg_loss, (double)ev->avg_acc);
        if (!isnan(ev->eval_acc))
            n += snprintf(line + n, sizeof line - (size_t)n, ", test acc %.2f%% loss %.4f",
                          (double)ev->eval_acc, (double)ev->eval_loss);
        snprintf(line + n, sizeof line - (size_t)n, ", %.0f img/s, %s elapsed, ETA %s",
                 ev->images_per_second, cli_fmt_duration(ev->elapsed_s, el, sizeof el),
                 cli_fmt_duration(ev->eta_s, eta, sizeof eta));
        cli_progress_show(&ui->prog, line, 0, true);
        cli_progress_end(&ui->prog);
    }
    return true;
}

static int train_main(int argc, char **argv) {
    /* under mpirun (dist.h): data-parallel over the job's ranks; rank 0 alone prints and writes */
    const int rank = nasc_dist_rank(), n_ranks = nasc_dist_size();
    cli_train_opts o;
    cli_train_opts_init(&o);
    cli_net_opts net = {.width = 1.0f};
    const char *space = NULL, *arch = NULL, *out_path = NULL, *log_steps = NULL, *ckpt = NULL;
    const char *time_limit_s = NULL;
    double time_limit = 0.0;
    int64_t steps = -1; /* --steps not given */
    const double t_start = cli_now();
    bool json = false, quiet = false;
    cli_flag flags[64];
    int n = 0;
    flags[n++] = (cli_flag){"space", CLI_STR, &space, "SPACE",
                            "search space of --arch: nb201, darts, chain, mobilenet, macro, morph"};
    flags[n++] = (cli_flag){"arch", CLI_STR, &arch, "TEXT",
                            "architecture in the space's text form (default: baseline CNN)"};
    flags[n++] = (cli_flag){"channels", CLI_INT, &net.channels, "C", "initial channels of the network"};
    flags[n++] = (cli_flag){"cells", CLI_INT, &net.cells, "L", "cells (nb201: per stage; darts: total)"};
    flags[n++] = (cli_flag){"auxiliary", CLI_BOOL, &net.auxiliary, NULL, "darts: auxiliary head"};
    flags[n++] = (cli_flag){"width", CLI_FLOAT, &net.width, "X", "baseline CNN width multiplier (default 1)"};
    n = cli_train_flags_add(flags, n, &o);
    if ((n = cli_train_recipe_add(flags, n, argc, argv, 2, &o, &net, "train")) < 0)
        return CLI_USAGE;
    flags[n++] = (cli_flag){"time-limit", CLI_STR, &time_limit_s, "DURATION",
                            "train for this long (90s, 5m, 1h), evaluation included: the epoch "
                            "count is fitted to it from the measured step time (recorded in the "
                            "model as train_epochs)"};
    flags[n++] = (cli_flag){"steps", CLI_I64, &steps, "N",
                            "train for exactly N optimizer steps instead of --epochs: the cosine "
                            "schedule spans them, the last epoch is partial"};
    flags[n++] = (cli_flag){"eval-each-epoch", CLI_BOOL, &o.cfg.eval_each_epoch, NULL,
                            "evaluate on the test set after every epoch"};
    flags[n++] = (cli_flag){"out", CLI_STR, &out_path, "FILE", "save the trained model (weights file)"};
    flags[n++] = (cli_flag){"checkpoint", CLI_STR, &ckpt, "FILE",
                            "save the training state every epoch; resume from FILE if it exists"};
    flags[n++] = (cli_flag){"log-steps", CLI_STR, &log_steps, "FILE",
                            "write every step's loss to FILE ('-' for stdout)"};
    flags[n++] = (cli_flag){"json", CLI_BOOL, &json, NULL, "print the result as one JSON object"};
    flags[n++] = (cli_flag){"quiet", CLI_BOOL, &quiet, NULL, "no progress output"};
    int rc = cli_parse("train", argc, argv, 2, flags, n,
                       "nasc train [--space SPACE --arch TEXT] [--data DATASET] [--epochs N] "
                       "[--batch B] [--lr X] [--seed S] [--threads T] [--data-fraction F] "
                       "[--out FILE] [--json]",
                       "Trains a network on a dataset's training split and reports its accuracy "
                       "on the test split. Without --arch it trains the built-in baseline CNN.");
    if (rc != CLI_OK)
        return rc == CLI_HELP ? CLI_OK : rc;
    if (n_ranks > 1 && o.cfg.batch < n_ranks) {
        if (rank == 0)
            cli_error("nasc train: --batch %d: data-parallel over %d ranks needs at least one image "
                      "per rank",
                      o.cfg.batch, n_ranks);
        cli_train_opts_deinit(&o);
        return CLI_USAGE;
    }
    if (rank > 0) { /* rank 0 prints, logs and saves */
        quiet = true;
        json = false;
        out_path = NULL;
        log_steps = NULL;
    }
    o.cfg.data_parallel = n_ranks > 1;
    if ((rc = cli_train_opts_finish(&o, "train")) != CLI_OK) {
        cli_train_opts_deinit(&o);
        return rc;
    }
    if (time_limit_s &&
        cli_parse_duration("train", "time-limit", time_limit_s, &time_limit) != CLI_OK) {
        cli_train_opts_deinit(&o);
        return CLI_USAGE;
    }
    if (steps != -1 && (steps < 1 || steps > (int64_t)1e12)) {
        cli_error("nasc train: --steps must be >= 1 (got %lld)", (long long)steps);
        cli_train_opts_deinit(&o);
        return CLI_USAGE;
    }
    if (steps >= 1 && time_limit > 0.0) {
        cli_error("nasc train: --steps and --time-limit exclude each other (--time-limit fits the "
                  "epoch count)");
        cli_train_opts_deinit(&o);
        return CLI_USAGE;
    }
    o.cfg.steps = steps >= 1 ? steps : 0; /* 0: --epochs */
    if (net.auxiliary && !o.cfg.aux_weight)
        o.cfg.aux_weight = 0.4f; /* the DARTS code's auxiliary_weight */
    if (!(net.width > 0.0f && (double)net.width <= NASC_MAX_WIDTH)) {
        cli_error("nasc train: --width: must be in (0, %g] (got %g)", NASC_MAX_WIDTH,
                  (double)net.width);
        cli_train_opts_deinit(&o);
        return CLI_USAGE;
    }
    if (cli_check_int("train", "channels", net.channels, 0, NASC_MAX_CHANNELS) != CLI_OK ||
        cli_check_int("train", "cells", net.cells, 0, NASC_MAX_CELLS) != CLI_OK) {
        cli_train_opts_deinit(&o);
        return CLI_USAGE;
    }

    nasc_err err = {0};
    nasc_dataset *train = NULL, *test = NULL;
    nasc_model *m = NULL;
    nasc_backend *be = NULL;
    train_ui ui = {0};
    char *ckpt_meta = NULL;
    nasc_status st = cli_load_data(&o, &train, &test, &err);
    if (st != NASC_OK) {
        cli_train_opts_deinit(&o);
        return cli_fail(st, &err, true);
    }
    st = cli_model_build(space, arch, &net, train->c, train->h, train->w, train->n_classes,
                         o.cfg.seed, &m, &err);
    if (st != NASC_OK) {
        rc = cli_fail(st, &err, true);
        goto done;
    }
    be = nasc_backend_new(o.backend, o.cfg.threads, &err);
    if (!be) {
        rc = cli_fail(err.code, &err, false);
        goto done;
    }
    o.cfg.backend = be;
    nasc_train_fit fit = {0};
    if (time_limit > 0.0) {
        /* under mpirun rank 0 decides (its checkpoint, its measurement) for every rank; the time
         * limit itself is then checked by rank 0 alone inside nasc_train, which stops every rank
         * at the same step */
        int recorded = rank == 0 ? cli_checkpoint_epochs(ckpt) : 0;
        if (n_ranks > 1 && (st = nasc_dist_bcast(&recorded, sizeof recorded, 0, &err)) != NASC_OK) {
            rc = cli_fail(st, &err, false);
            goto done;
        }
        if (recorded) { /* resuming a time-limited run: its epoch count, not a new measurement */
            o.cfg.epochs = recorded;
        } else {
            if (!quiet)
                fprintf(stderr, "nasc train: measuring the step time to fit %.0f s...\n",
                        time_limit);
            /* a data-parallel probe (every rank steps, rank 0 decides when it has measured
             * enough); the evaluation is timed by rank 0 only */
            st = cli_train_fit(space, arch, &net, train, rank == 0 ? test : NULL, &o.cfg,
                               time_limit - (cli_now() - t_start), &fit, &err);
            if (st == NASC_OK && n_ranks > 1 &&
                (st = nasc_dist_bcast(&fit, sizeof fit, 0, &err)) == NASC_OK)
                o.cfg.epochs = fit.epochs;
            if (st != NASC_OK) {
                if (n_ranks > 1) { /* the other ranks wait in the probe's collectives */
                    cli_error("rank %d: %s", rank, err.msg[0] ? err.msg : nasc_status_str(st));
                    nasc_dist_abort(cli_exit_code(st, false));
                }
                rc = cli_fail(st, &err, false);
                goto done;
            }
            if (!quiet && fit.epoch_seconds + fit.eval_seconds > time_limit)
                fprintf(stderr,
                        "nasc train: warning: one epoch (%.0f s) and the evaluation (%.0f s) do not "
                        "fit %.0f s; the epoch is cut at the limit\n",
                        fit.epoch_seconds, fit.eval_seconds, time_limit);
            if (!quiet)
                fprintf(stderr,
                        "nasc train: %.1f ms per step, %.1f s per epoch, %.1f s to evaluate, "
                        "%.1f s measuring: %d epochs fit the time limit (reproduce with --epochs "
                        "%d)\n",
                        fit.step_seconds * 1e3, fit.epoch_seconds, fit.eval_seconds,
                        fit.calib_seconds, o.cfg.epochs, o.cfg.epochs);
        }
        /* a hard stop 4 % past the limit, in case the machine slows down; a run stopped by it ends
         * its cosine early and says so ("stopped_by_time") */
        const double left = time_limit * 1.04 - (cli_now() - t_start) - fit.eval_seconds;
        o.cfg.max_seconds = left > 1.0 ? left : 1.0;
    }
    if (ckpt) {
        ckpt_meta = cli_model_meta(m, &net, train);
        if (ckpt_meta && time_limit > 0.0)
            ckpt_meta = cli_meta_add_epochs(ckpt_meta, o.cfg.epochs, time_limit);
        if (!ckpt_meta) {
            rc = cli_fail(NASC_ERR_NOMEM, &err, false);
            goto done;
        }
        o.cfg.checkpoint = ckpt;
        o.cfg.checkpoint_meta = ckpt_meta;
    }
    if (log_steps) {
        ui.step_log = strcmp(log_steps, "-") ? fopen(log_steps, "w") : stdout;
        if (!ui.step_log) {
            cli_error("nasc train: --log-steps: cannot create %s", log_steps);
            rc = CLI_FAIL;
            goto done;
        }
    }
    cli_progress_init(&ui.prog, quiet);
    if (!quiet) {
        char len[64];
        if (o.cfg.steps > 0)
            snprintf(len, sizeof len, "%lld steps", (long long)o.cfg.steps);
        else
            snprintf(len, sizeof len, "%d epochs", o.cfg.epochs);
        fprintf(stderr,
                "nasc train: %s (%zu parameters) on %s: %d training images, %d test; %s, "
                "batch %d, %d threads\n",
                m->arch ? m->arch : "?", nasc_params_count(m->params), train->name, train->n,
                test->n, len, o.cfg.batch, o.cfg.threads);
    }
    if (!quiet && n_ranks > 1)
        fprintf(stderr,
                "nasc train: data-parallel over %d ranks: about %d images of each batch of %d "
                "per rank, %d threads each\n",
                n_ranks, o.cfg.batch / n_ranks, o.cfg.batch, o.cfg.threads);
    if (!quiet && ckpt && access(ckpt, F_OK) == 0)
        fprintf(stderr, "nasc train: resuming from the checkpoint %s\n", ckpt);
    nasc_train_result res;
    st = nasc_train(m, train, test, &o.cfg, on_event, &ui, &res, &err);
    cli_progress_end(&ui.prog);
    if (ui.step_log && ui.step_log != stdout)
        fclose(ui.step_log);
    if (st != NASC_OK) {
        if (n_ranks > 1) { /* the other ranks may wait in a collective for this one: end the job */
            cli_error("rank %d: %s", rank, err.msg[0] ? err.msg : nasc_status_str(st));
            nasc_dist_abort(cli_exit_code(st, false));
        }
        rc = cli_fail(st, &err, false);
        goto done;
    }
    if (rank > 0) { /* rank 0 reports and saves */
        rc = CLI_OK;
        goto done;
    }
    if (out_path) {
        char *meta = cli_model_meta(m, &net, train);
        if (meta && time_limit > 0.0)
            meta = cli_meta_add_epochs(meta, o.cfg.epochs, time_limit);
        st = meta ? nasc_weights_save(out_path, m, meta, &err) : NASC_ERR_NOMEM;
        nasc_free(meta);
        if (st != NASC_OK) {
            rc = cli_fail(st, &err, false);
            goto done;
        }
    }
    struct rusage ru;
    const double peak_mb = getrusage(RUSAGE_SELF, &ru) == 0 ? (double)ru.ru_maxrss / 1024.0 : (double)NAN;
    if (json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "space", m->space ? m->space : "");
        cJSON_AddStringToObject(j, "arch", m->arch ? m->arch : "");
        cJSON_AddStringToObject(j, "data", o.data);
        cJSON_AddNumberToObject(j, "params", (double)nasc_params_count(m->params));
        cJSON_AddNumberToObject(j, "epochs", res.epochs_done);
        cJSON_AddNumberToObject(j, "steps", (double)res.steps);
        if (time_limit > 0.0) {
            cJSON_AddNumberToObject(j, "time_limit_s", time_limit);
            cJSON_AddNumberToObject(j, "planned_epochs", o.cfg.epochs);
            cJSON_AddNumberToObject(j, "step_ms", fit.step_seconds * 1e3);
            cJSON_AddBoolToObject(j, "stopped_by_time",
                                  res.steps < (int64_t)o.cfg.epochs *
                                                  (train->n > o.cfg.batch ? train->n / o.cfg.batch : 1));
            cJSON_AddNumberToObject(j, "wall_seconds", cli_now() - t_start);
        }
        cJSON_AddNumberToObject(j, "train_images", train->n);
        cli_json_real(j, "test_accuracy", (double)res.eval_acc);
        cli_json_real(j, "test_loss", (double)res.eval_loss);
        cli_json_real(j, "train_accuracy", (double)res.train_acc);
        cli_json_real(j, "train_loss", (double)res.train_loss);
        cJSON_AddNumberToObject(j, "images_per_second", res.images_per_second);
        cJSON_AddNumberToObject(j, "train_seconds", res.seconds);
        cJSON_AddNumberToObject(j, "peak_rss_mb", round(peak_mb * 10.0) / 10.0);
        cJSON_AddNumberToObject(j, "seed", (double)o.cfg.seed);
        cJSON_AddNumberToObject(j, "threads", o.cfg.threads);
        if (ckpt) {
            cJSON_AddStringToObject(j, "checkpoint", ckpt);
            cJSON_AddNumberToObject(j, "resumed_epochs", res.resumed_epochs);
        }
        if (out_path)
            cJSON_AddStringToObject(j, "model", out_path);
        char *s = cJSON_PrintUnformatted(j);
        printf("%s\n", s);
        cJSON_free(s);
        cJSON_Delete(j);
    } else {
        char el[32];
        printf("test accuracy %.2f%% (loss %.4f) after %d epochs on %d images; %.0f images/s, %s, "
               "peak memory %.2f GB\n",
               (double)res.eval_acc, (double)res.eval_loss, res.epochs_done, train->n,
               res.images_per_second, cli_fmt_duration(res.seconds, el, sizeof el),
               peak_mb / 1024.0);
        if (out_path)
            printf("model saved to %s\n", out_path);
    }
    rc = CLI_OK;
done:
    nasc_free(ckpt_meta);
    nasc_backend_free(be);
    nasc_model_free(m);
    nasc_dataset_free(train);
    nasc_dataset_free(test);
    cli_train_opts_deinit(&o);
    return rc;
}

/* Under an MPI launcher (dist.h) every rank runs the same command: data-parallel training. */
int cmd_train(int argc, char **argv) {
    nasc_err err = {0};
    if (nasc_dist_init(&err) != NASC_OK) {
        cli_error("%s", err.msg);
        return CLI_USAGE;
    }
    const int rc = train_main(argc, argv);
    nasc_dist_finalize();
    return rc;
}
