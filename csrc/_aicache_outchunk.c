/* _aicache_outchunk.c -- area resp: a big flushed output buffer handed to the
 * transport without a copy.
 *
 * RedisProtocol packs every command of a loop iteration into one buffer.  For a
 * big write (64 x 100 KB SETs is 6.4 MB) copying it into a bytes object costs a
 * pass over fresh pages; instead the buffer itself moves into an OutChunk, which
 * owns it and exports it read-only, and the transport gets a memoryview of it.
 * asyncio slices a memoryview without copying (a partial send keeps only the
 * unsent tail: copied into its bytearray on 3.11, referenced on 3.12+), and the
 * chunk frees the buffer when the last view of it goes. */
#include "_aicache.h"

typedef struct {
    PyObject_HEAD unsigned char *data; /* owned (aic allocator), never written */
    Py_ssize_t len;
} aicpy_outchunk;

static int
outchunk_getbuffer(PyObject *op, Py_buffer *view, int flags)
{
    aicpy_outchunk *self = (aicpy_outchunk *) op;
    return PyBuffer_FillInfo(view, op, self->data, self->len, 1, flags);
}

static void
outchunk_dealloc(PyObject *op)
{
    PyTypeObject *tp = Py_TYPE(op);
    aic_free(((aicpy_outchunk *) op)->data);
    tp->tp_free(op);
    Py_DECREF(tp);
}

static PyType_Slot outchunk_slots[] = {
    {Py_bf_getbuffer, outchunk_getbuffer},
    {Py_tp_dealloc, outchunk_dealloc},
    {Py_tp_doc, (void *) "Read-only bytes of one RedisProtocol write (internal)."},
    {0, NULL},
};

static PyType_Spec outchunk_spec = {
    .name = "aicache._core._OutChunk",
    .basicsize = sizeof(aicpy_outchunk),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE |
             Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = outchunk_slots,
};

PyObject *
aicpy_outchunk_take(aicpy_state *st, aic_buf *b)
{
    PyTypeObject *tp = (PyTypeObject *) st->o.OutChunkType;
    aicpy_outchunk *chunk = (aicpy_outchunk *) tp->tp_alloc(tp, 0);
    if (chunk == NULL) {
        return NULL; /* b keeps its bytes */
    }
    size_t len = 0;
    chunk->data = aic_buf_steal(b, &len);
    chunk->len = (Py_ssize_t) len;
    PyObject *view = PyMemoryView_FromObject((PyObject *) chunk);
    Py_DECREF(chunk); /* the view holds it; on failure this frees the bytes */
    return view;
}

int
aicpy_outchunk_exec(PyObject *m, aicpy_state *st)
{
    st->o.OutChunkType = PyType_FromModuleAndSpec(m, &outchunk_spec, NULL);
    return st->o.OutChunkType == NULL ? -1 : 0;
}
