/* db_sqlite.c — the trial database on SQLite (schema and semantics: docs/EXPERIMENTS.md).
 *
 * Safety rules: an existing file is checked (SQLite magic, application_id, user_version read from
 * the 100-byte header ourselves, then a read-only quick_check and a schema probe) before it is
 * opened for writing, so a foreign or damaged file is never modified. A new database is written
 * as FILE.tmp and renamed into place after its schema and configuration committed. Every change
 * is one transaction. One writer per file (flock); readers never write beside the file and never
 * wait for the writer (see "readers" below). */
#include "experiment_int.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct nasc_db {
    sqlite3 *h;
    bool has_v2_cols; /* trials has test_score and sim_seconds (files before them lack both) */
    char path[1200];  /* the database file (FILE.tmp while it is being created) */
    int group;        /* nasc_db_group_begin: 0 none, 1 open, 2 rolled back by a failed change */
    int lock_fd;      /* a writer's flock(LOCK_EX) on the file, held until close; -1 none */
};

static const char *const schema_sql =
    "CREATE TABLE config (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE info (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE trials ("
    " id INTEGER PRIMARY KEY,"
    " arch TEXT NOT NULL,"
    " hash TEXT NOT NULL,"
    " fidelity REAL NOT NULL,"
    " status TEXT NOT NULL CHECK (status IN ('pending','running','ok','failed')),"
    " reason TEXT NOT NULL DEFAULT '',"
    " score REAL,"
    " metrics TEXT NOT NULL DEFAULT '{}',"
    " params REAL, flops REAL, latency_ms REAL, memory_bytes REAL,"
    " seed INTEGER NOT NULL,"
    " worker INTEGER NOT NULL DEFAULT -1,"
    " attempts INTEGER NOT NULL DEFAULT 0,"
    " created_at REAL NOT NULL, started_at REAL, ended_at REAL, seconds REAL,"
    " test_score REAL, sim_seconds REAL);"
    "CREATE TABLE snapshot (id INTEGER PRIMARY KEY CHECK (id = 1), n_asked INTEGER NOT NULL,"
    " n_told INTEGER NOT NULL, state BLOB NOT NULL, created_at REAL NOT NULL);"
    "CREATE TABLE artifact (key TEXT PRIMARY KEY, value BLOB NOT NULL, updated_at REAL NOT NULL)"
    " WITHOUT ROWID;";

/* Every column the code reads, to reject a database whose tables lack them. (test_score and
 * sim_seconds came later: a file without them is read with both NULL, and gains them when it is
 * opened for writing; see add_columns.) */
static const char *const probe_sql[] = {
    "SELECT key, value FROM config LIMIT 0",
    "SELECT key, value FROM info LIMIT 0",
    "SELECT id, arch, hash, fidelity, status, reason, score, metrics, params, flops, latency_ms,"
    " memory_bytes, seed, worker, attempts, created_at, started_at, ended_at, seconds FROM trials"
    " LIMIT 0",
    "SELECT n_asked, n_told, state FROM snapshot LIMIT 0",
    "SELECT key, value, updated_at FROM artifact LIMIT 0",
};

static double wall_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static nasc_status db_fail(nasc_db *db, nasc_err *err, const char *what) {
    int code = sqlite3_errcode(db->h);
    nasc_status st = (code == SQLITE_CORRUPT || code == SQLITE_NOTADB) ? NASC_ERR_FORMAT
                     : code == SQLITE_NOMEM                            ? NASC_ERR_NOMEM
                                                                       : NASC_ERR_DB;
    return nasc_errorf_at(err, st, db->path, -1, "%s: %s: %s", db->path, what,
                          sqlite3_errmsg(db->h));
}

/* ---- test hook: die at the k-th transaction point (NASC_TEST_KILL_AT=k) ----
 * Points are counted across the process: 2i is just before the i-th COMMIT, 2i+1 just after.
 * Killing before a commit leaves the transaction uncommitted (rolled back on the next open). */
#ifdef NASC_TEST
static long kill_at = -2, kill_count;
static void kill_point(void) {
    if (kill_at == -2) {
        const char *e = getenv("NASC_TEST_KILL_AT");
        kill_at = e && *e ? strtol(e, NULL, 10) : -1;
    }
    if (kill_at >= 0 && kill_count++ == kill_at)
        raise(SIGKILL);
}
#else
static void kill_point(void) {}
#endif

static nasc_status exec(nasc_db *db, const char *sql, nasc_err *err) {
    if (sqlite3_exec(db->h, sql, NULL, NULL, NULL) != SQLITE_OK)
        return db_fail(db, err, "query failed");
    return NASC_OK;
}

static nasc_status begin(nasc_db *db, nasc_err *err) {
    if (db->group == 1)
        return NASC_OK; /* part of the open group's transaction */
    if (db->group == 2)
        return nasc_errorf_at(err, NASC_ERR_DB, db->path, -1,
                              "%s: an earlier change of this group failed", db->path);
    return exec(db, "BEGIN IMMEDIATE", err);
}

static nasc_status real_commit(nasc_db *db, nasc_err *err) {
    kill_point();
    nasc_status st = exec(db, "COMMIT", err);
    if (st != NASC_OK) {
        sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
        return st;
    }
    kill_point();
    return NASC_OK;
}

static nasc_status commit(nasc_db *db, nasc_err *err) {
    return db->group ? NASC_OK : real_commit(db, err);
}

static void rollback(nasc_db *db) {
    sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
    if (db->group)
        db->group = 2; /* the whole group is gone */
}

nasc_status nasc_db_group_begin(nasc_db *db, nasc_err *err) {
    if (db->group)
        return nasc_errorf(err, NASC_ERR_ARG, "%s: a change group is already open", db->path);
    NASC_TRY(begin(db, err));
    db->group = 1;
    return NASC_OK;
}

nasc_status nasc_db_group_end(nasc_db *db, bool keep, nasc_err *err) {
    const int g = db->group;
    db->group = 0;
    if (g == 0)
        return nasc_errorf(err, NASC_ERR_ARG, "%s: no change group is open", db->path);
    if (g == 2)
        return keep ? nasc_errorf_at(err, NASC_ERR_DB, db->path, -1,
                                     "%s: a change of the group failed; none was kept", db->path)
                    : NASC_OK;
    if (!keep) {
        rollback(db);
        return NASC_OK;
    }
    return real_commit(db, err);
}

static nasc_status prepare(nasc_db *db, const char *sql, sqlite3_stmt **out, nasc_err *err) {
    if (sqlite3_prepare_v2(db->h, sql, -1, out, NULL) != SQLITE_OK)
        return db_fail(db, err, "prepare failed");
    return NASC_OK;
}

/* Writes the n_cfg pairs of cfg with sql (an INSERT into config(key, value)), inside the
 * caller's transaction. */
static nasc_status config_write(nasc_db *db, const char *sql, const nasc_kv *cfg, int n_cfg,
                                nasc_err *err) {
    sqlite3_stmt *s = NULL;
    nasc_status st = prepare(db, sql, &s, err);
    for (int i = 0; st == NASC_OK && i < n_cfg; i++) {
        sqlite3_reset(s);
        sqlite3_bind_text(s, 1, cfg[i].key, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(s, 2, cfg[i].value, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(s) != SQLITE_DONE)
            st = db_fail(db, err, "cannot write the configuration");
    }
    sqlite3_finalize(s);
    return st;
}

static void bind_double(sqlite3_stmt *s, int i, double v) {
    if (isfinite(v))
        sqlite3_bind_double(s, i, v);
    else
        sqlite3_bind_null(s, i); /* NaN = unknown */
}

static double col_double(sqlite3_stmt *s, int i) {
    return sqlite3_column_type(s, i) == SQLITE_NULL ? (double)NAN : sqlite3_column_double(s, i);
}

static const char *col_text(sqlite3_stmt *s, int i) {
    const unsigned char *t = sqlite3_column_text(s, i);
    return t ? (const char *)t : "";
}

/* ---- reading a file as SQLite does ----
 * Bytes of a database file are read through SQLite's default VFS, not open()/close(): closing a
 * descriptor drops every POSIX lock this process holds on the file, and SQLite's VFS defers that
 * close while a connection of this process holds locks on it. */

/* Reads up to cap bytes from the start of path into buf (*out_n: bytes read). */
static int vfs_read(const char *path, void *buf, sqlite3_int64 cap, sqlite3_int64 *out_n) {
    sqlite3_vfs *vfs = sqlite3_vfs_find(NULL);
    *out_n = 0;
    if (!vfs)
        return SQLITE_ERROR;
    /* the VFS expects a file name followed by (empty) URI parameters: two more NULs */
    const size_t pl = strlen(path);
    char *name = sqlite3_malloc64(pl + 4);
    sqlite3_file *f = sqlite3_malloc(vfs->szOsFile);
    if (!name || !f) {
        sqlite3_free(name);
        sqlite3_free(f);
        return SQLITE_NOMEM;
    }
    memcpy(name, path, pl);
    memset(name + pl, 0, 4);
    memset(f, 0, (size_t)vfs->szOsFile);
    int flags = 0;
    int rc = vfs->xOpen(vfs, name, f, SQLITE_OPEN_READONLY | SQLITE_OPEN_MAIN_DB, &flags);
    if (rc == SQLITE_OK) {
        sqlite3_int64 size = 0;
        rc = f->pMethods->xFileSize(f, &size);
        const sqlite3_int64 n = size < cap ? size : cap;
        if (rc == SQLITE_OK && n > 0)
            rc = f->pMethods->xRead(f, buf, (int)n, 0);
        if (rc == SQLITE_OK)
            *out_n = n;
    }
    if (f->pMethods)
        f->pMethods->xClose(f);
    sqlite3_free(f);
    sqlite3_free(name);
    return rc;
}

static uint32_t be32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* A regular file, or an IO error that names it (a FIFO would block an open, a directory is no
 * database). */
static nasc_status check_regular(const char *path, struct stat *sb, nasc_err *err) {
    if (stat(path, sb) != 0)
        return nasc_errorf_at(err, NASC_ERR_IO, path, -1, "%s: cannot open: %s", path,
                              strerror(errno));
    if (!S_ISREG(sb->st_mode))
        return nasc_errorf_at(err, NASC_ERR_IO, path, -1, "%s: not a regular file (%s)", path,
                              S_ISDIR(sb->st_mode) ? "a directory" : "a device, FIFO or socket");
    return NASC_OK;
}

/* Looks at the file's first 100 bytes without SQLite: magic, application_id, user_version. */
static nasc_status check_header(const char *path, nasc_err *err) {
    struct stat sb;
    NASC_TRY(check_regular(path, &sb, err));
    if (sb.st_size == 0)
        return nasc_errorf_at(err, NASC_ERR_FORMAT, path, 0,
                              "%s: empty file, not a nasc experiment database", path);
    unsigned char h[100];
    sqlite3_int64 n = 0;
    if (vfs_read(path, h, sizeof h, &n) != SQLITE_OK)
        return nasc_errorf_at(err, NASC_ERR_IO, path, -1, "%s: cannot read: %s", path,
                              strerror(errno));
    if (n < 16 || memcmp(h, "SQLite format 3", 16) != 0)
        return nasc_errorf_at(err, NASC_ERR_FORMAT, path, 0,
                              "%s: byte 0: not a nasc experiment database (no SQLite header)",
                              path);
    if (n < 100)
        return nasc_errorf_at(err, NASC_ERR_FORMAT, path, n,
                              "%s: byte %lld: truncated SQLite header", path, (long long)n);
    uint32_t app = be32(h + 68), version = be32(h + 60);
    if (app != NASC_DB_APPLICATION_ID)
        return nasc_errorf_at(err, NASC_ERR_FORMAT, path, 68,
                              "%s: byte 68: not a nasc experiment database (SQLite application_id "
                              "0x%08x, expected 0x%08x)",
                              path, app, (unsigned)NASC_DB_APPLICATION_ID);
    if (version != NASC_DB_VERSION)
        return nasc_errorf_at(err, NASC_ERR_FORMAT, path, 60,
                              "%s: byte 60: experiment database version %u, this nasc reads "
                              "version %d",
                              path, version, NASC_DB_VERSION);
    return NASC_OK;
}

/* Size of path+suffix, or -1 if it does not exist. */
static long long side_file_size(const char *path, const char *suffix) {
    char p[1300];
    snprintf(p, sizeof p, "%s%s", path, suffix);
    struct stat sb;
    return stat(p, &sb) == 0 ? (long long)sb.st_size : -1;
}

/* A hot rollback journal beside path: FILE-journal starting with the journal magic (SQLite
 * zeroes the header of a journal it has finished with, and a journal killed before its header
 * was written is not hot either). */
static bool journal_is_hot(const char *path) {
    static const unsigned char magic[8] = {0xd9, 0xd5, 0x05, 0xf9, 0x20, 0xa1, 0x63, 0xd7};
    char p[1300];
    snprintf(p, sizeof p, "%s-journal", path);
    const int fd = open(p, O_RDONLY | O_CLOEXEC | O_NONBLOCK); /* no SQLite lock is on it */
    if (fd < 0)
        return false;
    unsigned char h[8];
    const bool hot = read(fd, h, sizeof h) == (ssize_t)sizeof h && !memcmp(h, magic, sizeof h);
    close(fd);
    return hot;
}

static void side_file_unlink(const char *path, const char *suffix) {
    char p[1300];
    snprintf(p, sizeof p, "%s%s", path, suffix);
    unlink(p);
}

/* ---- readers ----
 * A reader never writes next to the database and never waits for a writer:
 *   - if FILE-shm exists (a search runs, or was killed: a WAL connection keeps FILE-wal and
 *     FILE-shm while it is open) or FILE-wal holds frames, SQLite's read-only connection reads
 *     the log through the shared-memory index, taking no lock a writer waits for, and each read
 *     sees the latest commit;
 *   - otherwise every committed change is in FILE itself and nobody has it open, and the reader
 *     works on a copy of it in memory (sqlite3_deserialize). A read-only SQLite connection
 *     would create FILE-wal and FILE-shm (and fail where it cannot, on a read-only mount) and
 *     leave them behind.
 * The copy is taken between two stat()s that must agree (inode, size, change times): a search
 * that starts meanwhile writes its log first and changes FILE only at a checkpoint, which the
 * second stat sees; the copy is then taken again. */

static bool same_file_state(const struct stat *a, const struct stat *b) {
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
           a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

static nasc_status open_snapshot(nasc_db *db, nasc_err *err) {
    const char *path = db->path;
    unsigned char *buf = NULL;
    sqlite3_int64 n = 0;
    for (int attempt = 0;; attempt++) {
        struct stat a, b;
        NASC_TRY(check_regular(path, &a, err));
        if (a.st_size < 100)
            return nasc_errorf_at(err, NASC_ERR_FORMAT, path, a.st_size,
                                  "%s: byte %lld: truncated SQLite header", path,
                                  (long long)a.st_size);
        buf = sqlite3_malloc64((sqlite3_uint64)a.st_size);
        if (!buf)
            return nasc_errorf(err, NASC_ERR_NOMEM, "%s: out of memory reading %lld bytes", path,
                               (long long)a.st_size);
        if (vfs_read(path, buf, a.st_size, &n) != SQLITE_OK) {
            sqlite3_free(buf);
            return nasc_errorf_at(err, NASC_ERR_IO, path, -1, "%s: cannot read: %s", path,
                                  strerror(errno));
        }
        if (stat(path, &b) == 0 && same_file_state(&a, &b) && n == a.st_size)
            break;
        sqlite3_free(buf);
        buf = NULL;
        if (attempt == 20)
            return nasc_errorf_at(err, NASC_ERR_DB, path, -1,
                                  "%s: the file kept changing while it was read", path);
        usleep(1000u * (unsigned)(attempt + 1));
    }
    /* header bytes 18/19 select the journal (2 = WAL); an in-memory database has none */
    if (buf[18] == 2 && buf[19] == 2)
        buf[18] = buf[19] = 1;
    if (sqlite3_open_v2(":memory:", &db->h, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        sqlite3_free(buf);
        return nasc_errorf(err, NASC_ERR_NOMEM, "%s: out of memory", path);
    }
    if (sqlite3_deserialize(db->h, "main", buf, n, n,
                            SQLITE_DESERIALIZE_FREEONCLOSE | SQLITE_DESERIALIZE_READONLY) !=
        SQLITE_OK)
        return db_fail(db, err, "cannot read"); /* buf is freed by SQLite even on failure */
    return NASC_OK;
}

/* Opens db->path for reading into db->h (see "readers" above). */
static nasc_status open_reader(nasc_db *db, nasc_err *err) {
    const char *path = db->path;
    if (journal_is_hot(path))
        return nasc_errorf_at(err, NASC_ERR_DB, path, -1,
                              "%s: holds an interrupted transaction (%s-journal); a search on it "
                              "(nasc search --db %s --resume) rolls it back",
                              path, path, path);
    const long long wal = side_file_size(path, "-wal"), shm = side_file_size(path, "-shm");
    if (wal <= 0 && shm < 0) /* no log with frames, no writer (a writer keeps both files) */
        return open_snapshot(db, err);
    if (sqlite3_open_v2(path, &db->h, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        if (!db->h)
            return nasc_errorf(err, NASC_ERR_NOMEM, "%s: out of memory", path);
        return db_fail(db, err, "cannot open");
    }
    sqlite3_busy_timeout(db->h, 10000);
    sqlite3_stmt *s = NULL; /* the first read opens the log: say why it cannot */
    const int rc = sqlite3_prepare_v2(db->h, "SELECT count(*) FROM sqlite_master", -1, &s, NULL);
    const int rc2 = rc == SQLITE_OK ? sqlite3_step(s) : rc;
    sqlite3_finalize(s);
    if (rc2 != SQLITE_ROW &&
        (sqlite3_errcode(db->h) == SQLITE_CANTOPEN || sqlite3_errcode(db->h) == SQLITE_READONLY))
        return nasc_errorf_at(err, NASC_ERR_IO, path, -1,
                              "%s: cannot read its write-ahead log %s-wal (%s); on a read-only "
                              "file system it needs %s-shm beside it: copy the database and both "
                              "files to a writable directory",
                              path, path, sqlite3_errmsg(db->h), path);
    if (rc2 != SQLITE_ROW)
        return db_fail(db, err, "cannot read");
    return NASC_OK;
}

/* Integrity and schema of the database open in db->h. */
static nasc_status verify(nasc_db *db, nasc_err *err) {
    const char *path = db->path;
    nasc_status st = NASC_OK;
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db->h, "PRAGMA quick_check", -1, &s, NULL) != SQLITE_OK ||
        sqlite3_step(s) != SQLITE_ROW) {
        int code = sqlite3_errcode(db->h);
        st = nasc_errorf_at(err,
                            code == SQLITE_BUSY || code == SQLITE_LOCKED ? NASC_ERR_DB
                            : code == SQLITE_NOMEM                       ? NASC_ERR_NOMEM
                                                                         : NASC_ERR_FORMAT,
                            path, -1, "%s: damaged or unreadable database: %s", path,
                            sqlite3_errmsg(db->h));
        goto done;
    }
    if (strcmp(col_text(s, 0), "ok")) {
        st = nasc_errorf_at(err, NASC_ERR_FORMAT, path, -1, "%s: damaged database: %s", path,
                            col_text(s, 0));
        goto done;
    }
    for (size_t i = 0; i < sizeof probe_sql / sizeof probe_sql[0]; i++) {
        sqlite3_stmt *p = NULL;
        if (sqlite3_prepare_v2(db->h, probe_sql[i], -1, &p, NULL) != SQLITE_OK) {
            st = nasc_errorf_at(err, NASC_ERR_FORMAT, path, -1,
                                "%s: not a nasc experiment database (%s)", path,
                                sqlite3_errmsg(db->h));
            sqlite3_finalize(p);
            goto done;
        }
        sqlite3_finalize(p);
    }
done:
    sqlite3_finalize(s);
    return st;
}

static nasc_db *db_alloc(const char *path) {
    nasc_db_fault_install();
    nasc_db *db = nasc_calloc(1, sizeof *db);
    if (db) {
        snprintf(db->path, sizeof db->path, "%s", path);
        db->lock_fd = -1;
    }
    return db;
}

static nasc_status find_columns(nasc_db *db, bool add, nasc_err *err);

/* Opens db (path set) as a checked reader. */
static nasc_status open_checked_reader(nasc_db *db, nasc_err *err) {
    NASC_TRY(check_header(db->path, err));
    NASC_TRY(open_reader(db, err));
    return verify(db, err);
}

nasc_status nasc_db_open_readonly(const char *path, nasc_db **out, nasc_err *err) {
    *out = NULL;
    nasc_db *db = db_alloc(path);
    if (!db)
        return nasc_errorf(err, NASC_ERR_NOMEM, "%s: out of memory", path);
    nasc_status st = open_checked_reader(db, err);
    if (st == NASC_OK)
        st = find_columns(db, false, err); /* read-only: an older file stays as it is */
    if (st != NASC_OK) {
        nasc_db_close(db);
        return st;
    }
    *out = db;
    return NASC_OK;
}

nasc_status nasc_db_check(const char *path, nasc_err *err) {
    nasc_db_fault_install();
    nasc_db db = {.lock_fd = -1};
    snprintf(db.path, sizeof db.path, "%s", path);
    nasc_status st = open_checked_reader(&db, err);
    sqlite3_close(db.h);
    return st;
}

/* ---- the writer ---- */

static nasc_status configure(nasc_db *db, bool wal, nasc_err *err) {
    sqlite3_busy_timeout(db->h, 10000);
    sqlite3_extended_result_codes(db->h, 0);
    if (wal) {
        /* WAL: readers (nasc trials) never block the search; synchronous=NORMAL keeps every
         * commit atomic and durable against a killed process (an OS crash may lose the last
         * commits, never consistency). */
        NASC_TRY(exec(db, "PRAGMA journal_mode=WAL", err));
        NASC_TRY(exec(db, "PRAGMA synchronous=NORMAL", err));
    }
    return exec(db, "PRAGMA foreign_keys=ON", err);
}

/* Takes the experiment's writer lock: flock(LOCK_EX) on fd for as long as db lives. flock, not
 * SQLite's locks: it is held for the whole run and the kernel drops it when the process dies, so
 * a killed search never leaves it behind. */
static nasc_status take_lock(nasc_db *db, int fd, const char *path, nasc_err *err) {
    db->lock_fd = fd;
    if (flock(fd, LOCK_EX | LOCK_NB) != 0)
        return nasc_errorf_at(err, NASC_ERR_DB, path, -1,
                              "%s: another nasc search is running on this experiment", path);
    return NASC_OK;
}

/* Opens db->path read-write (the lock is held), in WAL mode. */
static nasc_status open_writer(nasc_db *db, nasc_err *err) {
    if (sqlite3_open_v2(db->path, &db->h, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
        return db->h ? db_fail(db, err, "cannot open")
                     : nasc_errorf(err, NASC_ERR_NOMEM, "%s: out of memory", db->path);
    return configure(db, true, err);
}

/* A hot rollback journal beside FILE: a transaction that did not finish (an older nasc could
 * leave one when killed while switching a new database to WAL). A read-write connection rolls it
 * back on its first read; the header was checked, so the file is a nasc database. */
static nasc_status roll_back_journal(nasc_db *db, nasc_err *err) {
    if (!journal_is_hot(db->path))
        return NASC_OK;
    nasc_status st = NASC_OK;
    if (sqlite3_open_v2(db->path, &db->h, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
        st = db->h ? db_fail(db, err, "cannot open")
                   : nasc_errorf(err, NASC_ERR_NOMEM, "%s: out of memory", db->path);
    else
        st = exec(db, "SELECT count(*) FROM sqlite_master", err);
    sqlite3_close(db->h);
    db->h = NULL;
    return st;
}

/* Columns added to the trials table after version 1 was first written: (name, type). */
static const char *const added_cols[][2] = {{"test_score", "REAL"}, {"sim_seconds", "REAL"}};

/* Sets db->has_v2_cols from the trials table's columns; with `add`, first adds the missing ones
 * (ALTER TABLE, one transaction: NULL in every existing row). */
static nasc_status find_columns(nasc_db *db, bool add, nasc_err *err) {
    enum { N = sizeof added_cols / sizeof added_cols[0] };
    bool have[N] = {false};
    sqlite3_stmt *s = NULL;
    NASC_TRY(prepare(db, "PRAGMA table_info(trials)", &s, err));
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        for (int i = 0; i < N; i++)
            have[i] |= !strcmp(col_text(s, 1), added_cols[i][0]);
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE)
        return db_fail(db, err, "cannot read the trials table's columns");
    bool all = true;
    for (int i = 0; i < N; i++)
        all &= have[i];
    if (!all && add) {
        NASC_TRY(begin(db, err));
        nasc_status st = NASC_OK;
        for (int i = 0; i < N && st == NASC_OK; i++) {
            if (have[i])
                continue;
            char sql[128];
            snprintf(sql, sizeof sql, "ALTER TABLE trials ADD COLUMN %s %s", added_cols[i][0],
                     added_cols[i][1]);
            st = exec(db, sql, err);
        }
        if (st != NASC_OK) {
            rollback(db);
            return st;
        }
        NASC_TRY(commit(db, err));
        all = true;
    }
    db->has_v2_cols = all;
    return NASC_OK;
}

nasc_status nasc_db_open(const char *path, nasc_db **out, nasc_err *err) {
    *out = NULL;
    NASC_TRY(check_header(path, err));
    nasc_db *db = db_alloc(path);
    if (!db)
        return nasc_errorf(err, NASC_ERR_NOMEM, "%s: out of memory", path);
    nasc_status st = NASC_OK;
    const int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        st = nasc_errorf_at(err, NASC_ERR_IO, path, -1, "%s: cannot open: %s", path,
                            strerror(errno));
    if (st == NASC_OK)
        st = take_lock(db, fd, path, err);
    if (st == NASC_OK)
        st = roll_back_journal(db, err);
    if (st == NASC_OK) { /* checked as a reader first: a damaged file is never written */
        st = open_reader(db, err);
        if (st == NASC_OK)
            st = verify(db, err);
        sqlite3_close(db->h);
        db->h = NULL;
    }
    if (st == NASC_OK)
        st = open_writer(db, err);
    if (st == NASC_OK)
        st = find_columns(db, true, err);
    if (st != NASC_OK) {
        nasc_db_close(db);
        return st;
    }
    *out = db;
    return NASC_OK;
}

static nasc_status write_schema(nasc_db *db, const nasc_kv *cfg, int n_cfg, nasc_err *err) {
    char pragma[128];
    NASC_TRY(begin(db, err));
    nasc_status st = exec(db, schema_sql, err);
    snprintf(pragma, sizeof pragma, "PRAGMA application_id=%d; PRAGMA user_version=%d",
             (int)NASC_DB_APPLICATION_ID, NASC_DB_VERSION);
    if (st == NASC_OK)
        st = exec(db, pragma, err);
    if (st == NASC_OK)
        st = config_write(db, "INSERT INTO config(key, value) VALUES (?, ?)", cfg, n_cfg, err);
    sqlite3_stmt *s = NULL;
    if (st == NASC_OK)
        st = prepare(db, "INSERT INTO info(key, value) VALUES (?, ?)", &s, err);
    if (st == NASC_OK) {
        char when[64];
        snprintf(when, sizeof when, "%.3f", wall_now());
        const char *kv[][2] = {{"created_by", "nasc " NASC_VERSION_STRING}, {"created_at", when}};
        for (int i = 0; st == NASC_OK && i < 2; i++) {
            sqlite3_reset(s);
            sqlite3_bind_text(s, 1, kv[i][0], -1, SQLITE_STATIC);
            sqlite3_bind_text(s, 2, kv[i][1], -1, SQLITE_TRANSIENT);
            if (sqlite3_step(s) != SQLITE_DONE)
                st = db_fail(db, err, "cannot write the database info");
        }
    }
    sqlite3_finalize(s);
    if (st != NASC_OK) {
        rollback(db);
        return st;
    }
    db->has_v2_cols = true;
    return commit(db, err);
}

/* rename(from, to) unless `to` exists (EEXIST then). */
static int rename_noreplace(const char *from, const char *to) {
    if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS)
        return -1;
    /* a file system without RENAME_NOREPLACE: only creators holding FILE.tmp's lock rename */
    struct stat sb;
    if (stat(to, &sb) == 0) {
        errno = EEXIST;
        return -1;
    }
    return rename(from, to);
}

static void fsync_dir_of(const char *path) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *(slash == dir ? slash + 1 : slash) = '\0';
    else
        snprintf(dir, sizeof dir, ".");
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
}

/* Creation: FILE.tmp is opened and locked first (flock, the writer lock; a second creator gets
 * "another nasc search is running"), emptied with its side files (leftovers of a killed
 * creation), then written by SQLite: schema, ids and configuration in one transaction, switched
 * to WAL, closed. Only then is it renamed to FILE (never over an existing FILE) and the
 * directory fsynced. The lock moves with the inode, so the creator holds FILE's lock from the
 * moment FILE exists. A creation killed at any point leaves at most FILE.tmp and its journal,
 * which the next creation replaces. */
nasc_status nasc_db_create(const char *path, const nasc_kv *cfg, int n_cfg, nasc_db **out,
                           nasc_err *err) {
    *out = NULL;
    struct stat sb;
    if (stat(path, &sb) == 0)
        return nasc_errorf_at(err, NASC_ERR_IO, path, -1, "%s: already exists", path);
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    nasc_db *db = db_alloc(tmp);
    if (!db)
        return nasc_errorf(err, NASC_ERR_NOMEM, "%s: out of memory", path);
    nasc_status st = NASC_OK;
    sqlite3_stmt *s = NULL;
    bool wal = false;
    const int fd = open(tmp, O_RDWR | O_CREAT | O_CLOEXEC | O_NONBLOCK, 0644);
    if (fd < 0) {
        st = nasc_errorf_at(err, NASC_ERR_IO, path, -1, "%s: cannot create %s: %s", path, tmp,
                            strerror(errno));
        goto fail_unlocked;
    }
    if ((st = take_lock(db, fd, path, err)) != NASC_OK)
        goto fail_unlocked;     /* another creator's FILE.tmp: not ours to remove */
    if (stat(path, &sb) == 0) { /* created meanwhile by a creator that held the lock */
        st = nasc_errorf_at(err, NASC_ERR_IO, path, -1, "%s: already exists", path);
        goto fail;
    }
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || (sb.st_size && ftruncate(fd, 0) != 0)) {
        st = nasc_errorf_at(err, NASC_ERR_IO, path, -1, "%s: cannot reset %s", path, tmp);
        goto fail;
    }
    side_file_unlink(tmp, "-journal");
    side_file_unlink(tmp, "-wal");
    side_file_unlink(tmp, "-shm");
    if (sqlite3_open_v2(tmp, &db->h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK) {
        st = db->h ? nasc_errorf_at(err, NASC_ERR_IO, path, -1, "%s: cannot create: %s", path,
                                    sqlite3_errmsg(db->h))
                   : nasc_errorf(err, NASC_ERR_NOMEM, "%s: out of memory", path);
        goto fail;
    }
    if ((st = configure(db, false, err)) != NASC_OK ||
        (st = write_schema(db, cfg, n_cfg, err)) != NASC_OK)
        goto fail;
    /* WAL before FILE exists: switching later writes FILE under a rollback journal, and a kill
     * then leaves a hot journal that read-only connections cannot roll back */
    if ((st = prepare(db, "PRAGMA journal_mode=WAL", &s, err)) != NASC_OK)
        goto fail;
    wal = sqlite3_step(s) == SQLITE_ROW && !strcmp(col_text(s, 0), "wal");
    sqlite3_finalize(s);
    if (!wal) {
        st = db_fail(db, err, "cannot switch to WAL mode");
        goto fail;
    }
    if (sqlite3_close(db->h) != SQLITE_OK) {
        st = db_fail(db, err, "cannot close");
        goto fail;
    }
    db->h = NULL;
    unsigned char hdr[100];
    sqlite3_int64 n_hdr = 0;
    if (vfs_read(tmp, hdr, sizeof hdr, &n_hdr) != SQLITE_OK || n_hdr != 100 || hdr[18] != 2 ||
        hdr[19] != 2 || side_file_size(tmp, "-wal") >= 0 || side_file_size(tmp, "-journal") >= 0 ||
        fsync(fd) != 0) {
        st = nasc_errorf_at(err, NASC_ERR_DB, path, -1, "%s: %s was not written completely", path,
                            tmp);
        goto fail;
    }
    if (rename_noreplace(tmp, path) != 0) {
        st = errno == EEXIST
                 ? nasc_errorf_at(err, NASC_ERR_IO, path, -1, "%s: already exists", path)
                 : nasc_errorf_at(err, NASC_ERR_IO, path, -1, "%s: cannot rename %s: %s", path, tmp,
                                  strerror(errno));
        goto fail;
    }
    fsync_dir_of(path);
    snprintf(db->path, sizeof db->path, "%s", path); /* fd, and its lock, now are FILE's */
    if ((st = open_writer(db, err)) != NASC_OK) {
        nasc_db_close(db);
        return st;
    }
    *out = db;
    return NASC_OK;
fail:
    sqlite3_close(db->h);
    db->h = NULL;
    unlink(tmp); /* still ours: we hold its lock */
    side_file_unlink(tmp, "-journal");
    side_file_unlink(tmp, "-wal");
    side_file_unlink(tmp, "-shm");
fail_unlocked:
    nasc_db_close(db);
    return st;
}

nasc_status nasc_db_open_memory(const nasc_kv *cfg, int n_cfg, nasc_db **out, nasc_err *err) {
    *out = NULL;
    nasc_db *db = db_alloc(":memory:");
    if (!db)
        return nasc_errorf(err, NASC_ERR_NOMEM, "database: out of memory");
    nasc_status st;
    if (sqlite3_open_v2(":memory:", &db->h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK) {
        st = nasc_errorf(err, NASC_ERR_NOMEM, "database: cannot open in memory");
        nasc_db_close(db);
        return st;
    }
    if ((st = configure(db, false, err)) != NASC_OK ||
        (st = write_schema(db, cfg, n_cfg, err)) != NASC_OK) {
        nasc_db_close(db);
        return st;
    }
    *out = db;
    return NASC_OK;
}

void nasc_db_close(nasc_db *db) {
    if (!db)
        return;
    sqlite3_close(db->h);
    if (db->lock_fd >= 0) /* after SQLite's own descriptors: closing it drops POSIX locks */
        close(db->lock_fd);
    nasc_free(db);
}

void nasc_db_after_fork(nasc_db *db) {
    if (db && db->lock_fd >= 0) {
        close(db->lock_fd); /* the child's copy; the parent keeps the lock */
        db->lock_fd = -1;
    }
}

const char *nasc_db_path(const nasc_db *db) {
    return db->path;
}

/* ---- configuration ---- */

nasc_status nasc_db_config_get(nasc_db *db, nasc_kv **out, int *out_n, nasc_err *err) {
    *out = NULL;
    *out_n = 0;
    sqlite3_stmt *s = NULL;
    NASC_TRY(prepare(db, "SELECT key, value FROM config ORDER BY key", &s, err));
    size_t bytes = 0;
    int n = 0, rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        bytes += strlen(col_text(s, 0)) + strlen(col_text(s, 1)) + 2;
        n++;
    }
    if (rc != SQLITE_DONE) {
        nasc_status st = db_fail(db, err, "cannot read the configuration");
        sqlite3_finalize(s);
        return st;
    }
    /* one block: n pairs, then the strings */
    nasc_kv *kv = nasc_malloc(sizeof(nasc_kv) * (size_t)n + bytes + 1);
    if (!kv) {
        sqlite3_finalize(s);
        return nasc_errorf(err, NASC_ERR_NOMEM, "%s: out of memory", db->path);
    }
    char *p = (char *)(kv + n);
    sqlite3_reset(s);
    int i = 0;
    while (i < n && sqlite3_step(s) == SQLITE_ROW) {
        size_t kl = strlen(col_text(s, 0)) + 1, vl = strlen(col_text(s, 1)) + 1;
        memcpy(p, col_text(s, 0), kl);
        kv[i].key = p;
        p += kl;
        memcpy(p, col_text(s, 1), vl);
        kv[i].value = p;
        p += vl;
        i++;
    }
    sqlite3_finalize(s);
    *out = kv;
    *out_n = i;
    return NASC_OK;
}

nasc_status nasc_db_config_put(nasc_db *db, const nasc_kv *cfg, int n_cfg, nasc_err *err) {
    NASC_TRY(begin(db, err));
    nasc_status st = config_write(db, "INSERT OR REPLACE INTO config(key, value) VALUES (?, ?)",
                                  cfg, n_cfg, err);
    if (st != NASC_OK) {
        rollback(db);
        return st;
    }
    return commit(db, err);
}

/* ---- trials ---- */

/* Runs one single-statement transaction: sql with the binder's values. */
typedef void (*binder)(sqlite3_stmt *s, const void *ctx);

static nasc_status run1(nasc_db *db, const char *sql, binder bind, const void *ctx,
                        const char *what, int64_t want_changes, nasc_err *err) {
    NASC_TRY(begin(db, err));
    sqlite3_stmt *s = NULL;
    nasc_status st = prepare(db, sql, &s, err);
    if (st == NASC_OK) {
        bind(s, ctx);
        if (sqlite3_step(s) != SQLITE_DONE)
            st = db_fail(db, err, what);
        else if (want_changes >= 0 && sqlite3_changes(db->h) != want_changes)
            st = nasc_errorf_at(err, NASC_ERR_DB, db->path, -1, "%s: %s: no such trial", db->path,
                                what);
    }
    sqlite3_finalize(s);
    if (st != NASC_OK) {
        rollback(db);
        return st;
    }
    return commit(db, err);
}

static void bind_insert(sqlite3_stmt *s, const void *ctx) {
    const nasc_trial_record *t = ctx;
    char hash[17];
    snprintf(hash, sizeof hash, "%016llx", (unsigned long long)t->hash);
    sqlite3_bind_int64(s, 1, t->id);
    sqlite3_bind_text(s, 2, t->arch, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 3, hash, -1, SQLITE_TRANSIENT);
    sqlite3_bind_double(s, 4, isfinite(t->fidelity) ? t->fidelity : 0.0);
    sqlite3_bind_int64(s, 5, (sqlite3_int64)t->seed);
    sqlite3_bind_double(s, 6, wall_now());
}

nasc_status nasc_db_trial_insert(nasc_db *db, const nasc_trial_record *t, nasc_err *err) {
    int64_t n;
    NASC_TRY(nasc_db_trial_count(db, &n, err));
    if (t->id != n)
        return nasc_errorf(err, NASC_ERR_DB, "%s: trial %lld inserted out of order (next is %lld)",
                           db->path, (long long)t->id, (long long)n);
    return run1(db,
                "INSERT INTO trials(id, arch, hash, fidelity, status, seed, created_at)"
                " VALUES (?, ?, ?, ?, 'pending', ?, ?)",
                bind_insert, t, "cannot insert a trial", 1, err);
}

typedef struct start_ctx {
    int64_t id;
    int worker, attempt;
} start_ctx;

static void bind_start(sqlite3_stmt *s, const void *ctx) {
    const start_ctx *c = ctx;
    sqlite3_bind_int(s, 1, c->worker);
    sqlite3_bind_int(s, 2, c->attempt);
    sqlite3_bind_double(s, 3, wall_now());
    sqlite3_bind_int64(s, 4, c->id);
}

nasc_status nasc_db_trial_start(nasc_db *db, int64_t id, int worker, int attempt, nasc_err *err) {
    start_ctx c = {id, worker, attempt};
    return run1(db,
                "UPDATE trials SET status='running', worker=?, attempts=?, started_at=?,"
                " ended_at=NULL WHERE id=?",
                bind_start, &c, "cannot mark a trial running", 1, err);
}

typedef struct finish_ctx {
    int64_t id;
    const nasc_trial_result *r;
    const char *metrics;
} finish_ctx;

static void bind_finish(sqlite3_stmt *s, const void *ctx) {
    const finish_ctx *c = ctx;
    const nasc_trial_result *r = c->r;
    sqlite3_bind_text(s, 1, r->status == NASC_TRIAL_OK ? "ok" : "failed", -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, r->reason, -1, SQLITE_TRANSIENT);
    bind_double(s, 3, r->status == NASC_TRIAL_OK ? r->score : (double)NAN);
    sqlite3_bind_text(s, 4, c->metrics, -1, SQLITE_TRANSIENT);
    bind_double(s, 5, r->cost.params);
    bind_double(s, 6, r->cost.flops);
    bind_double(s, 7, r->cost.latency_ms);
    bind_double(s, 8, r->cost.memory_bytes);
    sqlite3_bind_double(s, 9, wall_now());
    bind_double(s, 10, r->seconds);
    sqlite3_bind_int64(s, 11, c->id);
    bind_double(s, 12, r->test_score);
    bind_double(s, 13, r->sim_seconds);
}

nasc_status nasc_db_trial_finish(nasc_db *db, int64_t id, const nasc_trial_result *r,
                                 nasc_err *err) {
    char *metrics = nasc_trial_metrics_json(r);
    if (!metrics)
        return nasc_errorf(err, NASC_ERR_NOMEM, "%s: out of memory", db->path);
    finish_ctx c = {id, r, metrics};
    /* ?12, ?13: the columns a database opened read-write always has (find_columns) */
    nasc_status st = run1(db,
                          "UPDATE trials SET status=?1, reason=?2, score=?3, metrics=?4,"
                          " params=?5, flops=?6, latency_ms=?7, memory_bytes=?8, ended_at=?9,"
                          " seconds=?10, test_score=?12, sim_seconds=?13 WHERE id=?11",
                          bind_finish, &c, "cannot record a trial result", 1, err);
    nasc_free(metrics);
    return st;
}

nasc_status nasc_db_trial_count(nasc_db *db, int64_t *out_n, nasc_err *err) {
    sqlite3_stmt *s = NULL;
    NASC_TRY(prepare(db, "SELECT count(*) FROM trials", &s, err));
    nasc_status st = NASC_OK;
    if (sqlite3_step(s) == SQLITE_ROW)
        *out_n = sqlite3_column_int64(s, 0);
    else
        st = db_fail(db, err, "cannot count trials");
    sqlite3_finalize(s);
    return st;
}

void nasc_db_trials_free(nasc_trial_record *t, int64_t n) {
    if (!t)
        return;
    for (int64_t i = 0; i < n; i++) {
        nasc_free((char *)t[i].arch);
        nasc_free((char *)t[i].reason);
        nasc_free((char *)t[i].metrics);
        nasc_free(t[i].result);
    }
    nasc_free(t);
}

void nasc_db_row_result(const nasc_trial_record *row, nasc_trial_result *r) {
    nasc_trial_result_init(r);
    r->status = row->status == NASC_TRIAL_OK ? NASC_TRIAL_OK : NASC_TRIAL_FAILED;
    r->score = row->status == NASC_TRIAL_OK ? row->score : (double)NAN;
    snprintf(r->reason, sizeof r->reason, "%s", row->reason ? row->reason : "");
    r->cost = row->cost;
    r->seconds = row->seconds;
    r->fidelity = row->fidelity;
    r->test_score = row->test_score;
    r->sim_seconds = row->sim_seconds;
}

nasc_status nasc_db_trials_load(nasc_db *db, nasc_trial_record **out, int64_t *out_n,
                                nasc_err *err) {
    *out = NULL;
    *out_n = 0;
    /* The count and the rows from one snapshot: a reader of a database a search is writing
     * otherwise saw trials committed between the two ("trial ids are not dense"). A read
     * transaction per load, not per handle, so that every later read sees the latest commit
     * (a handle kept open, e.g. by a live report, follows the search). */
    const bool own_txn = sqlite3_get_autocommit(db->h) != 0;
    if (own_txn)
        NASC_TRY(exec(db, "BEGIN", err));
    int64_t n;
    nasc_status cst = nasc_db_trial_count(db, &n, err);
    nasc_trial_record *t =
        cst == NASC_OK ? nasc_calloc((size_t)(n > 0 ? n : 1), sizeof *t) : NULL;
    if (!t) {
        if (own_txn)
            sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
        return cst != NASC_OK ? cst
                              : nasc_errorf(err, NASC_ERR_NOMEM, "%s: out of memory", db->path);
    }
    sqlite3_stmt *s = NULL;
    nasc_status st =
        prepare(db,
                db->has_v2_cols ? "SELECT id, arch, hash, fidelity, status, reason, score,"
                                  " metrics, params, flops, latency_ms, memory_bytes, seed,"
                                  " worker, attempts, created_at, started_at, ended_at, seconds,"
                                  " test_score, sim_seconds FROM trials ORDER BY id"
                                : "SELECT id, arch, hash, fidelity, status, reason, score,"
                                  " metrics, params, flops, latency_ms, memory_bytes, seed,"
                                  " worker, attempts, created_at, started_at, ended_at, seconds,"
                                  " NULL, NULL FROM trials ORDER BY id",
                &s, err);
    int64_t i = 0;
    int rc = SQLITE_DONE;
    while (st == NASC_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (i >= n || sqlite3_column_int64(s, 0) != i) {
            st = nasc_errorf_at(err, NASC_ERR_FORMAT, db->path, -1,
                                "%s: trial ids are not dense (row %lld has id %lld)", db->path,
                                (long long)i, (long long)sqlite3_column_int64(s, 0));
            break;
        }
        /* a damaged row: a number column holding text (which SQLite would read as 0), or a
         * finished trial without its score */
        static const int num_col[] = {3, 6, 8, 9, 10, 11, 15, 16, 17, 18, 19, 20};
        for (size_t c = 0; c < sizeof num_col / sizeof num_col[0] && st == NASC_OK; c++) {
            const int ty = sqlite3_column_type(s, num_col[c]);
            if (ty == SQLITE_TEXT || ty == SQLITE_BLOB)
                st = nasc_errorf_at(err, NASC_ERR_FORMAT, db->path, -1,
                                    "%s: trial %lld: column %s holds %s, not a number", db->path,
                                    (long long)i, sqlite3_column_name(s, num_col[c]),
                                    ty == SQLITE_TEXT ? "text" : "a blob");
        }
        if (st == NASC_OK && !strcmp(col_text(s, 4), "ok") &&
            sqlite3_column_type(s, 6) == SQLITE_NULL)
            st = nasc_errorf_at(err, NASC_ERR_FORMAT, db->path, -1,
                                "%s: trial %lld: status ok without a score", db->path,
                                (long long)i);
        if (st != NASC_OK)
            break;
        nasc_trial_record *r = &t[i];
        r->id = i;
        r->arch = nasc_strdup(col_text(s, 1));
        r->hash = strtoull(col_text(s, 2), NULL, 16);
        r->fidelity = col_double(s, 3);
        if (!nasc_trial_status_parse(col_text(s, 4), &r->status)) {
            st = nasc_errorf_at(err, NASC_ERR_FORMAT, db->path, -1,
                                "%s: trial %lld: bad status '%s'", db->path, (long long)i,
                                col_text(s, 4));
            break;
        }
        r->reason = nasc_strdup(col_text(s, 5));
        r->score = col_double(s, 6);
        r->metrics = nasc_strdup(col_text(s, 7));
        r->cost.params = col_double(s, 8);
        r->cost.flops = col_double(s, 9);
        r->cost.latency_ms = col_double(s, 10);
        r->cost.memory_bytes = col_double(s, 11);
        r->seed = (uint64_t)sqlite3_column_int64(s, 12);
        r->worker = sqlite3_column_int(s, 13);
        r->attempts = sqlite3_column_int(s, 14);
        r->created_at = col_double(s, 15);
        r->started_at = col_double(s, 16);
        r->ended_at = col_double(s, 17);
        r->seconds = col_double(s, 18);
        r->test_score = col_double(s, 19);
        r->sim_seconds = col_double(s, 20);
        if (!r->arch || !r->reason || !r->metrics) {
            st = nasc_errorf(err, NASC_ERR_NOMEM, "%s: out of memory", db->path);
            break;
        }
        if (r->status == NASC_TRIAL_OK || r->status == NASC_TRIAL_FAILED) {
            if (!(r->result = nasc_malloc(sizeof *r->result))) {
                st = nasc_errorf(err, NASC_ERR_NOMEM, "%s: out of memory", db->path);
                break;
            }
            nasc_db_row_result(r, r->result);
            nasc_err perr = {0};
            if (nasc_trial_metrics_parse(r->metrics, r->result, &perr) != NASC_OK) {
                st = nasc_errorf_at(err, NASC_ERR_FORMAT, db->path, -1, "%s: trial %lld: %s",
                                    db->path, (long long)i, perr.msg);
                break;
            }
        }
        i++;
    }
    if (st == NASC_OK && rc != SQLITE_DONE)
        st = db_fail(db, err, "cannot read trials");
    sqlite3_finalize(s);
    if (own_txn) /* a read transaction: ending it loses nothing */
        sqlite3_exec(db->h, st == NASC_OK ? "COMMIT" : "ROLLBACK", NULL, NULL, NULL);
    if (st != NASC_OK) {
        nasc_db_trials_free(t, n); /* calloc'd: unfilled records are empty */
        return st;
    }
    *out = t;
    *out_n = i;
    return NASC_OK;
}

/* ---- snapshots ---- */

typedef struct snap_ctx {
    int64_t asked, told;
    const void *buf;
    size_t len;
} snap_ctx;

static void bind_snap(sqlite3_stmt *s, const void *ctx) {
    const snap_ctx *c = ctx;
    sqlite3_bind_int64(s, 1, c->asked);
    sqlite3_bind_int64(s, 2, c->told);
    sqlite3_bind_blob(s, 3, c->buf ? c->buf : "", (int)c->len, SQLITE_TRANSIENT);
    sqlite3_bind_double(s, 4, wall_now());
}

nasc_status nasc_db_snapshot_put(nasc_db *db, int64_t n_asked, int64_t n_told, const void *buf,
                                 size_t len, nasc_err *err) {
    if (len > (size_t)1 << 30)
        return nasc_errorf(err, NASC_ERR_ARG, "%s: strategy snapshot too large (%zu bytes)",
                           db->path, len);
    snap_ctx c = {n_asked, n_told, buf, len};
    return run1(db,
                "INSERT OR REPLACE INTO snapshot(id, n_asked, n_told, state, created_at)"
                " VALUES (1, ?, ?, ?, ?)",
                bind_snap, &c, "cannot write a strategy snapshot", -1, err);
}

nasc_status nasc_db_snapshot_get(nasc_db *db, int64_t *out_asked, int64_t *out_told, void **out_buf,
                                 size_t *out_len, nasc_err *err) {
    *out_buf = NULL;
    *out_len = 0;
    *out_asked = *out_told = 0;
    sqlite3_stmt *s = NULL;
    NASC_TRY(prepare(db, "SELECT n_asked, n_told, state FROM snapshot WHERE id = 1", &s, err));
    nasc_status st = NASC_OK;
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *out_asked = sqlite3_column_int64(s, 0);
        *out_told = sqlite3_column_int64(s, 1);
        int len = sqlite3_column_bytes(s, 2);
        const void *p = sqlite3_column_blob(s, 2);
        void *buf = nasc_malloc((size_t)len + 1);
        if (!buf)
            st = nasc_errorf(err, NASC_ERR_NOMEM, "%s: out of memory", db->path);
        else {
            if (len)
                memcpy(buf, p, (size_t)len);
            *out_buf = buf;
            *out_len = (size_t)len;
        }
    } else if (rc != SQLITE_DONE) {
        st = db_fail(db, err, "cannot read the strategy snapshot");
    }
    sqlite3_finalize(s);
    return st;
}

/* ---- artifacts ---- */

typedef struct art_ctx {
    const char *key;
    const void *buf;
    size_t len;
} art_ctx;

static void bind_art_put(sqlite3_stmt *s, const void *ctx) {
    const art_ctx *c = ctx;
    sqlite3_bind_text(s, 1, c->key, -1, SQLITE_TRANSIENT);
    sqlite3_bind_blob64(s, 2, c->buf ? c->buf : "", c->len, SQLITE_TRANSIENT);
    sqlite3_bind_double(s, 3, wall_now());
}

static void bind_art_key(sqlite3_stmt *s, const void *ctx) {
    const art_ctx *c = ctx;
    sqlite3_bind_text(s, 1, c->key, -1, SQLITE_TRANSIENT);
}

nasc_status nasc_db_artifact_put(nasc_db *db, const char *key, const void *buf, size_t len,
                                 nasc_err *err) {
    if (len > (size_t)1 << 30)
        return nasc_errorf(err, NASC_ERR_ARG, "%s: artifact '%s' too large (%zu bytes)", db->path,
                           key, len);
    art_ctx c = {key, buf, len};
    return run1(db, "INSERT OR REPLACE INTO artifact(key, value, updated_at) VALUES (?, ?, ?)",
                bind_art_put, &c, "cannot write an artifact", -1, err);
}

nasc_status nasc_db_artifact_delete(nasc_db *db, const char *key, nasc_err *err) {
    art_ctx c = {key, NULL, 0};
    return run1(db, "DELETE FROM artifact WHERE key = ?", bind_art_key, &c,
                "cannot delete an artifact", -1, err);
}

nasc_status nasc_db_artifact_get(nasc_db *db, const char *key, void **out_buf, size_t *out_len,
                                 nasc_err *err) {
    *out_buf = NULL;
    *out_len = 0;
    sqlite3_stmt *s = NULL;
    NASC_TRY(prepare(db, "SELECT value FROM artifact WHERE key = ?", &s, err));
    sqlite3_bind_text(s, 1, key, -1, SQLITE_TRANSIENT);
    nasc_status st = NASC_OK;
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        size_t len = (size_t)sqlite3_column_bytes(s, 0);
        const void *p = sqlite3_column_blob(s, 0);
        void *buf = nasc_malloc(len + 1);
        if (!buf)
            st = nasc_errorf(err, NASC_ERR_NOMEM, "%s: out of memory", db->path);
        else {
            if (len)
                memcpy(buf, p, len);
            *out_buf = buf;
            *out_len = len;
        }
    } else if (rc != SQLITE_DONE) {
        st = db_fail(db, err, "cannot read an artifact");
    }
    sqlite3_finalize(s);
    return st;
}

/* ---- metrics JSON ---- */

static void add_num(cJSON *o, const char *k, double v) {
    if (isfinite(v))
        cJSON_AddNumberToObject(o, k, v);
}

char *nasc_trial_metrics_json(const nasc_trial_result *r) {
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    add_num(o, "score", r->status == NASC_TRIAL_OK ? r->score : (double)NAN);
    add_num(o, "fidelity", r->fidelity);
    if (r->stopped_early)
        cJSON_AddTrueToObject(o, "stopped_early");
    add_num(o, "train_loss", r->train_loss);
    if (r->n_objectives > 0) {
        cJSON *a = cJSON_AddArrayToObject(o, "objectives");
        for (int i = 0; a && i < r->n_objectives && i < NASC_MAX_OBJECTIVES; i++)
            cJSON_AddItemToArray(a, isfinite(r->objectives[i])
                                        ? cJSON_CreateNumber(r->objectives[i])
                                        : cJSON_CreateNull());
    }
    if (r->n_curve > 0) {
        cJSON *a = cJSON_AddArrayToObject(o, "curve");
        for (int i = 0; a && i < r->n_curve && i < NASC_MAX_CURVE; i++)
            cJSON_AddItemToArray(a, isfinite(r->curve[i]) ? cJSON_CreateNumber(r->curve[i])
                                                          : cJSON_CreateNull());
    }
    if (r->n_train_curve > 0) { /* per-epoch training values (absent from older databases) */
        cJSON *l = cJSON_AddArrayToObject(o, "train_loss_curve");
        cJSON *a = cJSON_AddArrayToObject(o, "train_acc_curve");
        for (int i = 0; l && a && i < r->n_train_curve && i < NASC_MAX_CURVE; i++) {
            cJSON_AddItemToArray(l, isfinite(r->train_loss_curve[i])
                                        ? cJSON_CreateNumber(r->train_loss_curve[i])
                                        : cJSON_CreateNull());
            cJSON_AddItemToArray(a, isfinite(r->train_acc_curve[i])
                                        ? cJSON_CreateNumber(r->train_acc_curve[i])
                                        : cJSON_CreateNull());
        }
    }
    char *txt = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!txt)
        return NULL;
    char *out = nasc_strdup(txt);
    cJSON_free(txt);
    return out;
}

nasc_status nasc_trial_metrics_parse(const char *json, nasc_trial_result *r, nasc_err *err) {
    cJSON *o = cJSON_Parse(json);
    if (!o || !cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return nasc_errorf(err, NASC_ERR_FORMAT, "metrics: not a JSON object");
    }
    const cJSON *v;
    if ((v = cJSON_GetObjectItemCaseSensitive(o, "fidelity")) && cJSON_IsNumber(v))
        r->fidelity = v->valuedouble;
    if ((v = cJSON_GetObjectItemCaseSensitive(o, "train_loss")) && cJSON_IsNumber(v))
        r->train_loss = v->valuedouble;
    r->stopped_early = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "stopped_early"));
    if ((v = cJSON_GetObjectItemCaseSensitive(o, "objectives")) && cJSON_IsArray(v)) {
        int n = 0;
        const cJSON *x;
        cJSON_ArrayForEach(x, v) {
            if (n < NASC_MAX_OBJECTIVES)
                r->objectives[n++] = cJSON_IsNumber(x) ? x->valuedouble : (double)NAN;
        }
        r->n_objectives = n;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(o, "curve")) && cJSON_IsArray(v)) {
        int n = 0;
        const cJSON *x;
        cJSON_ArrayForEach(x, v) {
            if (n < NASC_MAX_CURVE)
                r->curve[n++] = cJSON_IsNumber(x) ? (float)x->valuedouble : NAN;
        }
        r->n_curve = n;
    }
    const cJSON *l = cJSON_GetObjectItemCaseSensitive(o, "train_loss_curve");
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, "train_acc_curve");
    if (cJSON_IsArray(l) && cJSON_IsArray(a)) {
        int n = 0;
        for (const cJSON *x = l->child, *y = a->child; x && y && n < NASC_MAX_CURVE;
             x = x->next, y = y->next, n++) {
            r->train_loss_curve[n] = cJSON_IsNumber(x) ? (float)x->valuedouble : NAN;
            r->train_acc_curve[n] = cJSON_IsNumber(y) ? (float)y->valuedouble : NAN;
        }
        r->n_train_curve = n;
    }
    cJSON_Delete(o);
    return NASC_OK;
}
