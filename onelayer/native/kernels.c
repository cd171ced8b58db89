/* The training kernels of the "native" backend: the same maths as onelayer/model.py and the
 * loop of onelayer/train.py, written so that one core runs it near its arithmetic and memory
 * limits. onelayer/native/__init__.py compiles this file on first use and loads it with ctypes.
 *
 * Layout: W is K x d row-major (class k's weights contiguous); images are rows of X with
 * leading dimension ldx (X^T of the d x n matrix of the assignment, one image contiguous);
 * labels y are int64. Every function is single-threaded and keeps a fixed order of operations,
 * so equal inputs give equal bits, whichever thread calls it.
 *
 * Speed (measured with benchmarks/bench_kernels.py): the batch's images are read straight from
 * X, no gather; W is packed so the K rows of each 2 KB block sit together and stay in L1; each
 * block serves two images at a time with 2K vector accumulators, while the next images are
 * prefetched into L2; the gradient G^T X_B runs over two vectors of columns for all images of
 * the batch, again with 2K accumulators; denormal numbers are flushed while a kernel runs.
 * Vectors are GCC/Clang vector extensions, so the compiler picks the machine's widest registers
 * (-march=native) without intrinsics.
 */
#include <math.h>
#include <stdint.h>
#if defined(__SSE__)
#include <xmmintrin.h>
#endif
#include <stdlib.h>
#include <string.h>

/* Most classes supported; the Python side checks K <= KMAX. */
#define KMAX 16
/* Images whose partial scores are kept at once. */
#define IB 16
/* Bytes of each W row per block: the K rows of a block (20 KB for K = 10) stay in L1. */
#define JBYTES 2048
/* Prefetches go into L2 (prefetcht1): into L1 they would evict W's block. */
#define PFHINT 2
/* As model.EXP_FLOOR: a score this far below the maximum has probability 0. */
#define EXP_FLOOR -80

/* Keeps a vector in a register, loaded once for both images of a pair: otherwise GCC folds the
 * load of W into each of the two FMAs, and the loop runs out of load slots (15% slower here). */
#if defined(__GNUC__) && defined(__AVX512F__) /* a 64-byte vector fits one register */
#define IN_REGISTER(v) __asm__("" : "+v"(v))
#else
#define IN_REGISTER(v) (void)0
#endif

typedef float vec_f32 __attribute__((vector_size(64)));
typedef double vec_f64 __attribute__((vector_size(64)));

int ol_kmax(void) {
    return KMAX;
}

/* Denormal numbers (below 1.2e-38 in float32) flushed to zero while a kernel runs: with a
 * large eta most probabilities are tiny, their products with pixels would be denormal, and
 * every such operation costs a hundred cycles on x86. No result of this assignment is near
 * that scale. The caller's setting is restored on return. */
#if defined(__SSE__)
typedef unsigned int fp_mode;
static fp_mode flush_denormals(void) {
    const fp_mode old = _mm_getcsr();
    _mm_setcsr(old | 0x8040); /* FTZ and DAZ */
    return old;
}
static void restore_fp_mode(fp_mode old) {
    _mm_setcsr(old);
}
#else
typedef int fp_mode;
static fp_mode flush_denormals(void) {
    return 0;
}
static void restore_fp_mode(fp_mode old) {
    (void)old;
}
#endif

#define T float
#define SUF f32
#define VEC vec_f32
#define EXP expf
#include "kernels.inc"
#undef T
#undef SUF
#undef VEC
#undef EXP

#define T double
#define SUF f64
#define VEC vec_f64
#define EXP exp
#include "kernels.inc"
