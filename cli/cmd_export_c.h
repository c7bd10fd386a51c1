/* cmd_export_c.h — `nasc export --format c`: the output names, calibration and report of the C
 * export (the writer itself is nasc_export_c, export_c.h). */
#ifndef NASC_CLI_CMD_EXPORT_C_H
#define NASC_CLI_CMD_EXPORT_C_H

#include "cli.h"

#include "nasc/export_c.h"

typedef struct cli_export_c_opts {
    const char *quantize;    /* NULL or "int8" */
    const char *calibration; /* dataset spec (int8) */
    int calib_images;        /* calibration sample size */
    const char *name;        /* C prefix, NULL: from the output name */
    nasc_export_c_info *info; /* NULL, or receives the sizes written into the header */
} cli_export_c_opts;

/* Checks the flags before anything is loaded: CLI_OK or CLI_USAGE (message printed). */
int cli_export_c_check(const cli_export_c_opts *o);
/* Writes NAME.c and NAME.h for xg. out: an existing directory (DIR/NAME.{c,h}, NAME from the
 * model's file name), a path (PATH.c and PATH.h, a .c or .h suffix dropped), or NULL (beside the
 * model). Prints what was written (sizes; for int8 the bytes saved) to stderr. */
nasc_status cli_export_c(const char *model_path, const nasc_export_graph *xg,
                         const nasc_export_norm *norm, const char *out,
                         const cli_export_c_opts *o, nasc_err *err);

#endif /* NASC_CLI_CMD_EXPORT_C_H */
