/*
 * dist.h — the processes of one distributed job (MPI): who this process is, how many there are,
 * byte messages between them, and sums over all of them.
 *
 * nasc runs under the launcher a cluster already has (`mpirun -n N`, `srun`); the processes are
 * numbered 0..N-1 (ranks). This is the only module that knows MPI exists: src/core/dist.c is the
 * one file that includes mpi.h, and a build without MPI (NASC_MPI=OFF, or libopenmpi-dev
 * missing) compiles the same functions as a single process of size 1. The layers above use it
 * for distributed searches (experiment: rank 0 runs the strategy and owns the database, the other
 * ranks evaluate trials) and data-parallel training (gradient sums).
 *
 * Messages are byte strings with a tag, sent to one rank and received in the order sent (MPI's
 * non-overtaking rule between two ranks). Receiving is by polling, never by blocking in MPI: a
 * waiting MPI process spins on its core, which on an oversubscribed machine (many ranks on few
 * cores) takes the CPU from the ranks doing the work.
 *
 *     nasc_err err = {0};
 *     if (nasc_dist_init(&err) != NASC_OK) { fprintf(stderr, "%s\n", err.msg); return 2; }
 *     if (nasc_dist_rank() == 0)
 *         nasc_dist_send(1, 7, "hello", 6, &err);
 *     else if (nasc_dist_rank() == 1) {
 *         nasc_dist_msg m;
 *         while (!nasc_dist_poll(0, &m)) usleep(100);
 *         char buf[6];
 *         nasc_dist_recv(&m, buf, sizeof buf, &err);
 *     }
 *     nasc_dist_finalize();
 *
 * Failure: a status with a message naming the peer rank (NASC_ERR_IO); a launch without MPI
 * support: NASC_ERR_UNSUPPORTED. The state is per process (MPI's): not thread-safe, call from
 * the main thread.
 */
#ifndef NASC_DIST_H
#define NASC_DIST_H

#include <stdbool.h>
#include <stddef.h>

#include "nasc/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A message waiting to be received (from nasc_dist_poll). */
typedef struct nasc_dist_msg {
    int src;        /* sending rank */
    int tag;        /* the sender's tag */
    size_t n_bytes; /* its size */
} nasc_dist_msg;

/* True if this nasc was built with MPI. */
NASC_API bool nasc_dist_compiled(void);
/* The number of processes an MPI launcher started this one among, read from its environment
 * (OMPI_COMM_WORLD_SIZE: Open MPI's mpirun; PMI_SIZE: MPICH's mpiexec and Slurm's srun --mpi);
 * 0 when not launched by one. Works without MPI and before nasc_dist_init. */
NASC_API int nasc_dist_launched_size(void);
/* Joins the job when launched as one of several processes (MPI_Init); otherwise (no launcher, or
 * a job of one) does nothing and the process is rank 0 of 1. Idempotent. A build without MPI
 * launched as one of several processes: NASC_ERR_UNSUPPORTED saying so (every process of the
 * job would otherwise run the whole command alone). */
NASC_API nasc_status nasc_dist_init(nasc_err *err);
/* This process's rank (0 before init or without a job) and the job's size (1). */
NASC_API int nasc_dist_rank(void);
NASC_API int nasc_dist_size(void);
/* This process's host name as MPI reports it ("" without a job); for messages. */
NASC_API const char *nasc_dist_host(void);

/* Sends n bytes to rank dest with tag (0 <= tag < 32768); returns once buf may be reused. */
NASC_API nasc_status nasc_dist_send(int dest, int tag, const void *buf, size_t n, nasc_err *err);
/* If a message from rank src (-1: any rank) has arrived, describes it in *out and returns true;
 * it stays queued until nasc_dist_recv. Never blocks. */
NASC_API bool nasc_dist_poll(int src, nasc_dist_msg *out);
/* Receives the message m (from nasc_dist_poll) into buf (room for cap bytes). A message larger
 * than cap: NASC_ERR_FORMAT naming the sender, and the message is consumed. */
NASC_API nasc_status nasc_dist_recv(const nasc_dist_msg *m, void *buf, size_t cap, nasc_err *err);
/* Sums n floats over all ranks in place, the same on every rank. The order of the additions is
 * fixed for a given job size (results are reproducible), not the order of a serial sum. All
 * ranks must call it with the same n. */
NASC_API nasc_status nasc_dist_allreduce_sum(float *buf, size_t n, nasc_err *err);
/* Copies n bytes from rank root's buf into every other rank's buf. */
NASC_API nasc_status nasc_dist_bcast(void *buf, size_t n, int root, nasc_err *err);
/* Ends the whole job now with exit code `code` on every process (MPI_Abort); returns only
 * without a job. For the CLI, never the library. */
NASC_API void nasc_dist_abort(int code);
/* Leaves the job (MPI_Finalize); a no-op without one. */
NASC_API void nasc_dist_finalize(void);

#ifdef __cplusplus
}
#endif
#endif /* NASC_DIST_H */
