/* sample.c — the sampling one-shot methods: GDAS, SPOS, ENAS, ProxylessNAS. */
#include "stepper_int.h"

nasc_status nasc_os_method_init(nasc_oneshot *os, nasc_err *err) {
    (void)os;
    (void)err;
    return NASC_OK;
}

void nasc_os_method_free(nasc_oneshot *os) { (void)os; }

nasc_status nasc_os_method_step(nasc_oneshot *os, const nasc_oneshot_batch *train,
                                const nasc_oneshot_batch *val, float lr,
                                nasc_oneshot_step_stats *stats, nasc_err *err) {
    (void)train;
    (void)val;
    (void)lr;
    (void)stats;
    return nasc_errorf(err, NASC_ERR_UNSUPPORTED, "%s: not implemented yet",
                       nasc_oneshot_method_name(os->m));
}

nasc_status nasc_os_method_derive(nasc_oneshot *os, nasc_arch **out, nasc_err *err) {
    return nasc_supernet_derive(os->sn, NULL, NULL, out, err);
}

void nasc_os_method_save(const nasc_oneshot *os, os_buf *b) {
    (void)os;
    nasc_os_put_u64(b, 0);
}

nasc_status nasc_os_method_load(nasc_oneshot *os, os_buf *b, const char *path, nasc_err *err) {
    (void)os;
    if (nasc_os_get_u64(b) != 0 || b->short_read)
        return nasc_errorf(err, NASC_ERR_FORMAT, "%s: bad method state", path);
    return NASC_OK;
}

void nasc_os_set_val_source(nasc_oneshot *os, nasc_os_val_fn fn, void *user) {
    os->val_fn = fn;
    os->val_user = user;
}

nasc_status nasc_os_method_final(nasc_oneshot *os, nasc_err *err) {
    (void)os;
    (void)err;
    return NASC_OK;
}
