/* _aicache_fernet.c -- binding for the fernet area (being built; see _aicache.h). */
#include "_aicache.h"

int
aicpy_fernet_exec(PyObject *m, aicpy_state *st)
{
    (void) m;
    (void) st;
    return 0;
}
