/* gan.c — GAN-based search ("gan"), after GA-NAS (Rezaei et al., "Generative Adversarial Neural
 * Architecture Search", IJCAI 2021): a generator maps noise to architecture encodings, a
 * discriminator learns to tell the encodings of the best architectures found so far ("real") from
 * generated ones, and the generator learns to fool it, so it moves towards the region of the best
 * architectures. Generated encodings are decoded, deduplicated and evaluated; the real set is the
 * current top `real` of the history, so it improves as the search finds better architectures.
 *
 * Encoding (works on every space): the decision sequence as one one-hot block per step t of M_t
 * slots (M_t from nasc_learn_probe_options), L = sum_t M_t floats.
 *   G: z (B,Z) ~ N(0,1) -> linear(Z,H) -> ReLU -> linear(H,H) -> ReLU -> linear(H,L)
 *      -> per-step softmax over its M_t slots (slice, softmax, concat)      (B,L)
 *   D: x (B,L) -> linear(L,H) -> ReLU -> linear(H,H) -> ReLU -> linear(H,2)  logits fake/real
 * Losses (Goodfellow et al. 2014, the non-saturating generator loss):
 *   D: CE(D(real), 1) + CE(D(G(z)), 0), G's output taken as a constant;
 *   G: CE(D(G(z)), 1), only G's weights stepped.
 * Both by Adam (beta1 0.5, as DCGAN).
 *
 * Loop: the first `init` trials are uniform samples; then each round trains `steps` D/G steps on
 * the current real set and queues `batch` new architectures, each decoded from one noise vector by
 * sampling step t's choice from G's distribution restricted to the options valid after the
 * earlier choices. A decoded architecture proposed before is redrawn (up to 50 noise vectors);
 * after that a mutation of a real architecture, then a uniform sample, is taken. The GAN keeps
 * training across rounds. Resume replays (no save/load). */
#include "learn_int.h"
#include "mo_int.h"

#include "nasc/backend.h"
#include "nasc/optim.h"

#include <math.h>
#include <string.h>

typedef struct mlp3 {
    nasc_params *ps;
    nasc_fc l[3];
    nasc_optim *opt;
} mlp3;

typedef struct gan {
    learn_base b;
    int n_init, n_real, batch, steps, Z, H;
    int screen; /* two objectives: generated per proposal, the best by model EHVI kept */
    int nbrs;   /* two objectives: front neighbours screened beside them */
    bool mo_hv; /* two objectives: hypervolume-based targets (nasc_mo_targets) */
    float lr;
    int T, L;
    int *M, *off; /* slots and offset of each step */
    int *dec;     /* scratch decisions */
    mlp3 gen, dis;
    nasc_backend *be;
    nasc_graph *g;
    float *real, *fake, *z;
} gan;

static const nasc_strategy_opt gan_opts[] = {
    {.name = "init",
     .type = NASC_OPT_INT,
     .def = "20",
     .min = 1,
     .max = 100000,
     .help = "uniform samples before the first round"},
    {.name = "real",
     .type = NASC_OPT_INT,
     .def = "5",
     .min = 1,
     .max = 4096,
     .help = "size of the real set (the best architectures so far)"},
    {.name = "batch",
     .type = NASC_OPT_INT,
     .def = "3",
     .min = 1,
     .max = 10000,
     .help = "architectures generated per round"},
    {.name = "steps",
     .type = NASC_OPT_INT,
     .def = "30",
     .min = 1,
     .max = 100000,
     .help = "discriminator + generator steps per round"},
    {.name = "noise",
     .type = NASC_OPT_INT,
     .def = "16",
     .min = 1,
     .max = 4096,
     .help = "noise dimension"},
    {.name = "hidden",
     .type = NASC_OPT_INT,
     .def = "64",
     .min = 1,
     .max = 4096,
     .help = "hidden width of G and D"},
    {.name = "lr",
     .type = NASC_OPT_DOUBLE,
     .def = "0.002",
     .min = 1e-7,
     .max = 10,
     .help = "Adam learning rate of G and D"},
    {.name = "screen",
     .type = NASC_OPT_INT,
     .def = "1",
     .min = 1,
     .max = 1000,
     .help = "two objectives: distinct unseen architectures generated per proposal, the one with "
             "the highest expected hypervolume improvement under linear models proposed (1: off)"},
    {.name = "neighbours",
     .type = NASC_OPT_INT,
     .def = "5",
     .min = 0,
     .max = 1000,
     .help = "two objectives: single-edit mutations of the front inside the reference box "
             "screened beside the generated ones"},
    {.name = "mo-reward",
     .type = NASC_OPT_CHOICE,
     .def = "hv",
     .choices = "parego|hv",
     .help = "two objectives: the real set by random ParEGO scalarisations or by "
             "hypervolume-based targets (non-dominated rank, reference box, contribution)"},
};

static nasc_status mlp3_init(mlp3 *m, const char *name, int in, int hid, int out, uint64_t seed,
                             float lr, nasc_err *err) {
    (void)lr;
    if (!(m->ps = nasc_params_new(name)))
        return nasc_errorf(err, NASC_ERR_NOMEM, "gan: out of memory");
    NASC_TRY(nasc_fc_init(&m->l[0], m->ps, "fc0", in, hid, true, err));
    NASC_TRY(nasc_fc_init(&m->l[1], m->ps, "fc1", hid, hid, true, err));
    NASC_TRY(nasc_fc_init(&m->l[2], m->ps, "fc2", hid, out, true, err));
    NASC_TRY(nasc_params_finalize(m->ps, err));
    nasc_params_init(m->ps, seed);
    return nasc_optim_new(m->ps, &(nasc_optim_config){.kind = NASC_OPTIM_ADAM, .beta1 = 0.5f},
                          &m->opt, err);
}

static void mlp3_free(mlp3 *m) {
    nasc_optim_free(m->opt);
    nasc_params_free(m->ps);
}

static nasc_tensor *mlp3_forward(nasc_graph *g, const mlp3 *m, nasc_tensor *x) {
    nasc_tensor *h = nasc_relu(g, nasc_fc_forward(g, &m->l[0], x));
    h = nasc_relu(g, nasc_fc_forward(g, &m->l[1], h));
    return nasc_fc_forward(g, &m->l[2], h);
}

/* G's output for B noise rows: per-step softmax, (B,L). */
static nasc_tensor *generate(gan *q, nasc_graph *g, nasc_tensor *z) {
    nasc_tensor *l = mlp3_forward(g, &q->gen, z);
    nasc_tensor **parts = nasc_graph_alloc(g, sizeof(nasc_tensor *) * (size_t)q->T);
    if (!parts)
        return NULL;
    for (int t = 0; t < q->T; t++)
        parts[t] = nasc_softmax(
            g, nasc_slice(g, l,
                          &(nasc_slice_params){
                              .c0 = q->off[t], .c1 = q->off[t] + q->M[t], .sh = 1, .sw = 1}));
    return nasc_concat(g, q->T, parts);
}

static nasc_status gan_init(nasc_strategy *s, nasc_err *err) {
    gan *q = nasc_calloc(1, sizeof *q);
    if (!q)
        return nasc_errorf(err, NASC_ERR_NOMEM, "gan: out of memory");
    s->impl = q;
    NASC_TRY(nasc_learn_init(&q->b, s, err));
    q->n_init = nasc_strategy_opt_int(s, "init");
    q->n_real = nasc_strategy_opt_int(s, "real");
    q->batch = nasc_strategy_opt_int(s, "batch");
    q->screen = nasc_strategy_opt_int(s, "screen");
    q->nbrs = nasc_strategy_opt_int(s, "neighbours");
    q->mo_hv = nasc_strategy_opt_choice(s, "mo-reward") == 1;
    q->steps = nasc_strategy_opt_int(s, "steps");
    q->Z = nasc_strategy_opt_int(s, "noise");
    q->H = nasc_strategy_opt_int(s, "hidden");
    q->lr = (float)nasc_strategy_opt_double(s, "lr");
    q->T = q->b.n_dec;
    q->M = nasc_calloc((size_t)q->T, sizeof(int));
    q->off = nasc_calloc((size_t)q->T + 1, sizeof(int));
    q->dec = nasc_calloc((size_t)q->T + 1, sizeof(int));
    if (!q->M || !q->off || !q->dec)
        return nasc_errorf(err, NASC_ERR_NOMEM, "gan: out of memory");
    NASC_TRY(nasc_learn_probe_options(s->space, q->M, q->dec, err));
    for (int t = 0; t < q->T; t++)
        q->off[t + 1] = q->off[t] + q->M[t];
    q->L = q->off[q->T];
    uint64_t seed = nasc_rng_u64(&s->rng);
    NASC_TRY(mlp3_init(&q->gen, "gen", q->Z, q->H, q->L, seed, q->lr, err));
    NASC_TRY(mlp3_init(&q->dis, "dis", q->L, q->H, 2, seed ^ 0x5bd1e995ull, q->lr, err));
    int nr = q->n_real > q->batch ? q->n_real : q->batch;
    q->real = nasc_malloc(sizeof(float) * (size_t)nr * (size_t)q->L);
    q->fake = nasc_malloc(sizeof(float) * (size_t)nr * (size_t)q->L);
    q->z = nasc_malloc(sizeof(float) * (size_t)nr * (size_t)q->Z);
    if (!q->real || !q->fake || !q->z)
        return nasc_errorf(err, NASC_ERR_NOMEM, "gan: out of memory");
    if (!(q->be = nasc_backend_new("cpu", 1, err)) || !(q->g = nasc_graph_new(q->be, 1 << 20, err)))
        return err->code ? err->code : NASC_ERR_NOMEM;
    return NASC_OK;
}

static void gan_free(void *impl) {
    gan *q = impl;
    if (!q)
        return;
    nasc_learn_deinit(&q->b);
    mlp3_free(&q->gen);
    mlp3_free(&q->dis);
    nasc_graph_free(q->g);
    nasc_backend_free(q->be);
    nasc_free(q->M);
    nasc_free(q->off);
    nasc_free(q->dec);
    nasc_free(q->real);
    nasc_free(q->fake);
    nasc_free(q->z);
    nasc_free(q);
}

static void draw_noise(nasc_strategy *s, gan *q, int B) {
    for (int i = 0; i < B * q->Z; i++)
        q->z[i] = nasc_rng_normal(&s->rng);
}

static nasc_status gerr(gan *q, nasc_err *err) {
    return nasc_errorf(err, nasc_graph_status(q->g) ? nasc_graph_status(q->g) : NASC_ERR_INTERNAL,
                       "gan: %s", nasc_graph_errmsg(q->g));
}

/* One discriminator step and one generator step on the nr real rows in q->real. */
static nasc_status train_step(nasc_strategy *s, gan *q, int nr, nasc_err *err) {
    nasc_graph *g = q->g;
    int32_t ones[4096], zeros[4096];
    for (int i = 0; i < nr; i++)
        ones[i] = 1, zeros[i] = 0;
    /* fakes as constants */
    draw_noise(s, q, nr);
    nasc_graph_reset(g);
    nasc_graph_set_grad(g, false);
    nasc_tensor *f = generate(q, g, nasc_input(g, nr, q->Z, 1, 1, q->z));
    nasc_graph_set_grad(g, true);
    if (!f)
        return gerr(q, err);
    memcpy(q->fake, f->data, sizeof(float) * (size_t)nr * (size_t)q->L);
    /* D */
    nasc_graph_reset(g);
    nasc_params_zero_grad(q->dis.ps);
    nasc_tensor *lr_ = nasc_cross_entropy(
        g, mlp3_forward(g, &q->dis, nasc_input(g, nr, q->L, 1, 1, q->real)), ones, 0.0f);
    nasc_tensor *lf = nasc_cross_entropy(
        g, mlp3_forward(g, &q->dis, nasc_input(g, nr, q->L, 1, 1, q->fake)), zeros, 0.0f);
    nasc_tensor *ld = nasc_add(g, lr_, lf);
    if (!ld || nasc_backward(g, ld) != NASC_OK)
        return gerr(q, err);
    nasc_optim_step(q->dis.opt, q->lr);
    /* G (non-saturating): D's grads are discarded at its next step */
    draw_noise(s, q, nr);
    nasc_graph_reset(g);
    nasc_params_zero_grad(q->gen.ps);
    nasc_tensor *lg = nasc_cross_entropy(
        g, mlp3_forward(g, &q->dis, generate(q, g, nasc_input(g, nr, q->Z, 1, 1, q->z))), ones,
        0.0f);
    if (!lg || nasc_backward(g, lg) != NASC_OK)
        return gerr(q, err);
    nasc_optim_step(q->gen.opt, q->lr);
    return NASC_OK;
}

/* Decodes G's distribution p (L floats) by sampling each valid choice; *out the architecture. */
static nasc_status decode(nasc_strategy *s, gan *q, const float *p, nasc_arch **out,
                          nasc_err *err) {
    int n = 0;
    for (int t = 0; t < q->T; t++) {
        int no = nasc_space_n_options(s->space, t, q->dec);
        if (no <= 0)
            break;
        int a;
        if (no > q->M[t]) {
            a = (int)nasc_rng_below(&s->rng, (uint32_t)no);
        } else {
            double tot = 0.0;
            for (int k = 0; k < no; k++)
                tot += (double)p[q->off[t] + k];
            double u = nasc_rng_uniform_double(&s->rng) * tot, acc = 0.0;
            a = no - 1;
            for (int k = 0; k < no; k++) {
                acc += (double)p[q->off[t] + k];
                if (u < acc) {
                    a = k;
                    break;
                }
            }
        }
        q->dec[t] = a;
        n = t + 1;
    }
    return nasc_arch_from_decisions(s->space, q->dec, n, out, err);
}

static void encode_dec(const gan *q, const nasc_arch *a, float *x) {
    int d[1024], n = 0;
    nasc_arch_to_decisions(a, d, &n);
    memset(x, 0, sizeof(float) * (size_t)q->L);
    for (int t = 0; t < n && t < q->T; t++)
        if (d[t] < q->M[t])
            x[q->off[t] + d[t]] = 1.0f;
}

/* One generated architecture: fresh noise, the generator run without gradients, decoded into *out. */
static nasc_status generate_one(nasc_strategy *s, gan *q, nasc_arch **out, nasc_err *err) {
    draw_noise(s, q, 1);
    nasc_graph *g = q->g;
    nasc_graph_reset(g);
    nasc_graph_set_grad(g, false);
    nasc_tensor *p = generate(q, g, nasc_input(g, 1, q->Z, 1, 1, q->z));
    nasc_graph_set_grad(g, true);
    *out = NULL;
    return p ? decode(s, q, p->data, out, err) : gerr(q, err);
}

/* screen=K > 1 or neighbours=N > 0 with two objectives: up to K distinct unseen generated
 * architectures (50 noise vectors at most) and N unseen single-edit neighbours of the front
 * (nasc_mo_pool_add_neighbours), the one with the highest model EHVI (nasc_mo_screen; the first
 * generated one while there is too little to fit) marked and handed to *out; *out NULL if every
 * one was known. */
static nasc_status screened(nasc_strategy *s, gan *q, nasc_arch **out, nasc_err *err) {
    mo_pool pool;
    int pick;
    *out = NULL;
    nasc_status st = nasc_mo_pool_init(&pool, q->screen + q->nbrs, s, err);
    for (int tries = 0; tries < 50 && pool.n < q->screen && st == NASC_OK; tries++) {
        nasc_arch *a = NULL;
        if ((st = generate_one(s, q, &a, err)) == NASC_OK)
            nasc_mo_pool_add(&pool, &q->b, a);
    }
    if (st == NASC_OK)
        st = nasc_mo_pool_add_neighbours(s, &q->b, &pool, 20, q->nbrs, err);
    if (st == NASC_OK && pool.n)
        st = nasc_mo_pool_take(s, &q->b, &pool, 20, 10, out, &pick, err);
    nasc_mo_pool_free(&pool);
    return st;
}

static nasc_status round_(nasc_strategy *s, gan *q, nasc_err *err) {
    learn_base *b = &q->b;
    nasc_learn_draw_weights(s, b);
    double *y = nasc_malloc(sizeof(double) * (size_t)b->n_hist);
    int *order = nasc_malloc(sizeof(int) * (size_t)b->n_hist);
    nasc_status st = NASC_OK;
    if (!y || !order) {
        st = nasc_errorf(err, NASC_ERR_NOMEM, "gan: out of memory");
        goto done;
    }
    bool hv = false;
    if (q->mo_hv && (st = nasc_mo_targets(b, 20, y, &hv, err)) != NASC_OK)
        goto done;
    if (!hv)
        nasc_learn_targets(b, y);
    nasc_learn_rank(b, y, order);
    int nr = 0;
    while (nr < q->n_real && nr < b->n_hist && isfinite(y[order[nr]])) {
        encode_dec(q, b->hist[order[nr]].arch, q->real + (size_t)nr * (size_t)q->L);
        nr++;
    }
    for (int it = 0; nr > 0 && it < q->steps && st == NASC_OK; it++)
        st = train_step(s, q, nr, err);
    for (int k = 0; k < q->batch && st == NASC_OK; k++) {
        nasc_arch *a = NULL;
        if ((q->screen > 1 || q->nbrs > 0) && b->n_obj == 2 && nr > 0)
            st = screened(s, q, &a, err);
        for (int tries = 0; tries < 50 && !a && st == NASC_OK && nr > 0; tries++) {
            st = generate_one(s, q, &a, err);
            if (st == NASC_OK && !nasc_learn_mark(b, a)) {
                nasc_arch_free(a);
                a = NULL;
            }
        }
        for (int tries = 0; tries < 50 && !a && st == NASC_OK && nr > 0; tries++) {
            st = nasc_arch_mutate(b->hist[order[nasc_rng_below(&s->rng, (uint32_t)nr)]].arch,
                                  &s->rng, &a, err);
            if (st == NASC_OK && !nasc_learn_mark(b, a)) {
                nasc_arch_free(a);
                a = NULL;
            }
        }
        if (!a && st == NASC_OK)
            st = nasc_learn_random_unseen(s, b, &a, err);
        if (st == NASC_OK)
            st = nasc_learn_push(b, a, 0.0, err);
    }
done:
    nasc_free(y);
    nasc_free(order);
    return st;
}

static nasc_status gan_ask(nasc_strategy *s, nasc_proposal *out, nasc_err *err) {
    gan *q = s->impl;
    if (nasc_learn_pop(&q->b, out))
        return NASC_OK;
    if (s->n_asked < q->n_init)
        return nasc_learn_random_unseen(s, &q->b, &out->arch, err);
    if (!nasc_learn_ready(s))
        return NASC_OK; /* wait */
    NASC_TRY(round_(s, q, err));
    nasc_learn_pop(&q->b, out);
    return NASC_OK;
}

static nasc_status gan_tell(nasc_strategy *s, int64_t trial, const nasc_arch *arch, double fidelity,
                            const nasc_trial_result *r, nasc_err *err) {
    (void)trial;
    gan *q = s->impl;
    return nasc_learn_record(&q->b, arch, fidelity, r, err);
}

const nasc_strategy_i nasc_strategy_gan_i = {
    .name = "gan",
    .help = "GAN-based search: generator vs discriminator of the best architectures (GA-NAS)",
    .opts = gan_opts,
    .n_opts = (int)(sizeof gan_opts / sizeof gan_opts[0]),
    .init = gan_init,
    .ask = gan_ask,
    .tell = gan_tell,
    .free_impl = gan_free,
};
