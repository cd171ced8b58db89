/* Which of the x86-64 builds of the native kernels this CPU (and its operating system) can
 * run: compiled for the baseline x86-64, so it loads anywhere, and asked before any variant is
 * imported (an AVX-512 build would die of an illegal instruction on a CPU without it). The
 * features are those each build is compiled with (setup.py, X86_LEVELS); GCC's and Clang's
 * __builtin_cpu_supports also check that the OS saves the vector registers (XSAVE). */
#define PY_SSIZE_T_CLEAN
#define Py_LIMITED_API 0x030B0000
#include <Python.h>

static int has_v2(void) {
    return __builtin_cpu_supports("sse4.2") && __builtin_cpu_supports("sse4.1") &&
           __builtin_cpu_supports("ssse3") && __builtin_cpu_supports("popcnt");
}
static int has_v3(void) {
    return has_v2() && __builtin_cpu_supports("avx") && __builtin_cpu_supports("avx2") &&
           __builtin_cpu_supports("fma") && __builtin_cpu_supports("bmi") &&
           __builtin_cpu_supports("bmi2") && __builtin_cpu_supports("f16c") &&
           __builtin_cpu_supports("lzcnt") && __builtin_cpu_supports("movbe");
}
static int has_v4(void) {
    return has_v3() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512vl");
}

/* x86_levels() -> the levels this CPU runs, best first, e.g. ("x86_64_v3", "x86_64_v2") */
static PyObject* x86_levels(PyObject* self, PyObject* noargs) {
    (void)self;
    (void)noargs;
    __builtin_cpu_init();
    const char* names[3];
    int n = 0;
    if (has_v4()) names[n++] = "x86_64_v4";
    if (has_v3()) names[n++] = "x86_64_v3";
    if (has_v2()) names[n++] = "x86_64_v2";
    PyObject* out = PyTuple_New(n);
    if (!out) return NULL;
    for (int i = 0; i < n; i++) {
        PyObject* s = PyUnicode_FromString(names[i]);
        if (!s || PyTuple_SetItem(out, i, s)) {
            Py_DECREF(out);
            return NULL;
        }
    }
    return out;
}

static PyMethodDef methods[] = {
    {"x86_levels", x86_levels, METH_NOARGS, "the x86-64 levels this CPU runs, best first"},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_cpu", "which native kernel builds this CPU runs", -1, methods, NULL,
    NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__cpu(void) {
    return PyModule_Create(&module);
}
