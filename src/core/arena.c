/* arena.c — bump allocation from a list of 64-byte aligned chunks, reset all at once. */
#include "nasc/arena.h"

#include <stdio.h>
#include <string.h>

typedef struct chunk {
    unsigned char *base;
    size_t size;
} chunk;

struct nasc_arena {
    char name[32];
    chunk *chunks;
    size_t n_chunks, cap_chunks;
    size_t cur;        /* chunk now being filled */
    size_t used;       /* bytes used in chunks[cur] */
    size_t high_water; /* max of nasc_arena_used */
    size_t n_grows;    /* chunks ever obtained */
    size_t initial;    /* size of the first chunk */
    bool frozen;
};

nasc_arena *nasc_arena_new(const char *name, size_t initial_bytes) {
    nasc_arena *a = nasc_calloc(1, sizeof *a);
    if (!a)
        return NULL;
    snprintf(a->name, sizeof a->name, "%s", name ? name : "arena");
    a->initial = initial_bytes ? initial_bytes : (1u << 20);
    if (initial_bytes) {
        a->chunks = nasc_malloc(sizeof(chunk));
        unsigned char *base = nasc_malloc_aligned(initial_bytes);
        if (!a->chunks || !base) {
            nasc_free(a->chunks);
            nasc_free_aligned(base);
            nasc_free(a);
            return NULL;
        }
        a->chunks[0] = (chunk){base, initial_bytes};
        a->n_chunks = a->cap_chunks = 1;
        a->n_grows = 1;
    }
    return a;
}

void nasc_arena_free(nasc_arena *a) {
    if (!a)
        return;
    for (size_t i = 0; i < a->n_chunks; i++)
        nasc_free_aligned(a->chunks[i].base);
    nasc_free(a->chunks);
    nasc_free(a);
}

size_t nasc_arena_used(const nasc_arena *a) {
    size_t u = a->used;
    for (size_t i = 0; i < a->cur && i < a->n_chunks; i++)
        u += a->chunks[i].size;
    return u;
}

static void note_high_water(nasc_arena *a) {
    size_t u = nasc_arena_used(a);
    if (u > a->high_water)
        a->high_water = u;
}

void *nasc_arena_alloc(nasc_arena *a, size_t bytes, nasc_err *err) {
    if (bytes > SIZE_MAX - NASC_ARENA_ALIGN) {
        nasc_errorf(err, NASC_ERR_NOMEM, "arena %s: request of %zu bytes is too large", a->name,
                    bytes);
        return NULL;
    }
    size_t need = (bytes + NASC_ARENA_ALIGN - 1) & ~(size_t)(NASC_ARENA_ALIGN - 1);
    if (need == 0)
        need = NASC_ARENA_ALIGN;
    /* Fits in the current chunk? Otherwise move on to a later chunk that fits (chunks kept after
     * reset_to), and only then obtain a new one. */
    while (a->cur < a->n_chunks) {
        if (a->chunks[a->cur].size - a->used >= need) {
            void *p = a->chunks[a->cur].base + a->used;
            a->used += need;
            note_high_water(a);
            return p;
        }
        if (a->cur + 1 >= a->n_chunks)
            break;
        a->cur++;
        a->used = 0;
    }
    if (a->frozen) {
        size_t avail = a->n_chunks ? a->chunks[a->cur].size - a->used : 0;
        nasc_errorf(err, NASC_ERR_NOMEM,
                    "arena %s: frozen arena would have to grow: need %zu bytes, %zu available "
                    "(capacity %zu)",
                    a->name, need, avail, nasc_arena_capacity(a));
        return NULL;
    }
    size_t size = a->n_chunks ? a->chunks[a->n_chunks - 1].size * 2 : a->initial;
    if (size < need)
        size = need;
    if (a->n_chunks == a->cap_chunks) {
        size_t cap = a->cap_chunks ? a->cap_chunks * 2 : 4;
        chunk *c = nasc_realloc(a->chunks, cap * sizeof *c);
        if (!c) {
            nasc_errorf(err, NASC_ERR_NOMEM, "arena %s: out of memory growing the chunk list",
                        a->name);
            return NULL;
        }
        a->chunks = c;
        a->cap_chunks = cap;
    }
    unsigned char *base = nasc_malloc_aligned(size);
    if (!base) {
        nasc_errorf(err, NASC_ERR_NOMEM, "arena %s: out of memory: need %zu bytes (in use %zu)",
                    a->name, size, nasc_arena_used(a));
        return NULL;
    }
    a->chunks[a->n_chunks++] = (chunk){base, size};
    a->n_grows++;
    a->cur = a->n_chunks - 1;
    a->used = need;
    note_high_water(a);
    return base;
}

void *nasc_arena_calloc(nasc_arena *a, size_t bytes, nasc_err *err) {
    void *p = nasc_arena_alloc(a, bytes, err);
    if (p)
        memset(p, 0, bytes);
    return p;
}

void nasc_arena_reset(nasc_arena *a) {
    a->cur = 0;
    a->used = 0;
    if (a->n_chunks <= 1 || a->frozen)
        return;
    /* Merge into one chunk so the next pass runs without jumping between chunks. */
    size_t total = nasc_arena_capacity(a);
    unsigned char *base = nasc_malloc_aligned(total);
    if (!base)
        return; /* keep the chunks we have; still correct */
    for (size_t i = 0; i < a->n_chunks; i++)
        nasc_free_aligned(a->chunks[i].base);
    a->chunks[0] = (chunk){base, total};
    a->n_chunks = 1;
    a->n_grows++;
}

nasc_arena_mark nasc_arena_get_mark(const nasc_arena *a) {
    return (nasc_arena_mark){a->cur, a->used};
}

void nasc_arena_reset_to(nasc_arena *a, nasc_arena_mark m) {
    NASC_ASSERT(m.chunk < a->n_chunks || (m.chunk == 0 && a->n_chunks == 0));
    a->cur = m.chunk;
    a->used = m.used;
}

void nasc_arena_freeze(nasc_arena *a, bool frozen) { a->frozen = frozen; }
bool nasc_arena_frozen(const nasc_arena *a) { return a->frozen; }
size_t nasc_arena_high_water(const nasc_arena *a) { return a->high_water; }
size_t nasc_arena_n_grows(const nasc_arena *a) { return a->n_grows; }

size_t nasc_arena_capacity(const nasc_arena *a) {
    size_t c = 0;
    for (size_t i = 0; i < a->n_chunks; i++)
        c += a->chunks[i].size;
    return c;
}
