/* _aicache_codec.c -- binding for the codec area (being built; see _aicache.h). */
#include "_aicache.h"

int
aicpy_codec_exec(PyObject *m, aicpy_state *st)
{
    (void) m;
    (void) st;
    return 0;
}
