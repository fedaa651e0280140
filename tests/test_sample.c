/* test_sample.c - the sampler against transformers' logits warpers
 * (tests/fixtures/sample/warpers.json, tools/gen_sample_fixtures.py): the
 * distribution it draws from equals the warped softmax, its draws follow that
 * distribution, greedy is fwd_argmax, seeds reproduce, bad parameters refused. */
#include "test.h"

#include <jansson.h>
#include <math.h>

#include "forward.h"
#include "sample.h"

typedef struct {
    int n;
    float *logits;
    float *probs;
    sample_params p;
} wcase;

static int load_cases(wcase **out) {
    json_error_t e;
    json_t *root = json_load_file(FIXTURE("sample/warpers.json"), 0, &e);
    CHECK(root != NULL, "warpers.json: %s (tools/gen_sample_fixtures.py)", e.text);
    if (!root) return 0;
    json_t *cases = json_object_get(root, "cases");
    int nc = (int)json_array_size(cases);
    wcase *w = calloc((size_t)nc, sizeof *w);
    for (int i = 0; i < nc; i++) {
        json_t *c = json_array_get(cases, (size_t)i), *lg = json_object_get(c, "logits"), *pr = json_object_get(c, "probs");
        int n = (int)json_array_size(lg);
        w[i].n = n;
        w[i].logits = malloc(sizeof(float) * (size_t)n);
        w[i].probs = malloc(sizeof(float) * (size_t)n);
        for (int j = 0; j < n; j++) {
            json_t *v = json_array_get(lg, (size_t)j);
            w[i].logits[j] = json_is_string(v) ? -INFINITY : (float)json_number_value(v);
            w[i].probs[j] = (float)json_number_value(json_array_get(pr, (size_t)j));
        }
        w[i].p.temperature = json_number_value(json_object_get(c, "temperature"));
        w[i].p.top_k = (int)json_integer_value(json_object_get(c, "top_k"));
        w[i].p.top_p = json_number_value(json_object_get(c, "top_p"));
        w[i].p.seed = 1000u + (unsigned)i;
    }
    json_decref(root);
    *out = w;
    return nc;
}

/* sample_probs equals transformers' warped softmax, token for token, and keeps exactly its support. */
static void test_fixture_probs(wcase *w, int nc) {
    CHECK(nc >= 30, "only %d fixture cases", nc);
    for (int i = 0; i < nc; i++) {
        sampler *s = sample_new(w[i].n, &w[i].p);
        float *got = malloc(sizeof(float) * (size_t)w[i].n);
        int kept = sample_probs(s, w[i].logits, got);
        int want_kept = 0, bad = 0;
        for (int j = 0; j < w[i].n; j++) {
            want_kept += w[i].probs[j] > 0;
            if ((got[j] > 0) != (w[i].probs[j] > 0) || fabsf(got[j] - w[i].probs[j]) > 2e-6f + 1e-4f * w[i].probs[j]) {
                if (!bad++)
                    CHECK(0, "case %d (T=%g k=%d p=%g) token %d: %.9g, transformers %.9g", i, w[i].p.temperature,
                          w[i].p.top_k, w[i].p.top_p, j, got[j], w[i].probs[j]);
            }
        }
        CHECK(bad == 0, "case %d: %d tokens differ", i, bad);
        CHECK_EQ_INT(kept, want_kept);
        free(got);
        sample_free(s);
    }
}

/* Draws follow the reference distribution: each token's count within 5 sigma
 * of N p, and no draw of a token the warpers removed. */
static void test_draws(wcase *w, int nc) {
    enum { N = 20000 };
    int tested = 0;
    for (int i = 0; i < nc && tested < 6; i++) {
        if (w[i].n != 17) continue;
        tested++;
        sampler *s = sample_new(w[i].n, &w[i].p);
        int count[17] = {0}, outside = 0;
        for (int k = 0; k < N; k++) {
            int32_t t = sample_next(s, w[i].logits);
            if (t < 0 || t >= 17 || w[i].probs[t] == 0) outside++;
            else count[t]++;
        }
        CHECK_EQ_INT(outside, 0);
        for (int j = 0; j < 17; j++) {
            double mu = N * (double)w[i].probs[j], sd = sqrt(N * (double)w[i].probs[j] * (1 - w[i].probs[j]));
            CHECK(fabs(count[j] - mu) <= 5 * sd + 1, "case %d token %d: %d draws, expected %.1f +- %.1f", i, j, count[j],
                  mu, sd);
        }
        sample_free(s);
    }
    CHECK_EQ_INT(tested, 6);
}

static void test_greedy_and_seeds(wcase *w) {
    /* greedy is fwd_argmax, first index on ties */
    float tie[6] = {0.5f, 2.0f, -1.0f, 2.0f, 1.0f, 2.0f};
    sample_params g = {.temperature = 0, .top_p = 1};
    sampler *s = sample_new(6, &g);
    CHECK_EQ_INT(sample_next(s, tie), 1);
    CHECK_EQ_INT(sample_next(s, tie), fwd_argmax(tie, 6));
    float pr[6];
    CHECK_EQ_INT(sample_probs(s, tie, pr), 1);
    CHECK(pr[1] == 1 && pr[3] == 0, "greedy probs %g %g", pr[1], pr[3]);
    sample_free(s);
    CHECK_EQ_INT(sample_next((s = sample_new(w[0].n, &g)), w[0].logits), fwd_argmax(w[0].logits, w[0].n));
    sample_free(s);

    /* the same seed gives the same draws; another seed other draws */
    sample_params p = {.temperature = 1.0, .top_p = 1, .seed = 7};
    int32_t a[64], b[64], c[64];
    sampler *sa = sample_new(w[0].n, &p), *sb = sample_new(w[0].n, &p);
    p.seed = 8;
    sampler *sc = sample_new(w[0].n, &p);
    int same_ab = 1, same_ac = 1;
    for (int k = 0; k < 64; k++) {
        a[k] = sample_next(sa, w[0].logits);
        b[k] = sample_next(sb, w[0].logits);
        c[k] = sample_next(sc, w[0].logits);
        same_ab &= a[k] == b[k];
        same_ac &= a[k] == c[k];
    }
    CHECK(same_ab, "seed 7 twice gave different draws");
    CHECK(!same_ac, "seeds 7 and 8 gave the same 64 draws");
    sample_free(sa);
    sample_free(sb);
    sample_free(sc);

    /* top_k = 1 always picks the argmax, whatever the temperature */
    sample_params k1 = {.temperature = 5.0, .top_k = 1, .top_p = 1, .seed = 3};
    s = sample_new(w[1].n, &k1);
    int all = 1;
    for (int k = 0; k < 200; k++) all &= sample_next(s, w[1].logits) == fwd_argmax(w[1].logits, w[1].n);
    CHECK(all, "top_k=1 drew something other than the argmax");
    sample_free(s);
}

static void test_bad_params(void) {
    struct {
        int vocab;
        sample_params p;
        const char *want;
    } bad[] = {
        {0, {.temperature = 1, .top_p = 1}, "vocabulary of 0"},
        {10, {.temperature = 1, .top_p = 0}, "top_p 0 is outside"},
        {10, {.temperature = 1, .top_p = 1.5}, "top_p 1.5 is outside"},
        {10, {.temperature = NAN, .top_p = 1}, "temperature is not a finite"},
        {10, {.temperature = INFINITY, .top_p = 1}, "temperature is not a finite"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        test_capture_begin();
        sampler *s = sample_new(bad[i].vocab, &bad[i].p);
        char *err = test_capture_end();
        CHECK(s == NULL, "case %zu accepted", i);
        CHECK(test_count_lines(err) == 1 && strstr(err, bad[i].want), "case %zu: '%s'", i, err);
        free(err);
        sample_free(s);
    }
}

int main(void) {
    wcase *w = NULL;
    int nc = load_cases(&w);
    if (nc > 1) {
        test_fixture_probs(w, nc);
        test_draws(w, nc);
        test_greedy_and_seeds(w);
    }
    test_bad_params();
    for (int i = 0; i < nc; i++) {
        free(w[i].logits);
        free(w[i].probs);
    }
    free(w);
    return test_done("sample");
}
