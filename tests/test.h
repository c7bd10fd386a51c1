/* test.h — the test harness (in the spirit of redis's testhelp.h): checks that count failures and
 * say why, and a main that returns non-zero if any check failed. Each test file is one ctest
 * executable; exit code 77 means "skipped". */
#ifndef NASC_TEST_H
#define NASC_TEST_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nasc/status.h"

static int test_failures, test_checks;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        test_checks++;                                                                             \
        if (!(cond)) {                                                                             \
            test_failures++;                                                                       \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);               \
        }                                                                                          \
    } while (0)

#define CHECK_MSG(cond, ...)                                                                       \
    do {                                                                                           \
        test_checks++;                                                                             \
        if (!(cond)) {                                                                             \
            test_failures++;                                                                       \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond);               \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
        }                                                                                          \
    } while (0)

#define CHECK_STATUS(st, want)                                                                     \
    do {                                                                                           \
        nasc_status got_ = (st), want_ = (want);                                                   \
        test_checks++;                                                                             \
        if (got_ != want_) {                                                                       \
            test_failures++;                                                                       \
            fprintf(stderr, "%s:%d: status %s (%d), expected %s (%d)\n", __FILE__, __LINE__,      \
                    nasc_status_str(got_), (int)got_, nasc_status_str(want_), (int)want_);         \
        }                                                                                          \
    } while (0)

/* |a-b| <= atol + rtol*|b| */
#define CHECK_CLOSE(a, b, rtol, atol)                                                              \
    do {                                                                                           \
        double a_ = (double)(a), b_ = (double)(b);                                                 \
        test_checks++;                                                                             \
        if (!(fabs(a_ - b_) <= (atol) + (rtol)*fabs(b_))) {                                        \
            test_failures++;                                                                       \
            fprintf(stderr, "%s:%d: %s = %.9g, expected %s = %.9g (rtol %g, atol %g)\n",          \
                    __FILE__, __LINE__, #a, a_, #b, b_, (double)(rtol), (double)(atol));          \
        }                                                                                          \
    } while (0)

#define CHECK_STR_CONTAINS(hay, needle)                                                            \
    CHECK_MSG(strstr((hay), (needle)) != NULL, "\"%s\" does not contain \"%s\"", (hay), (needle))

/* Compares n floats: passes if every |got-want| <= atol + rtol*|want|. Prints the first 5
 * mismatches with their indices, and the max abs / rel difference. Returns the number of
 * mismatches (0 = pass) and counts one failed check if any. */
static inline int check_tensor(const char *name, const float *got, const float *want, size_t n,
                               double rtol, double atol) {
    size_t bad = 0;
    double max_abs = 0.0, max_rel = 0.0;
    for (size_t i = 0; i < n; i++) {
        double g = got[i], w = want[i], d = fabs(g - w);
        double rel = d / (fabs(w) > 1e-30 ? fabs(w) : 1e-30);
        if (d > max_abs)
            max_abs = d;
        if (rel > max_rel && fabs(w) > atol)
            max_rel = rel;
        if (!(d <= atol + rtol * fabs(w))) {
            if (bad < 5)
                fprintf(stderr, "  %s[%zu]: got %.9g want %.9g (diff %.3g)\n", name, i, g, w, d);
            bad++;
        }
    }
    test_checks++;
    if (bad) {
        test_failures++;
        fprintf(stderr, "%s: %zu of %zu mismatches; max abs diff %.3g, max rel diff %.3g "
                        "(rtol %g, atol %g)\n",
                name, bad, n, max_abs, max_rel, rtol, atol);
    }
    return (int)bad;
}

/* Ends main(): prints the plain summary line and returns the exit code. */
static inline int test_done(const char *name) {
    printf("%s: %d passed, %d failed\n", name, test_checks - test_failures, test_failures);
    return test_failures ? 1 : 0;
}

#endif /* NASC_TEST_H */
