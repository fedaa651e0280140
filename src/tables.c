/* tables.c - `evalctl tables`: reads run directories, groups them by
 * benchmark and model, and writes the tables and plots tables.h lists. The
 * numbers are carried as the text the runs wrote, so the CSV tables hold
 * exactly what summary.csv and pvalues.csv hold. */
#include "tables.h"

#include "csv.h"
#include "ini.h"
#include "plot.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------------ model */

typedef struct {
    char *name;   /* the NAME of [variant.NAME] */
    char *params; /* "key=value ..." of its section, keys sorted; "" without one */
} tvar;

/* One summary.csv row. */
typedef struct {
    long length;
    int task;             /* index into tasks; -1: the "average" row */
    int var;
    double mean, lo, hi;  /* lo, hi: NaN when absent */
    char *mean_s, *n_s, *lo_s, *hi_s;
    char *where;          /* FILE:LINE */
    int run;
} tcell;

/* One pvalues.csv row. */
typedef struct {
    long length;
    char *group;
    int var, base;
    double p;
    char *f[6];           /* n, mean_base, mean_variant, mean_diff, p_value, method ("" when absent) */
    char *where;
    int run;
} tpval;

typedef struct {
    char *key;            /* file-name prefix, BENCHMARK_MODEL */
    char *bench, *model;  /* as the first run's config.ini says ("" when absent) */
    char **runs;          /* run directories */
    int n_runs;
    char **tasks;         /* first-seen order */
    int n_tasks;
    tvar *vars;           /* first-seen order */
    int n_vars;
    tcell *cells;
    int n_cells;
    tpval *pv;
    int n_pv;
} tgroup;

struct tables_set {
    tgroup *g;
    int n;
};

static const char *const pv_opt_cols[6] = {"n", "mean_base", "mean_variant", "mean_diff", "p_value", "method"};

tables_set *tables_new(void) { return xcalloc(1, sizeof(tables_set)); }

static void group_free(tgroup *g) {
    for (int i = 0; i < g->n_runs; i++) free(g->runs[i]);
    for (int i = 0; i < g->n_tasks; i++) free(g->tasks[i]);
    for (int i = 0; i < g->n_vars; i++) {
        free(g->vars[i].name);
        free(g->vars[i].params);
    }
    for (int i = 0; i < g->n_cells; i++) {
        tcell *c = &g->cells[i];
        free(c->mean_s), free(c->n_s), free(c->lo_s), free(c->hi_s), free(c->where);
    }
    for (int i = 0; i < g->n_pv; i++) {
        free(g->pv[i].group);
        free(g->pv[i].where);
        for (int k = 0; k < 6; k++) free(g->pv[i].f[k]);
    }
    free(g->runs), free(g->tasks), free(g->vars), free(g->cells), free(g->pv);
    free(g->key), free(g->bench), free(g->model);
}

void tables_free(tables_set *t) {
    if (!t) return;
    for (int i = 0; i < t->n; i++) group_free(&t->g[i]);
    free(t->g);
    free(t);
}

void tables_length_label(long length, char *buf, size_t n) {
    if (length > 0 && length % 1024 == 0) snprintf(buf, n, "%ldK", length / 1024);
    else snprintf(buf, n, "%ld", length);
}

/* ------------------------------------------------------------------ reading */

/* s with every byte outside [A-Za-z0-9._-] made '_' (heap). */
static char *file_safe(const char *s) {
    char *r = xstrdup(*s ? s : "unknown");
    for (char *p = r; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '.' && *p != '_' && *p != '-') *p = '_';
    if (r[0] == '.') r[0] = '_';
    return r;
}

/* The model's name: the last path component, without .gguf (heap). */
static char *model_slug(const char *model) {
    char *m = xstrdup(model);
    size_t l = strlen(m);
    while (l > 1 && m[l - 1] == '/') m[--l] = 0;
    const char *b = strrchr(m, '/');
    b = b ? b + 1 : m;
    char *r = xstrdup(b);
    l = strlen(r);
    if (l > 5 && !strcmp(r + l - 5, ".gguf")) r[l - 5] = 0;
    free(m);
    return r;
}

/* "variant=..." first, then the other keys by name. */
static int cmp_param(const void *a, const void *b) {
    const char *x = *(char *const *)a, *y = *(char *const *)b;
    int vx = !strncmp(x, "variant=", 8), vy = !strncmp(y, "variant=", 8);
    return vx != vy ? vy - vx : strcmp(x, y);
}

/* "key=value ..." of section sec, the variant first and the other keys sorted
 * (heap; "" when absent). */
static char *section_params(const ini *c, const char *sec) {
    int s = ini_section_find(c, sec);
    if (s < 0) return xstrdup("");
    int n = ini_key_count(c, s);
    char **kv = xcalloc((size_t)n + 1, sizeof *kv);
    size_t total = 1;
    for (int k = 0; k < n; k++) {
        const char *a = ini_key_name(c, s, k), *b = ini_key_value(c, s, k);
        size_t l = strlen(a) + strlen(b) + 2;
        kv[k] = xmalloc(l);
        snprintf(kv[k], l, "%s=%s", a, b);
        total += l;
    }
    qsort(kv, (size_t)n, sizeof *kv, cmp_param);
    char *r = xmalloc(total);
    r[0] = 0;
    for (int k = 0; k < n; k++) {
        if (k) strcat(r, " ");
        strcat(r, kv[k]);
        free(kv[k]);
    }
    free(kv);
    return r;
}

static int find_var(tgroup *g, const ini *c, const char *name) {
    size_t l = strlen(name) + 9;
    char *sec = xmalloc(l);
    snprintf(sec, l, "variant.%s", name);
    char *params = section_params(c, sec);
    free(sec);
    for (int i = 0; i < g->n_vars; i++)
        if (!strcmp(g->vars[i].name, name) && !strcmp(g->vars[i].params, params)) {
            free(params);
            return i;
        }
    g->vars = xrealloc(g->vars, sizeof *g->vars * (size_t)(g->n_vars + 1));
    g->vars[g->n_vars].name = xstrdup(name);
    g->vars[g->n_vars].params = params;
    return g->n_vars++;
}

static int find_task(tgroup *g, const char *name) {
    for (int i = 0; i < g->n_tasks; i++)
        if (!strcmp(g->tasks[i], name)) return i;
    g->tasks = xrealloc(g->tasks, sizeof *g->tasks * (size_t)(g->n_tasks + 1));
    g->tasks[g->n_tasks] = xstrdup(name);
    return g->n_tasks++;
}

/* A whole decimal integer in [1, 2^40]. */
static int parse_length(const char *s, long *out) {
    if (!isdigit((unsigned char)s[0])) return -1;
    char *end;
    errno = 0;
    long x = strtol(s, &end, 10);
    if (*end || errno || x < 1 || x > (1L << 40)) return -1;
    *out = x;
    return 0;
}

/* A finite decimal number (no hex, inf, nan, spaces). */
static int parse_num(const char *s, double *out) {
    if (!*s || isspace((unsigned char)*s) || strpbrk(s, "xXnNiI")) return -1;
    char *end;
    errno = 0;
    double x = strtod(s, &end);
    if (*end || !isfinite(x)) return -1;
    *out = x;
    return 0;
}

static char *where_of(const csv_table *t, int r) {
    size_t l = strlen(t->name) + 16;
    char *w = xmalloc(l);
    snprintf(w, l, "%s:%d", t->name, t->line[r]);
    return w;
}

/* Column indices of the required (must) and optional (may) names; -1 after
 * one error line when a required one is missing. */
static int columns(const csv_table *t, const char *const *must, int n_must, int *cm, const char *const *may,
                   int n_may, int *cy, const char *want) {
    if (t->n_rows == 0) return ev_error("%s:1: empty (no header line)", t->name);
    for (int i = 0; i < n_must; i++)
        if ((cm[i] = csv_column(t, must[i])) < 0)
            return ev_error("%s:%d: no '%s' column (the header should be %s)", t->name, t->line[0], must[i], want);
    for (int i = 0; i < n_may; i++) cy[i] = csv_column(t, may[i]);
    return 0;
}

static int read_summary(tgroup *g, int run, const ini *c, const char *path) {
    static const char *const must[] = {"length", "task", "variant", "mean"};
    static const char *const may[] = {"n", "ci_lo", "ci_hi"};
    int cm[4], cy[3], rcode = -1;
    csv_table *t = csv_read(path);
    if (!t) return -1;
    if (columns(t, must, 4, cm, may, 3, cy, "length,task,variant,n,mean,ci_lo,ci_hi") < 0) goto out;
    for (int r = 1; r < t->n_rows; r++) {
        char **f = t->fields[r];
        if (t->n_fields[r] != t->n_fields[0]) {
            ev_error("%s:%d: %d fields, the header has %d", path, t->line[r], t->n_fields[r], t->n_fields[0]);
            goto out;
        }
        tcell x = {0};
        x.lo = x.hi = NAN;
        if (parse_length(f[cm[0]], &x.length) < 0) {
            ev_error("%s:%d: length '%s' is not a positive whole number", path, t->line[r], f[cm[0]]);
            goto out;
        }
        if (!*f[cm[1]] || !*f[cm[2]]) {
            ev_error("%s:%d: empty %s", path, t->line[r], *f[cm[1]] ? "variant" : "task");
            goto out;
        }
        if (parse_num(f[cm[3]], &x.mean) < 0) {
            ev_error("%s:%d: mean '%s' is not a number", path, t->line[r], f[cm[3]]);
            goto out;
        }
        if (cy[0] >= 0 && *f[cy[0]] && strspn(f[cy[0]], "0123456789") != strlen(f[cy[0]])) {
            ev_error("%s:%d: n '%s' is not a whole number", path, t->line[r], f[cy[0]]);
            goto out;
        }
        for (int k = 1; k <= 2; k++)
            if (cy[k] >= 0 && *f[cy[k]] && parse_num(f[cy[k]], k == 1 ? &x.lo : &x.hi) < 0) {
                ev_error("%s:%d: %s '%s' is not a number", path, t->line[r], may[k], f[cy[k]]);
                goto out;
            }
        x.task = strcmp(f[cm[1]], "average") ? find_task(g, f[cm[1]]) : -1;
        x.var = find_var(g, c, f[cm[2]]);
        for (int i = 0; i < g->n_cells; i++) {
            const tcell *o = &g->cells[i];
            if (o->length == x.length && o->task == x.task && o->var == x.var) {
                ev_error("%s:%d: length %ld task %s variant %s is also in %s", path, t->line[r], x.length,
                         f[cm[1]], f[cm[2]], o->where);
                goto out;
            }
        }
        x.mean_s = xstrdup(f[cm[3]]);
        x.n_s = xstrdup(cy[0] >= 0 ? f[cy[0]] : "");
        x.lo_s = xstrdup(cy[1] >= 0 ? f[cy[1]] : "");
        x.hi_s = xstrdup(cy[2] >= 0 ? f[cy[2]] : "");
        x.where = where_of(t, r);
        x.run = run;
        g->cells = xrealloc(g->cells, sizeof *g->cells * (size_t)(g->n_cells + 1));
        g->cells[g->n_cells++] = x;
    }
    rcode = 0;
out:
    csv_free(t);
    return rcode;
}

static int read_pvalues(tgroup *g, int run, const ini *c, const char *path) {
    static const char *const must[] = {"length", "group", "variant", "base", "p_value"};
    int cm[5], cy[6], rcode = -1;
    csv_table *t = csv_read(path);
    if (!t) return -1;
    if (columns(t, must, 5, cm, pv_opt_cols, 6, cy,
                "length,group,variant,base,n,mean_base,mean_variant,mean_diff,p_value,method") < 0)
        goto out;
    for (int r = 1; r < t->n_rows; r++) {
        char **f = t->fields[r];
        if (t->n_fields[r] != t->n_fields[0]) {
            ev_error("%s:%d: %d fields, the header has %d", path, t->line[r], t->n_fields[r], t->n_fields[0]);
            goto out;
        }
        tpval x = {0};
        if (parse_length(f[cm[0]], &x.length) < 0) {
            ev_error("%s:%d: length '%s' is not a positive whole number", path, t->line[r], f[cm[0]]);
            goto out;
        }
        if (!*f[cm[1]] || !*f[cm[2]] || !*f[cm[3]]) {
            ev_error("%s:%d: empty group, variant or base", path, t->line[r]);
            goto out;
        }
        if (parse_num(f[cm[4]], &x.p) < 0 || x.p < 0 || x.p > 1) {
            ev_error("%s:%d: p_value '%s' is not a number in [0, 1]", path, t->line[r], f[cm[4]]);
            goto out;
        }
        x.var = find_var(g, c, f[cm[2]]);
        x.base = find_var(g, c, f[cm[3]]);
        for (int i = 0; i < g->n_pv; i++) {
            const tpval *o = &g->pv[i];
            if (o->length == x.length && o->var == x.var && o->base == x.base && !strcmp(o->group, f[cm[1]])) {
                ev_error("%s:%d: length %ld group %s variant %s base %s is also in %s", path, t->line[r], x.length,
                         f[cm[1]], f[cm[2]], f[cm[3]], o->where);
                goto out;
            }
        }
        x.group = xstrdup(f[cm[1]]);
        for (int k = 0; k < 6; k++) x.f[k] = xstrdup(cy[k] >= 0 ? f[cy[k]] : "");
        x.where = where_of(t, r);
        x.run = run;
        g->pv = xrealloc(g->pv, sizeof *g->pv * (size_t)(g->n_pv + 1));
        g->pv[g->n_pv++] = x;
    }
    rcode = 0;
out:
    csv_free(t);
    return rcode;
}

int tables_add_run(tables_set *t, const char *dir_in) {
    char *dir = xstrdup(dir_in);
    for (size_t l = strlen(dir); l > 1 && dir[l - 1] == '/'; l--) dir[l - 1] = 0;
    char *cp = ev_path_join(dir, "config.ini"), *sp = ev_path_join(dir, "summary.csv"),
         *pp = ev_path_join(dir, "pvalues.csv");
    int rcode = -1;
    ini *c = NULL;
    if (!ev_is_dir(dir)) {
        ev_error("%s: not a run directory", dir);
        goto out;
    }
    if (!(c = ini_open(cp))) goto out;
    const char *bench = ini_get(c, "benchmark", "name"), *model = ini_get(c, "run", "model");
    char *slug = model_slug(model ? model : ""), *b = file_safe(bench ? bench : ""), *m = file_safe(slug);
    size_t kl = strlen(b) + strlen(m) + 2;
    char *key = xmalloc(kl);
    snprintf(key, kl, "%s_%s", b, m);
    free(b), free(m);
    tgroup *g = NULL;
    for (int i = 0; i < t->n; i++)
        if (!strcmp(t->g[i].key, key)) g = &t->g[i];
    int fresh = !g;
    if (fresh) {
        t->g = xrealloc(t->g, sizeof *t->g * (size_t)(t->n + 1));
        g = &t->g[t->n++];
        memset(g, 0, sizeof *g);
        g->key = key;
        g->bench = xstrdup(bench ? bench : "");
        g->model = slug;
    } else {
        free(key);
        free(slug);
    }
    g->runs = xrealloc(g->runs, sizeof *g->runs * (size_t)(g->n_runs + 1));
    g->runs[g->n_runs++] = xstrdup(dir);
    if (read_summary(g, g->n_runs - 1, c, sp) < 0) goto out;
    if (access(pp, F_OK) == 0 && read_pvalues(g, g->n_runs - 1, c, pp) < 0) goto out;
    rcode = 0;
out:
    ini_free(c);
    free(cp), free(sp), free(pp), free(dir);
    return rcode;
}

/* ------------------------------------------------------------------ grids */

/* A table being built, written both as CSV (raw text) and Markdown. */
enum { G_MISSING = -1, G_TEXT = 0, G_MEAN = 1, G_P = 2 };
typedef struct {
    char *raw, *md; /* md: the Markdown text when it differs (headers) */
    double v;
    int kind;
} gcell;
typedef struct {
    int rows, cols, n_left; /* the first n_left columns are text, left-aligned */
    gcell *c;
} grid;

static grid grid_new(int rows, int cols, int n_left) {
    grid g = {rows, cols, n_left, xcalloc((size_t)rows * (size_t)cols, sizeof(gcell))};
    for (int i = 0; i < rows * cols; i++) g.c[i].kind = G_MISSING;
    return g;
}

static void grid_set(grid *g, int r, int c, const char *raw, const char *md, double v, int kind) {
    gcell *x = &g->c[r * g->cols + c];
    free(x->raw), free(x->md);
    x->raw = xstrdup(raw);
    x->md = md ? xstrdup(md) : NULL;
    x->v = v;
    x->kind = kind;
}

static void grid_free(grid *g) {
    for (int i = 0; i < g->rows * g->cols; i++) free(g->c[i].raw), free(g->c[i].md);
    free(g->c);
}

static char *grid_csv(const grid *g, size_t *len) {
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    if (!f) ev_fatal("tables: open_memstream failed");
    for (int r = 0; r < g->rows; r++)
        for (int c = 0; c < g->cols; c++) {
            const gcell *x = &g->c[r * g->cols + c];
            csv_put(f, x->kind == G_MISSING || !x->raw ? "" : x->raw, c == g->cols - 1);
        }
    if (fclose(f) != 0) ev_fatal("tables: cannot build a table in memory");
    *len = n;
    return buf;
}

static void md_text(FILE *f, const char *s) {
    for (; *s; s++) {
        if (*s == '|' || *s == '\\') fputc('\\', f);
        fputc(*s == '\n' || *s == '\r' ? ' ' : *s, f);
    }
}

static void md_grid(FILE *f, const grid *g) {
    for (int r = 0; r < g->rows; r++) {
        fputs("|", f);
        for (int c = 0; c < g->cols; c++) {
            const gcell *x = &g->c[r * g->cols + c];
            fputc(' ', f);
            if (x->kind == G_MISSING) fputs("-", f);
            else if (x->kind == G_MEAN) fprintf(f, "%.2f", x->v);
            else if (x->kind == G_P) fprintf(f, "%.3g", x->v);
            else md_text(f, x->md ? x->md : x->raw);
            fputs(" |", f);
        }
        fputs("\n", f);
        if (r == 0) {
            fputs("|", f);
            for (int c = 0; c < g->cols; c++) fputs(c < g->n_left ? " --- |" : " ---: |", f);
            fputs("\n", f);
        }
    }
}

/* ------------------------------------------------------------------ writing */

typedef struct {
    const char *display;    /* the benchmark as headings name it */
    const char *by_length;  /* heading of the by-length table */
    const char *per_task;   /* heading of a per-task table, before "at L tokens" */
    const char *ylabel;
    int percent;            /* scores in 0..100: fixed y axis when they fit (InfiniteBench's are 0..1) */
} bench_info;

static bench_info bench_of(const char *name) {
    if (!strcmp(name, "ruler"))
        return (bench_info){"RULER", "Average accuracy (%) by context length", "Accuracy (%) per task",
                            "accuracy (%)", 1};
    if (!strcmp(name, "infinitebench"))
        return (bench_info){"InfiniteBench", "Average score by context length", "Score per task",
                            "score", 0};
    if (!strcmp(name, "pg19"))
        return (bench_info){"PG19", "Perplexity by context length (lower is better)",
                            "Perplexity per task", "perplexity", 0};
    return (bench_info){NULL, "Mean score by context length", "Mean score per task", "mean score", 0};
}

static int cmp_long(const void *a, const void *b) {
    long x = *(const long *)a, y = *(const long *)b;
    return x < y ? -1 : x > y;
}

/* The lengths of a group, ascending (heap). */
static long *group_lengths(const tgroup *g, int *n) {
    long *ls = xmalloc(sizeof *ls * (size_t)(g->n_cells + g->n_pv + 1));
    int k = 0;
    for (int i = 0; i < g->n_cells + g->n_pv; i++) {
        long l = i < g->n_cells ? g->cells[i].length : g->pv[i - g->n_cells].length;
        int seen = 0;
        for (int j = 0; j < k && !seen; j++) seen = ls[j] == l;
        if (!seen) ls[k++] = l;
    }
    qsort(ls, (size_t)k, sizeof *ls, cmp_long);
    *n = k;
    return ls;
}

static const tcell *cell_at(const tgroup *g, long length, int task, int var) {
    for (int i = 0; i < g->n_cells; i++)
        if (g->cells[i].length == length && g->cells[i].task == task && g->cells[i].var == var) return &g->cells[i];
    return NULL;
}

/* The row label of variant v: its NAME, with its parameters when another
 * variant of the group has the same NAME (heap). */
static char *var_label(const tgroup *g, int v) {
    int twin = 0;
    for (int i = 0; i < g->n_vars; i++) twin |= i != v && !strcmp(g->vars[i].name, g->vars[v].name);
    if (!twin) return xstrdup(g->vars[v].name);
    size_t l = strlen(g->vars[v].name) + strlen(g->vars[v].params) + 8;
    char *s = xmalloc(l);
    snprintf(s, l, "%s [%s]", g->vars[v].name, *g->vars[v].params ? g->vars[v].params : "no config section");
    return s;
}


/* Writes outdir/name through a temporary file and a rename, so a reader never
 * sees half a table. */
static int put_file(const char *outdir, const char *name, const char *text, size_t n, FILE *list) {
    char *path = ev_path_join(outdir, name);
    size_t pl = strlen(path) + 8;
    char *tmp = xmalloc(pl);
    snprintf(tmp, pl, "%s.tmp", path);
    int rc = -1;
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        ev_error("%s: %s", tmp, strerror(errno));
        goto out;
    }
    size_t w = fwrite(text, 1, n, f);
    int e = ferror(f);
    if (fclose(f) != 0 || e || w != n) {
        ev_error("%s: write error", tmp);
        unlink(tmp);
        goto out;
    }
    if (rename(tmp, path) != 0) {
        ev_error("%s: rename: %s", path, strerror(errno));
        unlink(tmp);
        goto out;
    }
    if (list) fprintf(list, "%s\n", path);
    rc = 0;
out:
    free(tmp);
    free(path);
    return rc;
}

static int put_grid(const char *outdir, const char *key, const char *suffix, const grid *g, FILE *list) {
    char name[512];
    size_t n;
    snprintf(name, sizeof name, "%s-%s.csv", key, suffix);
    char *csv = grid_csv(g, &n);
    int r = put_file(outdir, name, csv, n, list);
    free(csv);
    if (r < 0) return -1;
    char *md = NULL;
    FILE *f = open_memstream(&md, &n);
    if (!f) ev_fatal("tables: open_memstream failed");
    md_grid(f, g);
    if (fclose(f) != 0) ev_fatal("tables: cannot build a table in memory");
    snprintf(name, sizeof name, "%s-%s.md", key, suffix);
    r = put_file(outdir, name, md, n, list);
    free(md);
    return r;
}

/* Where the by-length table comes from: -1 the "average" rows, a task index
 * when there are no averages and one task, -2 when neither. */
static int headline_task(const tgroup *g) {
    for (int i = 0; i < g->n_cells; i++)
        if (g->cells[i].task == -1) return -1;
    return g->n_tasks == 1 ? 0 : -2;
}

static char *svg_of(const tgroup *g, const bench_info *bi, int head, const long *ls, int nl) {
    int nv = g->n_vars;
    plot_series *s = xcalloc((size_t)nv, sizeof *s);
    double *xs = xmalloc(sizeof *xs * (size_t)(nv * nl * 4 + nl)), *tk = xs + nv * nl * 4;
    char **labels = xcalloc((size_t)nl, sizeof *labels), **names = xcalloc((size_t)nv, sizeof *names);
    int in_pct = 1;
    for (int li = 0; li < nl; li++) {
        char lab[32];
        tables_length_label(ls[li], lab, sizeof lab);
        labels[li] = xstrdup(lab);
        tk[li] = (double)ls[li];
    }
    int ns = 0;
    for (int v = 0; v < nv; v++) {
        double *x = xs + (size_t)ns * nl * 4, *y = x + nl, *lo = y + nl, *hi = lo + nl;
        int k = 0;
        for (int li = 0; li < nl; li++) {
            const tcell *c = cell_at(g, ls[li], head, v);
            if (!c) continue;
            x[k] = (double)ls[li], y[k] = c->mean, lo[k] = c->lo, hi[k] = c->hi;
            in_pct &= c->mean >= 0 && c->mean <= 100 && !(c->lo < 0) && !(c->hi > 100);
            k++;
        }
        if (!k) continue;
        names[ns] = var_label(g, v);
        s[ns] = (plot_series){names[ns], k, x, y, lo, hi};
        ns++;
    }
    char title[512];
    if (bi->display) snprintf(title, sizeof title, "%s, %s", bi->display, g->model);
    else snprintf(title, sizeof title, "%s, %s", *g->bench ? g->bench : "unknown benchmark", g->model);
    char ylabel[128];
    if (head >= 0 && bi->percent) snprintf(ylabel, sizeof ylabel, "%s: %s", g->tasks[head], bi->ylabel);
    else snprintf(ylabel, sizeof ylabel, "%s%s", head == -1 && bi->percent ? "average " : "", bi->ylabel);
    plot_spec p = {.title = title, .xlabel = "context length (tokens)", .ylabel = ylabel, .log_x = 1,
                   .n_xticks = nl, .xticks = tk, .xtick_labels = (const char *const *)labels,
                   .y_fixed = bi->percent && in_pct, .y_min = 0, .y_max = 100};
    char *svg = plot_svg(&p, s, ns, NULL);
    for (int i = 0; i < nl; i++) free(labels[i]);
    for (int i = 0; i < ns; i++) free(names[i]);
    free(labels), free(names), free(xs), free(s);
    return svg;
}

static int write_group(const tgroup *g, const char *outdir, FILE *list, FILE *idx) {
    bench_info bi = bench_of(g->bench);
    int nl, rcode = -1, head = headline_task(g);
    long *ls = group_lengths(g, &nl);
    char lab[32];
    grid gr = {0};
    fprintf(idx, "## %s, %s\n\nRuns:", bi.display ? bi.display : *g->bench ? g->bench : "unknown benchmark",
            g->model);
    for (int i = 0; i < g->n_runs; i++) fprintf(idx, "%s `%s`", i ? "," : "", g->runs[i]);
    fputs(".\n\n", idx);

    /* by length */
    if (head != -2 && g->n_cells) {
        gr = grid_new(g->n_vars + 1, nl + 1, 1);
        grid_set(&gr, 0, 0, "variant", NULL, 0, G_TEXT);
        for (int li = 0; li < nl; li++) {
            char num[32];
            snprintf(num, sizeof num, "%ld", ls[li]);
            tables_length_label(ls[li], lab, sizeof lab);
            grid_set(&gr, 0, li + 1, num, lab, 0, G_TEXT);
        }
        for (int v = 0; v < g->n_vars; v++) {
            char *l = var_label(g, v);
            grid_set(&gr, v + 1, 0, l, NULL, 0, G_TEXT);
            free(l);
            for (int li = 0; li < nl; li++) {
                const tcell *c = cell_at(g, ls[li], head, v);
                if (c) grid_set(&gr, v + 1, li + 1, c->mean_s, NULL, c->mean, G_MEAN);
            }
        }
        if (put_grid(outdir, g->key, "by-length", &gr, list) < 0) goto out;
        fprintf(idx, "### %s", bi.by_length);
        if (head >= 0) fprintf(idx, ": %s", g->tasks[head]);
        fputs("\n\n", idx);
        md_grid(idx, &gr);
        grid_free(&gr);
        gr = (grid){0};
        char *svg = svg_of(g, &bi, head, ls, nl), name[512];
        snprintf(name, sizeof name, "%s-by-length.svg", g->key);
        int r = put_file(outdir, name, svg, strlen(svg), list);
        free(svg);
        if (r < 0) goto out;
        fprintf(idx, "\n![%s against context length](%s)\n\n", bi.ylabel, name);
    }

    /* per task, one table per length, of the variants and tasks it has */
    for (int li = 0; li < nl; li++) {
        int *tc = xmalloc(sizeof *tc * (size_t)(g->n_tasks + 1)), *vr = xmalloc(sizeof *vr * (size_t)(g->n_vars + 1));
        int nc = 0, nr = 0;
        for (int t = 0; t <= g->n_tasks; t++) {
            int tt = t < g->n_tasks ? t : -1, any = 0;
            for (int v = 0; v < g->n_vars && !any; v++) any = cell_at(g, ls[li], tt, v) != NULL;
            if (any) tc[nc++] = tt;
        }
        for (int v = 0; v < g->n_vars; v++) {
            int any = 0;
            for (int t = 0; t <= g->n_tasks && !any; t++) any = cell_at(g, ls[li], t < g->n_tasks ? t : -1, v) != NULL;
            if (any) vr[nr++] = v;
        }
        if (!nc) {
            free(tc), free(vr);
            continue;
        }
        gr = grid_new(nr + 1, nc + 1, 1);
        grid_set(&gr, 0, 0, "variant", NULL, 0, G_TEXT);
        for (int c = 0; c < nc; c++) grid_set(&gr, 0, c + 1, tc[c] >= 0 ? g->tasks[tc[c]] : "average", NULL, 0, G_TEXT);
        for (int r = 0; r < nr; r++) {
            char *l = var_label(g, vr[r]);
            grid_set(&gr, r + 1, 0, l, NULL, 0, G_TEXT);
            free(l);
            for (int c = 0; c < nc; c++) {
                const tcell *x = cell_at(g, ls[li], tc[c], vr[r]);
                if (x) grid_set(&gr, r + 1, c + 1, x->mean_s, NULL, x->mean, G_MEAN);
            }
        }
        free(tc), free(vr);
        char suffix[64];
        snprintf(suffix, sizeof suffix, "tasks-%ld", ls[li]);
        if (put_grid(outdir, g->key, suffix, &gr, list) < 0) goto out;
        tables_length_label(ls[li], lab, sizeof lab);
        fprintf(idx, "### %s at %s tokens\n\n", bi.per_task, lab);
        md_grid(idx, &gr);
        fputs("\n", idx);
        grid_free(&gr);
        gr = (grid){0};
    }

    /* p-values: CSV as the runs wrote them, Markdown as variant x lengths */
    if (g->n_pv) {
        char *buf = NULL;
        size_t n = 0;
        FILE *f = open_memstream(&buf, &n);
        if (!f) ev_fatal("tables: open_memstream failed");
        fputs("length,group,variant,base,n,mean_base,mean_variant,mean_diff,p_value,method\r\n", f);
        /* rows (variant, base, group) in first-seen order */
        int *rv = xmalloc(sizeof *rv * (size_t)g->n_pv);
        int nr = 0;
        for (int i = 0; i < g->n_pv; i++) {
            int seen = 0;
            for (int j = 0; j < nr && !seen; j++) {
                const tpval *a = &g->pv[rv[j]], *b = &g->pv[i];
                seen = a->var == b->var && a->base == b->base && !strcmp(a->group, b->group);
            }
            if (!seen) rv[nr++] = i;
        }
        for (int li = 0; li < nl; li++)
            for (int j = 0; j < nr; j++)
                for (int i = 0; i < g->n_pv; i++) {
                    const tpval *a = &g->pv[rv[j]], *b = &g->pv[i];
                    if (b->length != ls[li] || a->var != b->var || a->base != b->base || strcmp(a->group, b->group))
                        continue;
                    fprintf(f, "%ld,", b->length);
                    csv_put(f, b->group, 0);
                    char *lv = var_label(g, b->var), *lb = var_label(g, b->base);
                    csv_put(f, lv, 0);
                    csv_put(f, lb, 0);
                    free(lv), free(lb);
                    for (int k = 0; k < 6; k++) csv_put(f, b->f[k], k == 5);
                }
        if (fclose(f) != 0) ev_fatal("tables: cannot build a table in memory");
        char name[512];
        snprintf(name, sizeof name, "%s-pvalues.csv", g->key);
        int r = put_file(outdir, name, buf, n, list);
        free(buf);
        if (r < 0) {
            free(rv);
            goto out;
        }
        gr = grid_new(nr + 1, nl + 3, 3);
        grid_set(&gr, 0, 0, "variant", NULL, 0, G_TEXT);
        grid_set(&gr, 0, 1, "base", NULL, 0, G_TEXT);
        grid_set(&gr, 0, 2, "group", NULL, 0, G_TEXT);
        for (int li = 0; li < nl; li++) {
            char num[32];
            snprintf(num, sizeof num, "%ld", ls[li]);
            tables_length_label(ls[li], lab, sizeof lab);
            grid_set(&gr, 0, li + 3, num, lab, 0, G_TEXT);
        }
        for (int j = 0; j < nr; j++) {
            const tpval *a = &g->pv[rv[j]];
            char *lv = var_label(g, a->var), *lb = var_label(g, a->base);
            grid_set(&gr, j + 1, 0, lv, NULL, 0, G_TEXT);
            grid_set(&gr, j + 1, 1, lb, NULL, 0, G_TEXT);
            grid_set(&gr, j + 1, 2, a->group, NULL, 0, G_TEXT);
            free(lv), free(lb);
            for (int i = 0; i < g->n_pv; i++) {
                const tpval *b = &g->pv[i];
                if (a->var != b->var || a->base != b->base || strcmp(a->group, b->group)) continue;
                for (int li = 0; li < nl; li++)
                    if (ls[li] == b->length) grid_set(&gr, j + 1, li + 3, b->f[4], NULL, b->p, G_P);
            }
        }
        free(rv);
        /* the CSV of this table is the long one above: write only the Markdown */
        char *md = NULL;
        f = open_memstream(&md, &n);
        if (!f) ev_fatal("tables: open_memstream failed");
        md_grid(f, &gr);
        if (fclose(f) != 0) ev_fatal("tables: cannot build a table in memory");
        snprintf(name, sizeof name, "%s-pvalues.md", g->key);
        r = put_file(outdir, name, md, n, list);
        free(md);
        if (r < 0) goto out;
        fputs("### p-values: variant better than its base (one-sided paired permutation test)\n\n", idx);
        md_grid(idx, &gr);
        fputs("\n", idx);
        grid_free(&gr);
        gr = (grid){0};
    }

    /* every summary row, long */
    {
        char *buf = NULL;
        size_t n = 0;
        FILE *f = open_memstream(&buf, &n);
        if (!f) ev_fatal("tables: open_memstream failed");
        fputs("run,length,task,variant,variant_params,n,mean,ci_lo,ci_hi\r\n", f);
        for (int li = 0; li < nl; li++)
            for (int t = 0; t <= g->n_tasks; t++)
                for (int v = 0; v < g->n_vars; v++) {
                    const tcell *c = cell_at(g, ls[li], t < g->n_tasks ? t : -1, v);
                    if (!c) continue;
                    csv_put(f, g->runs[c->run], 0);
                    fprintf(f, "%ld,", c->length);
                    csv_put(f, t < g->n_tasks ? g->tasks[t] : "average", 0);
                    char *l = var_label(g, v);
                    csv_put(f, l, 0);
                    free(l);
                    csv_put(f, g->vars[v].params, 0);
                    csv_put(f, c->n_s, 0);
                    csv_put(f, c->mean_s, 0);
                    csv_put(f, c->lo_s, 0);
                    csv_put(f, c->hi_s, 1);
                }
        if (fclose(f) != 0) ev_fatal("tables: cannot build a table in memory");
        char name[512];
        snprintf(name, sizeof name, "%s-summary.csv", g->key);
        int r = put_file(outdir, name, buf, n, list);
        free(buf);
        if (r < 0) goto out;
    }
    rcode = 0;
out:
    if (gr.c) grid_free(&gr);
    free(ls);
    return rcode;
}

int tables_write(const tables_set *t, const char *outdir, FILE *list) {
    if (ev_mkdirs(outdir) < 0) return -1;
    char *idx = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&idx, &n);
    if (!f) ev_fatal("tables: open_memstream failed");
    fputs("# Tables\n\nWritten by `evalctl tables` from the run directories below (README, \"Tables\").\n\n", f);
    int rcode = 0;
    for (int i = 0; i < t->n && rcode == 0; i++) rcode = write_group(&t->g[i], outdir, list, f);
    if (fclose(f) != 0) ev_fatal("tables: cannot build tables.md in memory");
    if (rcode == 0) rcode = put_file(outdir, "tables.md", idx, n, list);
    free(idx);
    return rcode;
}
