/* _aicache_mem.c -- binding for the mem area (being built; see _aicache.h). */
#include "_aicache.h"

int
aicpy_mem_exec(PyObject *m, aicpy_state *st)
{
    (void) m;
    (void) st;
    return 0;
}
