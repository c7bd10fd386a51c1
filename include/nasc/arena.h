/*
 * arena.h — the allocator hook and bump arenas that own every buffer with a lifetime.
 *
 * All heap memory in nasc goes through nasc_malloc/nasc_free, which call the installed hooks
 * (Lua's lua_Alloc, SQLite's sqlite3_mem_methods). Tests install a counting or failing allocator.
 *
 * An arena hands out 64-byte aligned blocks from large chunks and frees them all at once.
 * A training job has three lifetimes: params (weights, grads, optimizer state), step (graph nodes
 * and activations, reset every step) and scratch (backend workspaces). After the first step an
 * arena can be frozen: from then on, an allocation that would need a new chunk fails with
 * NASC_ERR_NOMEM instead of growing, which is how tests prove the steady state does no malloc.
 *
 * Usage:
 *
 *     nasc_arena *a = nasc_arena_new("step", 1 << 20);      // NULL on OOM
 *     nasc_err err = {0};
 *     float *x = nasc_arena_alloc(a, 1000 * sizeof(float), &err);
 *     nasc_arena_mark m = nasc_arena_get_mark(a);
 *     float *tmp = nasc_arena_alloc(a, 4096, &err);         // ... use tmp ...
 *     nasc_arena_reset_to(a, m);                            // tmp gone, x kept
 *     nasc_arena_reset(a);                                  // everything gone; chunks kept
 *     nasc_arena_free(a);
 */
#ifndef NASC_ARENA_H
#define NASC_ARENA_H

#include "nasc/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- allocator hooks ---- */

typedef struct nasc_alloc_hooks {
    void *(*malloc_fn)(size_t bytes, void *user);
    void *(*realloc_fn)(void *p, size_t bytes, void *user);
    void (*free_fn)(void *p, void *user);
    void *user;
} nasc_alloc_hooks;

/* Installs hooks (NULL restores libc). Not thread-safe: call before any other nasc function. */
NASC_API void nasc_alloc_set_hooks(const nasc_alloc_hooks *hooks);
/* malloc/calloc/realloc/free through the hooks. Return NULL on failure; nasc_free(NULL) is a no-op.
 */
NASC_API void *nasc_malloc(size_t bytes);
NASC_API void *nasc_calloc(size_t n, size_t size);
NASC_API void *nasc_realloc(void *p, size_t bytes);
NASC_API void nasc_free(void *p);
/* 64-byte aligned allocation through the hooks (stores the offset before the block). */
NASC_API void *nasc_malloc_aligned(size_t bytes);
NASC_API void nasc_free_aligned(void *p);
/* Room for `need` elements of `elem` bytes in the array p of capacity *cap (elements): p itself if
 * need <= *cap; else p reallocated (through the hooks) to the capacity doubled, starting at
 * `first`, until it holds need, and *cap set to it. NULL on overflow or out of memory, with p and
 * *cap unchanged (p still owned by the caller). Usage:
 *   T *a = nasc_grow(x->a, &x->cap, x->n + 1, sizeof *a, 64); if (!a) fail; x->a = a; */
NASC_API void *nasc_grow(void *p, size_t *cap, size_t need, size_t elem, size_t first);
/* strdup through the hooks; NULL on OOM. */
NASC_API char *nasc_strdup(const char *s);

/* ---- arenas ---- */

#define NASC_ARENA_ALIGN 64

typedef struct nasc_arena nasc_arena;

typedef struct nasc_arena_mark {
    size_t chunk; /* index of the current chunk */
    size_t used;  /* bytes used in that chunk */
} nasc_arena_mark;

/* New arena named name (for messages) whose first chunk holds initial_bytes (0: allocated on
 * first use). Returns NULL on OOM. The caller owns it; free with nasc_arena_free. */
NASC_API nasc_arena *nasc_arena_new(const char *name, size_t initial_bytes);
NASC_API void nasc_arena_free(nasc_arena *a);

/* Returns a 64-byte aligned block of `bytes` (contents undefined) living until the next reset,
 * or NULL with err set (NASC_ERR_NOMEM, naming the arena, the needed and available bytes). */
NASC_API void *nasc_arena_alloc(nasc_arena *a, size_t bytes, nasc_err *err);
/* As nasc_arena_alloc, zero-filled. */
NASC_API void *nasc_arena_calloc(nasc_arena *a, size_t bytes, nasc_err *err);

/* Drops every block. Chunks are kept; if the arena had grown to several chunks they are merged
 * into one of the total size, so a steady-state loop runs in a single chunk. */
NASC_API void nasc_arena_reset(nasc_arena *a);
NASC_API nasc_arena_mark nasc_arena_get_mark(const nasc_arena *a);
/* Drops the blocks allocated after mark m was taken. */
NASC_API void nasc_arena_reset_to(nasc_arena *a, nasc_arena_mark m);

/* A frozen arena never allocates a new chunk: allocations beyond its capacity fail. */
NASC_API void nasc_arena_freeze(nasc_arena *a, bool frozen);
NASC_API bool nasc_arena_frozen(const nasc_arena *a);
/* Bytes handed out since the last reset, the most ever handed out, and the bytes of all chunks. */
NASC_API size_t nasc_arena_used(const nasc_arena *a);
NASC_API size_t nasc_arena_high_water(const nasc_arena *a);
NASC_API size_t nasc_arena_capacity(const nasc_arena *a);
/* Number of chunks ever obtained from the allocator (a test checks it stops growing). */
NASC_API size_t nasc_arena_n_grows(const nasc_arena *a);

#ifdef __cplusplus
}
#endif
#endif /* NASC_ARENA_H */
