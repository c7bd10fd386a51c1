/* db_fault.c — test-only storage faults for the trial database (compiled with NASC_TEST).
 *
 * A SQLite VFS shim in front of the default one that counts the storage operations of every
 * database file (the database, its -wal, -shm and -journal, and FILE.tmp while it is created)
 * and makes the k-th one fail or kills the process just before it. Set by the environment, so
 * tests can drive the `nasc` command:
 *
 *     NASC_TEST_DB_FAULT=MODE:OPS:K
 *       MODE  fail  the operation returns an I/O error (SQLITE_IOERR_WRITE, _FSYNC, _LOCK,
 *                   _SHMLOCK, _TRUNCATE), and "nasc: test: failing storage operation K (...)" is
 *                   written to stderr;
 *             kill  the process raises SIGKILL instead of doing it (a crash at that moment)
 *       OPS   the operations counted, any of: w (xWrite, xTruncate), s (xSync), l (xLock,
 *             xShmLock that takes a lock)
 *       K     1-based index of the operation, counted across the process
 *
 * tests/fault/test_fault_storage.c walks K through a whole search. */
#include "experiment_int.h"

#ifdef NASC_TEST

#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct fault_file {
    sqlite3_file base;  /* methods: fault_io */
    sqlite3_file *real; /* the default VFS's file, in the same allocation after this struct */
    const char *name;   /* for the message (SQLite keeps the name alive while the file is) */
} fault_file;

static sqlite3_vfs *real_vfs;
static sqlite3_vfs fault_vfs;
static sqlite3_io_methods fault_io;
static long fault_at, fault_count;
static bool fault_kill, fault_w, fault_s, fault_l;

/* Counts one operation of kind `kind`; true if it must fail (and says so). */
static bool fault_hit(bool counted, const char *what, const fault_file *f) {
    if (!counted || ++fault_count != fault_at)
        return false;
    if (fault_kill)
        raise(SIGKILL);
    fprintf(stderr, "nasc: test: failing storage operation %ld (%s on %s)\n", fault_count, what,
            f->name ? f->name : "?");
    return true;
}

static sqlite3_file *real(sqlite3_file *f) {
    return ((fault_file *)f)->real;
}

static int f_close(sqlite3_file *f) {
    int rc = real(f)->pMethods ? real(f)->pMethods->xClose(real(f)) : SQLITE_OK;
    f->pMethods = NULL;
    return rc;
}
static int f_read(sqlite3_file *f, void *p, int n, sqlite3_int64 off) {
    return real(f)->pMethods->xRead(real(f), p, n, off);
}
static int f_write(sqlite3_file *f, const void *p, int n, sqlite3_int64 off) {
    if (fault_hit(fault_w, "write", (fault_file *)f))
        return SQLITE_IOERR_WRITE;
    return real(f)->pMethods->xWrite(real(f), p, n, off);
}
static int f_truncate(sqlite3_file *f, sqlite3_int64 size) {
    if (fault_hit(fault_w, "truncate", (fault_file *)f))
        return SQLITE_IOERR_TRUNCATE;
    return real(f)->pMethods->xTruncate(real(f), size);
}
static int f_sync(sqlite3_file *f, int flags) {
    if (fault_hit(fault_s, "sync", (fault_file *)f))
        return SQLITE_IOERR_FSYNC;
    return real(f)->pMethods->xSync(real(f), flags);
}
static int f_size(sqlite3_file *f, sqlite3_int64 *out) {
    return real(f)->pMethods->xFileSize(real(f), out);
}
static int f_lock(sqlite3_file *f, int level) {
    if (fault_hit(fault_l, "lock", (fault_file *)f))
        return SQLITE_IOERR_LOCK;
    return real(f)->pMethods->xLock(real(f), level);
}
static int f_unlock(sqlite3_file *f, int level) {
    return real(f)->pMethods->xUnlock(real(f), level);
}
static int f_check_lock(sqlite3_file *f, int *out) {
    return real(f)->pMethods->xCheckReservedLock(real(f), out);
}
static int f_control(sqlite3_file *f, int op, void *arg) {
    return real(f)->pMethods->xFileControl(real(f), op, arg);
}
static int f_sector(sqlite3_file *f) {
    return real(f)->pMethods->xSectorSize(real(f));
}
static int f_dev(sqlite3_file *f) {
    return real(f)->pMethods->xDeviceCharacteristics(real(f));
}
static int f_shm_map(sqlite3_file *f, int pg, int pgsz, int extend, void volatile **out) {
    return real(f)->pMethods->xShmMap(real(f), pg, pgsz, extend, out);
}
static int f_shm_lock(sqlite3_file *f, int ofst, int n, int flags) {
    if ((flags & SQLITE_SHM_LOCK) && fault_hit(fault_l, "shm lock", (fault_file *)f))
        return SQLITE_IOERR_SHMLOCK;
    return real(f)->pMethods->xShmLock(real(f), ofst, n, flags);
}
static void f_shm_barrier(sqlite3_file *f) {
    real(f)->pMethods->xShmBarrier(real(f));
}
static int f_shm_unmap(sqlite3_file *f, int del) {
    return real(f)->pMethods->xShmUnmap(real(f), del);
}
static int f_fetch(sqlite3_file *f, sqlite3_int64 off, int n, void **out) {
    return real(f)->pMethods->xFetch(real(f), off, n, out);
}
static int f_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p) {
    return real(f)->pMethods->xUnfetch(real(f), off, p);
}

static int v_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags,
                  int *out_flags) {
    fault_file *f = (fault_file *)file;
    f->real = (sqlite3_file *)(f + 1);
    f->name = name;
    int rc = real_vfs->xOpen(real_vfs, name, f->real, flags, out_flags);
    /* the default VFS uses one set of (version 3) methods for every file it opens */
    file->pMethods = f->real->pMethods ? &fault_io : NULL;
    return rc;
}
static int v_delete(sqlite3_vfs *vfs, const char *name, int dir_sync) {
    return real_vfs->xDelete(real_vfs, name, dir_sync);
}
static int v_access(sqlite3_vfs *vfs, const char *name, int flags, int *out) {
    return real_vfs->xAccess(real_vfs, name, flags, out);
}
static int v_full(sqlite3_vfs *vfs, const char *name, int n, char *out) {
    return real_vfs->xFullPathname(real_vfs, name, n, out);
}
static void *v_dlopen(sqlite3_vfs *vfs, const char *name) {
    return real_vfs->xDlOpen(real_vfs, name);
}
static void v_dlerror(sqlite3_vfs *vfs, int n, char *out) {
    real_vfs->xDlError(real_vfs, n, out);
}
static void (*v_dlsym(sqlite3_vfs *vfs, void *h, const char *sym))(void) {
    return real_vfs->xDlSym(real_vfs, h, sym);
}
static void v_dlclose(sqlite3_vfs *vfs, void *h) {
    real_vfs->xDlClose(real_vfs, h);
}
static int v_random(sqlite3_vfs *vfs, int n, char *out) {
    return real_vfs->xRandomness(real_vfs, n, out);
}
static int v_sleep(sqlite3_vfs *vfs, int us) {
    return real_vfs->xSleep(real_vfs, us);
}
static int v_time(sqlite3_vfs *vfs, double *out) {
    return real_vfs->xCurrentTime(real_vfs, out);
}
static int v_last_error(sqlite3_vfs *vfs, int n, char *out) {
    return real_vfs->xGetLastError(real_vfs, n, out);
}
static int v_time64(sqlite3_vfs *vfs, sqlite3_int64 *out) {
    return real_vfs->xCurrentTimeInt64(real_vfs, out);
}

void nasc_db_fault_install(void) {
    static bool done;
    if (done)
        return;
    const char *e = getenv("NASC_TEST_DB_FAULT");
    char mode[8] = "", ops[8] = "";
    long k = 0;
    if (!e || !*e || sscanf(e, "%7[a-z]:%7[a-z]:%ld", mode, ops, &k) != 3 || k < 1)
        return;
    done = true;
    real_vfs = sqlite3_vfs_find(NULL);
    if (!real_vfs || real_vfs->iVersion < 2)
        return;
    fault_at = k;
    fault_kill = !strcmp(mode, "kill");
    fault_w = strchr(ops, 'w') != NULL;
    fault_s = strchr(ops, 's') != NULL;
    fault_l = strchr(ops, 'l') != NULL;
    fault_io = (sqlite3_io_methods){.iVersion = 3,
                                    .xClose = f_close,
                                    .xRead = f_read,
                                    .xWrite = f_write,
                                    .xTruncate = f_truncate,
                                    .xSync = f_sync,
                                    .xFileSize = f_size,
                                    .xLock = f_lock,
                                    .xUnlock = f_unlock,
                                    .xCheckReservedLock = f_check_lock,
                                    .xFileControl = f_control,
                                    .xSectorSize = f_sector,
                                    .xDeviceCharacteristics = f_dev,
                                    .xShmMap = f_shm_map,
                                    .xShmLock = f_shm_lock,
                                    .xShmBarrier = f_shm_barrier,
                                    .xShmUnmap = f_shm_unmap,
                                    .xFetch = f_fetch,
                                    .xUnfetch = f_unfetch};
    fault_vfs = (sqlite3_vfs){.iVersion = 2,
                              .szOsFile = (int)sizeof(fault_file) + real_vfs->szOsFile,
                              .mxPathname = real_vfs->mxPathname,
                              .zName = "nasc-fault",
                              .xOpen = v_open,
                              .xDelete = v_delete,
                              .xAccess = v_access,
                              .xFullPathname = v_full,
                              .xDlOpen = v_dlopen,
                              .xDlError = v_dlerror,
                              .xDlSym = v_dlsym,
                              .xDlClose = v_dlclose,
                              .xRandomness = v_random,
                              .xSleep = v_sleep,
                              .xCurrentTime = v_time,
                              .xGetLastError = v_last_error,
                              .xCurrentTimeInt64 = v_time64};
    sqlite3_vfs_register(&fault_vfs, 1);
}

#endif /* NASC_TEST */
