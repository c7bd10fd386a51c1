/*
 * text.h — small text helpers every layer's messages and outputs share: "did you mean" for a
 * mistyped name, and the shortest decimal text of a number that reads back exactly.
 *
 * One home for both, so that commands, flags, strategies and spaces suggest the same way, and
 * every CSV / table writer prints numbers the same way. Nothing here allocates; results go into
 * caller buffers.
 *
 *     char hint[96];
 *     nasc_errorf(err, NASC_ERR_ARG, "unknown strategy '%s'%s (strategies: %s)", name,
 *                 nasc_did_you_mean(name, nasc_strategy_names(), hint, sizeof hint), names);
 *     // "unknown strategy 'evolutoin'; did you mean 'evolution'? (strategies: ...)"
 *     char num[32];
 *     nasc_fmt_real(57.833332061767578, num, sizeof num);   // "57.833332" (a float's value)
 */
#ifndef NASC_TEXT_H
#define NASC_TEXT_H

#include <stddef.h>

#include "nasc/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Optimal-string-alignment (Damerau-Levenshtein without repeated edits of one substring)
 * distance between a and b, ASCII case ignored: insertions, deletions, substitutions and
 * transpositions of two adjacent characters each cost 1. Strings longer than 63 bytes are
 * compared on their first 63. */
NASC_API int nasc_edit_distance(const char *a, const char *b);

/* The name in `names` closest to word, if it is a likely typo of it, copied into out (n bytes);
 * returns out, or NULL if no name is close (out then holds ""). `names` is a list separated by
 * commas, spaces or '|' (e.g. "nb201, darts, chain"). Close means: distance <= 1 for words of up
 * to 4 characters, <= 2 for longer ones, or word is a prefix (3+ characters) of exactly one
 * name. Ties go to the first name in the list. */
NASC_API const char *nasc_suggest(const char *word, const char *names, char *out, size_t n);

/* "; did you mean 'NAME'?" for nasc_suggest's answer, or "" if there is none: for appending to
 * an "unknown ..." message. Returns out. */
NASC_API const char *nasc_did_you_mean(const char *word, const char *names, char *out, size_t n);

/* The shortest decimal text ("%.Ng", N = 1..17) of v that reads back (strtod) as exactly v, into
 * out (n >= 32 bytes); "nan", "inf", "-inf" for those; integers below 2^53 in full ("%.0f"). If v is exactly a float's value (most
 * scores and metrics are computed in float and stored as double), the shortest text that reads
 * back as that float (strtof) is used instead, so 57.83333206176758 prints as 57.833332 rather
 * than with the float's binary noise; such a text reads back as the same float, which is all
 * the precision the value ever had. Returns out. */
NASC_API const char *nasc_fmt_real(double v, char *out, size_t n);

#ifdef __cplusplus
}
#endif
#endif /* NASC_TEXT_H */
