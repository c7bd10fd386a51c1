/* eval_int.h — internals shared by the evaluators (never installed). */
#ifndef NASC_EVAL_INT_H
#define NASC_EVAL_INT_H

#include "nasc/data.h"
#include "nasc/estimate.h"

/* Loads the training split of c->data, keeps c->data_fraction of it (stratified) and splits that
 * into train and validation parts, all keyed by seed. The caller frees both. */
NASC_INTERNAL nasc_status nasc_eval_load_split(const nasc_train_eval_config *c, uint64_t seed,
                                               nasc_dataset **out_train, nasc_dataset **out_val,
                                               nasc_err *err);

#endif /* NASC_EVAL_INT_H */
