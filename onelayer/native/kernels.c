/* The training kernels of the "native" backend: the same maths as onelayer/model.py and the
 * loop of onelayer/train.py, written so that one core runs it near its arithmetic and memory
 * limits. module.c includes this file; setup.py compiles it once per CPU level when the package
 * is installed (onelayer/native/variants.py), and onelayer/native/__init__.py imports the best
 * build the CPU runs.
 *
 * Layout: W is K x d row-major (class k's weights contiguous); images are rows of X with
 * leading dimension ldx (X^T of the d x n matrix of the assignment, one image contiguous);
 * labels y are int64. X holds either the features (float32 or float64, as W) or the raw pixels
 * they were made from (bytes), with scale and offset such that feature j is scale[j] u[j] +
 * offset[j]: the kernels fold the map into W and b (W x + b = (W scale) u + (b + W offset)) and
 * into the gradient, and read one byte per feature instead of four or eight. Every sum keeps a
 * fixed order of operations, so equal inputs give equal bits, whichever thread calls a kernel
 * and on however many threads an epoch or an evaluation runs (see "Threads" below).
 *
 * Speed (measured with benchmarks/bench_kernels.py): the batch's images are read straight from
 * X, no gather; W is packed so the K rows of each 2 KB block sit together and stay in L1; each
 * block serves two images at a time with 2K vector accumulators (one image with K, where
 * registers are few and FMA missing: see SCORE_PAIRS below), while the next images are
 * prefetched into L2; the gradient G^T X_B runs over two vectors of columns for all images of
 * the batch, again with 2K accumulators (or one vector, from a copy of the batch's columns:
 * GRAD_NV, PACK_X); denormal numbers are flushed while a kernel runs.
 * Reading bytes instead of float32 features cuts an evaluation by about 40% and a training epoch
 * by about 25% here (README, "Speed"). Vectors are GCC/Clang vector extensions: 64-byte logical
 * vectors fix the order of additions, and each build computes them in its own registers (PVB,
 * below); only the conversion of bytes to floats names instructions (x86, NEON), which GCC 12
 * does not find by itself.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT (Python.h defines it first in the module) */
#endif
#include <math.h>
#include <stdint.h>
#if defined(__AVX2__) || defined(__AVX512F__) || defined(__SSE4_1__)
#include <immintrin.h>
#elif defined(__SSE__)
#include <xmmintrin.h>
#endif
#if defined(__ARM_NEON)
#include <arm_neon.h>
#endif
#include <pthread.h>
#include <sched.h>
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

/* The order of additions is fixed by 64-byte "logical" vectors (16 float or 8 double lanes),
 * whatever the machine: lane l of a partial sum takes the features j = l (mod lanes), in
 * increasing j, and the lanes are added in order 0, 1, ... at the end. Each build runs that
 * arithmetic on its own registers: a logical vector is NP physical vectors of PVB bytes, and the
 * classes of a block are taken KB at a time (SCORE_KB in the scores, GRAD_KB in the gradient),
 * so the accumulators fit the register file without spilling. Splitting a sum by lanes, by
 * classes or by images changes no lane's sequence of operations, so every build with FMA gives
 * the same bits (GCC contracts a * b + c into one FMA the same way on every target); one without
 * FMA rounds each product and differs in the last bits.
 *
 * How each build spends its registers and ports (none of it changes an order of additions):
 * SCORE_PAIRS: the scores take two images per pass over W (each W vector loaded once for both)
 * or one (each pixel converted to T once for all classes); GRAD_NV: physical vectors of
 * columns per gradient pass; SPLAT_G: the gradient reads each entry of G from a vector of
 * copies made once per batch, not a broadcast per use (SSE has no broadcast from memory: each
 * costs a shuffle on the ports the arithmetic needs); PACK_X: the batch's columns are copied
 * group by group for the gradient (batch_update), because image rows 3072 bytes apart fall
 * into 4 of L1's 64 sets, and a pass that reads a few bytes of 100 such rows misses L1 each
 * time once there are more rows than ways; worth it where the gradient makes many passes. */
#if defined(__AVX512F__) /* 32 zmm registers: 2 images x 10 classes of 64 bytes */
#define PVB 64
#define SCORE_KB KMAX
#define SCORE_PAIRS 1
#define GRAD_KB KMAX
#define GRAD_NV 2
#define SPLAT_G 0
#define PACK_X 0
#define VARIANT_REGS 32
#elif defined(__AVX2__) /* 16 ymm registers: 2 images x 5 classes, + W and two x */
#define PVB 32
#define SCORE_KB 5
#define SCORE_PAIRS 1
#define GRAD_KB 5
#define GRAD_NV 2
#define SPLAT_G 0
#define PACK_X 0
#define VARIANT_REGS 16
#elif defined(__ARM_NEON) /* 32 q registers: 2 images x 10 classes of 16 bytes */
#define PVB 16
#define SCORE_KB 10
#define SCORE_PAIRS 1
#define GRAD_KB 10
#define GRAD_NV 2
#define SPLAT_G 0
#define PACK_X 0
#define VARIANT_REGS 32
#else /* SSE and anything else: 16 registers of 16 bytes. Without FMA a multiply-add is two
       * instructions on three ports, and the conversion of pixels takes the same ports: one
       * image x 10 classes (10 accumulators) converts each pixel once per pass, not twice as
       * pairs x 5 classes did; the gradient runs one vector of columns x 10 classes. Measured
       * on an Intel Xeon (AVX-512 machine, the SSE4.2 build): an epoch 61 -> 51 ms, an
       * evaluation of 10,000 images 26.2 -> 24.1 ms (README, "Speed"). */
#define PVB 16
#define SCORE_KB 10
#define SCORE_PAIRS 0
#define GRAD_KB 10
#define GRAD_NV 1
#define SPLAT_G 1
#define PACK_X 1
#define VARIANT_REGS 16
#endif
#define NP (64 / PVB) /* physical vectors per logical vector */

/* Keeps a vector in a register, loaded once for both images of a pair: otherwise GCC folds the
 * load of W into each of the two FMAs, and the loop runs out of load slots (15% slower here). */
#if defined(__GNUC__) && defined(__AVX512F__) /* a 64-byte vector fits one register */
#define IN_REGISTER(v) __asm__("" : "+v"(v))
#elif defined(__GNUC__) && defined(__AVX2__)
#define IN_REGISTER(v) __asm__("" : "+x"(v))
#else
#define IN_REGISTER(v) (void)0
#endif

/* Scratch arrays start on a cache line: a vector that straddles two lines costs two loads, and
 * malloc's large blocks start 16 bytes past a page (measured: epochs 13 ms or 20 ms on AVX-512,
 * from one process to the next, as the packed W happened to fall). Freed with free(). */
static void* alloc_lines(size_t bytes) {
    void* p = NULL;
    return posix_memalign(&p, 64, bytes ? bytes : 64) ? NULL : p;
}
static void* alloc_zeroed_lines(size_t bytes) {
    void* p = alloc_lines(bytes);
    if (p) memset(p, 0, bytes);
    return p;
}

typedef float vec_f32 __attribute__((vector_size(64)));
typedef double vec_f64 __attribute__((vector_size(64)));
typedef float pvec_f32 __attribute__((vector_size(PVB)));
typedef double pvec_f64 __attribute__((vector_size(PVB)));

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

/* PVB bytes' worth of X's elements as a physical vector of T: features load as W does
 * (kernels.inc's ldp); raw pixels (bytes) load and widen. GCC 12 turns __builtin_convertvector
 * from bytes into scalar code, so the widening instructions are named for each machine; others
 * get the plain loop. Each loader reads exactly the bytes it converts. */
static inline pvec_f32 load_u8_pf32(const uint8_t* p) {
#if PVB == 64
    const __m512 v = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128((const void*)p)));
#elif PVB == 32
    const __m256 v = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const void*)p)));
#elif defined(__SSE4_1__)
    int32_t w;
    memcpy(&w, p, 4);
    const __m128 v = _mm_cvtepi32_ps(_mm_cvtepu8_epi32(_mm_cvtsi32_si128(w)));
#elif defined(__ARM_NEON)
    uint32_t w;
    memcpy(&w, p, 4);
    const uint16x8_t h = vmovl_u8(vreinterpret_u8_u32(vdup_n_u32(w)));
    const float32x4_t v = vcvtq_f32_u32(vmovl_u16(vget_low_u16(h)));
#else
    pvec_f32 v;
    for (int l = 0; l < PVB / 4; l++) v[l] = p[l];
#endif
    pvec_f32 r;
    memcpy(&r, &v, sizeof r);
    return r;
}
static inline pvec_f64 load_u8_pf64(const uint8_t* p) {
#if PVB == 64
    const __m512d v = _mm512_cvtepi32_pd(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const void*)p)));
#elif PVB == 32
    int32_t w;
    memcpy(&w, p, 4);
    const __m256d v = _mm256_cvtepi32_pd(_mm_cvtepu8_epi32(_mm_cvtsi32_si128(w)));
#elif defined(__SSE4_1__)
    uint16_t w;
    memcpy(&w, p, 2);
    const __m128d v = _mm_cvtepi32_pd(_mm_cvtepu8_epi32(_mm_cvtsi32_si128(w)));
#elif defined(__ARM_NEON) && defined(__aarch64__)
    uint16_t w;
    memcpy(&w, p, 2);
    const uint16x8_t h = vmovl_u8(vreinterpret_u8_u16(vdup_n_u16(w)));
    const float64x2_t v = vcvtq_f64_u64(vmovl_u32(vget_low_u32(vmovl_u16(vget_low_u16(h)))));
#else
    pvec_f64 v;
    for (int l = 0; l < PVB / 8; l++) v[l] = p[l];
#endif
    pvec_f64 r;
    memcpy(&r, &v, sizeof r);
    return r;
}

/* exp(z) lane by lane for z <= 0, and 0 where z < EXP_FLOOR (as model.softmax): Cephes' method,
 * z = n ln 2 + r with |r| <= ln 2 / 2, a polynomial (float) or rational function (double) of
 * r, times 2^n; within 0.7 (float) and 1.2 (double) ulp of exp. With it the softmax and the
 * loss run over sixteen or eight images at once, not K library calls per image. */
typedef int32_t vec_i32 __attribute__((vector_size(64)));
typedef int64_t vec_i64 __attribute__((vector_size(64)));
/* v where keep is all ones, +0 elsewhere */
static inline vec_f32 keep_f32(vec_f32 v, vec_i32 keep) {
    vec_i32 bits;
    memcpy(&bits, &v, sizeof bits);
    bits &= keep;
    memcpy(&v, &bits, sizeof v);
    return v;
}
static inline vec_f64 keep_f64(vec_f64 v, vec_i64 keep) {
    vec_i64 bits;
    memcpy(&bits, &v, sizeof bits);
    bits &= keep;
    memcpy(&v, &bits, sizeof v);
    return v;
}
static inline vec_f32 vexp_f32(vec_f32 z) {
    const vec_i32 keep = z >= (float)EXP_FLOOR; /* all ones where kept */
    const vec_f32 x = keep_f32(z, keep);        /* dropped lanes compute exp(0) */
    const vec_f32 t = x * 1.44269504088896341f + 0.5f;
    vec_i32 n = __builtin_convertvector(t, vec_i32); /* toward zero; floor below */
    n += __builtin_convertvector(n, vec_f32) > t;
    const vec_f32 fn = __builtin_convertvector(n, vec_f32);
    const vec_f32 r = x - fn * 0.693359375f - fn * -2.12194440e-4f;
    vec_f32 p = r * 1.9875691500e-4f + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * (r * r) + r + 1.0f;
    const vec_i32 two_n = (n + 127) << 23; /* the bits of 2^n */
    vec_f32 scale;
    memcpy(&scale, &two_n, sizeof scale);
    return keep_f32(p * scale, keep);
}
static inline vec_f64 vexp_f64(vec_f64 z) {
    const vec_i64 keep = z >= (double)EXP_FLOOR;
    const vec_f64 x = keep_f64(z, keep);
    const vec_f64 t = x * 1.4426950408889634073599 + 0.5;
    vec_i64 n = __builtin_convertvector(t, vec_i64);
    n += __builtin_convertvector(n, vec_f64) > t;
    const vec_f64 fn = __builtin_convertvector(n, vec_f64);
    const vec_f64 r = x - fn * 6.93145751953125e-1 - fn * 1.42860682030941723212e-6;
    const vec_f64 rr = r * r;
    const vec_f64 px = r * ((rr * 1.26177193074810590878e-4 + 3.02994407707441961300e-2) * rr +
                            9.99999999999999999910e-1);
    const vec_f64 qx = ((rr * 3.00198505138664455042e-6 + 2.52448340349684104192e-3) * rr +
                        2.27265548208155028766e-1) *
                           rr +
                       2.00000000000000000009e0;
    const vec_i64 two_n = (n + 1023) << 52;
    vec_f64 scale;
    memcpy(&scale, &two_n, sizeof scale);
    return keep_f64((1.0 + 2.0 * (px / (qx - px))) * scale, keep);
}

/* a * b + c with one rounding where the machine has FMA: the scalar sums (a tail of columns
 * past the last full vector) say so explicitly, because GCC may vectorise a plain
 * s += a * b into products rounded apart from their sums, and decides that per target. */
static inline float fmas_f32(float a, float b, float c) {
#if defined(__FP_FAST_FMAF)
    return __builtin_fmaf(a, b, c);
#else
    return a * b + c;
#endif
}
static inline double fmas_f64(double a, double b, double c) {
#if defined(__FP_FAST_FMA)
    return __builtin_fma(a, b, c);
#else
    return a * b + c;
#endif
}

/* Augmentation (the handout's bonus 2.1 (b) and moves): the image src (planes of 32 x 32 bytes,
 * d = planes x 1024, rows of 32 pixels) as an epoch reads it: each row reversed where ``flags``
 * has MOVE_MIRROR (a horizontal flip), then the image moved right by dx and down by dy pixels;
 * the pixels no image pixel moved onto are black (0), or, with MOVE_EDGE, the nearest edge
 * pixel's (the mirrored image's first or last column, its first or last row: numpy's "edge"
 * padding). These are the bytes of augment.flipped_and_moved, so the kernels convert and
 * compute exactly what they did on numpy's augmented copy. Each output row is 32 bytes, two
 * 16-byte vectors (every build's width): out[x] = row[x - dx] is the 32 bytes loaded dx before
 * the row (mirrored: row[31 + dx - x], the 32 bytes loaded dx after it, reversed in registers),
 * the lanes whose source is outside the row zeroed, or set to the edge pixel (one side only:
 * dx moves the row one way). The bytes a window takes from beside its row (the neighbouring
 * row, plane or image) are all replaced; a window that would reach outside [lo, hi), the memory
 * of X, is read from a zero-padded copy of its row. |dx|, |dy| < 32 (module.c checks). */
#define MOVE_MIRROR 1
#define MOVE_EDGE 2
typedef uint8_t half_u8 __attribute__((vector_size(16))); /* half a row: every build's width */
typedef int8_t half_i8 __attribute__((vector_size(16)));
static void move_image(const uint8_t* src, uint8_t* dst, int64_t d, int flags, int dx, int dy,
                       const uint8_t* lo, const uint8_t* hi) {
    const half_u8 reverse = {15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0};
    const half_i8 lane = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    const half_i8 from0 = lane - (int8_t)dx, from1 = from0 + 16; /* source column of lane x */
    const half_u8 keep0 = (half_u8)((from0 >= 0) & (from0 < 32));
    const half_u8 keep1 = (half_u8)((from1 >= 0) & (from1 < 32));
    const int mirror = flags & MOVE_MIRROR, edge = flags & MOVE_EDGE;
    const int at = mirror ? dx : -dx; /* where the window starts, from its row */
    /* with an edge, the column of the row that fills the uncovered lanes: the mirrored image's
     * first column where the row moved right, its last where it moved left */
    const int fill_at = (dx > 0) == !mirror ? 0 : 31;
    for (int64_t p = 0; p < d; p += 1024)
        for (int r = 0; r < 32; r++) {
            uint8_t* out = dst + p + 32 * r;
            int sr = r - dy; /* the source row */
            if (edge) sr = sr < 0 ? 0 : sr > 31 ? 31 : sr;
            half_u8 a = {0}, b = {0}; /* output columns 0..15 and 16..31 */
            if (sr >= 0 && sr < 32) {
                const uint8_t* row = src + p + 32 * sr;
                uint8_t padded[96];
                const uint8_t* w = row + at; /* the window: 32 bytes */
                if (w < lo || w + 32 > hi) { /* at the edge of X's memory: zeros around the row */
                    memset(padded, 0, sizeof padded);
                    memcpy(padded + 32, row, 32);
                    w = padded + 32 + at;
                }
                memcpy(&a, w, 16);
                memcpy(&b, w + 16, 16);
                if (mirror) { /* reversing the window: each half reversed, the halves swapped */
                    const half_u8 t = __builtin_shuffle(a, reverse);
                    a = __builtin_shuffle(b, reverse);
                    b = t;
                }
                a &= keep0;
                b &= keep1;
                if (edge && dx) {
                    const half_u8 fill = (half_u8){0} + row[fill_at];
                    a |= fill & ~keep0;
                    b |= fill & ~keep1;
                }
            }
            memcpy(out, &a, 16);
            memcpy(out + 16, &b, 16);
        }
}

/* Threads. An epoch (and an evaluation) may run on several threads, each doing the same
 * operations on its own share: the images of a batch for the scores and the softmax, the columns
 * of W for the gradient and the step. Every number is computed by the same sequence of
 * operations whichever thread computes it, so the results are the same bits for any number of
 * threads. The threads meet at barriers (twice per batch) and hand the gradient's running sums
 * on through counters; a thread that waits spins for a few microseconds (the usual wait, when
 * every thread has a CPU), then sleeps in the kernel until the count it waits for is reached
 * (a futex on Linux): where threads outnumber the CPUs that run them, a waiting thread gives
 * its CPU to the one it waits for instead of spinning it away. */
#define MAX_THREADS 64

#if defined(__linux__)
#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
static void futex_wait(uint32_t* word, uint32_t seen) {
    syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, seen, NULL, NULL, 0);
}
static void futex_wake(uint32_t* word) {
    syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}
/* A full memory barrier on every running thread of this process (Linux 4.14 and later, once
 * registered): what a thread about to sleep uses instead of a fence at every raise. */
#include <linux/membarrier.h>
static int barrier_all_register(void) {
    return syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
}
static void barrier_all(void) { syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0); }
#else /* elsewhere a sleeping wait yields its core over and over */
static void futex_wait(uint32_t* word, uint32_t seen) {
    (void)word, (void)seen;
    sched_yield();
}
static void futex_wake(uint32_t* word) { (void)word; }
static int barrier_all_register(void) { return 0; }
static void barrier_all(void) {}
#endif

/* Whether barrier_all works here (set once, by the first team of two or more threads). */
static int barrier_all_works;
static pthread_once_t barrier_all_once = PTHREAD_ONCE_INIT;
static void barrier_all_init(void) { barrier_all_works = barrier_all_register(); }

/* The CPUs this process may run on (its affinity mask), or 0 where that is unknown. */
static int cpus_here(void) {
#if defined(__linux__) && defined(CPU_COUNT)
    cpu_set_t set;
    if (!sched_getaffinity(0, sizeof set, &set)) return CPU_COUNT(&set);
#endif
    return 0;
}

/* How the threads of a team wait. ``spins``: the spins of a wait before it sleeps, adapted as
 * the team goes: each wait that ends while spinning (not at its first look) doubles the budget,
 * up to SPINS_MAX (about 100 us: every wait of a team whose threads each have a CPU, as before
 * sleeping existed); each wait that has to sleep halves it, down to SPINS_MIN, so that where
 * threads outnumber the CPUs that run them a waiting thread soon gives its CPU to the one it
 * waits for instead of spinning it away. Set before the threads start: ``asymmetric``, a raise
 * makes no fence of its own, and a thread about to sleep calls barrier_all instead
 * (counter_raise): for a team with a CPU per thread, whose waits seldom sleep; ``chunk``, the
 * column groups a gradient's hand-over passes on at once (share): 1 where every thread has a
 * CPU, HAND_OVER_CHUNK where threads outnumber them, so that a thread waits, and so gives its
 * CPU away, that many times less often. */
typedef struct {
    int spins;
    int asymmetric;
    int chunk;
} waits;
#define HAND_OVER_CHUNK 32
#define SPINS_MAX 4096
#define SPINS_MIN 16

static void relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* A count that one thread raises and others wait for, alone on its cache line: ``count`` goes
 * up by release stores; ``sleepers`` counts the threads asleep on it, so that raising it makes
 * a system call only when one is. Counts are compared as differences, so they may wrap. */
typedef struct {
    uint32_t count;
    uint32_t sleepers;
    char pad[56];
} counter;

static int reached(uint32_t count, uint32_t target) { return (int32_t)(count - target) >= 0; }

/* Until c->count reaches ``target``: what the raiser wrote before it is then visible.
 * ``w``: how the team waits (its spin budget is read and adapted here). */
static void counter_wait(counter* c, uint32_t target, waits* w) {
    int* spins = &w->spins;
    const int budget = __atomic_load_n(spins, __ATOMIC_RELAXED);
    for (int s = 0; s < budget; s++) {
        if (reached(__atomic_load_n(&c->count, __ATOMIC_ACQUIRE), target)) {
            /* spinning paid (the count came while this thread spun): spin longer next time */
            if (s && budget < SPINS_MAX) __atomic_store_n(spins, 2 * budget, __ATOMIC_RELAXED);
            return;
        }
        relax();
    }
    if (budget > SPINS_MIN) __atomic_store_n(spins, budget / 2, __ATOMIC_RELAXED);
    /* announce the sleep, then look again: the raiser stores the count, then reads sleepers,
     * in that order for every other thread (a fence of its own, or barrier_all here), so one
     * of the two sees the other and no wake is lost; the kernel sleeps only while the count is
     * still the one seen */
    __atomic_fetch_add(&c->sleepers, 1, __ATOMIC_SEQ_CST);
    if (w->asymmetric) barrier_all();
    for (uint32_t seen; !reached(seen = __atomic_load_n(&c->count, __ATOMIC_SEQ_CST), target);)
        futex_wait(&c->count, seen);
    __atomic_fetch_sub(&c->sleepers, 1, __ATOMIC_RELAXED);
}

/* c->count = value, releasing what this thread wrote before; wakes whoever sleeps on it.
 * The store must reach the other threads before sleepers is read (counter_wait). A fence here
 * drains the store buffer, the running sums just written, at every hand-over: 12 % of an epoch
 * on two threads of an Intel Xeon (model 167). In an asymmetric team a waiter about to sleep
 * orders this thread instead (barrier_all, a few microseconds), and the raise is a plain
 * release store; where threads outnumber the CPUs, waits sleep often, and the fence is the
 * cheaper of the two. */
static void counter_raise(counter* c, uint32_t value, const waits* w) {
    if (w->asymmetric) {
        __atomic_store_n(&c->count, value, __ATOMIC_RELEASE);
        __atomic_signal_fence(__ATOMIC_SEQ_CST); /* the compiler keeps the order */
    } else {
        __atomic_store_n(&c->count, value, __ATOMIC_SEQ_CST);
    }
    if (__atomic_load_n(&c->sleepers, __ATOMIC_SEQ_CST)) futex_wake(&c->count);
}

typedef struct {
    int threads; /* how many run: set before they start */
    int arrived; /* threads at the barrier */
    waits w;     /* how its threads wait */
    counter go;  /* 1 once every thread is made */
    counter gen; /* barriers passed */
} team;

/* Every thread of the team waits here until all have arrived. */
static void team_barrier(team* tm) {
    if (tm->threads < 2) return;
    const uint32_t gen = __atomic_load_n(&tm->gen.count, __ATOMIC_ACQUIRE);
    if (__atomic_add_fetch(&tm->arrived, 1, __ATOMIC_ACQ_REL) == tm->threads) {
        __atomic_store_n(&tm->arrived, 0, __ATOMIC_RELAXED);
        counter_raise(&tm->gen, gen + 1, &tm->w);
        return;
    }
    counter_wait(&tm->gen, gen + 1, &tm->w);
}

/* A worker's first step: wait until the team is complete (tm->threads final). */
static void team_start(team* tm) { counter_wait(&tm->go, 1, &tm->w); }

/* Runs fn on the ``want`` argument blocks args, args + size, ... (block t is thread t's; the
 * caller runs block 0), each fn starting with team_start(tm). Where the system gives fewer
 * threads than asked, fewer run, each taking a larger share: the same results. */
static void team_run(team* tm, int want, void* (*fn)(void*), char* args, size_t size) {
    pthread_t th[MAX_THREADS];
    int made = 0;
    want = want < 1 ? 1 : want > MAX_THREADS ? MAX_THREADS : want;
    memset(tm, 0, sizeof *tm);
    tm->w.spins = SPINS_MAX;
    tm->w.chunk = 1;
    if (want > 1) {
        pthread_once(&barrier_all_once, barrier_all_init);
        const int cpus = cpus_here(), fits = !cpus || want <= cpus; /* 0: unknown */
        tm->w.asymmetric = barrier_all_works && cpus && fits;
        tm->w.chunk = fits ? 1 : HAND_OVER_CHUNK;
    }
    tm->threads = want; /* read by no worker before go */
    while (made + 1 < want && !pthread_create(&th[made + 1], NULL, fn, args + (made + 1) * size))
        made++;
    tm->threads = made + 1;
    counter_raise(&tm->go, 1, &tm->w);
    fn(args);
    for (int t = 1; t <= made; t++) pthread_join(th[t], NULL);
}

/* Thread t's share [start, end) of n items in whole units (the last unit may be short), the
 * smaller shares first (200 images in vectors of 16: 96 + 104; 112 + 88 measured the same):
 * start = split(n, unit, t, T), end = split(n, unit, t + 1, T). */
static int64_t split(int64_t n, int64_t unit, int t, int T) {
    const int64_t units = (n + unit - 1) / unit, at = units * t / T * unit;
    return t >= T || at > n ? n : at;
}

/* Images ahead whose bytes are prefetched while one is moved: a batch's images lie anywhere in
 * memory, and moving them one after the other would wait for each. */
#define MOVE_AHEAD 4

/* Four variants: float32 or float64 arithmetic, on features (X of that type) or on raw pixels
 * (X of bytes with the affine map to features). */
#define T float
#define VEC vec_f32
#define PVEC pvec_f32
#define VEXP vexp_f32
#define FMAS fmas_f32
#define VECI vec_i32
#define XT float
#define AFFINE 0
#define SUF f32
#define XLOAD F(ldp)
#include "kernels.inc"
#undef XT
#undef AFFINE
#undef SUF
#undef XLOAD
#define XT uint8_t
#define AFFINE 1
#define SUF f32u8
#define XLOAD load_u8_pf32
#include "kernels.inc"
#undef XT
#undef AFFINE
#undef SUF
#undef XLOAD
#undef T
#undef VEC
#undef PVEC
#undef VEXP
#undef FMAS
#undef VECI

#define T double
#define VEC vec_f64
#define PVEC pvec_f64
#define VEXP vexp_f64
#define FMAS fmas_f64
#define VECI vec_i64
#define XT double
#define AFFINE 0
#define SUF f64
#define XLOAD F(ldp)
#include "kernels.inc"
#undef XT
#undef AFFINE
#undef SUF
#undef XLOAD
#define XT uint8_t
#define AFFINE 1
#define SUF f64u8
#define XLOAD load_u8_pf64
#include "kernels.inc"
