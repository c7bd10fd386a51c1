/*
 * nasc.h — the umbrella header: every public header of libnasc in one include.
 *
 * A program that uses the library includes this one header and links with libnasc (shared or
 * static); with an installed copy, pkg-config gives the flags and CMake's package the target:
 *
 *     cc prog.c $(pkg-config --cflags --libs nasc)           # shared library
 *     cc prog.c $(pkg-config --cflags --libs --static nasc)  # static library
 *
 *     find_package(nasc REQUIRED)                             # CMakeLists.txt
 *     target_link_libraries(prog PRIVATE nasc::nasc)          # or nasc::nasc_static
 *
 *     #include <nasc/nasc.h>
 *     nasc_err err = {0};
 *     nasc_dataset *train;
 *     if (nasc_dataset_load("fashion-mnist", NASC_SPLIT_TRAIN, &train, &err) != NASC_OK)
 *         fprintf(stderr, "%s\n", err.msg);
 *
 * examples/ (installed under share/doc/nasc/examples) holds whole programs: training a network,
 * running a search, classifying an image with an exported C model. The modules, from the bottom
 * up, are listed below in their dependency order (docs/ARCH.md); each header documents its own
 * ownership and failure rules. The tests check that this file includes every installed header.
 */
#ifndef NASC_NASC_H
#define NASC_NASC_H

/* core and engine */
#include "nasc/status.h"
#include "nasc/arena.h"
#include "nasc/limits.h"
#include "nasc/rng.h"
#include "nasc/dist.h"
#include "nasc/tensor.h"
#include "nasc/autograd.h"
#include "nasc/ops.h"
#include "nasc/backend.h"
/* data */
#include "nasc/data.h"
/* model */
#include "nasc/nn.h"
#include "nasc/optim.h"
#include "nasc/weights.h"
#include "nasc/train.h"
/* spaces and estimation */
#include "nasc/space.h"
#include "nasc/cost.h"
#include "nasc/estimate.h"
#include "nasc/pareto.h"
#include "nasc/predictor.h"
/* strategies, one-shot search, experiments */
#include "nasc/strategy.h"
#include "nasc/supernet.h"
#include "nasc/oneshot.h"
#include "nasc/db.h"
#include "nasc/experiment.h"
#include "nasc/oneshot_search.h"
/* reports and exports */
#include "nasc/draw.h"
#include "nasc/report.h"
#include "nasc/export.h"
#include "nasc/export_c.h"

#endif /* NASC_NASC_H */
