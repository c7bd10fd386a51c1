/* test_size_parse.c — text.h's one parser of sizes with unit suffixes (nasc_parse_size,
 * nasc_unit_multiplier) in both bases, its errors, and the inputs each caller accepts: bytes for
 * --max-memory (nasc_oneshot_parse_bytes: K/M/G in powers of 1024, any case, optional B) and the
 * constraints of pareto.h (memory: powers of 1024; params / FLOPs: powers of 1000). */
#include "test.h"

#include "nasc/oneshot.h"
#include "nasc/pareto.h"
#include "nasc/text.h"

static double size_ok(const char *text, double base, const char *units, unsigned flags) {
    double v = -1.0;
    const nasc_size_rc rc = nasc_parse_size(text, base, units, flags, &v);
    CHECK_MSG(rc == NASC_SIZE_OK, "'%s' (base %g, units \"%s\"): rc %d", text, base, units,
              (int)rc);
    return v;
}

static void size_bad(const char *text, double base, const char *units, unsigned flags,
                     nasc_size_rc want) {
    double v = -1.0;
    const nasc_size_rc rc = nasc_parse_size(text, base, units, flags, &v);
    CHECK_MSG(rc == want && v == -1.0, "'%s' (base %g, units \"%s\"): rc %d, expected %d, v %g",
              text, base, units, (int)rc, (int)want, v);
}

/* The bound nasc_objectives_parse reads from one constraint, or NAN if it refuses it. */
static double bound_of(const char *constraint) {
    nasc_objectives o;
    nasc_err err = {0};
    if (nasc_objectives_parse("acc", constraint, &o, &err) != NASC_OK || o.n_constraints != 1)
        return NAN;
    return o.constraint[0].bound;
}

int main(void) {
    /* the base is the parameter: M = 2^20 bytes, M = 10^6 parameters */
    CHECK(size_ok("1M", 1024.0, "K M G", 0) == 1048576.0);
    CHECK(size_ok("1M", 1000.0, "K M G", 0) == 1e6);
    CHECK(size_ok("4G", 1024.0, "K M G", 0) == 4294967296.0);
    CHECK(size_ok("4G", 1000.0, "K M G", 0) == 4e9);
    CHECK(size_ok("1.5K", 1024.0, "K M G", 0) == 1536.0);
    CHECK(size_ok("2k", 1000.0, "k K", 0) == 2000.0);
    CHECK(size_ok("1e6", 1000.0, "K M G", 0) == 1e6);    /* no suffix: the number itself */
    CHECK(size_ok("-3", 1000.0, "K", 0) == -3.0);        /* ranges are the caller's */
    CHECK(size_ok("0", 1024.0, "K", 0) == 0.0);
    CHECK(size_ok("256KB", 1024.0, "B KB MB", 0) == 262144.0);
    CHECK(size_ok("7B", 1024.0, "B KB MB", 0) == 7.0); /* B alone: power 0 */
    CHECK(size_ok("3mb", 1024.0, "K M G KB MB GB B", NASC_UNIT_NOCASE) == 3145728.0);
    /* errors: not a number, an unlisted unit, a case that is not allowed */
    size_bad("", 1024.0, "K M G", 0, NASC_SIZE_BAD_NUMBER);
    size_bad("M", 1024.0, "K M G", 0, NASC_SIZE_BAD_NUMBER);
    size_bad("abc", 1000.0, "K M G", 0, NASC_SIZE_BAD_NUMBER);
    size_bad("inf", 1024.0, "K M G", 0, NASC_SIZE_BAD_NUMBER);
    size_bad("nan", 1024.0, "K M G", 0, NASC_SIZE_BAD_NUMBER);
    size_bad("1e999", 1000.0, "K M G", 0, NASC_SIZE_BAD_NUMBER); /* overflow */
    size_bad("1T", 1024.0, "K M G", 0, NASC_SIZE_BAD_UNIT);
    size_bad("1m", 1024.0, "K M G", 0, NASC_SIZE_BAD_UNIT);      /* case matters by default */
    size_bad("1MB", 1000.0, "k K M G", 0, NASC_SIZE_BAD_UNIT);   /* no B for counts */
    size_bad("1 M", 1024.0, "K M G", 0, NASC_SIZE_BAD_UNIT);     /* no space before the unit */
    size_bad("1MM", 1024.0, "K M G", 0, NASC_SIZE_BAD_UNIT);
    size_bad("1X", 1024.0, "X", 0, NASC_SIZE_BAD_UNIT); /* a listed word that is not a unit */
    double m = -1.0;
    CHECK(nasc_unit_multiplier("", 1024.0, "K", 0, &m) && m == 1.0);
    CHECK(nasc_unit_multiplier("G", 1000.0, "K M G", 0, &m) && m == 1e9);
    CHECK(!nasc_unit_multiplier("K", 1000.0, "", 0, &m) && m == 1e9);

    /* --max-memory (nasc_oneshot_parse_bytes): powers of 1024, any case, optional B, > 0 */
    size_t b = 0;
    CHECK(nasc_oneshot_parse_bytes("4G", &b) && b == 4294967296u);
    CHECK(nasc_oneshot_parse_bytes("500m", &b) && b == 524288000u);
    CHECK(nasc_oneshot_parse_bytes("2kB", &b) && b == 2048u);
    CHECK(nasc_oneshot_parse_bytes("100b", &b) && b == 100u);
    CHECK(nasc_oneshot_parse_bytes("1000000", &b) && b == 1000000u);
    CHECK(nasc_oneshot_parse_bytes("1.5K", &b) && b == 1536u);
    b = 7;
    CHECK(!nasc_oneshot_parse_bytes("0", &b) && b == 7);
    CHECK(!nasc_oneshot_parse_bytes("-1G", &b));
    CHECK(!nasc_oneshot_parse_bytes("", &b));
    CHECK(!nasc_oneshot_parse_bytes(NULL, &b));
    CHECK(!nasc_oneshot_parse_bytes("4T", &b));
    CHECK(!nasc_oneshot_parse_bytes("4GG", &b));
    CHECK(!nasc_oneshot_parse_bytes("2e9G", &b)); /* over 1e18 bytes */
    CHECK(b == 7);

    /* constraints: memory M = 2^20, params / flops M = 10^6 */
    CHECK(bound_of("memory<=1M") == 1048576.0);
    CHECK(bound_of("memory<=2MB") == 2097152.0);
    CHECK(bound_of("memory<=3k") == 3072.0);
    CHECK(bound_of("memory<=1GB") == 1073741824.0);
    CHECK(bound_of("memory<=5B") == 5.0);
    CHECK(bound_of("params<=1M") == 1e6);
    CHECK(bound_of("params<=2k") == 2000.0);
    CHECK(bound_of("flops<=3G") == 3e9);
    CHECK(bound_of("params<=1e6") == 1e6);
    CHECK(isnan(bound_of("memory<=1m")));  /* lower-case m is not a memory unit */
    CHECK(isnan(bound_of("memory<=1kB")));
    CHECK(isnan(bound_of("params<=1MB"))); /* counts have no B */
    CHECK(isnan(bound_of("params<=1m")));
    CHECK(isnan(bound_of("params<=xM")));
    return test_done("test_size_parse");
}
