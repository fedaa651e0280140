/* plot.h - a small SVG line-plot writer (axes, ticks, grid, legend, error
 * bars), so that `evalctl tables` draws accuracy against context length with
 * no plotting dependency. The SVG is plain SVG 1.1 text (UTF-8, numbers with a
 * dot), viewable in any browser and embeddable in Markdown.
 *
 * Each series is drawn as a polyline through its points (in the order given)
 * with a marker on every point, so a series of one point is a marker alone;
 * points whose y is NaN are skipped and break nothing. Error bars are drawn
 * where lo/hi are given and finite. */
#ifndef EV_PLOT_H
#define EV_PLOT_H

#include <stddef.h>

typedef struct {
    const char *name;        /* legend text */
    int n;
    const double *x, *y;     /* [n] */
    const double *lo, *hi;   /* [n] error bar ends, or NULL */
} plot_series;

typedef struct {
    const char *title, *xlabel, *ylabel;
    int log_x;                        /* x on a logarithmic axis (x > 0) */
    int n_xticks;                     /* x ticks at these values, with these labels; */
    const double *xticks;             /* n_xticks 0: five evenly spaced numbers */
    const char *const *xtick_labels;
    int y_fixed;                      /* 1: y from y_min to y_max; 0: from the data */
    double y_min, y_max;
} plot_spec;

/* The SVG document as a heap string (the caller frees it); *len may be NULL.
 * Never fails on finite input; NaN/inf points are left out. */
char *plot_svg(const plot_spec *p, const plot_series *s, int n_series, size_t *len);

#endif
