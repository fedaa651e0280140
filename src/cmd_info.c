/* cmd_info.c - `evalctl info`: describes a model file, or the CUDA device. */
#include "cli.h"
#include "model.h"
#include "util.h"

#include <stdio.h>
#include <string.h>

#ifdef EV_CUDA
#include "cuda_device.h"
#endif

static const char usage[] =
    "usage: evalctl info --model PATH      describe a model (.gguf file or Hugging Face directory)\n"
    "       evalctl info --backend cuda    describe the GPU and this build's CUDA target\n";

static int info_cuda(void) {
#ifdef EV_CUDA
    char buf[2048];
    if (cuda_describe(buf, sizeof buf) != 0) return ev_error("cuda: %s", buf), 1;
    fputs(buf, stdout);
    return 0;
#else
    ev_error("cuda: this evalctl was built without CUDA (no nvcc at build time, or CUDA=0)");
    return 1;
#endif
}

int cmd_info(int argc, char **argv) {
    const char *path = NULL, *backend = NULL;
    for (int i = 0; i < argc; i++) {
        int r;
        if (cli_is_help(argv[i])) {
            fputs(usage, stdout);
            return 0;
        }
        if ((r = cli_opt(argc, argv, &i, "--model", &path)) != 0 ||
            (r = cli_opt(argc, argv, &i, "--backend", &backend)) != 0) {
            if (r < 0) return 2;
            continue;
        }
        return cli_unknown("info", argv[i]);
    }
    if (backend && strcmp(backend, "cuda") == 0 && !path) return info_cuda();
    if (backend && strcmp(backend, "cpu") != 0 && strcmp(backend, "cuda") != 0) {
        fprintf(stderr, "evalctl info: unknown backend '%s' (cpu, cuda)\n", backend);
        return 2;
    }
    if (!path) {
        fputs(usage, stderr);
        return 2;
    }
    model *m = model_open(path);
    if (!m) return 1;
    model_print_info(m, stdout);
    model_close(m);
    if (backend && strcmp(backend, "cuda") == 0) return info_cuda();
    return 0;
}
