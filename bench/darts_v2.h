/* darts_v2.h — the DARTS paper's DARTS_V2 genotype (Liu et al. 2019), the fixed network the
 * benches time (bench_train_step, bench/roofline). */
#ifndef NASC_BENCH_DARTS_V2_H
#define NASC_BENCH_DARTS_V2_H

static const char *const DARTS_V2 =
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), "
    "('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), "
    "('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), "
    "('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
    "('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], "
    "reduce_concat=[2, 3, 4, 5])";

#endif /* NASC_BENCH_DARTS_V2_H */
