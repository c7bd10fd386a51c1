/* test_mo_ehvi.c — model-based two-objective search (src/strategy/mo.c):
 *   - the ridge regression recovers an exact linear function, and shrinks with a large penalty;
 *   - the front staircase keeps only non-dominated points inside the reference box, in cost order;
 *   - with sd = 0 the expected hypervolume improvement equals the hypervolume gained
 *     (nasc_pareto_hypervolume2 of the front with and without the point) on hand-made points and
 *     on random ones; with sd > 0 it is at least that (the improvement is convex in accuracy) and
 *     it is zero for a point at or beyond the reference cost;
 *   - the reference point is the quantile of the first results, its cost raised to 1.1 times that
 *     of the most accurate result;
 *   - a point's hypervolume contribution equals the hypervolume lost without it (random fronts,
 *     some points outside the box); the gathered history skips failed trials and clips accuracy;
 *     the hypervolume-based targets order front-in-box (by contribution, the largest 0.49) above
 *     front-outside-box (-0.5) above dominated (-rank) above failed (-inf). */
#include "test.h"

#include <math.h>

#include "nasc/pareto.h"
#include "strategy/mo_int.h"

static void test_ridge(void) {
    enum { N = 40, D = 5 };
    float X[N * D];
    double y[N], p[N];
    nasc_rng rng;
    nasc_rng_init(&rng, 7, 1);
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < D; j++)
            X[i * D + j] = (float)nasc_rng_below(&rng, 2);
        y[i] = 3.0 + 2.0 * X[i * D] - 1.0 * X[i * D + 1] + 0.5 * X[i * D + 4];
    }
    nasc_err err = {0};
    CHECK(nasc_mo_ridge(X, y, N, D, 1e-9, X, N, p, &err) == NASC_OK);
    double e = 0.0;
    for (int i = 0; i < N; i++)
        e = fmax(e, fabs(p[i] - y[i]));
    CHECK_MSG(e < 1e-6, "exact linear function: max error %g", e);
    /* a huge penalty predicts the mean */
    double mean = 0.0;
    for (int i = 0; i < N; i++)
        mean += y[i] / N;
    CHECK(nasc_mo_ridge(X, y, N, D, 1e12, X, N, p, &err) == NASC_OK);
    CHECK(fabs(p[0] - mean) < 1e-6 && fabs(p[N - 1] - mean) < 1e-6);
}

static double hv_gain(const mo_front *f, double a, double c) {
    double pts[2 * 64];
    for (int i = 0; i < f->n; i++) {
        pts[2 * i] = f->acc[i];
        pts[2 * i + 1] = f->cost[i];
    }
    double before = nasc_pareto_hypervolume2(pts, f->n, f->ref);
    pts[2 * f->n] = a;
    pts[2 * f->n + 1] = c;
    return nasc_pareto_hypervolume2(pts, f->n + 1, f->ref) - before;
}

static void test_front_ehvi(void) {
    nasc_err err = {0};
    mo_front f = {.ref = {0.0, 10.0}};
    CHECK(nasc_mo_front_add(&f, 8.0, 6.0, &err) == NASC_OK);
    CHECK(nasc_mo_front_add(&f, 5.0, 2.0, &err) == NASC_OK);
    CHECK(nasc_mo_front_add(&f, 4.0, 3.0, &err) == NASC_OK);  /* dominated by (5, 2) */
    CHECK(nasc_mo_front_add(&f, 9.0, 12.0, &err) == NASC_OK); /* beyond the reference cost */
    CHECK(nasc_mo_front_add(&f, -1.0, 1.0, &err) == NASC_OK); /* below the reference accuracy */
    CHECK(f.n == 2 && f.cost[0] == 2.0 && f.acc[0] == 5.0 && f.cost[1] == 6.0 && f.acc[1] == 8.0);
    /* by hand: (7, 4) gains (7-5)*(6-4) = 4; (9, 1) gains 9*1 + 4*4 + 1*4 = 29 */
    CHECK_MSG(fabs(nasc_mo_ehvi(&f, 7.0, 0.0, 4.0) - 4.0) < 1e-12, "%g",
              nasc_mo_ehvi(&f, 7.0, 0.0, 4.0));
    CHECK_MSG(fabs(nasc_mo_ehvi(&f, 9.0, 0.0, 1.0) - 29.0) < 1e-12, "%g",
              nasc_mo_ehvi(&f, 9.0, 0.0, 1.0));
    CHECK(nasc_mo_ehvi(&f, 4.0, 0.0, 3.0) == 0.0);   /* dominated */
    CHECK(nasc_mo_ehvi(&f, 50.0, 1.0, 10.0) == 0.0); /* at the reference cost */
    CHECK(nasc_mo_ehvi(&f, 7.0, 1.0, 4.0) > 4.0);
    /* a point that dominates a member replaces it */
    CHECK(nasc_mo_front_add(&f, 8.5, 5.0, &err) == NASC_OK);
    CHECK(f.n == 2 && f.cost[1] == 5.0 && f.acc[1] == 8.5);
    /* random fronts and points: EHVI at sd 0 = hypervolume gained; at sd > 0 at least that */
    nasc_rng rng;
    nasc_rng_init(&rng, 11, 1);
    int bad = 0;
    for (int rep = 0; rep < 200; rep++) {
        mo_front g = {.ref = {50.0, 30.0}};
        for (int i = 0; i < 20; i++)
            nasc_mo_front_add(&g, 50.0 + 40.0 * nasc_rng_uniform_double(&rng),
                              40.0 * nasc_rng_uniform_double(&rng), &err);
        double a = 45.0 + 50.0 * nasc_rng_uniform_double(&rng);
        double c = 35.0 * nasc_rng_uniform_double(&rng);
        double gain = hv_gain(&g, a, c);
        double e0 = nasc_mo_ehvi(&g, a, 0.0, c), e1 = nasc_mo_ehvi(&g, a, 2.0, c);
        if (!(fabs(e0 - gain) < 1e-9 * (1.0 + gain)) || !(e1 >= e0 - 1e-12))
            bad++;
        nasc_mo_front_free(&g);
    }
    CHECK_MSG(bad == 0, "%d of 200 random points disagree with the hypervolume gained", bad);
    nasc_mo_front_free(&f);
}

static void test_reference(void) {
    learn_base b = {0};
    learn_trial t[5] = {0};
    const double acc[5] = {60, 70, 80, 90, 95}, cost[5] = {10, 20, 30, 40, 80};
    for (int i = 0; i < 5; i++) {
        t[i].fitness = acc[i];
        t[i].n_obj = 2;
        t[i].obj[0] = acc[i];
        t[i].obj[1] = cost[i];
    }
    b.hist = t;
    b.n_hist = 4;
    double ref[2];
    CHECK(nasc_mo_reference(&b, 4, 0.5, ref));
    /* medians 75 and 25, the cost raised to 1.1 * 40 (the most accurate result's) */
    CHECK_MSG(fabs(ref[0] - 75.0) < 1e-12 && fabs(ref[1] - 44.0) < 1e-12, "%g %g", ref[0], ref[1]);
    b.n_hist = 5; /* a later, more accurate result raises the cost reference; the quantiles stay */
    CHECK(nasc_mo_reference(&b, 4, 0.5, ref));
    CHECK(fabs(ref[0] - 75.0) < 1e-12 && fabs(ref[1] - 88.0) < 1e-12);
    b.n_hist = 0;
    CHECK(!nasc_mo_reference(&b, 4, 0.5, ref));
}

static void test_hv_contribution(void) {
    nasc_rng rng;
    nasc_rng_init(&rng, 7, 0);
    for (int rep = 0; rep < 50; rep++) {
        enum { M = 8 };
        double obj[2 * M], sub[2 * M], hvc[M];
        int idx[M];
        /* a random front: costs ascending with accuracies ascending */
        double a = nasc_rng_uniform_double(&rng) * 10.0, c = nasc_rng_uniform_double(&rng) * 10.0;
        for (int i = 0; i < M; i++) {
            a += 0.1 + nasc_rng_uniform_double(&rng);
            c += 0.1 + nasc_rng_uniform_double(&rng);
            obj[2 * i] = a;
            obj[2 * i + 1] = c;
            idx[i] = i;
        }
        const double ref[2] = {obj[2] - 0.05, obj[2 * (M - 2) + 1] + 0.05}; /* ends outside */
        nasc_mo_hv_contribution(obj, idx, M, ref, hvc);
        double all = nasc_pareto_hypervolume2(obj, M, ref);
        for (int k = 0; k < M; k++) {
            int m = 0;
            for (int i = 0; i < M; i++)
                if (i != k) {
                    sub[2 * m] = obj[2 * i];
                    sub[2 * m + 1] = obj[2 * i + 1];
                    m++;
                }
            double lost = all - nasc_pareto_hypervolume2(sub, m, ref);
            CHECK_MSG(fabs(hvc[k] - lost) < 1e-9, "rep %d point %d: %g vs %g", rep, k, hvc[k],
                      lost);
        }
        CHECK(hvc[0] == 0.0 && hvc[M - 1] == 0.0);
    }
}

static void test_gather_targets(void) {
    learn_base b = {0};
    learn_trial t[7] = {0};
    const double acc[7] = {60, 70, 90, 50, 80, 55, 85}, cost[7] = {10, 20, 40, 30, 45, 5, 60};
    for (int i = 0; i < 7; i++) {
        t[i].fitness = acc[i];
        t[i].n_obj = 2;
        t[i].obj[0] = acc[i];
        t[i].obj[1] = cost[i];
    }
    t[5].fitness = -INFINITY; /* failed */
    b.hist = t;
    b.n_hist = 7;
    b.n_obj = 2;
    /* the reference from trials 0-3: medians 65 and 25, the cost raised to 1.1 * 40 = 44 */
    double ref[2];
    CHECK(nasc_mo_reference(&b, 4, 0.5, ref));
    CHECK(fabs(ref[0] - 65.0) < 1e-12 && fabs(ref[1] - 44.0) < 1e-12);
    nasc_arch *arch[7];
    double ya[7], yc[7];
    CHECK(nasc_mo_gather(&b, ref, true, arch, ya, yc) == 6); /* trial 5 skipped */
    CHECK(ya[0] == 65.0 && ya[1] == 70.0 && yc[3] == 30.0 && ya[5] == 85.0);
    CHECK(nasc_mo_gather(&b, ref, false, arch, ya, yc) == 6 && ya[0] == 60.0);
    double y[7];
    bool done = false;
    nasc_err err = {0};
    CHECK(nasc_mo_targets(&b, 4, y, &done, &err) == NASC_OK && done);
    /* front: 0 (outside the box: accuracy below 65), 1 and 2 inside with contributions
     * (70-65)(40-20) = 100 and (90-70)(44-40) = 80; 3, 4, 6 dominated, outside the box */
    CHECK(y[5] == -INFINITY);
    CHECK(y[0] == -0.5);
    CHECK_MSG(fabs(y[1] - 0.49) < 1e-12 && fabs(y[2] - 0.49 * 0.8) < 1e-12, "%g %g", y[1], y[2]);
    CHECK(y[3] == -1.5 && y[4] == -1.5 && y[6] == -1.5);
    /* one objective: not applicable */
    b.n_obj = 0;
    CHECK(nasc_mo_targets(&b, 4, y, &done, &err) == NASC_OK && !done);
}

int main(void) {
    test_ridge();
    test_front_ehvi();
    test_reference();
    test_hv_contribution();
    test_gather_targets();
    return test_done("test_mo_ehvi");
}
