/* test_ref_optim.c — SGD (plain, weight decay, momentum, Nesterov), Adam, AdamW, gradient clipping
 * and the cosine schedule against PyTorch values (tests/ref/gen_optim.py -> optim_ref.txt).
 * Tolerance: 2e-6 relative + 1e-7 absolute — the update formulas are the same float32 operations
 * as PyTorch's, so only rounding-order differences remain over 5 steps. */
#include "test.h"

#include "nasc/optim.h"

#define NV 11
#define MAX_ROWS 32

typedef struct row {
    char name[32];
    float v[16];
    int n;
} row;

static row rows[MAX_ROWS];
static int n_rows;

static const row *find(const char *name) {
    for (int i = 0; i < n_rows; i++)
        if (!strcmp(rows[i].name, name))
            return &rows[i];
    fprintf(stderr, "optim_ref.txt: no row '%s'\n", name);
    exit(1);
}

static void load(void) {
    const char *path = NASC_SOURCE_DIR "/tests/ref/optim_ref.txt";
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        exit(1);
    }
    char line[4096];
    while (fgets(line, sizeof line, f) && n_rows < MAX_ROWS) {
        if (line[0] == '#' || line[0] == '\n')
            continue;
        row *r = &rows[n_rows++];
        char *save = NULL, *tok = strtok_r(line, " \n", &save);
        snprintf(r->name, sizeof r->name, "%s", tok);
        while ((tok = strtok_r(NULL, " \n", &save)) && r->n < 16)
            r->v[r->n++] = strtof(tok, NULL);
    }
    fclose(f);
}

static void run_opt(const char *name, nasc_optim_config cfg, float lr) {
    nasc_err err = {0};
    nasc_params *ps = nasc_params_new("t");
    nasc_tensor *w = nasc_params_add(ps, "w", 1, NV, 1, 1, NASC_INIT_ZEROS, 0.0f, &err);
    CHECK_STATUS(nasc_params_finalize(ps, &err), NASC_OK);
    memcpy(w->data, find("w0")->v, NV * sizeof(float));
    nasc_optim *o = NULL;
    CHECK_STATUS(nasc_optim_new(ps, &cfg, &o, &err), NASC_OK);
    for (int s = 0; s < 5; s++) {
        char gname[8];
        snprintf(gname, sizeof gname, "g%d", s);
        nasc_params_zero_grad(ps);
        memcpy(w->grad, find(gname)->v, NV * sizeof(float));
        nasc_optim_step(o, lr);
    }
    check_tensor(name, w->data, find(name)->v, NV, 2e-6, 1e-7);
    nasc_optim_free(o);
    nasc_params_free(ps);
}

int main(void) {
    load();
    run_opt("sgd", (nasc_optim_config){.kind = NASC_OPTIM_SGD}, 0.1f);
    run_opt("sgd_wd", (nasc_optim_config){.kind = NASC_OPTIM_SGD, .weight_decay = 0.01f}, 0.1f);
    run_opt("sgd_mom",
            (nasc_optim_config){.kind = NASC_OPTIM_SGD, .momentum = 0.9f, .weight_decay = 3e-4f},
            0.1f);
    run_opt("sgd_nesterov",
            (nasc_optim_config){.kind = NASC_OPTIM_SGD, .momentum = 0.9f, .nesterov = true,
                                .weight_decay = 1e-3f},
            0.05f);
    run_opt("adam", (nasc_optim_config){.kind = NASC_OPTIM_ADAM, .weight_decay = 1e-3f}, 0.01f);
    run_opt("adam_betas",
            (nasc_optim_config){.kind = NASC_OPTIM_ADAM, .beta1 = 0.5f, .beta2 = 0.999f,
                                .weight_decay = 1e-3f},
            3e-4f);
    run_opt("adamw", (nasc_optim_config){.kind = NASC_OPTIM_ADAMW, .weight_decay = 0.05f}, 0.01f);

    /* clipping */
    nasc_err err = {0};
    nasc_params *ps = nasc_params_new("clip");
    nasc_tensor *w = nasc_params_add(ps, "w", 1, NV, 1, 1, NASC_INIT_ZEROS, 0.0f, &err);
    CHECK_STATUS(nasc_params_finalize(ps, &err), NASC_OK);
    for (int i = 0; i < NV; i++)
        w->grad[i] = find("g0")->v[i] * 10.0f;
    float norm = nasc_clip_grad_norm(ps, 1.5f);
    CHECK_CLOSE(norm, find("clip_norm")->v[0], 1e-6, 0);
    check_tensor("clip_grad", w->grad, find("clip_grad")->v, NV, 1e-6, 1e-7);
    /* below the threshold nothing changes */
    float before = w->grad[0];
    nasc_clip_grad_norm(ps, 100.0f);
    CHECK(w->grad[0] == before);
    nasc_params_free(ps);

    /* cosine schedule (no warm-up) = CosineAnnealingLR for steps 0..T */
    nasc_sched sch = {.kind = NASC_SCHED_COSINE, .lr_max = 0.025f, .lr_min = 0.001f,
                      .warmup_steps = 0, .total_steps = 10};
    float lrs[11];
    for (int s = 0; s <= 10; s++)
        lrs[s] = nasc_sched_lr(&sch, s);
    check_tensor("cosine_lr", lrs, find("cosine_lr")->v, 11, 1e-6, 1e-9);
    /* warm-up: linear from lr_max/W to lr_max, then the cosine starts at lr_max */
    nasc_sched wu = {.kind = NASC_SCHED_COSINE, .lr_max = 0.1f, .lr_min = 0.0f, .warmup_steps = 4,
                     .total_steps = 14};
    CHECK_CLOSE(nasc_sched_lr(&wu, 0), 0.025, 1e-6, 0);
    CHECK_CLOSE(nasc_sched_lr(&wu, 3), 0.1, 1e-6, 0);
    CHECK_CLOSE(nasc_sched_lr(&wu, 4), 0.1, 1e-6, 0);
    CHECK_CLOSE(nasc_sched_lr(&wu, 9), 0.05, 1e-6, 1e-7);
    CHECK_CLOSE(nasc_sched_lr(&wu, 14), 0.0, 0, 1e-9);

    /* bad hyper-parameters are errors, not crashes */
    ps = nasc_params_new("bad");
    nasc_params_add(ps, "w", 1, 3, 1, 1, NASC_INIT_ZEROS, 0.0f, &err);
    nasc_params_finalize(ps, &err);
    nasc_optim *o = NULL;
    nasc_err e2 = {0};
    CHECK_STATUS(nasc_optim_new(ps, &(nasc_optim_config){.kind = NASC_OPTIM_SGD, .nesterov = true},
                                &o, &e2),
                 NASC_ERR_ARG);
    CHECK_STR_CONTAINS(e2.msg, "nesterov");
    nasc_err_clear(&e2);
    CHECK_STATUS(nasc_optim_new(ps, &(nasc_optim_config){.kind = NASC_OPTIM_SGD,
                                                         .momentum = 1.5f},
                                &o, &e2),
                 NASC_ERR_ARG);
    CHECK(o == NULL);
    nasc_params_free(ps);
    return test_done("ref_optim");
}
