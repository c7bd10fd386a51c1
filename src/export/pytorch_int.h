/* pytorch_int.h — internals of the PyTorch writer shared by pytorch.c (the module's frame, the
 * weights file, the flat fallback) and pytorch_nets.c (one hand-written-style network per
 * search space). Never installed.
 *
 * A space writer appends Python classes and a `build()` to o->text, and names every weighted node
 * of the graph after the attribute path it has in those classes ("stem.0", "cells.3.ops.5.op.2");
 * pytorch.c then writes the weights under those names (py_node_weights) and the loader. */
#ifndef NASC_EXPORT_PYTORCH_INT_H
#define NASC_EXPORT_PYTORCH_INT_H

#include "core/buf.h"
#include "nasc/export.h"

typedef struct py_out {
    nasc_buf text;  /* the module */
    nasc_buf index; /* WEIGHTS entries: "name": (offset, (shape)), */
    float *w;       /* the weights file, nasc_malloc'd */
    size_t n, cap;  /* floats in w, allocated */
    bool oom;
} py_out;

/* A Python string literal of s (double quotes, escapes). */
NASC_INTERNAL void nasc_py_str(nasc_buf *b, const char *s);
/* A float in its shortest decimal form that reads back as the same float32. */
NASC_INTERNAL void nasc_py_float(nasc_buf *b, float v);
/* Appends n_dims-dimensional v to the weights file and its index entry "name". */
NASC_INTERNAL void nasc_py_tensor(py_out *o, const char *name, const float *v, int n_dims,
                                  const int *dims);
/* The state_dict entries of a conv, batch norm, linear or affine node under module path `at`:
 * weight (+ bias when the layer has one); weight, bias, running_mean, running_var; for affine the
 * buffers scale and shift (1,C,1,1). */
NASC_INTERNAL void nasc_py_node_weights(py_out *o, const char *at, const nasc_export_node *nd);

/* The graph node named `name` (a conv, batch norm or linear is named after nasc's parameter:
 * "stem", "stem.bn", "c3.o5.c0", "fc"), or NULL. */
NASC_INTERNAL const nasc_export_node *nasc_py_find(const nasc_export_graph *xg, const char *name);

/* One search space's network. */
typedef struct py_net {
    const char *space;
    const char *imports; /* extra import lines ("" for none) */
    /* Appends the readable architecture (GENOTYPE = ...) to top, written after SPACE and ARCH,
     * and the space's classes and build() to body; NASC_ERR_UNSUPPORTED when the graph does not
     * have the shape the space builds. */
    nasc_status (*write)(const nasc_export_graph *xg, nasc_buf *top, nasc_buf *body,
                         nasc_err *err);
    /* The module path of weighted node nd in the classes written (false: it has none). */
    bool (*path)(const nasc_export_graph *xg, const nasc_export_node *nd, char *out, size_t n);
} py_net;

/* The writer of xg's space, or NULL (the flat module is written then). */
NASC_INTERNAL const py_net *nasc_py_net_find(const char *space);

#endif /* NASC_EXPORT_PYTORCH_INT_H */
