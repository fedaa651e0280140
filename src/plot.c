/* plot.c - the SVG line plot of plot.h. The plot area is a fixed 560 x 320
 * pixels; the legend sits to its right and the picture widens to hold the
 * longest name. Colours are the ten of matplotlib's "tab10" cycle; beyond ten
 * series the lines are dashed, and the marker shape changes with every series,
 * so that a grey print still tells them apart. */
#include "plot.h"

#include "util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PX0 80.0  /* plot area, left */
#define PW 560.0  /* plot area, width */
#define PY0 44.0  /* plot area, top */
#define PH 320.0  /* plot area, height */
#define HEIGHT 430 /* at least; more when the legend is longer */

static const char *const colours[10] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                        "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
static const char *const dashes[3] = {NULL, "7 4", "2 3"};

/* Text for an XML text node or attribute. */
static void put_text(FILE *f, const char *s) {
    for (; *s; s++) switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
}

/* A "nice" step (1, 2 or 5 times a power of ten) near x > 0. */
static double nice_step(double x) {
    double e = floor(log10(x)), f = x / pow(10, e);
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * pow(10, e);
}

typedef struct {
    double lo, hi;  /* axis range in data units (log units for a log axis) */
    int log;
} axis;

static double map_x(const axis *a, double x) {
    double t = a->log ? log(x) : x;
    return PX0 + (t - a->lo) / (a->hi - a->lo) * PW;
}

static double map_y(const axis *a, double y) { return PY0 + PH - (y - a->lo) / (a->hi - a->lo) * PH; }

static int ok_x(const plot_spec *p, double x) { return isfinite(x) && (!p->log_x || x > 0); }

/* One marker of shape k centred at (x, y). */
static void marker(FILE *f, int k, double x, double y, const char *col) {
    switch (k % 4) {
    case 0: fprintf(f, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"4\" fill=\"%s\"/>\n", x, y, col); break;
    case 1: fprintf(f, "<rect x=\"%.2f\" y=\"%.2f\" width=\"7\" height=\"7\" fill=\"%s\"/>\n", x - 3.5, y - 3.5, col); break;
    case 2:
        fprintf(f, "<polygon points=\"%.2f,%.2f %.2f,%.2f %.2f,%.2f\" fill=\"%s\"/>\n", x, y - 5, x - 4.5, y + 3.5,
                x + 4.5, y + 3.5, col);
        break;
    default:
        fprintf(f, "<polygon points=\"%.2f,%.2f %.2f,%.2f %.2f,%.2f %.2f,%.2f\" fill=\"%s\"/>\n", x, y - 5, x + 5, y,
                x, y + 5, x - 5, y, col);
    }
}

char *plot_svg(const plot_spec *p, const plot_series *s, int n_series, size_t *len) {
    /* ranges */
    double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
    for (int i = 0; i < n_series; i++)
        for (int k = 0; k < s[i].n; k++) {
            if (!ok_x(p, s[i].x[k]) || !isfinite(s[i].y[k])) continue;
            double t = p->log_x ? log(s[i].x[k]) : s[i].x[k];
            xmin = fmin(xmin, t), xmax = fmax(xmax, t);
            ymin = fmin(ymin, s[i].y[k]), ymax = fmax(ymax, s[i].y[k]);
            if (s[i].lo && isfinite(s[i].lo[k])) ymin = fmin(ymin, s[i].lo[k]), ymax = fmax(ymax, s[i].lo[k]);
            if (s[i].hi && isfinite(s[i].hi[k])) ymin = fmin(ymin, s[i].hi[k]), ymax = fmax(ymax, s[i].hi[k]);
        }
    for (int k = 0; k < p->n_xticks; k++)
        if (ok_x(p, p->xticks[k])) {
            double t = p->log_x ? log(p->xticks[k]) : p->xticks[k];
            xmin = fmin(xmin, t), xmax = fmax(xmax, t);
        }
    if (!(xmin <= xmax)) xmin = 0, xmax = 1;
    axis ax = {xmin, xmax, p->log_x};
    if (xmax - xmin <= 0) { /* one x: in the middle */
        double pad = p->log_x ? log(2.0) : fmax(1.0, fabs(xmin) * 0.5);
        ax.lo -= pad, ax.hi += pad;
    } else {
        double pad = (xmax - xmin) * 0.07;
        ax.lo -= pad, ax.hi += pad;
    }
    axis ay = {0, 1, 0};
    double ystep;
    if (p->y_fixed && p->y_max > p->y_min) {
        ay.lo = p->y_min, ay.hi = p->y_max;
        ystep = nice_step((ay.hi - ay.lo) / 5);
    } else {
        if (!(ymin <= ymax)) ymin = 0, ymax = 1;
        if (ymax - ymin <= 0) {
            double pad = fabs(ymin) > 0 ? fabs(ymin) * 0.1 : 1;
            ymin -= pad, ymax += pad;
        }
        ystep = nice_step((ymax - ymin) / 5);
        ay.lo = floor(ymin / ystep) * ystep;
        ay.hi = ceil(ymax / ystep) * ystep;
        if (ay.hi <= ay.lo) ay.hi = ay.lo + ystep;
    }
    int ydec = ystep >= 1 ? 0 : (int)ceil(-log10(ystep) - 1e-9);

    size_t longest = 0;
    for (int i = 0; i < n_series; i++) {
        size_t l = strlen(s[i].name ? s[i].name : "");
        if (l > longest) longest = l;
    }
    int width = (int)(PX0 + PW + 60 + 7.2 * (double)longest + 20);
    int height = HEIGHT;
    if (PY0 + 10 + 20.0 * n_series > height) height = (int)(PY0 + 10 + 20.0 * n_series);

    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    if (!f) ev_fatal("plot: open_memstream failed");
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
               "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
               "font-family=\"sans-serif\" font-size=\"12\">\n",
            width, height, width, height);
    fprintf(f, "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n", width, height);
    fprintf(f, "<defs><clipPath id=\"area\"><rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\"/></clipPath></defs>\n",
            PX0 - 6, PY0 - 6, PW + 12, PH + 12);
    if (p->title) {
        fprintf(f, "<text x=\"%.2f\" y=\"24\" text-anchor=\"middle\" font-size=\"15\">", PX0 + PW / 2);
        put_text(f, p->title);
        fputs("</text>\n", f);
    }
    /* y grid, ticks and labels */
    fputs("<g class=\"yaxis\">\n", f);
    for (int k = 0;; k++) {
        double v = ay.lo + k * ystep;
        if (v > ay.hi + ystep * 1e-6) break;
        double y = map_y(&ay, v);
        fprintf(f, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#dddddd\"/>\n", PX0, y, PX0 + PW, y);
        fprintf(f, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"black\"/>\n", PX0 - 5, y, PX0, y);
        fprintf(f, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"end\">%.*f</text>\n", PX0 - 8, y + 4, ydec,
                fabs(v) < ystep * 1e-9 ? 0.0 : v);
    }
    fputs("</g>\n<g class=\"xaxis\">\n", f);
    /* x ticks */
    if (p->n_xticks > 0) {
        for (int k = 0; k < p->n_xticks; k++) {
            if (!ok_x(p, p->xticks[k])) continue;
            double x = map_x(&ax, p->xticks[k]);
            fprintf(f, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#dddddd\"/>\n", x, PY0, x, PY0 + PH);
            fprintf(f, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"black\"/>\n", x, PY0 + PH, x,
                    PY0 + PH + 5);
            fprintf(f, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\">", x, PY0 + PH + 19);
            if (p->xtick_labels && p->xtick_labels[k]) put_text(f, p->xtick_labels[k]);
            else fprintf(f, "%g", p->xticks[k]);
            fputs("</text>\n", f);
        }
    } else {
        for (int k = 0; k <= 4; k++) {
            double t = xmin + (xmax - xmin) * k / 4, v = p->log_x ? exp(t) : t;
            double x = map_x(&ax, v);
            fprintf(f, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"black\"/>\n", x, PY0 + PH, x,
                    PY0 + PH + 5);
            fprintf(f, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\">%.4g</text>\n", x, PY0 + PH + 19, v);
            if (xmax <= xmin) break;
        }
    }
    fputs("</g>\n", f);
    /* axes and their labels */
    fprintf(f, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"black\"/>\n", PX0, PY0, PX0, PY0 + PH);
    fprintf(f, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"black\"/>\n", PX0, PY0 + PH, PX0 + PW,
            PY0 + PH);
    if (p->xlabel) {
        fprintf(f, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\">", PX0 + PW / 2, PY0 + PH + 44);
        put_text(f, p->xlabel);
        fputs("</text>\n", f);
    }
    if (p->ylabel) {
        double x = 22, y = PY0 + PH / 2;
        fprintf(f, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\" transform=\"rotate(-90 %.2f %.2f)\">", x, y, x, y);
        put_text(f, p->ylabel);
        fputs("</text>\n", f);
    }
    /* the series, clipped to the plot area */
    for (int i = 0; i < n_series; i++) {
        const char *col = colours[i % 10], *dash = dashes[(i / 10) % 3];
        fputs("<g class=\"series\" clip-path=\"url(#area)\">\n<title>", f);
        put_text(f, s[i].name ? s[i].name : "");
        fputs("</title>\n", f);
        int shown = 0;
        for (int k = 0; k < s[i].n; k++) shown += ok_x(p, s[i].x[k]) && isfinite(s[i].y[k]);
        if (shown >= 2) {
            fputs("<polyline points=\"", f);
            int first = 1;
            for (int k = 0; k < s[i].n; k++) {
                if (!ok_x(p, s[i].x[k]) || !isfinite(s[i].y[k])) continue;
                fprintf(f, "%s%.2f,%.2f", first ? "" : " ", map_x(&ax, s[i].x[k]), map_y(&ay, s[i].y[k]));
                first = 0;
            }
            fprintf(f, "\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\"", col);
            if (dash) fprintf(f, " stroke-dasharray=\"%s\"", dash);
            fputs("/>\n", f);
        }
        for (int k = 0; k < s[i].n; k++) {
            if (!ok_x(p, s[i].x[k]) || !isfinite(s[i].y[k])) continue;
            double x = map_x(&ax, s[i].x[k]);
            if (s[i].lo && s[i].hi && isfinite(s[i].lo[k]) && isfinite(s[i].hi[k])) {
                double a = map_y(&ay, s[i].lo[k]), b = map_y(&ay, s[i].hi[k]);
                fprintf(f,
                        "<path class=\"errorbar\" d=\"M%.2f,%.2fV%.2fM%.2f,%.2fH%.2fM%.2f,%.2fH%.2f\" stroke=\"%s\" "
                        "fill=\"none\"/>\n",
                        x, a, b, x - 4, a, x + 4, x - 4, b, x + 4, col);
            }
            marker(f, i, x, map_y(&ay, s[i].y[k]), col);
        }
        fputs("</g>\n", f);
    }
    /* the legend */
    fputs("<g class=\"legend\">\n", f);
    for (int i = 0; i < n_series; i++) {
        const char *col = colours[i % 10], *dash = dashes[(i / 10) % 3];
        double x = PX0 + PW + 20, y = PY0 + 10 + 20.0 * i;
        fprintf(f, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"%s\" stroke-width=\"2\"", x, y,
                x + 28, y, col);
        if (dash) fprintf(f, " stroke-dasharray=\"%s\"", dash);
        fputs("/>\n", f);
        marker(f, i, x + 14, y, col);
        fprintf(f, "<text x=\"%.2f\" y=\"%.2f\">", x + 36, y + 4);
        put_text(f, s[i].name ? s[i].name : "");
        fputs("</text>\n", f);
    }
    fputs("</g>\n</svg>\n", f);
    if (fclose(f) != 0) ev_fatal("plot: cannot build the SVG in memory");
    if (len) *len = n;
    return buf;
}
