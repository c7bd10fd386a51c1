/* test_dist.c — dist.h in a build without MPI (src/core/dist.c compiled here without
 * NASC_HAVE_MPI, whatever the library was built with): a process not launched by an MPI launcher,
 * or launched as a job of one, is rank 0 of 1; launched as one of several processes
 * (OMPI_COMM_WORLD_SIZE / PMI_SIZE > 1) it refuses with NASC_ERR_UNSUPPORTED saying so, instead of
 * running the whole command N times. */
#include "test.h"

#include <stdlib.h>

#include "core/dist.c" /* the build without MPI */

static nasc_status init_with(const char *var, const char *value, nasc_err *err) {
    unsetenv("OMPI_COMM_WORLD_SIZE");
    unsetenv("PMI_SIZE");
    unsetenv("PMIX_SIZE");
    if (var)
        setenv(var, value, 1);
    nasc_err_clear(err);
    return nasc_dist_init(err);
}

int main(void) {
    nasc_err err = {0};
    CHECK(!nasc_dist_compiled());
    CHECK_STATUS(init_with(NULL, NULL, &err), NASC_OK);
    CHECK(nasc_dist_launched_size() == 0);
    CHECK(nasc_dist_rank() == 0 && nasc_dist_size() == 1);
    CHECK_STATUS(init_with("OMPI_COMM_WORLD_SIZE", "1", &err), NASC_OK); /* mpirun -n 1 */
    CHECK_STATUS(init_with("OMPI_COMM_WORLD_SIZE", "junk", &err), NASC_OK);
    CHECK(nasc_dist_launched_size() == 0);

    CHECK_STATUS(init_with("OMPI_COMM_WORLD_SIZE", "4", &err), NASC_ERR_UNSUPPORTED);
    CHECK_STR_CONTAINS(err.msg, "one of 4 processes");
    CHECK_STR_CONTAINS(err.msg, "built without MPI");
    CHECK_STATUS(init_with("PMI_SIZE", "3", &err), NASC_ERR_UNSUPPORTED); /* MPICH, srun */
    CHECK_STR_CONTAINS(err.msg, "one of 3 processes");
    CHECK(nasc_dist_launched_size() == 3);

    /* a job of one: sums and broadcasts are the identity, messages are refused */
    float x[3] = {1.0f, 2.0f, 3.0f};
    CHECK_STATUS(nasc_dist_allreduce_sum(x, 3, &err), NASC_OK);
    CHECK(x[0] == 1.0f && x[2] == 3.0f);
    CHECK_STATUS(nasc_dist_bcast(x, sizeof x, 0, &err), NASC_OK);
    CHECK_STATUS(nasc_dist_send(1, 1, x, sizeof x, &err), NASC_ERR_UNSUPPORTED);
    nasc_dist_msg m;
    CHECK(!nasc_dist_poll(-1, &m));
    nasc_dist_finalize();
    return test_done("test_dist");
}
