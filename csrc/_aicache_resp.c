/* _aicache_resp.c -- binding for the resp area (being built; see _aicache.h). */
#include "_aicache.h"

int
aicpy_resp_exec(PyObject *m, aicpy_state *st)
{
    (void) m;
    (void) st;
    return 0;
}
