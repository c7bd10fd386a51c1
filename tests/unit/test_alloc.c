/* test_alloc.c — arena.h's allocation helpers: nasc_grow (capacity doubling, overflow and
 * out-of-memory leave the array and its capacity as they were). */
#include "test.h"

#include "nasc/arena.h"

#include <stdint.h>

static int fail_realloc; /* the next realloc fails */

static void *t_malloc(size_t n, void *u) {
    (void)u;
    return malloc(n);
}
static void *t_realloc(void *p, size_t n, void *u) {
    (void)u;
    if (fail_realloc) {
        fail_realloc = 0;
        return NULL;
    }
    return realloc(p, n);
}
static void t_free(void *p, void *u) {
    (void)u;
    free(p);
}

int main(void) {
    int *a = NULL;
    size_t cap = 0;
    /* the first allocation takes `first`; then doubling, as often as the need asks */
    a = nasc_grow(a, &cap, 1, sizeof *a, 8);
    CHECK(a && cap == 8);
    for (int i = 0; i < 8; i++)
        a[i] = i;
    int *same = nasc_grow(a, &cap, 8, sizeof *a, 8);
    CHECK(same == a && cap == 8); /* enough room: nothing changes */
    a = nasc_grow(a, &cap, 9, sizeof *a, 8);
    CHECK(a && cap == 16);
    a = nasc_grow(a, &cap, 100, sizeof *a, 8);
    CHECK(a && cap == 128);
    int kept = 1;
    for (int i = 0; i < 8; i++)
        kept &= a[i] == i;
    CHECK_MSG(kept, "nasc_grow lost the contents");
    /* first = 0 starts at 1 */
    char *c = NULL;
    size_t ccap = 0;
    c = nasc_grow(c, &ccap, 3, 1, 0);
    CHECK(c && ccap == 4);
    nasc_free(c);
    /* overflow: NULL, the array and its capacity unchanged */
    size_t before = cap;
    CHECK(nasc_grow(a, &cap, SIZE_MAX, sizeof *a, 8) == NULL && cap == before);
    CHECK(nasc_grow(a, &cap, SIZE_MAX / 2, sizeof *a, 8) == NULL && cap == before);
    /* out of memory: NULL, the array still valid and owned by the caller */
    nasc_alloc_set_hooks(&(nasc_alloc_hooks){t_malloc, t_realloc, t_free, NULL});
    fail_realloc = 1;
    CHECK(nasc_grow(a, &cap, before + 1, sizeof *a, 8) == NULL && cap == before);
    kept = 1;
    for (int i = 0; i < 8; i++)
        kept &= a[i] == i;
    CHECK_MSG(kept, "a failed nasc_grow changed the array");
    a = nasc_grow(a, &cap, before + 1, sizeof *a, 8);
    CHECK(a && cap == 2 * before);
    nasc_free(a);
    nasc_alloc_set_hooks(NULL);
    return test_done("test_alloc");
}
