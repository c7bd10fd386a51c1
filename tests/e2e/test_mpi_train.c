/* test_mpi_train.c — data-parallel `mpirun -n 2 nasc train` (docs/DISTRIBUTED.md): two runs give
 * the same model file byte for byte; its per-epoch training loss is that of one process with the
 * same global batch within the tolerances below; a run stopped by SIGTERM and rerun with the same
 * --checkpoint command ends with the model of the uninterrupted run, byte for byte; a run with
 * --time-limit (rank 0 measures and decides the stop for every rank) finishes. Skipped (77)
 * where the build has no MPI or mpirun is missing.
 *
 * Tolerances. Each rank normalises with the batch-norm statistics of its own 16 images, one
 * process with those of all 32 (no SyncBN, as PyTorch DDP): the same weights on the same images
 * give a slightly different loss. The first step (identical weights, images and dropout masks)
 * isolates that effect: measured 7e-5 to 1.3e-3 relative over seeds 5-7, checked below 0.5 %.
 * From there the two runs follow different trajectories, and normalising over 16 images (noisier
 * statistics, "ghost batch norm") trains measurably slower: the 2-rank epoch losses were 0.7-2.2 %
 * (epoch 1) and 2.5-4.7 % (epoch 2) higher over seeds 5-7, checked below 5 % and 10 %. With batch
 * norm taken out of the model (a by-hand check, not part of this test) the two agree to the last
 * printed digit for the first steps and to 3e-4 relative per epoch: the data split, dropout masks
 * and gradient averaging are exact, and batch norm is the whole difference. */
// ctest: labels=mpi timeout=300
#include "test.h"

#include "e2e/mpi_cli.h"

#include <signal.h>

#define TRAIN                                                                                      \
    "train --data-fraction 0.02 --epochs 2 --batch 32 --width 0.25 --threads 1 --crop-pad 2 "      \
    "--hflip --seed 5"

/* The mean step loss of epochs 1 and 2 and the first step's loss from a --log-steps file. */
static bool step_losses(const char *file, double epoch_mean[2], double *first) {
    FILE *f = fopen(file, "r");
    if (!f)
        return false;
    double sum[2] = {0, 0};
    int n[2] = {0, 0}, e, s;
    double loss;
    *first = -1.0;
    while (fscanf(f, "epoch %d step %d loss %lf\n", &e, &s, &loss) == 3) {
        if (e == 1 && s == 1)
            *first = loss;
        if (e >= 1 && e <= 2) {
            sum[e - 1] += loss;
            n[e - 1]++;
        }
    }
    fclose(f);
    for (int i = 0; i < 2; i++)
        epoch_mean[i] = n[i] ? sum[i] / n[i] : -1.0;
    return n[0] > 0 && n[1] > 0 && *first > 0;
}

static bool same_bytes(const char *a, const char *b) {
    long na = -1, nb = -2;
    const unsigned long long ha = search_file_sum(a, &na), hb = search_file_sum(b, &nb);
    return na == nb && na > 0 && ha == hb;
}

static double rel(double a, double b) {
    return fabs(a - b) / fabs(b);
}

int main(void) {
    const char *cli = search_cli();
    mpi_setup("test_mpi_train");
    char a[300], b[300], c[300], la[300], lc[300], ck[300], r[300], ea[300];
    path(a, sizeof a, "a.bin");
    path(b, sizeof b, "b.bin");
    path(c, sizeof c, "one.bin");
    path(la, sizeof la, "a-steps.txt");
    path(lc, sizeof lc, "one-steps.txt");
    path(ck, sizeof ck, "ckpt.bin");
    path(r, sizeof r, "resumed.bin");
    path(ea, sizeof ea, "stderr.txt");

    /* the same 2-rank run twice: bit for bit */
    const double t0 = search_now();
    int rc = mpi_run(cli, 2, -1, NULL, ea, TRAIN " --quiet --out %s --log-steps %s", a, la);
    const double t_full = search_now() - t0;
    CHECK_MSG(rc == 0, "mpirun -n 2 nasc train: exit %d", rc);
    rc = mpi_run(cli, 2, -1, NULL, ea, TRAIN " --quiet --out %s", b);
    CHECK_MSG(rc == 0, "mpirun -n 2 nasc train (again): exit %d", rc);
    CHECK_MSG(same_bytes(a, b), "two runs of mpirun -n 2 nasc train saved different models");

    /* against one process with the same global batch */
    rc = search_runf(cli, NULL, ea, TRAIN " --quiet --out %s --log-steps %s", c, lc);
    CHECK_MSG(rc == 0, "nasc train: exit %d", rc);
    double m2[2], m1[2], f2, f1;
    CHECK_MSG(step_losses(la, m2, &f2), "%s: no step losses", la);
    CHECK_MSG(step_losses(lc, m1, &f1), "%s: no step losses", lc);
    printf("first step loss: 1 rank %.6f, 2 ranks %.6f (%.2e relative)\n", f1, f2, rel(f2, f1));
    printf("epoch 1 loss:    1 rank %.4f, 2 ranks %.4f (%.2f %%)\n", m1[0], m2[0],
           100.0 * rel(m2[0], m1[0]));
    printf("epoch 2 loss:    1 rank %.4f, 2 ranks %.4f (%.2f %%)\n", m1[1], m2[1],
           100.0 * rel(m2[1], m1[1]));
    CHECK_MSG(rel(f2, f1) < 5e-3, "first step: %g vs %g", f2, f1);
    CHECK_MSG(rel(m2[0], m1[0]) < 0.05, "epoch 1 loss: %g vs %g", m2[0], m1[0]);
    CHECK_MSG(rel(m2[1], m1[1]) < 0.10, "epoch 2 loss: %g vs %g", m2[1], m1[1]);
    CHECK_MSG(!same_bytes(a, c), "the 2-rank model equals the 1-process one (not data-parallel?)");

    /* --time-limit: rank 0 measures the step time and picks the epoch count for every rank, and
     * rank 0 alone decides the hard stop inside nasc train (ranks that stopped at different steps
     * would leave one waiting in a collective: a hang, not an exit 0) */
    {
        char tl[300];
        path(tl, sizeof tl, "time-limit.json");
        const double t1 = search_now();
        rc = mpi_run(cli, 2, -1, tl, ea,
                     "train --data-fraction 0.02 --batch 32 --width 0.25 --threads 1 --seed 5 "
                     "--time-limit 12s --json");
        const double wall = search_now() - t1;
        CHECK_MSG(rc == 0, "mpirun -n 2 nasc train --time-limit 12s: exit %d", rc);
        char *js = search_slurp(tl);
        char ep[32] = "", planned[32] = "";
        if (js) {
            json_field(js, "epochs", ep, sizeof ep);
            json_field(js, "planned_epochs", planned, sizeof planned);
        }
        CHECK_MSG(atoi(ep) >= 1 && atoi(planned) >= 1 && atoi(ep) <= atoi(planned),
                  "--time-limit under mpirun: %s", js ? js : "(no output)");
        printf("--time-limit 12s on 2 ranks: %s of %s planned epochs, %.1f s wall (mpirun "
               "included)\n",
               ep, planned, wall);
        free(js);
    }

    /* stopped by SIGTERM (mpirun passes it to the ranks) at growing fractions of a full run's
     * time, rerun with the same command until it finishes: the uninterrupted model */
    search_kill_signal = SIGTERM;
    int runs = 0, stopped = 0, resumed = 0;
    do {
        const double f = 0.5 + 0.15 * runs;
        char args[1024], n2[8] = "2";
        snprintf(args, sizeof args, TRAIN " --out %s --checkpoint %s", r, ck);
        const char *argv[64] = {"--oversubscribe",
                                "--allow-run-as-root",
                                "-x",
                                "ASAN_OPTIONS=detect_leaks=0",
                                "-n",
                                n2,
                                cli};
        int k = 7;
        for (char *tok = strtok(args, " "); tok && k < 63; tok = strtok(NULL, " "))
            argv[k++] = tok;
        argv[k] = NULL;
        rc = search_run(mpirun, argv, -1, f < 1.2 ? t_full * f : 0, NULL, ea);
        char *e = search_slurp(ea);
        resumed += e && strstr(e, "resuming from the checkpoint") != NULL;
        free(e);
        stopped += rc != 0;
        runs++;
    } while (rc != 0 && runs < 8);
    CHECK_MSG(rc == 0, "the checkpointed 2-rank run never finished (%d runs, exit %d)", runs, rc);
    CHECK_MSG(same_bytes(r, a),
              "stopped %d times and resumed: a different model than the "
              "uninterrupted run",
              stopped);
    printf("checkpointed run: %d runs, %d stopped, %d resumed from the checkpoint%s\n", runs,
           stopped, resumed,
           resumed ? "" : " (no stop landed after an epoch: resume not exercised)");
    mpi_cleanup();
    return test_done("test_mpi_train");
}
