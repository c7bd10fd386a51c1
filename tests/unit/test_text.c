/* test_text.c — text.h: edit distance, "did you mean" suggestions, shortest round-trip numbers. */
#include "test.h"

#include "nasc/text.h"

#include <float.h>

static void check_fmt(double v, const char *want) {
    char buf[40];
    nasc_fmt_real(v, buf, sizeof buf);
    CHECK_MSG(!strcmp(buf, want), "nasc_fmt_real(%.17g) = %s, expected %s", v, buf, want);
}

int main(void) {
    CHECK(nasc_edit_distance("search", "search") == 0);
    CHECK(nasc_edit_distance("serach", "search") == 1);       /* transposition */
    CHECK(nasc_edit_distance("bugdet", "budget") == 1);
    CHECK(nasc_edit_distance("evolutoin", "evolution") == 1);
    CHECK(nasc_edit_distance("Search", "search") == 0);       /* case ignored */
    CHECK(nasc_edit_distance("", "abc") == 3);
    CHECK(nasc_edit_distance("kitten", "sitting") == 3);
    CHECK(nasc_edit_distance("ca", "abc") == 3);              /* OSA, not full Damerau (2) */

    char s[64];
    const char *cmds = "train, eval, show, search, trials";
    CHECK(nasc_suggest("serach", cmds, s, sizeof s) && !strcmp(s, "search"));
    CHECK(nasc_suggest("trails", cmds, s, sizeof s) && !strcmp(s, "trials"));
    CHECK(nasc_suggest("tran", cmds, s, sizeof s) && !strcmp(s, "train"));
    CHECK(!nasc_suggest("search", cmds, s, sizeof s) && !s[0]);    /* exact: no suggestion */
    CHECK(!nasc_suggest("frobnicate", cmds, s, sizeof s));
    CHECK(!nasc_suggest("xy", cmds, s, sizeof s));
    CHECK(nasc_suggest("evol", "random|grid|evolution|ga", s, sizeof s) &&
          !strcmp(s, "evolution"));                                  /* unique prefix */
    CHECK(!nasc_suggest("bo", "bo-gp, bo-rf", s, sizeof s));         /* ambiguous, too far */
    CHECK(nasc_suggest("bo-gq", "bo-gp, bo-rf", s, sizeof s) && !strcmp(s, "bo-gp"));
    nasc_did_you_mean("evolutoin", "random, evolution", s, sizeof s);
    CHECK(!strcmp(s, "; did you mean 'evolution'?"));
    nasc_did_you_mean("zzz", "random, evolution", s, sizeof s);
    CHECK(!strcmp(s, ""));

    check_fmt((double)57.833332f, "57.833332");        /* a float's value, not its binary noise */
    check_fmt(57.833332061767578, "57.833332");
    check_fmt(0.1, "0.1");                             /* a double: shortest that round-trips */
    check_fmt(1.0 / 3.0, "0.3333333333333333");
    check_fmt(93.12, "93.12");
    check_fmt((double)93.12f, "93.12");
    check_fmt(100.0, "100");
    check_fmt(123456792.0, "123456792");               /* an integer prints whole */
    check_fmt(-2.5, "-2.5");
    check_fmt(1e300, "1e+300");
    check_fmt(NAN, "nan");
    check_fmt(-INFINITY, "-inf");
    /* every printed double reads back exactly (or as the same float) */
    double v = 0.7;
    for (int i = 0; i < 2000; i++) {
        char buf[40];
        v = v * 1.37 + 0.001 * i;
        if (v > 1e6)
            v /= 1e7;
        nasc_fmt_real(v, buf, sizeof buf);
        CHECK_MSG(strtod(buf, NULL) == v, "%.17g printed as %s", v, buf);
        const double fv = (double)(float)v;
        nasc_fmt_real(fv, buf, sizeof buf);
        CHECK_MSG(strtof(buf, NULL) == (float)fv, "float %.9g printed as %s", fv, buf);
    }
    return test_done("test_text");
}
