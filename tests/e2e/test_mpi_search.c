/* test_mpi_search.c — `mpirun -n N nasc search` (a distributed search: rank 0 runs the strategy
 * and the database, ranks 1..N-1 evaluate) gives exactly the trials of one process with
 * --workers N-1: evolution on the NB201 table over 4 ranks, and a small training search over 3
 * ranks (every trial recorded, the same validation accuracies bit for bit). Skipped (77) where the
 * build has no MPI or mpirun is missing. The failure cases are in fault/test_mpi_resume. */
// ctest: labels=mpi timeout=600
#include "test.h"

#include "e2e/mpi_cli.h"

int main(void) {
    const char *cli = search_cli();
    mpi_setup("test_mpi_search");
    same_as_workers(cli, "evolution", 4, NB " --strategy evolution --ask-ahead 2", 40);
    same_as_workers(
        cli, "train", 3,
        "search --space nb201 --strategy evolution --strategy-opt population=3,sample=2 "
        "--ask-ahead 1 --data fashion-mnist --data-fraction 0.01 --epochs 1 "
        "--channels 4 --cells 1 --batch 32 --threads 1 --seed 3 --json --quiet",
        6);
    mpi_cleanup();
    return test_done("test_mpi_search");
}
