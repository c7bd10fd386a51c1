/* dist.c — dist.h over MPI, or a job of one process in a build without MPI (NASC_HAVE_MPI
 * unset). The only file of nasc that includes mpi.h. */
#include "nasc/arena.h"
#include "nasc/dist.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef NASC_HAVE_MPI
#include <mpi.h>
#endif

int nasc_dist_launched_size(void) {
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v) {
            char *end = NULL;
            long n = strtol(v, &end, 10);
            if (end && !*end && n > 0 && n < INT32_MAX)
                return (int)n;
        }
    }
    return 0;
}

#ifdef NASC_HAVE_MPI

static struct {
    bool joined; /* MPI_Init called by us */
    int rank, size;
    char host[MPI_MAX_PROCESSOR_NAME];
} g = {.size = 1};

bool nasc_dist_compiled(void) {
    return true;
}

static nasc_status mpi_fail(nasc_err *err, int rc, const char *what, int peer) {
    char msg[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    return nasc_errorf(err, NASC_ERR_IO, "mpi: %s (rank %d -> rank %d): %s", what, g.rank, peer,
                       msg);
}

nasc_status nasc_dist_init(nasc_err *err) {
    if (g.joined || nasc_dist_launched_size() <= 1)
        return NASC_OK;
    int inited = 0;
    MPI_Initialized(&inited);
    if (!inited) {
        int provided = 0;
        /* only the main thread calls MPI (OpenMP kernel threads never do) */
        if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
            return nasc_errorf(err, NASC_ERR_IO, "mpi: MPI_Init failed");
    }
    /* errors come back as codes (and become statuses) instead of aborting the job */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &g.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g.size);
    int len = 0;
    MPI_Get_processor_name(g.host, &len);
    g.joined = true;
    return NASC_OK;
}

int nasc_dist_rank(void) {
    return g.rank;
}
int nasc_dist_size(void) {
    return g.size;
}
const char *nasc_dist_host(void) {
    return g.host;
}

nasc_status nasc_dist_send(int dest, int tag, const void *buf, size_t n, nasc_err *err) {
    if (!g.joined || dest < 0 || dest >= g.size || n > INT32_MAX)
        return nasc_errorf(err, NASC_ERR_ARG, "mpi: send to rank %d of %d (%zu bytes)", dest,
                           g.size, n);
    int rc = MPI_Send(buf, (int)n, MPI_BYTE, dest, tag, MPI_COMM_WORLD);
    return rc == MPI_SUCCESS ? NASC_OK : mpi_fail(err, rc, "send", dest);
}

bool nasc_dist_poll(int src, nasc_dist_msg *out) {
    if (!g.joined)
        return false;
    int flag = 0;
    MPI_Status s;
    if (MPI_Iprobe(src < 0 ? MPI_ANY_SOURCE : src, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, &s) !=
            MPI_SUCCESS ||
        !flag)
        return false;
    int count = 0;
    MPI_Get_count(&s, MPI_BYTE, &count);
    out->src = s.MPI_SOURCE;
    out->tag = s.MPI_TAG;
    out->n_bytes = (size_t)(count > 0 ? count : 0);
    return true;
}

nasc_status nasc_dist_recv(const nasc_dist_msg *m, void *buf, size_t cap, nasc_err *err) {
    if (m->n_bytes > cap) { /* consume it, so that the queue moves on */
        void *tmp = nasc_malloc(m->n_bytes);
        if (tmp)
            MPI_Recv(tmp, (int)m->n_bytes, MPI_BYTE, m->src, m->tag, MPI_COMM_WORLD,
                     MPI_STATUS_IGNORE);
        nasc_free(tmp);
        return nasc_errorf(err, NASC_ERR_FORMAT,
                           "mpi: message from rank %d (tag %d): %zu bytes, expected at most %zu",
                           m->src, m->tag, m->n_bytes, cap);
    }
    int rc =
        MPI_Recv(buf, (int)m->n_bytes, MPI_BYTE, m->src, m->tag, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    return rc == MPI_SUCCESS ? NASC_OK : mpi_fail(err, rc, "receive", m->src);
}

/* Waits for a non-blocking collective by polling with short sleeps (10 us doubling to 100 us),
 * not in a blocking MPI call: a blocked Open MPI process spins on its core, which on an
 * oversubscribed node takes the CPU from the ranks still computing (a data-parallel step waits
 * for the slowest rank every step). The cap is short because a large message moves in fragments
 * that progress only inside MPI calls on both sides: at 1 ms between calls, the 0.6 MB of a
 * width-1 baseline CNN's gradients (about 20 fragments of 32 kB over shared memory) could take
 * tens of milliseconds; at 100 us, about 2 ms, while waking 10,000 times a second costs about 1 %
 * of a core. */
static int wait_polling(MPI_Request *req) {
    const long max_ns = 100000;
    long ns = 10000;
    for (;;) {
        int done = 0;
        int rc = MPI_Test(req, &done, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS || done)
            return rc;
        const struct timespec ts = {0, ns};
        nanosleep(&ts, NULL);
        ns = ns < max_ns ? ns * 2 : max_ns;
    }
}

/* Rank 0's gather buffer, kept between calls (a data-parallel step reduces the same size every
 * step: no allocation in the steady state); freed by nasc_dist_finalize. */
static float *gather_buf;
static size_t gather_cap;

/* Gathers every rank's buffer on rank 0, which adds them in rank order (0, 1, ..., N-1), and
 * broadcasts the sum: the result does not depend on the reduction algorithm MPI picks for the
 * message size (MPI_Allreduce's order for floats may change with it), only on N. Costs N buffers
 * on rank 0 and twice the traffic of a ring allreduce, which is small beside a training step on
 * the few ranks of a CPU job. */
nasc_status nasc_dist_allreduce_sum(float *buf, size_t n, nasc_err *err) {
    if (!g.joined || g.size == 1 || n == 0)
        return NASC_OK;
    if (n > INT32_MAX / (size_t)g.size)
        return nasc_errorf(err, NASC_ERR_ARG, "mpi: allreduce of %zu floats is too large", n);
    const size_t need = n * (size_t)g.size;
    if (g.rank == 0 && need > gather_cap) {
        float *p = nasc_malloc(sizeof(float) * need);
        if (!p)
            return nasc_errorf(err, NASC_ERR_NOMEM, "mpi: allreduce: out of memory");
        nasc_free(gather_buf);
        gather_buf = p;
        gather_cap = need;
    }
    float *all = gather_buf;
    MPI_Request req;
    int rc = MPI_Igather(buf, (int)n, MPI_FLOAT, all, (int)n, MPI_FLOAT, 0, MPI_COMM_WORLD, &req);
    if (rc == MPI_SUCCESS)
        rc = wait_polling(&req);
    if (rc == MPI_SUCCESS && g.rank == 0) {
        for (size_t i = 0; i < n; i++) {
            float s = all[i];
            for (int r = 1; r < g.size; r++)
                s += all[(size_t)r * n + i];
            buf[i] = s;
        }
    }
    if (rc == MPI_SUCCESS)
        rc = MPI_Ibcast(buf, (int)n, MPI_FLOAT, 0, MPI_COMM_WORLD, &req);
    if (rc == MPI_SUCCESS)
        rc = wait_polling(&req);
    return rc == MPI_SUCCESS ? NASC_OK : mpi_fail(err, rc, "allreduce", 0);
}

nasc_status nasc_dist_bcast(void *buf, size_t n, int root, nasc_err *err) {
    if (!g.joined || g.size == 1)
        return NASC_OK;
    if (n > INT32_MAX)
        return nasc_errorf(err, NASC_ERR_ARG, "mpi: broadcast of %zu bytes is too large", n);
    MPI_Request req;
    int rc = MPI_Ibcast(buf, (int)n, MPI_BYTE, root, MPI_COMM_WORLD, &req);
    if (rc == MPI_SUCCESS)
        rc = wait_polling(&req);
    return rc == MPI_SUCCESS ? NASC_OK : mpi_fail(err, rc, "broadcast", root);
}

void nasc_dist_abort(int code) {
    if (g.joined)
        MPI_Abort(MPI_COMM_WORLD, code);
}

void nasc_dist_finalize(void) {
    nasc_free(gather_buf);
    gather_buf = NULL;
    gather_cap = 0;
    if (!g.joined)
        return;
    MPI_Finalize();
    g.joined = false;
}

#else /* a build without MPI: a job of one process */

bool nasc_dist_compiled(void) {
    return false;
}

nasc_status nasc_dist_init(nasc_err *err) {
    int n = nasc_dist_launched_size();
    if (n > 1)
        return nasc_errorf(err, NASC_ERR_UNSUPPORTED,
                           "launched by an MPI launcher as one of %d processes, but this nasc was "
                           "built without MPI (install libopenmpi-dev and rebuild; cmake "
                           "-DNASC_MPI=ON makes it required)",
                           n);
    return NASC_OK;
}

int nasc_dist_rank(void) {
    return 0;
}
int nasc_dist_size(void) {
    return 1;
}
const char *nasc_dist_host(void) {
    return "";
}

nasc_status nasc_dist_send(int dest, int tag, const void *buf, size_t n, nasc_err *err) {
    (void)tag;
    (void)buf;
    return nasc_errorf(err, NASC_ERR_UNSUPPORTED,
                       "mpi: send to rank %d (%zu bytes): built without MPI", dest, n);
}

bool nasc_dist_poll(int src, nasc_dist_msg *out) {
    (void)src;
    (void)out;
    return false;
}

nasc_status nasc_dist_recv(const nasc_dist_msg *m, void *buf, size_t cap, nasc_err *err) {
    (void)buf;
    (void)cap;
    return nasc_errorf(err, NASC_ERR_UNSUPPORTED, "mpi: receive from rank %d: built without MPI",
                       m->src);
}

nasc_status nasc_dist_allreduce_sum(float *buf, size_t n, nasc_err *err) {
    (void)buf;
    (void)n;
    (void)err;
    return NASC_OK; /* one process: the sum is the buffer */
}

nasc_status nasc_dist_bcast(void *buf, size_t n, int root, nasc_err *err) {
    (void)buf;
    (void)n;
    (void)root;
    (void)err;
    return NASC_OK;
}

void nasc_dist_abort(int code) {
    (void)code;
}

void nasc_dist_finalize(void) {}

#endif
