/* remote.c — the messages of a distributed search (experiment_int.h, "distributed search"):
 * their byte layouts, and checks on what arrives. Transport: dist.h (MPI).
 *
 * Every message starts with a 32-bit magic naming its kind; numbers are in the sender's byte
 * order and sizes (all ranks run the same nasc binary, checked by the configuration message,
 * which carries sizeof(nasc_experiment_config) and sizeof(nasc_trial_result)). */
#include "experiment_int.h"

#include <stdio.h>
#include <string.h>

#define MAGIC_CONFIG 0x4e43464bu  /* "NCFK" */
#define MAGIC_READY 0x4e524459u   /* "NRDY" */
#define MAGIC_JOB 0x4e4a4f42u     /* "NJOB" */
#define MAGIC_OUTCOME 0x4e4f5554u /* "NOUT" */
#define MAGIC_ONESHOT 0x4e4f5348u /* "NOSH" */

typedef struct config_msg {
    uint32_t magic;
    uint32_t cfg_bytes, result_bytes; /* the sender's struct sizes: the same binary */
    uint32_t pad;
    nasc_experiment_config cfg;
} config_msg;

typedef struct oneshot_msg {
    uint32_t magic;
    uint32_t cfg_bytes, n_given; /* the sender's struct size and key count: the same binary */
    uint32_t pad;
    uint64_t max_memory;
    uint8_t given[NASC_REMOTE_MAX_KEYS];
    nasc_experiment_config cfg;
} oneshot_msg;

typedef struct ready_msg {
    uint32_t magic;
    int32_t status; /* nasc_status of the worker's setup */
    char host[64];
    char msg[512];
} ready_msg;

typedef struct job_hdr {
    uint32_t magic;
    int32_t attempt;
    int64_t trial;
    double fidelity;
    uint64_t seed;
    int64_t n_arch;   /* bytes of architecture text (no terminator) */
    int64_t n_curves; /* curves of the median rule's history */
    int64_t n_floats; /* their values, all together */
    /* then: arch text, n_curves int32 lengths, n_floats floats */
} job_hdr;

typedef struct outcome_msg {
    uint32_t magic;
    int32_t requeue;
    int64_t trial;
    nasc_trial_result result;
} outcome_msg;

nasc_status nasc_remote_send_config(int rank, const nasc_experiment_config *cfg, nasc_err *err) {
    config_msg *m = nasc_calloc(1, sizeof *m);
    if (!m)
        return nasc_errorf(err, NASC_ERR_NOMEM, "experiment: out of memory");
    m->magic = MAGIC_CONFIG;
    m->cfg_bytes = (uint32_t)sizeof m->cfg;
    m->result_bytes = (uint32_t)sizeof(nasc_trial_result);
    m->cfg = *cfg;
    nasc_status st = nasc_dist_send(rank, NASC_TAG_CONFIG, m, sizeof *m, err);
    nasc_free(m);
    return st;
}

nasc_status nasc_remote_recv_config(const nasc_dist_msg *dm, nasc_experiment_config *out,
                                    nasc_err *err) {
    config_msg *m = nasc_calloc(1, sizeof *m);
    if (!m)
        return nasc_errorf(err, NASC_ERR_NOMEM, "experiment: out of memory");
    nasc_status st = nasc_dist_recv(dm, m, sizeof *m, err);
    if (st == NASC_OK &&
        (dm->n_bytes != sizeof *m || m->magic != MAGIC_CONFIG || m->cfg_bytes != sizeof m->cfg ||
         m->result_bytes != sizeof(nasc_trial_result)))
        st = nasc_errorf(err, NASC_ERR_FORMAT,
                         "distributed search: rank %d sent a configuration of %zu bytes this nasc "
                         "does not read (every rank must run the same nasc binary)",
                         dm->src, dm->n_bytes);
    if (st == NASC_OK)
        *out = m->cfg;
    nasc_free(m);
    return st;
}

nasc_status nasc_remote_send_ready(nasc_status setup, const char *msg, nasc_err *err) {
    ready_msg m = {.magic = MAGIC_READY, .status = (int32_t)setup};
    snprintf(m.host, sizeof m.host, "%s", nasc_dist_host());
    snprintf(m.msg, sizeof m.msg, "%s", msg ? msg : "");
    return nasc_dist_send(0, NASC_TAG_READY, &m, sizeof m, err);
}

nasc_status nasc_remote_recv_ready(const nasc_dist_msg *dm, nasc_err *err) {
    ready_msg m;
    NASC_TRY(nasc_dist_recv(dm, &m, sizeof m, err));
    if (dm->n_bytes != sizeof m || m.magic != MAGIC_READY)
        return nasc_errorf(err, NASC_ERR_FORMAT,
                           "distributed search: rank %d answered with %zu bytes that are not a "
                           "worker's greeting (every rank must run the same nasc binary)",
                           dm->src, dm->n_bytes);
    m.host[sizeof m.host - 1] = '\0';
    m.msg[sizeof m.msg - 1] = '\0';
    if (m.status != NASC_OK) {
        nasc_status st = m.status > 0 && m.status < NASC_STATUS_COUNT ? (nasc_status)m.status
                                                                      : NASC_ERR_INTERNAL;
        return nasc_errorf(err, st, "worker rank %d (%s): %s", dm->src, m.host, m.msg);
    }
    return NASC_OK;
}

nasc_status nasc_remote_send_job(int rank, const nasc_remote_job *j, nasc_err *err) {
    job_hdr h = {.magic = MAGIC_JOB,
                 .attempt = j->attempt,
                 .trial = j->trial,
                 .fidelity = j->fidelity,
                 .seed = j->seed,
                 .n_arch = (int64_t)strlen(j->arch)};
    const nasc_curve_history *hist = j->history;
    if (hist) {
        h.n_curves = hist->n_trials;
        for (int i = 0; i < hist->n_trials; i++)
            h.n_floats += hist->n[i];
    }
    size_t n = sizeof h + (size_t)h.n_arch + sizeof(int32_t) * (size_t)h.n_curves +
               sizeof(float) * (size_t)h.n_floats;
    char *buf = nasc_malloc(n);
    if (!buf)
        return nasc_errorf(err, NASC_ERR_NOMEM, "experiment: out of memory");
    char *p = buf;
    memcpy(p, &h, sizeof h);
    p += sizeof h;
    memcpy(p, j->arch, (size_t)h.n_arch);
    p += h.n_arch;
    for (int i = 0; hist && i < hist->n_trials; i++) {
        int32_t len = hist->n[i];
        memcpy(p, &len, sizeof len);
        p += sizeof len;
    }
    for (int i = 0; hist && i < hist->n_trials; i++) {
        memcpy(p, hist->curves[i], sizeof(float) * (size_t)hist->n[i]);
        p += sizeof(float) * (size_t)hist->n[i];
    }
    nasc_status st = nasc_dist_send(rank, NASC_TAG_JOB, buf, n, err);
    nasc_free(buf);
    return st;
}

/* The decoded job lives in one block: the header's fields, the architecture text, the history
 * and its arrays. */
typedef struct job_block {
    nasc_remote_job job;
    nasc_curve_history hist;
} job_block;

nasc_status nasc_remote_recv_job(const nasc_dist_msg *dm, nasc_remote_job **out, nasc_err *err) {
    *out = NULL;
    char *buf = nasc_malloc(dm->n_bytes ? dm->n_bytes : 1);
    if (!buf)
        return nasc_errorf(err, NASC_ERR_NOMEM, "experiment: out of memory");
    nasc_status st = nasc_dist_recv(dm, buf, dm->n_bytes, err);
    job_hdr h;
    if (st == NASC_OK && dm->n_bytes >= sizeof h)
        memcpy(&h, buf, sizeof h);
    bool ok = st == NASC_OK && dm->n_bytes >= sizeof h && h.magic == MAGIC_JOB && h.n_arch > 0 &&
              h.n_curves >= 0 && h.n_floats >= 0 && h.n_curves < INT32_MAX &&
              (uint64_t)h.n_arch + sizeof(int32_t) * (uint64_t)h.n_curves +
                      sizeof(float) * (uint64_t)h.n_floats ==
                  dm->n_bytes - sizeof h;
    const int32_t *lens = NULL;
    if (ok) {
        lens = (const int32_t *)(const void *)(buf + sizeof h + h.n_arch);
        int64_t total = 0;
        for (int64_t i = 0; i < h.n_curves; i++) {
            int32_t len;
            memcpy(&len, (const char *)lens + i * (int64_t)sizeof len, sizeof len);
            ok = ok && len >= 0;
            total += len;
        }
        ok = ok && total == h.n_floats;
    }
    if (st == NASC_OK && !ok)
        st = nasc_errorf(err, NASC_ERR_FORMAT,
                         "distributed search: a malformed trial message (%zu bytes) from rank %d",
                         dm->n_bytes, dm->src);
    if (st != NASC_OK) {
        nasc_free(buf);
        return st;
    }
    size_t n_curves = (size_t)h.n_curves;
    size_t need = sizeof(job_block) + (size_t)h.n_arch + 1 + n_curves * sizeof(float *) +
                  n_curves * sizeof(int) + sizeof(float) * (size_t)h.n_floats + 16;
    job_block *b = nasc_calloc(1, need);
    if (!b) {
        nasc_free(buf);
        return nasc_errorf(err, NASC_ERR_NOMEM, "experiment: out of memory");
    }
    char *p = (char *)(b + 1);
    const float **curves = (const float **)(void *)p;
    p += n_curves * sizeof(float *);
    int *n = (int *)(void *)p;
    p += n_curves * sizeof(int);
    p = (char *)(((uintptr_t)p + 3) & ~(uintptr_t)3);
    float *vals = (float *)(void *)p;
    p += sizeof(float) * (size_t)h.n_floats;
    char *arch = p;
    memcpy(arch, buf + sizeof h, (size_t)h.n_arch);
    arch[h.n_arch] = '\0';
    memcpy(vals, buf + sizeof h + h.n_arch + (int64_t)sizeof(int32_t) * h.n_curves,
           sizeof(float) * (size_t)h.n_floats);
    int64_t off = 0;
    for (size_t i = 0; i < n_curves; i++) {
        int32_t len;
        memcpy(&len, (const char *)lens + i * sizeof len, sizeof len);
        n[i] = len;
        curves[i] = vals + off;
        off += len;
    }
    nasc_free(buf);
    b->hist = (nasc_curve_history){.n_trials = (int)n_curves, .curves = curves, .n = n};
    b->job = (nasc_remote_job){.trial = h.trial,
                               .fidelity = h.fidelity,
                               .seed = h.seed,
                               .attempt = h.attempt,
                               .arch = arch,
                               .history = n_curves ? &b->hist : NULL};
    *out = &b->job; /* first member: nasc_free(*out) frees the block */
    return NASC_OK;
}

nasc_status nasc_remote_send_outcome(int64_t trial, bool requeue, const nasc_trial_result *r,
                                     nasc_err *err) {
    outcome_msg *m = nasc_calloc(1, sizeof *m);
    if (!m)
        return nasc_errorf(err, NASC_ERR_NOMEM, "experiment: out of memory");
    m->magic = MAGIC_OUTCOME;
    m->requeue = requeue;
    m->trial = trial;
    m->result = *r;
    nasc_status st = nasc_dist_send(0, NASC_TAG_OUTCOME, m, sizeof *m, err);
    nasc_free(m);
    return st;
}

nasc_status nasc_remote_recv_outcome(const nasc_dist_msg *dm, int64_t *out_trial, bool *out_requeue,
                                     nasc_trial_result *out, nasc_err *err) {
    outcome_msg *m = nasc_malloc(sizeof *m);
    if (!m)
        return nasc_errorf(err, NASC_ERR_NOMEM, "experiment: out of memory");
    nasc_status st = nasc_dist_recv(dm, m, sizeof *m, err);
    if (st == NASC_OK && (dm->n_bytes != sizeof *m || m->magic != MAGIC_OUTCOME))
        st = nasc_errorf(err, NASC_ERR_FORMAT,
                         "distributed search: a malformed result message (%zu bytes) from rank %d",
                         dm->n_bytes, dm->src);
    if (st == NASC_OK) {
        *out_trial = m->trial;
        *out_requeue = m->requeue != 0;
        *out = m->result;
        out->reason[sizeof out->reason - 1] = '\0';
    }
    nasc_free(m);
    return st;
}

nasc_status nasc_remote_send_oneshot(int rank, const nasc_experiment_config *cfg,
                                     const bool *given, int n_given, size_t max_memory,
                                     nasc_err *err) {
    if (n_given < 0 || n_given > NASC_REMOTE_MAX_KEYS)
        return nasc_errorf(err, NASC_ERR_INTERNAL, "oneshot: %d configuration keys", n_given);
    oneshot_msg *m = nasc_calloc(1, sizeof *m);
    if (!m)
        return nasc_errorf(err, NASC_ERR_NOMEM, "oneshot: out of memory");
    m->magic = MAGIC_ONESHOT;
    m->cfg_bytes = (uint32_t)sizeof m->cfg;
    m->n_given = (uint32_t)n_given;
    m->max_memory = max_memory;
    for (int i = 0; given && i < n_given; i++)
        m->given[i] = given[i];
    m->cfg = *cfg;
    nasc_status st = nasc_dist_send(rank, NASC_TAG_ONESHOT, m, sizeof *m, err);
    nasc_free(m);
    return st;
}

nasc_status nasc_remote_recv_oneshot(const nasc_dist_msg *dm, nasc_experiment_config *cfg,
                                     bool *given, int n_given, size_t *max_memory,
                                     nasc_err *err) {
    oneshot_msg *m = nasc_calloc(1, sizeof *m);
    if (!m)
        return nasc_errorf(err, NASC_ERR_NOMEM, "oneshot: out of memory");
    nasc_status st = nasc_dist_recv(dm, m, sizeof *m, err);
    if (st == NASC_OK && (dm->n_bytes != sizeof *m || m->magic != MAGIC_ONESHOT ||
                          m->cfg_bytes != sizeof m->cfg || m->n_given != (uint32_t)n_given))
        st = nasc_errorf(err, NASC_ERR_FORMAT,
                         "distributed search: rank %d sent a one-shot configuration of %zu bytes "
                         "this nasc does not read (every rank must run the same nasc binary)",
                         dm->src, dm->n_bytes);
    if (st == NASC_OK) {
        *cfg = m->cfg;
        for (int i = 0; i < n_given; i++)
            given[i] = m->given[i] != 0;
        *max_memory = (size_t)m->max_memory;
    }
    nasc_free(m);
    return st;
}
