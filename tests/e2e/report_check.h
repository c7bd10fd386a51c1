/* report_check.h — checks of `nasc report` pages shared by test_report and test_report_train:
 *   - structure, in C: the expected sections and plots are present, and every plot has a <title>
 *     and <desc> (its text alternative) and axis labels that carry a unit ("... (s)");
 *   - rendering, in headless Chromium (Debian's `chromium`): the page loads, the DOM Chromium
 *     built holds the same plots, and nothing was logged to the console. Skipped, saying so, when
 *     there is no chromium. */
#ifndef NASC_TEST_REPORT_CHECK_H
#define NASC_TEST_REPORT_CHECK_H

#include "search_cli.h"

/* hay contains needle (prints only the needle on failure: pages are long) */
#define CHECK_HAS(hay, needle, label)                                                              \
    CHECK_MSG(strstr((hay), (needle)) != NULL, "%s: the page lacks \"%s\"", (label), (needle))

/* Runs `nasc report --db db --out html [extra]`; returns its exit code. */
static inline int report_run(const char *cli, const char *db, const char *html, const char *extra,
                             const char *err_path) {
    return search_runf(cli, NULL, err_path, "report --db %s --out %s --quiet %s", db, html,
                       extra ? extra : "");
}

/* The text between the first '>' after p and the next '<' (a label's text) into buf. */
static inline void report_text_after(const char *p, char *buf, size_t n) {
    buf[0] = '\0';
    const char *a = strchr(p, '>');
    const char *b = a ? strchr(a, '<') : NULL;
    if (!a || !b)
        return;
    size_t k = (size_t)(b - a - 1) < n - 1 ? (size_t)(b - a - 1) : n - 1;
    memcpy(buf, a + 1, k);
    buf[k] = '\0';
}

/* Every <figure class="plot ..."> has a title, a desc and axis labels with units in
 * parentheses; returns the number of plots. */
static inline int report_check_figures(const char *html, const char *label) {
    int n = 0;
    for (const char *p = strstr(html, "<figure class=\"plot"); p;
         p = strstr(p + 1, "<figure class=\"plot")) {
        n++;
        const char *end = strstr(p, "</figure>");
        CHECK_MSG(end != NULL, "%s: figure %d is not closed", label, n);
        if (!end)
            break;
        char id[64] = "";
        const char *q = strstr(p, "id=\"");
        if (q && q < end)
            sscanf(q + 4, "%63[^\"]", id);
        const char *t = strstr(p, "<title id="), *d = strstr(p, "<desc id=");
        CHECK_MSG(t && t < end && d && d < end, "%s: plot '%s' has no title / desc", label, id);
        char txt[256];
        if (d && d < end) {
            report_text_after(d, txt, sizeof txt);
            CHECK_MSG(strlen(txt) > 20, "%s: plot '%s': text alternative '%s' too short", label, id,
                      txt);
        }
        const bool parallel = !strcmp(id, "parallel");
        const char *axes[2] = {"class=\"xlabel\"", "class=\"ylabel\""};
        for (int a = 0; a < (parallel ? 1 : 2); a++) {
            const char *x = strstr(p, axes[a]);
            CHECK_MSG(x && x < end, "%s: plot '%s' has no %s", label, id, axes[a]);
            if (!x || x >= end)
                continue;
            report_text_after(x, txt, sizeof txt);
            CHECK_MSG(strchr(txt, '(') && strchr(txt, ')'),
                      "%s: plot '%s': axis label '%s' has "
                      "no unit",
                      label, id, txt);
        }
        CHECK_MSG(strstr(p, "</svg>") && strstr(p, "</svg>") < end, "%s: plot '%s': no </svg>",
                  label, id);
    }
    return n;
}

/* Each of ids (NULL-terminated) appears as id="..." in html. */
static inline void report_check_ids(const char *html, const char *const *ids, const char *label) {
    for (int i = 0; ids[i]; i++) {
        char pat[96];
        snprintf(pat, sizeof pat, "id=\"%s\"", ids[i]);
        CHECK_MSG(strstr(html, pat) != NULL, "%s: no element %s", label, pat);
    }
}

/* Renders html_path in headless Chromium: exit 0, the DOM it built holds ids and as many plots
 * as the file, and no console message. Returns false when there is no chromium (skipped). */
static inline bool report_chromium(const char *dir, const char *html_path, const char *const *ids,
                                   const char *label) {
    static const char *const bins[] = {"/usr/bin/chromium", "/usr/bin/chromium-browser",
                                       "/usr/bin/google-chrome"};
    const char *bin = NULL;
    for (size_t i = 0; i < sizeof bins / sizeof bins[0] && !bin; i++)
        if (!access(bins[i], X_OK))
            bin = bins[i];
    if (!bin) {
        fprintf(stderr,
                "note: no chromium (apt install chromium): rendering check of %s "
                "skipped\n",
                label);
        return false;
    }
    char url[600], prof[400], dom[400], log[400];
    snprintf(url, sizeof url, "file://%s", html_path);
    snprintf(prof, sizeof prof, "--user-data-dir=%s/chromium-profile", dir);
    snprintf(dom, sizeof dom, "%s/%s.dom", dir, label);
    snprintf(log, sizeof log, "%s/%s.chromium.log", dir, label);
    const char *args[] = {"--headless",
                          "--disable-gpu",
                          "--no-sandbox",
                          "--no-first-run",
                          prof,
                          "--enable-logging=stderr",
                          "--v=0",
                          "--dump-dom",
                          url,
                          NULL};
    const int rc = search_run(bin, args, -1, 120, dom, log);
    CHECK_MSG(rc == 0, "%s: chromium exited %d (see %s)", label, rc, log);
    char *d = search_slurp(dom), *l = search_slurp(log), *h = search_slurp(html_path);
    CHECK_MSG(strstr(d, "</html>") != NULL, "%s: chromium built no document (%s)", label, dom);
    report_check_ids(d, ids, label);
    int in_file = 0, in_dom = 0;
    for (const char *p = strstr(h, "<figure class=\"plot"); p; p = strstr(p + 1, "<figure"))
        in_file += !strncmp(p, "<figure class=\"plot", 19);
    for (const char *p = strstr(d, "<figure class=\"plot"); p; p = strstr(p + 1, "<figure"))
        in_dom += !strncmp(p, "<figure class=\"plot", 19);
    CHECK_MSG(in_file == in_dom, "%s: %d plots in the file, %d in Chromium's DOM", label, in_file,
              in_dom);
    /* console messages are logged as "[...:INFO:CONSOLE:line] \"text\", source: ..." */
    CHECK_MSG(strstr(l, ":CONSOLE") == NULL, "%s: console message in Chromium: %s", label,
              strstr(l, ":CONSOLE"));
    free(d);
    free(l);
    free(h);
    return true;
}

#endif /* NASC_TEST_REPORT_CHECK_H */
