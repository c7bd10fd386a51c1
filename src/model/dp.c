/* dp.c — data-parallel training: gradients and buffers averaged over the ranks of a job (optim.h,
 * dist.h). Packs everything one step needs into one buffer, so a step costs one collective. */
#include "nasc/arena.h"
#include "nasc/dist.h"
#include "nasc/nn.h"
#include "nasc/optim.h"

#include <string.h>

struct nasc_dp {
    nasc_params *ps; /* borrowed */
    size_t n_grad, n_buf;
    int n_extra;
    float *pack; /* [grads | buffers | extra] */
};

nasc_status nasc_dp_new(nasc_params *ps, int n_extra, nasc_dp **out, nasc_err *err) {
    *out = NULL;
    if (!ps || !nasc_params_finalized(ps) || n_extra < 0)
        return nasc_errorf(err, NASC_ERR_ARG,
                           "dp: need a finalized parameter store and n_extra >= 0");
    nasc_dp *dp = nasc_calloc(1, sizeof *dp);
    if (!dp)
        return nasc_errorf(err, NASC_ERR_NOMEM, "dp: out of memory");
    dp->ps = ps;
    dp->n_grad = nasc_params_flat_len(ps);
    dp->n_buf = nasc_params_buffer_count(ps);
    dp->n_extra = n_extra;
    const size_t n = dp->n_grad + dp->n_buf + (size_t)n_extra;
    if (nasc_dist_size() > 1 && !(dp->pack = nasc_malloc((n ? n : 1) * sizeof(float)))) {
        nasc_free(dp);
        return nasc_errorf(err, NASC_ERR_NOMEM, "dp: out of memory for %zu floats", n);
    }
    *out = dp;
    return NASC_OK;
}

void nasc_dp_free(nasc_dp *dp) {
    if (!dp)
        return;
    nasc_free(dp->pack);
    nasc_free(dp);
}

/* The collective of nasc_dp_average, with or without the buffers. */
static nasc_status average(nasc_dp *dp, int n_local, int n_total, float *extra, bool buffers,
                           nasc_err *err) {
    if (n_total < 1 || n_local < 0 || n_local > n_total)
        return nasc_errorf(err, NASC_ERR_ARG, "dp: %d images of a batch of %d", n_local, n_total);
    if (nasc_dist_size() == 1)
        return NASC_OK;
    /* the weights n_local / n_total sum to 1 over the ranks; with equal shares of an even batch
     * over 2 ranks each is 0.5 and the weighted sum is the plain mean of the two, exactly */
    const float w = (float)n_local / (float)n_total;
    const size_t n_buf = buffers ? dp->n_buf : 0;
    float *grad = nasc_params_grad(dp->ps), *buf = nasc_params_buffer_data(dp->ps);
    float *p = dp->pack;
    for (size_t i = 0; i < dp->n_grad; i++)
        p[i] = grad[i] * w;
    p += dp->n_grad;
    for (size_t i = 0; i < n_buf; i++)
        p[i] = buf[i] * w;
    p += n_buf;
    if (dp->n_extra)
        memcpy(p, extra, (size_t)dp->n_extra * sizeof(float));
    NASC_TRY(nasc_dist_allreduce_sum(dp->pack, dp->n_grad + n_buf + (size_t)dp->n_extra, err));
    memcpy(grad, dp->pack, dp->n_grad * sizeof(float));
    if (n_buf)
        memcpy(buf, dp->pack + dp->n_grad, n_buf * sizeof(float));
    if (dp->n_extra)
        memcpy(extra, dp->pack + dp->n_grad + n_buf, (size_t)dp->n_extra * sizeof(float));
    return NASC_OK;
}

nasc_status nasc_dp_average(nasc_dp *dp, int n_local, int n_total, float *extra, nasc_err *err) {
    return average(dp, n_local, n_total, extra, true, err);
}

nasc_status nasc_dp_average_grads(nasc_dp *dp, int n_local, int n_total, float *extra,
                                  nasc_err *err) {
    return average(dp, n_local, n_total, extra, false, err);
}

nasc_status nasc_dp_bcast_state(nasc_params *ps, nasc_optim *o, nasc_err *err) {
    if (nasc_dist_size() == 1)
        return NASC_OK;
    NASC_TRY(
        nasc_dist_bcast(nasc_params_data(ps), nasc_params_flat_len(ps) * sizeof(float), 0, err));
    NASC_TRY(nasc_dist_bcast(nasc_params_buffer_data(ps),
                             nasc_params_buffer_count(ps) * sizeof(float), 0, err));
    if (!o)
        return NASC_OK;
    size_t len = 0;
    float *state = nasc_optim_state(o, &len);
    NASC_TRY(nasc_dist_bcast(state, len * sizeof(float), 0, err));
    int64_t steps = nasc_optim_steps(o);
    NASC_TRY(nasc_dist_bcast(&steps, sizeof steps, 0, err));
    nasc_optim_set_steps(o, steps);
    return NASC_OK;
}
