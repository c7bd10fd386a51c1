/* test_space_fuzz.c — malformed architecture text never crashes: for every space, random edits
 * (delete, insert, replace a byte; truncate; duplicate a span) of valid texts either parse to an
 * architecture whose canonical text parses back to it, or fail with NASC_ERR_FORMAT and a
 * message "<space>: column N: ..." with N inside the text (+1 for its end). Run under ASan in CI. */
#include "test.h"

#include "nasc/arena.h"
#include "nasc/space.h"

static const char ALPHABET[] = "|~+,()[]'\"=_-0123456789abcdefghijklmnopqrstuvwxyz \n\t\x01\xff";

static void mutate_text(nasc_rng *r, const char *in, char *out, size_t cap) {
    size_t n = strlen(in);
    if (n + 64 >= cap)
        n = cap - 64;
    memcpy(out, in, n);
    out[n] = '\0';
    const int edits = 1 + (int)nasc_rng_below(r, 3);
    for (int e = 0; e < edits; e++) {
        size_t len = strlen(out);
        const size_t p = len ? nasc_rng_below(r, (uint32_t)len) : 0;
        const char ch = ALPHABET[nasc_rng_below(r, sizeof ALPHABET - 1)];
        switch (nasc_rng_below(r, 5)) {
        case 0: /* delete */
            if (len)
                memmove(out + p, out + p + 1, len - p);
            break;
        case 1: /* insert */
            memmove(out + p + 1, out + p, len - p + 1);
            out[p] = ch;
            break;
        case 2: /* replace */
            if (len)
                out[p] = ch;
            break;
        case 3: /* truncate */
            out[p] = '\0';
            break;
        default: { /* duplicate a short span */
            size_t k = 1 + nasc_rng_below(r, 8);
            if (p + k > len)
                k = len - p;
            if (len + k + 1 < cap) {
                memmove(out + p + k, out + p, len - p + 1);
            }
            break;
        }
        }
    }
}

int main(void) {
    static const char *const names[] = {"nb201", "darts", "chain", "mobilenet", "macro", "morph"};
    nasc_rng rng;
    nasc_rng_init(&rng, 2024, NASC_STREAM_USER);
    for (size_t s = 0; s < sizeof names / sizeof names[0]; s++) {
        nasc_err err = {0};
        nasc_space *sp = NULL;
        CHECK_STATUS(nasc_space_new(names[s], NULL, &sp, &err), NASC_OK);
        if (!sp)
            continue;
        int n_ok = 0, n_err = 0, bad = 0;
        for (int it = 0; it < 3000; it++) {
            nasc_arch *a = NULL, *b = NULL, *c = NULL;
            nasc_space_sample(sp, &rng, &a, &err);
            char *text = nasc_arch_to_string(a);
            char buf[4096];
            mutate_text(&rng, text, buf, sizeof buf);
            nasc_err e = {0};
            nasc_status st = nasc_arch_parse(sp, buf, &b, &e);
            if (st == NASC_OK) {
                n_ok++;
                char *t2 = nasc_arch_to_string(b);
                if (nasc_arch_parse(sp, t2, &c, &e) != NASC_OK || !nasc_arch_equal(b, c))
                    bad++;
                nasc_free(t2);
            } else {
                n_err++;
                char want[64];
                snprintf(want, sizeof want, "%s: column ", names[s]);
                const char *col = strstr(e.msg, want);
                long column = col ? strtol(col + strlen(want), NULL, 10) : -1;
                if (st != NASC_ERR_FORMAT || !col || column < 1 ||
                    column > (long)strlen(buf) + 1 || e.offset != column - 1 || b != NULL) {
                    if (bad++ < 5)
                        fprintf(stderr, "%s: '%s': %s (%s)\n", names[s], buf, e.msg,
                                nasc_status_str(st));
                }
            }
            nasc_free(text);
            nasc_arch_free(a);
            nasc_arch_free(b);
            nasc_arch_free(c);
        }
        printf("%-10s %d mutated texts parsed, %d rejected\n", names[s], n_ok, n_err);
        CHECK_MSG(bad == 0, "%s: %d bad outcomes", names[s], bad);
        CHECK(n_err > 1000);
        nasc_space_free(sp);
    }
    return test_done("test_space_fuzz");
}
