/* parallel.h - a persistent pthread pool running parallel-for loops.
 *
 * The forward pass calls a parallel loop several times per layer and token, so
 * threads are created once and parked on a condition variable between loops
 * rather than spawned per call. */
#ifndef EV_PARALLEL_H
#define EV_PARALLEL_H

/* fn(ctx, i) is called once for every task i in [0, n_tasks), spread over the
 * pool's threads (the caller's thread works too). Returns when all are done. */
typedef void (*par_fn)(void *ctx, int i);

typedef struct par_pool par_pool;

/* n_threads <= 0 means every online core. Owned by the caller; par_free it. */
par_pool *par_new(int n_threads);
void par_free(par_pool *p);
int par_threads(const par_pool *p);
/* p may be NULL: then the loop runs on the calling thread. */
void par_for(par_pool *p, int n_tasks, par_fn fn, void *ctx);

#endif
