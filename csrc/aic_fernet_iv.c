/* aic_fernet_iv.c -- random IVs for Fernet tokens, from a per-thread pool that
 * a fork never shares (see aic_fernet_random_iv in aic_fernet.h). */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/rand.h>

#include "aic_fernet.h"

#define IV_POOL 1024 /* random bytes fetched per RAND_bytes call, per thread */

/* IVs come from a per-thread pool refilled by one RAND_bytes call per 64 IVs:
 * RAND_bytes has a fixed cost (~0.6 us here) that dominated small tokens.  A
 * fork must never let parent and child hand out the same IVs, so the child bumps
 * a generation counter (pthread_atfork) and a pool from an older generation is
 * refilled.  Bytes handed out are wiped from the pool. */
static atomic_uint fork_generation;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static _Thread_local struct {
    unsigned char bytes[IV_POOL];
    size_t used;
    unsigned generation;
} iv_pool = {.used = IV_POOL};

static void
after_fork_in_child(void)
{
    atomic_fetch_add_explicit(&fork_generation, 1, memory_order_relaxed);
}

static void
register_atfork(void)
{
    if (pthread_atfork(NULL, NULL, after_fork_in_child) != 0) {
        /* Without the hook, every pool is single-use: same safety, less speed. */
        atomic_store_explicit(&fork_generation, UINT_MAX, memory_order_relaxed);
    }
}

int
aic_fernet_random_iv(unsigned char iv[AIC_FERNET_IVBYTES])
{
    if (iv == NULL) {
        return AIC_EINVAL;
    }
    pthread_once(&atfork_once, register_atfork);
    unsigned gen = atomic_load_explicit(&fork_generation, memory_order_relaxed);
    if (gen == UINT_MAX) {
        if (RAND_bytes(iv, AIC_FERNET_IVBYTES) != 1) {
            ERR_clear_error();
            return AIC_ECRYPTO;
        }
        return AIC_OK;
    }
    if (iv_pool.used > IV_POOL - AIC_FERNET_IVBYTES || iv_pool.generation != gen) {
        if (RAND_bytes(iv_pool.bytes, IV_POOL) != 1) {
            ERR_clear_error();
            iv_pool.used = IV_POOL;
            return AIC_ECRYPTO;
        }
        iv_pool.used = 0;
        iv_pool.generation = gen;
    }
    memcpy(iv, iv_pool.bytes + iv_pool.used, AIC_FERNET_IVBYTES);
    OPENSSL_cleanse(iv_pool.bytes + iv_pool.used, AIC_FERNET_IVBYTES);
    iv_pool.used += AIC_FERNET_IVBYTES;
    return AIC_OK;
}
