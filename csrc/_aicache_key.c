/* _aicache_key.c -- binding for the key area (being built; see _aicache.h). */
#include "_aicache.h"

int
aicpy_key_exec(PyObject *m, aicpy_state *st)
{
    (void) m;
    (void) st;
    return 0;
}
