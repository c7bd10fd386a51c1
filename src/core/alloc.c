/* alloc.c — every heap allocation goes through these hooks so tests can count or fail them. */
#include "nasc/arena.h"

#include <stdlib.h>
#include <string.h>

static void *libc_malloc(size_t n, void *u) {
    (void)u;
    return malloc(n);
}
static void *libc_realloc(void *p, size_t n, void *u) {
    (void)u;
    return realloc(p, n);
}
static void libc_free(void *p, void *u) {
    (void)u;
    free(p);
}

static nasc_alloc_hooks hooks = {libc_malloc, libc_realloc, libc_free, NULL};

void nasc_alloc_set_hooks(const nasc_alloc_hooks *h) {
    if (h)
        hooks = *h;
    else
        hooks = (nasc_alloc_hooks){libc_malloc, libc_realloc, libc_free, NULL};
}

void *nasc_malloc(size_t bytes) {
    return hooks.malloc_fn(bytes ? bytes : 1, hooks.user);
}

void *nasc_calloc(size_t n, size_t size) {
    if (size && n > SIZE_MAX / size)
        return NULL;
    void *p = nasc_malloc(n * size);
    if (p)
        memset(p, 0, n * size);
    return p;
}

void *nasc_realloc(void *p, size_t bytes) {
    return hooks.realloc_fn(p, bytes ? bytes : 1, hooks.user);
}

void *nasc_grow(void *p, size_t *cap, size_t need, size_t elem, size_t first) {
    if (need <= *cap)
        return p;
    size_t c = *cap ? *cap : (first ? first : 1);
    while (c < need) {
        if (c > SIZE_MAX / 2)
            return NULL;
        c *= 2;
    }
    if (elem && c > SIZE_MAX / elem)
        return NULL;
    void *q = nasc_realloc(p, c * elem);
    if (q)
        *cap = c;
    return q;
}

void nasc_free(void *p) {
    if (p)
        hooks.free_fn(p, hooks.user);
}

/* Aligned blocks: over-allocate, round up, keep the distance to the raw pointer just before. */
void *nasc_malloc_aligned(size_t bytes) {
    const size_t align = NASC_ARENA_ALIGN;
    if (bytes > SIZE_MAX - align - sizeof(size_t))
        return NULL;
    unsigned char *raw = nasc_malloc(bytes + align + sizeof(size_t));
    if (!raw)
        return NULL;
    uintptr_t start = (uintptr_t)(raw + sizeof(size_t));
    uintptr_t aligned = (start + align - 1) & ~(uintptr_t)(align - 1);
    size_t off = (size_t)(aligned - (uintptr_t)raw);
    memcpy((unsigned char *)aligned - sizeof(size_t), &off, sizeof off);
    return (void *)aligned;
}

void nasc_free_aligned(void *p) {
    if (!p)
        return;
    size_t off;
    memcpy(&off, (unsigned char *)p - sizeof(size_t), sizeof off);
    nasc_free((unsigned char *)p - off);
}

char *nasc_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = nasc_malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}
