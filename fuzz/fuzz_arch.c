/* fuzz_arch.c — architecture text and JSON of every space. Input: byte 0 picks the space, byte 1
 * bit 0 the form (text or JSON); the rest is the text. Whatever parses must print, parse back and
 * print the same (canonical text is a fixed point), and give the same JSON. */
#include "fuzz_util.h"

#include "nasc/arena.h"
#include "nasc/space.h"

static const char *const spaces[] = {"nb201", "darts", "chain", "mobilenet", "macro", "morph"};
#define N_SPACES (int)(sizeof spaces / sizeof spaces[0])
static nasc_space *sp[N_SPACES];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2)
        return 0;
    if (!sp[0]) {
        fuzz_quiet_logs();
        for (int i = 0; i < N_SPACES; i++)
            if (nasc_space_new(spaces[i], NULL, &sp[i], NULL) != NASC_OK)
                abort();
    }
    const nasc_space *s = sp[data[0] % N_SPACES];
    const bool json = data[1] & 1;
    char *text = malloc(size - 1);
    memcpy(text, data + 2, size - 2);
    text[size - 2] = '\0';
    nasc_arch *a = NULL;
    nasc_err err = {0};
    nasc_status st = json ? nasc_arch_from_json(s, text, &a, &err) : nasc_arch_parse(s, text, &a, &err);
    if (st == NASC_OK) {
        char *t1 = nasc_arch_to_string(a);
        char *j1 = nasc_arch_to_json(a);
        nasc_arch *b = NULL, *c = NULL;
        if (!t1 || !j1 || nasc_arch_parse(s, t1, &b, &err) != NASC_OK ||
            nasc_arch_from_json(s, j1, &c, &err) != NASC_OK) {
            fprintf(stderr, "round trip failed: %s\n", err.msg);
            abort();
        }
        char *t2 = nasc_arch_to_string(b), *t3 = nasc_arch_to_string(c);
        if (!t2 || !t3 || strcmp(t1, t2) || strcmp(t1, t3)) {
            fprintf(stderr, "not canonical: '%s' / '%s' / '%s'\n", t1, t2 ? t2 : "", t3 ? t3 : "");
            abort();
        }
        nasc_free(t1), nasc_free(t2), nasc_free(t3), nasc_free(j1);
        nasc_arch_free(b);
        nasc_arch_free(c);
    } else if (!err.msg[0]) {
        abort(); /* every refusal says why */
    }
    nasc_arch_free(a);
    free(text);
    return 0;
}
