/* file.c — reading a whole input file safely: never blocks on a FIFO, names a directory as one,
 * and refuses a file larger than its bound before allocating. */
#include "nasc/arena.h"
#include "nasc/limits.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

nasc_status nasc_file_read_all(const char *path, const char *what, uint64_t max_bytes,
                               char **out, size_t *out_len, nasc_err *err) {
    *out = NULL;
    *out_len = 0;
    /* O_NONBLOCK: opening a FIFO without a writer returns at once; fstat then refuses it */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return nasc_errorf_at(err, NASC_ERR_IO, path, -1, "%s: %s: cannot open: %s", what, path,
                              strerror(errno));
    struct stat st;
    nasc_status s = NASC_OK;
    if (fstat(fd, &st) != 0)
        s = nasc_errorf_at(err, NASC_ERR_IO, path, -1, "%s: %s: cannot stat: %s", what, path,
                           strerror(errno));
    else if (S_ISDIR(st.st_mode))
        s = nasc_errorf_at(err, NASC_ERR_IO, path, -1, "%s: %s: is a directory, not a file", what,
                           path);
    else if (!S_ISREG(st.st_mode))
        s = nasc_errorf_at(err, NASC_ERR_IO, path, -1,
                           "%s: %s: not a regular file (a FIFO, device or socket)", what, path);
    else if ((uint64_t)st.st_size > max_bytes)
        s = nasc_errorf_at(err, NASC_ERR_IO, path, -1,
                           "%s: %s: %" PRIu64 " bytes, more than the %" PRIu64 " this input may have",
                           what, path, (uint64_t)st.st_size, max_bytes);
    if (s == NASC_OK) {
        char what_bytes[128];
        snprintf(what_bytes, sizeof what_bytes, "%s: %s", what, path);
        s = nasc_limit_check_bytes(err, what_bytes, (uint64_t)st.st_size);
        if (s != NASC_OK) { /* the file is the problem, not the arguments */
            s = NASC_ERR_IO;
            if (err)
                err->code = NASC_ERR_IO;
        }
    }
    if (s != NASC_OK) {
        close(fd);
        return s;
    }
    const size_t len = (size_t)st.st_size;
    char *buf = nasc_malloc(len + 1);
    if (!buf) {
        close(fd);
        return nasc_errorf(err, NASC_ERR_NOMEM, "%s: %s: out of memory (%zu bytes)", what, path,
                           len);
    }
    size_t done = 0;
    while (done < len) {
        ssize_t r = read(fd, buf + done, len - done);
        if (r < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (r <= 0) {
            const int e = r < 0 ? errno : 0;
            close(fd);
            nasc_free(buf);
            return nasc_errorf_at(err, NASC_ERR_IO, path, (int64_t)done,
                                  "%s: %s: read failed at byte %zu%s%s", what, path, done,
                                  e ? ": " : " (file shrank)", e ? strerror(e) : "");
        }
        done += (size_t)r;
    }
    close(fd);
    buf[len] = '\0';
    *out = buf;
    *out_len = len;
    return NASC_OK;
}
