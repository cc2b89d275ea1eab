/* zlib_encoders.c -- the zlib-format encoders and decoders a machine may have,
 * side by side on the same bytes: system zlib, libdeflate, ISA-L (igzip).
 * Built and run by benchmarks/bench_codecs.py (only with the libraries found);
 * prints one line per case: "<library> <op> <level> <file> <in> <out> <us>",
 * us = best of 5 rounds.  Every stream is checked with system zlib's inflate. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>
#if defined(HAVE_LIBDEFLATE)
#include <libdeflate.h>
#endif
#if defined(HAVE_ISAL)
#include <isa-l/igzip_lib.h>
#endif

#define CAP (4u << 20)
static unsigned char out[CAP], back[CAP];

static double
now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double) t.tv_sec + (double) t.tv_nsec * 1e-9;
}

static size_t
zlib_c(const unsigned char *in, size_t n, int level)
{
    uLongf o = CAP;
    return compress2(out, &o, in, n, level) == Z_OK ? o : 0;
}

#if defined(HAVE_LIBDEFLATE)
static struct libdeflate_compressor *ldc[13];
static size_t
ldef_c(const unsigned char *in, size_t n, int level)
{
    return libdeflate_zlib_compress(ldc[level], in, n, out, CAP);
}
#endif

#if defined(HAVE_ISAL)
static struct isal_zstream *zs;
static unsigned char *lvlbuf;
static size_t
isal_c(const unsigned char *in, size_t n, int level)
{
    isal_deflate_stateless_init(zs);
    zs->gzip_flag = IGZIP_ZLIB;
    zs->level = (uint32_t) level;
    zs->level_buf = lvlbuf;
    zs->level_buf_size = ISAL_DEF_LVL3_DEFAULT;
    zs->next_in = (uint8_t *) in;
    zs->avail_in = (uint32_t) n;
    zs->next_out = out;
    zs->avail_out = CAP;
    zs->end_of_stream = 1;
    return isal_deflate_stateless(zs) == COMP_OK ? zs->total_out : 0;
}
#endif

static void
run(const char *lib, size_t (*fn)(const unsigned char *, size_t, int), int level,
    const char *name, const unsigned char *in, size_t n)
{
    size_t olen = fn(in, n, level);
    uLongf bl = CAP;
    if (olen == 0 || uncompress(back, &bl, out, olen) != Z_OK || bl != n ||
        memcmp(back, in, n) != 0) {
        printf("%s compress %d %s %zu 0 BAD\n", lib, level, name, n);
        return;
    }
    int iters = n < 10000 ? 2000 : 50;
    double best = 1e9;
    for (int r = 0; r < 5; r++) {
        double t = now();
        for (int i = 0; i < iters; i++) {
            fn(in, n, level);
        }
        t = (now() - t) / iters;
        best = t < best ? t : best;
    }
    printf("%s compress %d %s %zu %zu %.2f\n", lib, level, name, n, olen, best * 1e6);
}

static void
run_inflate(const char *name, const unsigned char *in, size_t n)
{
    unsigned char *z = malloc(CAP);
    uLongf zl = CAP;
    if (z == NULL || compress2(z, &zl, in, n, 6) != Z_OK) {
        free(z);
        return;
    }
    int iters = n < 10000 ? 2000 : 50;
    double best[3] = {1e9, 1e9, 1e9};
#if defined(HAVE_LIBDEFLATE)
    struct libdeflate_decompressor *d = libdeflate_alloc_decompressor();
#endif
    for (int r = 0; r < 5; r++) {
        double t = now();
        for (int i = 0; i < iters; i++) {
            uLongf bl = CAP;
            uncompress(back, &bl, z, zl);
        }
        t = (now() - t) / iters;
        best[0] = t < best[0] ? t : best[0];
#if defined(HAVE_LIBDEFLATE)
        t = now();
        for (int i = 0; i < iters; i++) {
            size_t got;
            libdeflate_zlib_decompress(d, z, zl, back, n, &got);
        }
        t = (now() - t) / iters;
        best[1] = t < best[1] ? t : best[1];
#endif
#if defined(HAVE_ISAL)
        t = now();
        for (int i = 0; i < iters; i++) {
            static struct inflate_state s;
            isal_inflate_init(&s);
            s.crc_flag = ISAL_ZLIB;
            s.next_in = z;
            s.avail_in = (uint32_t) zl;
            s.next_out = back;
            s.avail_out = CAP;
            isal_inflate_stateless(&s);
        }
        t = (now() - t) / iters;
        best[2] = t < best[2] ? t : best[2];
#endif
    }
    printf("zlib inflate 6 %s %zu %lu %.2f\n", name, n, (unsigned long) zl, best[0] * 1e6);
#if defined(HAVE_LIBDEFLATE)
    printf("libdeflate inflate 6 %s %zu %lu %.2f\n", name, n, (unsigned long) zl,
           best[1] * 1e6);
    libdeflate_free_decompressor(d);
#endif
#if defined(HAVE_ISAL)
    printf("isa-l inflate 6 %s %zu %lu %.2f\n", name, n, (unsigned long) zl, best[2] * 1e6);
#endif
    free(z);
}

int
main(int argc, char **argv)
{
#if defined(HAVE_LIBDEFLATE)
    for (int l = 1; l <= 12; l++) {
        ldc[l] = libdeflate_alloc_compressor(l);
    }
#endif
#if defined(HAVE_ISAL)
    zs = malloc(sizeof *zs);
    lvlbuf = malloc(ISAL_DEF_LVL3_DEFAULT);
#endif
    for (int a = 1; a < argc; a++) {
        FILE *fp = fopen(argv[a], "rb");
        if (fp == NULL) {
            continue;
        }
        static unsigned char in[CAP];
        size_t n = fread(in, 1, CAP, fp);
        fclose(fp);
        const char *name = strrchr(argv[a], '/') ? strrchr(argv[a], '/') + 1 : argv[a];
        run("zlib", zlib_c, 1, name, in, n);
        run("zlib", zlib_c, 6, name, in, n);
#if defined(HAVE_LIBDEFLATE)
        run("libdeflate", ldef_c, 1, name, in, n);
        run("libdeflate", ldef_c, 6, name, in, n);
#endif
#if defined(HAVE_ISAL)
        run("isa-l", isal_c, 1, name, in, n);
        run("isa-l", isal_c, 3, name, in, n);
#endif
        run_inflate(name, in, n);
    }
    return 0;
}
