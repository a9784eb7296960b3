/*
 * fastcount._speedups.count(data, needle) -> int
 *
 * Counts non-overlapping occurrences of `needle` in `data` (any objects
 * supporting the buffer protocol, e.g. bytes), like bytes.count().
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

static PyObject *
count(PyObject *self, PyObject *args)
{
    Py_buffer data, needle;
    Py_ssize_t n = 0, i = 0;

    if (!PyArg_ParseTuple(args, "y*y*:count", &data, &needle))
        return NULL;
    if (needle.len == 0) {
        PyBuffer_Release(&data);
        PyBuffer_Release(&needle);
        PyErr_SetString(PyExc_ValueError, "needle must not be empty");
        return NULL;
    }

    const char *hay = data.buf, *pin = needle.buf;
    Py_BEGIN_ALLOW_THREADS  /* plain memory scan: let other threads run */
    while (i + needle.len <= data.len) {
        if (hay[i] == pin[0] && memcmp(hay + i, pin, needle.len) == 0) {
            n++;
            i += needle.len;
        } else {
            i++;
        }
    }
    Py_END_ALLOW_THREADS

    PyBuffer_Release(&data);
    PyBuffer_Release(&needle);
    return PyLong_FromSsize_t(n);
}

static PyMethodDef methods[] = {
    {"count", count, METH_VARARGS,
     "count(data, needle) -> int\n\nNon-overlapping occurrences of needle in data."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "fastcount._speedups", NULL, -1, methods,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    return PyModule_Create(&module);
}
