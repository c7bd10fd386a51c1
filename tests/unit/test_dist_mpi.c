/* test_dist_mpi.c — dist.h over MPI: run as a ctest, it starts itself under `mpirun -n 3`; each
 * rank then checks rank and size, byte messages around a ring (poll, receive, a message larger
 * than the buffer refused and consumed), a broadcast, and the fixed-order sum: every rank gets
 * the same floats, bit for bit equal to adding the ranks' buffers in rank order. Skipped (77)
 * without MPI or mpirun. */
// ctest: labels=mpi
#include "test.h"

#include <sys/wait.h>
#include <unistd.h>

#include "nasc/dist.h"

static float value(int rank, size_t i) {
    /* values whose float sum depends on the order of the additions */
    return (float)((double)(rank + 1) * 1e-3 + (double)(i % 7) * 1e3 + (double)rank * 0.1);
}

static int run_ranks(void) {
    nasc_err err = {0};
    CHECK_STATUS(nasc_dist_init(&err), NASC_OK);
    int rank = nasc_dist_rank(), size = nasc_dist_size();
    CHECK(size == 3 && rank >= 0 && rank < size);
    /* a ring: rank r sends its number to r+1 */
    int out = rank * 10, in = -1;
    CHECK_STATUS(nasc_dist_send((rank + 1) % size, 5, &out, sizeof out, &err), NASC_OK);
    nasc_dist_msg m;
    while (!nasc_dist_poll((rank + size - 1) % size, &m))
        usleep(100);
    CHECK(m.tag == 5 && m.n_bytes == sizeof in);
    CHECK_STATUS(nasc_dist_recv(&m, &in, sizeof in, &err), NASC_OK);
    CHECK(in == ((rank + size - 1) % size) * 10);
    /* too large for the buffer: FORMAT, and the message is gone */
    char big[64] = "0123456789";
    CHECK_STATUS(nasc_dist_send((rank + 1) % size, 6, big, sizeof big, &err), NASC_OK);
    while (!nasc_dist_poll(-1, &m))
        usleep(100);
    char small[8];
    CHECK_STATUS(nasc_dist_recv(&m, small, sizeof small, &err), NASC_ERR_FORMAT);
    CHECK_STR_CONTAINS(err.msg, "64 bytes");
    CHECK(!nasc_dist_poll(-1, &m));
    /* broadcast from rank 1 */
    double b[2] = {rank == 1 ? 3.5 : 0.0, rank == 1 ? -2.0 : 0.0};
    CHECK_STATUS(nasc_dist_bcast(b, sizeof b, 1, &err), NASC_OK);
    CHECK(b[0] == 3.5 && b[1] == -2.0);
    /* the sum in rank order, identical on every rank */
    enum { N = 1000 };
    float x[N], want[N];
    for (size_t i = 0; i < N; i++) {
        x[i] = value(rank, i);
        float s = value(0, i);
        for (int r = 1; r < size; r++)
            s += value(r, i);
        want[i] = s;
    }
    CHECK_STATUS(nasc_dist_allreduce_sum(x, N, &err), NASC_OK);
    CHECK(memcmp(x, want, sizeof x) == 0);
    nasc_dist_finalize();
    return test_done(rank == 0 ? "test_dist_mpi" : "test_dist_mpi (rank > 0)");
}

int main(int argc, char **argv) {
    (void)argc;
    if (nasc_dist_launched_size() > 1)
        return run_ranks();
    if (!nasc_dist_compiled()) {
        fprintf(stderr, "skipped: this nasc was built without MPI\n");
        return 77;
    }
    if (system("command -v mpirun > /dev/null 2>&1") != 0) {
        fprintf(stderr, "skipped: mpirun not found (Debian: openmpi-bin)\n");
        return 77;
    }
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "OMPI_MCA_btl_vader_single_copy_mechanism=none mpirun --oversubscribe "
             "--allow-run-as-root -x ASAN_OPTIONS=detect_leaks=0 -n 3 '%s'",
             argv[0]);
    int rc = system(cmd);
    int code = WIFEXITED(rc) ? WEXITSTATUS(rc) : 1;
    if (code != 0)
        fprintf(stderr, "test_dist_mpi: mpirun -n 3 exited with %d\n", code);
    else
        printf("test_dist_mpi: 3 ranks passed (messages, broadcast, rank-order sum)\n");
    return code;
}
