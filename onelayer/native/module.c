/* One variant of the native kernels as a Python extension module: kernels.c compiled for one
 * instruction-set level (setup.py builds this file once per level, with VARIANT naming it and
 * the level's -m flags), wrapped for onelayer/native/__init__.py, which checks every argument
 * (dtype, shape, layout, writability) and passes the arrays' addresses and sizes.
 *
 * This side checks what would corrupt memory if the Python checks were bypassed: class and
 * size ranges, row, permutation and label indices. A bad value raises ValueError naming the
 * argument; nothing is written. The kernels then run with the GIL released (an epoch or an
 * evaluation on ``threads`` threads of its own, the same results for any number). The module
 * uses CPython's limited API (abi3): one build serves every Python from 3.11 on, the
 * --use-conda environments' too. */
#define PY_SSIZE_T_CLEAN
#define Py_LIMITED_API 0x030B0000
#include <Python.h>
#include <time.h>

#include "kernels.c"

#ifndef VARIANT
#error "VARIANT (the module's name without its leading underscore) must be defined"
#endif
#define STR2(x) #x
#define STR(x) STR2(x)
#define CAT3(a, b) a##b
#define PASTE(a, b) CAT3(a, b)

typedef unsigned long long addr;

static int check_range(const char* what, int64_t value, int64_t lo, int64_t hi) {
    if (value < lo || value > hi) {
        PyErr_Format(PyExc_ValueError, "%s must be between %lld and %lld, got %lld", what,
                     (long long)lo, (long long)hi, (long long)value);
        return -1;
    }
    return 0;
}

/* idx[0..count) all in 0 .. bound - 1 */
static int check_indices(const char* what, const int64_t* idx, int64_t count, int64_t bound) {
    for (int64_t i = 0; i < count; i++)
        if (idx[i] < 0 || idx[i] >= bound) {
            PyErr_Format(PyExc_ValueError, "%s[%lld] = %lld is out of range 0..%lld", what,
                         (long long)i, (long long)idx[i], (long long)bound - 1);
            return -1;
        }
    return 0;
}

/* the labels y[at[i]] (y[i] when at is NULL) of count images all in 0 .. K - 1 */
static int check_labels(const int64_t* y, const int64_t* at, int64_t count, int K) {
    for (int64_t i = 0; i < count; i++) {
        const int64_t r = at ? at[i] : i, v = y[r];
        if (v < 0 || v >= K) {
            PyErr_Format(PyExc_ValueError, "y[%lld] = %lld is not a class label 0..%d",
                         (long long)r, (long long)v, K - 1);
            return -1;
        }
    }
    return 0;
}

static int check_shape(int64_t d, int K, int64_t ldx, int64_t n) {
    if (check_range("K (classes)", K, 1, KMAX) || check_range("d (features)", d, 1, INT64_MAX / 64))
        return -1;
    if (check_range("n (images in X)", n, 0, INT64_MAX / 64)) return -1;
    if (n > 0 && check_range("ldx (elements between images of X)", ldx, d, INT64_MAX / 64 / n))
        return -1;
    return 0;
}

/* the augmentation of count positions, 3 per position: flags (MOVE_MIRROR, MOVE_EDGE), then
 * moves dx, dy within an image's 32 pixels, on images of whole 32 x 32 planes (move_image) */
static int check_moves(const int8_t* moves, int64_t count, int64_t d) {
    if (d % 1024) {
        PyErr_Format(PyExc_ValueError, "augmentation moves images of 32 x 32 planes: d = %lld is "
                     "not a whole number of planes", (long long)d);
        return -1;
    }
    for (int64_t t = 0; t < count; t++) {
        const int8_t* m = moves + 3 * t;
        if (m[0] < 0 || m[0] > (MOVE_MIRROR | MOVE_EDGE) || m[1] < -31 || m[1] > 31 ||
            m[2] < -31 || m[2] > 31) {
            PyErr_Format(PyExc_ValueError, "moves[%lld] = (%d, %d, %d): flags must be 0 to 3 "
                         "and a move within -31 .. 31", (long long)t, m[0], m[1], m[2]);
            return -1;
        }
    }
    return 0;
}

static PyObject* done(int status) {
    if (status == -2) {
        PyErr_SetString(PyExc_ValueError, "only raw pixels (uint8 X) are mirrored and moved");
        return NULL;
    }
    if (status) return PyErr_NoMemory();
    Py_RETURN_NONE;
}

/* The four kernels of one arithmetic (SUF), each a Python function of the same name. */
#define WRAPPERS(SUF, T, XT)                                                                       \
    static PyObject* PASTE(py_scores_, SUF)(PyObject* self, PyObject* args) {                      \
        addr W, b, X, scale, offset, rows, S;                                                       \
        long long ldx, n, m, d;                                                                    \
        int K, status;                                                                             \
        (void)self;                                                                                \
        if (!PyArg_ParseTuple(args, "KKKLLKKKLLiK", &W, &b, &X, &ldx, &n, &scale, &offset, &rows,   \
                              &m, &d, &K, &S))                                                     \
            return NULL;                                                                           \
        if (check_shape(d, K, ldx, n) || check_range("m (images)", m, 0, rows ? INT64_MAX : n))  \
            return NULL;                                                                           \
        if (rows && check_indices("rows", (const int64_t*)rows, m, n)) return NULL;                \
        Py_BEGIN_ALLOW_THREADS status =                                                            \
            PASTE(ol_scores_, SUF)((const T*)W, (const T*)b, (const XT*)X, ldx, (const T*)scale,   \
                                   (const T*)offset, (const int64_t*)rows, m, d, K, (T*)S);         \
        Py_END_ALLOW_THREADS return done(status);                                                  \
    }                                                                                              \
    static PyObject* PASTE(py_gradients_, SUF)(PyObject* self, PyObject* args) {                   \
        addr W, b, X, scale, offset, rows, y, dW, db;                                               \
        long long ldx, n, m, d;                                                                    \
        int K, status;                                                                             \
        double lam;                                                                                \
        int bce;                                                                                   \
        (void)self;                                                                                \
        if (!PyArg_ParseTuple(args, "KKKLLKKKKLLidKKp", &W, &b, &X, &ldx, &n, &scale, &offset,    \
                              &rows, &y, &m, &d, &K, &lam, &dW, &db, &bce))                        \
            return NULL;                                                                           \
        if (check_shape(d, K, ldx, n) || check_range("m (images)", m, 0, INT64_MAX / 64))        \
            return NULL;                                                                           \
        if (check_indices("rows", (const int64_t*)rows, m, n) ||                                   \
            check_labels((const int64_t*)y, (const int64_t*)rows, m, K))                           \
            return NULL;                                                                           \
        Py_BEGIN_ALLOW_THREADS status = PASTE(ol_gradients_, SUF)(                                 \
            (const T*)W, (const T*)b, (const XT*)X, ldx, (const T*)scale, (const T*)offset,         \
            (const int64_t*)rows, (const int64_t*)y, m, d, K, (T)lam, (T*)dW, (T*)db, bce);        \
        Py_END_ALLOW_THREADS return done(status);                                                  \
    }                                                                                              \
    static PyObject* PASTE(py_sgd_epoch_, SUF)(PyObject* self, PyObject* args) {                   \
        addr W, b, X, scale, offset, y, perm, moves;                                                \
        long long ldx, n, nperm, d, nbatch;                                                        \
        int K, status;                                                                             \
        double eta, lam;                                                                           \
        int bce, threads;                                                                          \
        (void)self;                                                                                \
        if (!PyArg_ParseTuple(args, "KKKLLKKKKKLLiLddpi", &W, &b, &X, &ldx, &n, &scale, &offset,  \
                              &y, &perm, &moves, &nperm, &d, &K, &nbatch, &eta, &lam, &bce,        \
                              &threads))                                                           \
            return NULL;                                                                           \
        if (check_shape(d, K, ldx, n) || check_range("nperm (images)", nperm, 0, INT64_MAX / 64)  \
            || check_range("n_batch", nbatch, 1, INT64_MAX / 64) ||                               \
            check_range("threads", threads, 1, MAX_THREADS))                                       \
            return NULL;                                                                           \
        if (check_indices("perm", (const int64_t*)perm, nperm, n) ||                               \
            check_labels((const int64_t*)y, (const int64_t*)perm, nperm, K) ||                     \
            (moves && check_moves((const int8_t*)moves, nperm, d)))                                \
            return NULL;                                                                           \
        Py_BEGIN_ALLOW_THREADS status = PASTE(ol_sgd_epoch_, SUF)(                                 \
            (T*)W, (T*)b, (const XT*)X, ldx, n, (const T*)scale, (const T*)offset,                 \
            (const int64_t*)y, (const int64_t*)perm, (const int8_t*)moves, nperm, d, K, nbatch,    \
            (T)eta, (T)lam, bce, threads);                                                         \
        Py_END_ALLOW_THREADS return done(status);                                                  \
    }                                                                                              \
    static PyObject* PASTE(py_evaluate_, SUF)(PyObject* self, PyObject* args) {                    \
        addr W, b, X, scale, offset, y, out;                                                        \
        long long ldx, n, d;                                                                       \
        int K, status, bce, threads;                                                               \
        (void)self;                                                                                \
        if (!PyArg_ParseTuple(args, "KKKLLKKKLiKpi", &W, &b, &X, &ldx, &n, &scale, &offset, &y,   \
                              &d, &K, &out, &bce, &threads))                                       \
            return NULL;                                                                           \
        if (check_shape(d, K, ldx, n) || check_labels((const int64_t*)y, NULL, n, K) ||           \
            check_range("threads", threads, 1, MAX_THREADS))                                       \
            return NULL;                                                                           \
        Py_BEGIN_ALLOW_THREADS status =                                                            \
            PASTE(ol_evaluate_, SUF)((const T*)W, (const T*)b, (const XT*)X, ldx, (const T*)scale, \
                                     (const T*)offset, (const int64_t*)y, n, d, K, (double*)out,    \
                                     bce, threads);                                                \
        Py_END_ALLOW_THREADS return done(status);                                                  \
    }

WRAPPERS(f32, float, float)
WRAPPERS(f32u8, float, uint8_t)
WRAPPERS(f64, double, double)
WRAPPERS(f64u8, double, uint8_t)

/* The float32 FMA rate of this variant's vectors on the calling core, in FLOP/s: 12
 * independent chains (more than FMA latency x FMA units on current x86 and ARM cores), each
 * a = a * m + c, for ``iterations`` rounds; 2 FLOP per lane per step. With FMA it is one
 * instruction; without, a multiply and an add (the same FLOP). The benchmark's FLOP limit. */
#if defined(__AVX512F__)
#define OPAQUE(v) __asm__("" : "+v"(v)) /* keeps each chain in a register of its own */
#elif defined(__x86_64__) || defined(__i386__)
#define OPAQUE(v) __asm__("" : "+x"(v))
#elif defined(__aarch64__)
#define OPAQUE(v) __asm__("" : "+w"(v))
#else
#define OPAQUE(v) __asm__("" : "+m"(v))
#endif
#define CHAINS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
static __attribute__((noinline)) float fma_chains(long long iterations) {
    const pvec_f32 mul = (pvec_f32){0} + 0.999999f, add = (pvec_f32){0} + 1e-7f;
#define INIT(c) pvec_f32 a##c = (pvec_f32){0} + (float)c;
#define STEP(c) \
    a##c = a##c * mul + add; \
    OPAQUE(a##c);
#define SUM(c) s += a##c;
    CHAINS(INIT)
    for (long long it = 0; it < iterations; it++) {
        CHAINS(STEP)
    }
    pvec_f32 s = {0};
    CHAINS(SUM)
    float t = 0;
    for (int l = 0; l < PVB / 4; l++) t += s[l];
    return t;
}

static PyObject* py_fma_peak(PyObject* self, PyObject* args) {
    long long iterations;
    struct timespec t0, t1;
    float sink;
    (void)self;
    if (!PyArg_ParseTuple(args, "L", &iterations)) return NULL;
    if (check_range("iterations", iterations, 1, INT64_MAX / 1024)) return NULL;
    Py_BEGIN_ALLOW_THREADS clock_gettime(CLOCK_MONOTONIC, &t0);
    sink = fma_chains(iterations);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    Py_END_ALLOW_THREADS;
    const double seconds = (t1.tv_sec - t0.tv_sec) + 1e-9 * (t1.tv_nsec - t0.tv_nsec);
    const double flop = 2.0 * (PVB / 4) * 12 * (double)iterations;
    return Py_BuildValue("(ddd)", flop, seconds, (double)sink);
}

#define METHOD(name, doc) {#name, (PyCFunction)py_##name, METH_VARARGS, doc}
static PyMethodDef methods[] = {
    METHOD(scores_f32, NULL),     METHOD(scores_f32u8, NULL),     METHOD(scores_f64, NULL),
    METHOD(scores_f64u8, NULL),   METHOD(gradients_f32, NULL),    METHOD(gradients_f32u8, NULL),
    METHOD(gradients_f64, NULL),  METHOD(gradients_f64u8, NULL),  METHOD(sgd_epoch_f32, NULL),
    METHOD(sgd_epoch_f32u8, NULL), METHOD(sgd_epoch_f64, NULL),   METHOD(sgd_epoch_f64u8, NULL),
    METHOD(evaluate_f32, NULL),   METHOD(evaluate_f32u8, NULL),   METHOD(evaluate_f64, NULL),
    METHOD(evaluate_f64u8, NULL),
    METHOD(fma_peak, "fma_peak(iterations) -> (flop, seconds, checksum) on float32 vectors"),
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT,
                                    "_" STR(VARIANT),
                                    "onelayer's native kernels, built for " STR(VARIANT),
                                    -1,
                                    methods,
                                    NULL,
                                    NULL,
                                    NULL,
                                    NULL};

PyMODINIT_FUNC PASTE(PyInit__, VARIANT)(void) {
    PyObject* m = PyModule_Create(&module);
    if (!m) return NULL;
#if defined(__FP_FAST_FMA) || defined(__FMA__) || defined(__ARM_FEATURE_FMA)
    const long fma = 1;
#else
    const long fma = 0;
#endif
    if (PyModule_AddStringConstant(m, "variant", STR(VARIANT)) ||
        PyModule_AddIntConstant(m, "fma", fma) || PyModule_AddIntConstant(m, "kmax", KMAX) ||
        PyModule_AddIntConstant(m, "vector_bytes", PVB) ||
        PyModule_AddIntConstant(m, "registers", VARIANT_REGS)) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
