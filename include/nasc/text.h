/*
 * text.h — small text helpers every layer's messages and outputs share: "did you mean" for a
 * mistyped name, the shortest decimal text of a number that reads back exactly, and sizes with
 * unit suffixes ("4G", "500M", "256KB").
 *
 * One home for each, so that commands, flags, strategies and spaces suggest the same way, every
 * CSV / table writer prints numbers the same way, and every size is read by one parser (bytes
 * in powers of 1024, counts in powers of 1000: the base is a parameter). Nothing here
 * allocates; results go into caller buffers.
 *
 *     char hint[96];
 *     nasc_errorf(err, NASC_ERR_ARG, "unknown strategy '%s'%s (strategies: %s)", name,
 *                 nasc_did_you_mean(name, nasc_strategy_names(), hint, sizeof hint), names);
 *     // "unknown strategy 'evolutoin'; did you mean 'evolution'? (strategies: ...)"
 *     char num[32];
 *     nasc_fmt_real(57.833332061767578, num, sizeof num);   // "57.833332" (a float's value)
 *     double bytes;
 *     nasc_parse_size("4G", 1024, "K M G", NASC_UNIT_NOCASE, &bytes); // 4294967296
 */
#ifndef NASC_TEXT_H
#define NASC_TEXT_H

#include <stdbool.h>
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

/* ---- sizes with unit suffixes ---- */

enum {
    NASC_UNIT_NOCASE = 1u << 0 /* suffixes match ignoring ASCII case ("kb" as "KB") */
};

/* The multiplier of the unit suffix `suffix` (what follows a size's number): 1 for "", else
 * base^p for a suffix listed in `units` (space-separated, e.g. "K M G" or "B KB MB"), where p is
 * 1, 2 or 3 for a first letter K, M or G (either case) and 0 for B ("B" alone, or after K, M, G:
 * "KB"). base is the unit's base: 1024 for bytes, 1000 for counts. Returns false (*out_mult
 * untouched) for a suffix that is not listed. */
NASC_API bool nasc_unit_multiplier(const char *suffix, double base, const char *units,
                                   unsigned flags, double *out_mult);

typedef enum nasc_size_rc {
    NASC_SIZE_OK = 0,
    NASC_SIZE_BAD_NUMBER, /* text does not start with a finite number (strtod's syntax) */
    NASC_SIZE_BAD_UNIT    /* the number is followed by a suffix `units` does not list */
} nasc_size_rc;

/* A size: a finite number and an optional unit suffix right after it (nasc_unit_multiplier:
 * base, units, flags), e.g. "4G" or "1.5e6". *out = number x multiplier on
 * NASC_SIZE_OK, untouched otherwise. The range (> 0, an upper limit) is the caller's. */
NASC_API nasc_size_rc nasc_parse_size(const char *text, double base, const char *units,
                                      unsigned flags, double *out);

#ifdef __cplusplus
}
#endif
#endif /* NASC_TEXT_H */
