/* The native kernels as a plain program, for builds that Python here cannot import: the aarch64
 * NEON build, compiled with a cross compiler and run under qemu-user (tests/test_native_arm.py).
 *
 *     harness IN OUT
 *
 * IN holds int64 kind (0 float32, 1 float32 on pixels, 2 float64, 3 float64 on pixels), n, d,
 * K, n_batch, bce (0: softmax + cross-entropy, 1: sigmoid + binary cross-entropy), moved (1:
 * the epoch mirrors and moves its images), threads (of the evaluation and the epoch); double
 * lam, eta; then W (K x d), b (K), X (n x d,
 * uint8 for pixels), scale and offset (d each, pixels only), y and perm (n int64 each), and
 * where moved the moves (n x 3 int8: mirror, dx, dy). OUT gets the scores of all images (n x K),
 * the gradients on the batch perm[0..n_batch) (dW, db), the evaluation (loss sum and correct
 * count, 2 doubles), then W and b after one epoch over perm. Exit 1 on a bad file. */
#define _GNU_SOURCE /* as Python.h defines it before the module includes the kernels */
#include <stdio.h>

#include "../onelayer/native/kernels.c"

static FILE *in, *out;

static void* take(size_t bytes) {
    void* p = malloc(bytes ? bytes : 1);
    if (!p || fread(p, 1, bytes, in) != bytes) {
        fprintf(stderr, "harness: short input\n");
        exit(1);
    }
    return p;
}

static void give(const void* p, size_t bytes) {
    if (fwrite(p, 1, bytes, out) != bytes) exit(1);
}

#define RUN(SUF, T, XT, PIXELS)                                                                    \
    do {                                                                                           \
        T *W = take(sizeof(T) * K * d), *b = take(sizeof(T) * K);                                  \
        XT* X = take(sizeof(XT) * n * d);                                                          \
        T *scale = PIXELS ? take(sizeof(T) * d) : NULL, *offset = PIXELS ? take(sizeof(T) * d) : NULL; \
        int64_t *y = take(8 * n), *perm = take(8 * n);                                             \
        const int8_t* moves = moved ? take(3 * n) : NULL;                                          \
        T *S = malloc(sizeof(T) * n * K), *dW = malloc(sizeof(T) * K * d), *db = malloc(sizeof(T) * K); \
        double ev[2];                                                                              \
        if (ol_scores_##SUF(W, b, X, d, scale, offset, NULL, n, d, K, S) ||                        \
            ol_gradients_##SUF(W, b, X, d, scale, offset, perm, y, nbatch, d, K, (T)lam, dW, db, bce) || \
            ol_evaluate_##SUF(W, b, X, d, scale, offset, y, n, d, K, ev, bce, threads) ||          \
            ol_sgd_epoch_##SUF(W, b, X, d, n, scale, offset, y, perm, moves, n, d, K, nbatch, (T)eta, \
                               (T)lam, bce, threads))                                              \
            return 2;                                                                              \
        give(S, sizeof(T) * n * K);                                                                \
        give(dW, sizeof(T) * K * d);                                                               \
        give(db, sizeof(T) * K);                                                                   \
        give(ev, sizeof ev);                                                                       \
        give(W, sizeof(T) * K * d);                                                                \
        give(b, sizeof(T) * K);                                                                    \
    } while (0)

int main(int argc, char** argv) {
    if (argc != 3 || !(in = fopen(argv[1], "rb")) || !(out = fopen(argv[2], "wb"))) {
        fprintf(stderr, "usage: harness IN OUT\n");
        return 1;
    }
    int64_t* head = take(8 * 8);
    const int64_t kind = head[0], n = head[1], d = head[2], nbatch = head[4];
    const int bce = head[5] != 0, moved = head[6] != 0, threads = (int)head[7];
    const int K = (int)head[3];
    double* rates = take(8 * 2);
    const double lam = rates[0], eta = rates[1];
    if (n < 1 || d < 1 || K < 1 || K > KMAX || nbatch < 1 || nbatch > n || threads < 1 ||
        threads > MAX_THREADS)
        return 1;
    if (moved && ((kind != 1 && kind != 3) || d % 1024)) return 1; /* pixels of whole planes */
    switch (kind) {
        case 0: RUN(f32, float, float, 0); break;
        case 1: RUN(f32u8, float, uint8_t, 1); break;
        case 2: RUN(f64, double, double, 0); break;
        case 3: RUN(f64u8, double, uint8_t, 1); break;
        default: return 1;
    }
    return fclose(out) ? 1 : 0;
}
