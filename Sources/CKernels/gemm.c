// SGEMM: BLIS loop order, packed panels, register-blocked micro-kernels chosen by CPU feature.
//
//   for jc (NC columns of B/C)            B block  [KC x NC] packed into NR-wide panels (L3)
//     for pc (KC of the shared dimension)
//       for ic (MC rows of A/C)           A block  [MC x KC] packed into MR-tall panels (L2)
//         for jr, ir: micro-kernel        C tile   [MR x NR] lives in registers over KC steps
//
// Not here: threading (the Swift caller splits M or N across cores and calls this per slice) and
// beta scaling other than 0 and 1 (the caller scales C first; β = 0 overwrites C in the first K block
// instead of zeroing it and accumulating). Panels are zero-padded so edge tiles run the
// same kernel into a scratch tile.
#include "CKernels.h"
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#define KC ORR_GEMM_KC
#define MC 144
#define NC 1024
#define NC_IM2COL 256
#define MAXMR 8
#define MAXNR 32

// ow: overwrite C with α·acc (the first K block of a β = 0 product) instead of adding to it.
typedef void (*ukernel_fn)(long kc, const float *a, const float *b, float *c, long ldc, float alpha, int ow);

// ---------------------------------------------------------------- generic (any CPU, auto-vectorised)
static void uk_generic_4x16(long kc, const float *restrict a, const float *restrict b, float *restrict c,
                            long ldc, float alpha, int ow) {
    float acc[4][16];
    memset(acc, 0, sizeof acc);
    for (long k = 0; k < kc; k++) {
        for (int i = 0; i < 4; i++) {
            float ai = a[i];
            for (int j = 0; j < 16; j++) acc[i][j] += ai * b[j];
        }
        a += 4; b += 16;
    }
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 16; j++) c[i * ldc + j] = alpha * acc[i][j] + (ow ? 0.0f : c[i * ldc + j]);
}

#if defined(__x86_64__)
// ---------------------------------------------------------------- AVX2 + FMA: 6 x 16 (12 ymm accumulators)
__attribute__((target("avx2,fma")))
static void uk_avx2_6x16(long kc, const float *restrict a, const float *restrict b, float *restrict c,
                         long ldc, float alpha, int ow) {
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00,
           c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    for (long k = 0; k < kc; k++) {
        __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
        __m256 ai;
        ai = _mm256_broadcast_ss(a + 0); c00 = _mm256_fmadd_ps(ai, b0, c00); c01 = _mm256_fmadd_ps(ai, b1, c01);
        ai = _mm256_broadcast_ss(a + 1); c10 = _mm256_fmadd_ps(ai, b0, c10); c11 = _mm256_fmadd_ps(ai, b1, c11);
        ai = _mm256_broadcast_ss(a + 2); c20 = _mm256_fmadd_ps(ai, b0, c20); c21 = _mm256_fmadd_ps(ai, b1, c21);
        ai = _mm256_broadcast_ss(a + 3); c30 = _mm256_fmadd_ps(ai, b0, c30); c31 = _mm256_fmadd_ps(ai, b1, c31);
        ai = _mm256_broadcast_ss(a + 4); c40 = _mm256_fmadd_ps(ai, b0, c40); c41 = _mm256_fmadd_ps(ai, b1, c41);
        ai = _mm256_broadcast_ss(a + 5); c50 = _mm256_fmadd_ps(ai, b0, c50); c51 = _mm256_fmadd_ps(ai, b1, c51);
        a += 6; b += 16;
    }
    __m256 al = _mm256_set1_ps(alpha);
#define ST2(r, x0, x1) \
    _mm256_storeu_ps(c + r * ldc, ow ? _mm256_mul_ps(al, x0) : _mm256_fmadd_ps(al, x0, _mm256_loadu_ps(c + r * ldc))); \
    _mm256_storeu_ps(c + r * ldc + 8, \
                     ow ? _mm256_mul_ps(al, x1) : _mm256_fmadd_ps(al, x1, _mm256_loadu_ps(c + r * ldc + 8)));
    ST2(0, c00, c01) ST2(1, c10, c11) ST2(2, c20, c21) ST2(3, c30, c31) ST2(4, c40, c41) ST2(5, c50, c51)
#undef ST2
}

// The 8 × 32 AVX-512 tile shared by both AVX-512 kernels: 16 zmm accumulators c<row><half>,
// one rank-1 update per k (broadcast one A value per row against two B vectors), then C += α·acc.
#define ACC8x32_DECLARE \
    __m512 c00 = _mm512_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00, \
           c40 = c00, c41 = c00, c50 = c00, c51 = c00, c60 = c00, c61 = c00, c70 = c00, c71 = c00
#define ACC8x32_ROW(r, value) \
    ai = _mm512_set1_ps(value); c##r##0 = _mm512_fmadd_ps(ai, b0, c##r##0); c##r##1 = _mm512_fmadd_ps(ai, b1, c##r##1);
#define ACC8x32_STEP(A0, A1, A2, A3, A4, A5, A6, A7) { \
    __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16), ai; \
    ACC8x32_ROW(0, A0) ACC8x32_ROW(1, A1) ACC8x32_ROW(2, A2) ACC8x32_ROW(3, A3) \
    ACC8x32_ROW(4, A4) ACC8x32_ROW(5, A5) ACC8x32_ROW(6, A6) ACC8x32_ROW(7, A7) b += 32; }
#define ACC8x32_ST2(r) \
    _mm512_storeu_ps(c + r * ldc, ow ? _mm512_mul_ps(al, c##r##0) \
                                     : _mm512_fmadd_ps(al, c##r##0, _mm512_loadu_ps(c + r * ldc))); \
    _mm512_storeu_ps(c + r * ldc + 16, ow ? _mm512_mul_ps(al, c##r##1) \
                                          : _mm512_fmadd_ps(al, c##r##1, _mm512_loadu_ps(c + r * ldc + 16)));
#define ACC8x32_STORE { __m512 al = _mm512_set1_ps(alpha); \
    ACC8x32_ST2(0) ACC8x32_ST2(1) ACC8x32_ST2(2) ACC8x32_ST2(3) ACC8x32_ST2(4) ACC8x32_ST2(5) ACC8x32_ST2(6) ACC8x32_ST2(7) }

// ---------------------------------------------------------------- AVX-512: 8 x 32 (16 zmm accumulators)
__attribute__((target("avx512f,fma")))
static void uk_avx512_8x32(long kc, const float *restrict a, const float *restrict b, float *restrict c,
                           long ldc, float alpha, int ow) {
    ACC8x32_DECLARE;
    for (long k = 0; k < kc; k++, a += 8) ACC8x32_STEP(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7])
    ACC8x32_STORE
}
#endif

#if defined(__x86_64__)
// AVX-512 8 × 32 reading A straight from row-major storage (row stride lda): no packing of A.
// Each k broadcasts a[r·lda + k] from 8 rows — 8 sequential streams the prefetcher follows, and an
// 8 × KC block of A (8 KiB) stays in L1 across the N panels. Rows past the edge repeat the last row.
__attribute__((target("avx512f,fma")))
static void uk_avx512_8x32_rowA(long kc, const float *restrict a, long lda, long rows, const float *restrict b,
                                float *restrict c, long ldc, float alpha, int ow) {
    const float *r0 = a, *r1 = a + (rows > 1 ? 1 : 0) * lda, *r2 = a + (rows > 2 ? 2 : rows - 1) * lda,
                *r3 = a + (rows > 3 ? 3 : rows - 1) * lda, *r4 = a + (rows > 4 ? 4 : rows - 1) * lda,
                *r5 = a + (rows > 5 ? 5 : rows - 1) * lda, *r6 = a + (rows > 6 ? 6 : rows - 1) * lda,
                *r7 = a + (rows > 7 ? 7 : rows - 1) * lda;
    ACC8x32_DECLARE;
    for (long k = 0; k < kc; k++) ACC8x32_STEP(r0[k], r1[k], r2[k], r3[k], r4[k], r5[k], r6[k], r7[k])
    ACC8x32_STORE
}

// AVX-512 8 × 32 reading A straight from column-major storage (A(i, k) at a[k·lda + i], a weight
// gradient's Xᵀ): the 8 values of each k are already side by side, as in a packed panel, so the
// panel is the matrix itself at stride lda. 8 full rows only.
__attribute__((target("avx512f,fma")))
static void uk_avx512_8x32_colA(long kc, const float *restrict a, long lda, const float *restrict b,
                                float *restrict c, long ldc, float alpha, int ow) {
    ACC8x32_DECLARE;
    for (long k = 0; k < kc; k++, a += lda) ACC8x32_STEP(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7])
    ACC8x32_STORE
}
#endif

// ---------------------------------------------------------------- dispatch
typedef struct { const char *name; ukernel_fn fn; int mr, nr; } kernel_t;
static const kernel_t K_GENERIC = {"generic-4x16", uk_generic_4x16, 4, 16};
#if defined(__x86_64__)
static const kernel_t K_AVX2 = {"avx2-6x16", uk_avx2_6x16, 6, 16};
static const kernel_t K_AVX512 = {"avx512-8x32", uk_avx512_8x32, 8, 32};
#endif
static const kernel_t *g_kernel = NULL;

static const kernel_t *pick_kernel(void) {
    const kernel_t *k = __atomic_load_n(&g_kernel, __ATOMIC_ACQUIRE);
    if (k) return k;
    k = &K_GENERIC;
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) k = &K_AVX512;
    else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) k = &K_AVX2;
#endif
    __atomic_store_n(&g_kernel, k, __ATOMIC_RELEASE);
    return k;
}

const char *orr_gemm_kernel_name(void) { return pick_kernel()->name; }

int orr_gemm_force_kernel(const char *name) {
    const kernel_t *k = NULL;
    if (strcmp(name, "generic-4x16") == 0) k = &K_GENERIC;
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (strcmp(name, "avx2-6x16") == 0 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) k = &K_AVX2;
    if (strcmp(name, "avx512-8x32") == 0 && __builtin_cpu_supports("avx512f")) k = &K_AVX512;
#endif
    if (strcmp(name, "auto") == 0) { __atomic_store_n(&g_kernel, NULL, __ATOMIC_RELEASE); pick_kernel(); return 1; }
    if (!k) return 0;
    __atomic_store_n(&g_kernel, k, __ATOMIC_RELEASE);
    return 1;
}

// ---------------------------------------------------------------- per-thread packing buffers
static _Thread_local float *tl_apack = NULL, *tl_bpack = NULL;

static float *aligned_buffer(float **slot, size_t floats) {
    if (!*slot) {
        void *p = NULL;
        if (posix_memalign(&p, 64, floats * sizeof(float)) != 0) return NULL;
        *slot = (float *)p;
    }
    return *slot;
}

// Copies an n×kn block (n rows of a row-major source with row stride ld, kn ≤ 16 columns) into
// dst[kk*stride + i] (transposed). 4×4 SSE transposes where possible (baseline on x86-64).
static inline void transpose_block(const float *src, long ld, long n, long kn, float *dst, long stride) {
    long i = 0;
#if defined(__x86_64__)
    for (; i + 4 <= n; i += 4) {
        long kk = 0;
        for (; kk + 4 <= kn; kk += 4) {
            __m128 r0 = _mm_loadu_ps(src + (i + 0) * ld + kk), r1 = _mm_loadu_ps(src + (i + 1) * ld + kk);
            __m128 r2 = _mm_loadu_ps(src + (i + 2) * ld + kk), r3 = _mm_loadu_ps(src + (i + 3) * ld + kk);
            _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
            _mm_storeu_ps(dst + (kk + 0) * stride + i, r0); _mm_storeu_ps(dst + (kk + 1) * stride + i, r1);
            _mm_storeu_ps(dst + (kk + 2) * stride + i, r2); _mm_storeu_ps(dst + (kk + 3) * stride + i, r3);
        }
        for (; kk < kn; kk++)
            for (long r = 0; r < 4; r++) dst[kk * stride + i + r] = src[(i + r) * ld + kk];
    }
#endif
    for (; i < n; i++)
        for (long kk = 0; kk < kn; kk++) dst[kk * stride + i] = src[i * ld + kk];
}

#if defined(__x86_64__)
// transpose_block's full 16 × 16 case in AVX-512: dst[kk·stride + i] = src[i·ld + kk] for i, kk < 16.
// Pairs of rows interleaved, then 4 × 4 blocks within 128-bit lanes, then lanes across registers
// (64 shuffles and 32 moves for 256 values, where the 4 × 4 SSE transposes take 128 and 128).
__attribute__((target("avx512f")))
static void transpose16_avx512(const float *src, long ld, float *dst, long stride) {
    __m512 r0 = _mm512_loadu_ps(src + 0 * ld), r1 = _mm512_loadu_ps(src + 1 * ld), r2 = _mm512_loadu_ps(src + 2 * ld),
           r3 = _mm512_loadu_ps(src + 3 * ld), r4 = _mm512_loadu_ps(src + 4 * ld), r5 = _mm512_loadu_ps(src + 5 * ld),
           r6 = _mm512_loadu_ps(src + 6 * ld), r7 = _mm512_loadu_ps(src + 7 * ld), r8 = _mm512_loadu_ps(src + 8 * ld),
           r9 = _mm512_loadu_ps(src + 9 * ld), ra = _mm512_loadu_ps(src + 10 * ld), rb = _mm512_loadu_ps(src + 11 * ld),
           rc = _mm512_loadu_ps(src + 12 * ld), rd = _mm512_loadu_ps(src + 13 * ld), re = _mm512_loadu_ps(src + 14 * ld),
           rf = _mm512_loadu_ps(src + 15 * ld);
    __m512 t0 = _mm512_unpacklo_ps(r0, r1), t1 = _mm512_unpackhi_ps(r0, r1), t2 = _mm512_unpacklo_ps(r2, r3),
           t3 = _mm512_unpackhi_ps(r2, r3), t4 = _mm512_unpacklo_ps(r4, r5), t5 = _mm512_unpackhi_ps(r4, r5),
           t6 = _mm512_unpacklo_ps(r6, r7), t7 = _mm512_unpackhi_ps(r6, r7), t8 = _mm512_unpacklo_ps(r8, r9),
           t9 = _mm512_unpackhi_ps(r8, r9), ta = _mm512_unpacklo_ps(ra, rb), tb = _mm512_unpackhi_ps(ra, rb),
           tc = _mm512_unpacklo_ps(rc, rd), td = _mm512_unpackhi_ps(rc, rd), te = _mm512_unpacklo_ps(re, rf),
           tf = _mm512_unpackhi_ps(re, rf);
    // Each 128-bit lane L now holds, per pair of rows, columns 4L..4L+3 interleaved.
    r0 = _mm512_shuffle_ps(t0, t2, 0x44); r1 = _mm512_shuffle_ps(t0, t2, 0xEE);
    r2 = _mm512_shuffle_ps(t1, t3, 0x44); r3 = _mm512_shuffle_ps(t1, t3, 0xEE);
    r4 = _mm512_shuffle_ps(t4, t6, 0x44); r5 = _mm512_shuffle_ps(t4, t6, 0xEE);
    r6 = _mm512_shuffle_ps(t5, t7, 0x44); r7 = _mm512_shuffle_ps(t5, t7, 0xEE);
    r8 = _mm512_shuffle_ps(t8, ta, 0x44); r9 = _mm512_shuffle_ps(t8, ta, 0xEE);
    ra = _mm512_shuffle_ps(t9, tb, 0x44); rb = _mm512_shuffle_ps(t9, tb, 0xEE);
    rc = _mm512_shuffle_ps(tc, te, 0x44); rd = _mm512_shuffle_ps(tc, te, 0xEE);
    re = _mm512_shuffle_ps(td, tf, 0x44); rf = _mm512_shuffle_ps(td, tf, 0xEE);
    // r(4g+m) lane L: rows 4g..4g+3 of column 4L+m.
    t0 = _mm512_shuffle_f32x4(r0, r4, 0x88); t1 = _mm512_shuffle_f32x4(r1, r5, 0x88);
    t2 = _mm512_shuffle_f32x4(r2, r6, 0x88); t3 = _mm512_shuffle_f32x4(r3, r7, 0x88);
    t4 = _mm512_shuffle_f32x4(r0, r4, 0xDD); t5 = _mm512_shuffle_f32x4(r1, r5, 0xDD);
    t6 = _mm512_shuffle_f32x4(r2, r6, 0xDD); t7 = _mm512_shuffle_f32x4(r3, r7, 0xDD);
    t8 = _mm512_shuffle_f32x4(r8, rc, 0x88); t9 = _mm512_shuffle_f32x4(r9, rd, 0x88);
    ta = _mm512_shuffle_f32x4(ra, re, 0x88); tb = _mm512_shuffle_f32x4(rb, rf, 0x88);
    tc = _mm512_shuffle_f32x4(r8, rc, 0xDD); td = _mm512_shuffle_f32x4(r9, rd, 0xDD);
    te = _mm512_shuffle_f32x4(ra, re, 0xDD); tf = _mm512_shuffle_f32x4(rb, rf, 0xDD);
    __m512 o[16];
    o[0] = _mm512_shuffle_f32x4(t0, t8, 0x88); o[1] = _mm512_shuffle_f32x4(t1, t9, 0x88);
    o[2] = _mm512_shuffle_f32x4(t2, ta, 0x88); o[3] = _mm512_shuffle_f32x4(t3, tb, 0x88);
    o[4] = _mm512_shuffle_f32x4(t4, tc, 0x88); o[5] = _mm512_shuffle_f32x4(t5, td, 0x88);
    o[6] = _mm512_shuffle_f32x4(t6, te, 0x88); o[7] = _mm512_shuffle_f32x4(t7, tf, 0x88);
    o[8] = _mm512_shuffle_f32x4(t0, t8, 0xDD); o[9] = _mm512_shuffle_f32x4(t1, t9, 0xDD);
    o[10] = _mm512_shuffle_f32x4(t2, ta, 0xDD); o[11] = _mm512_shuffle_f32x4(t3, tb, 0xDD);
    o[12] = _mm512_shuffle_f32x4(t4, tc, 0xDD); o[13] = _mm512_shuffle_f32x4(t5, td, 0xDD);
    o[14] = _mm512_shuffle_f32x4(t6, te, 0xDD); o[15] = _mm512_shuffle_f32x4(t7, tf, 0xDD);
    for (int i = 0; i < 16; i++) _mm512_storeu_ps(dst + i * stride, o[i]);
}
#endif

// transpose_block, in 16 × 16 AVX-512 blocks where the CPU has them and the block is whole.
static void transpose_block_wide(const float *src, long ld, long n, long kn, float *dst, long stride) {
#if defined(__x86_64__)
    static int wide = -1;  // set once, by whichever worker packs first (each finds the same answer)
    int w = __atomic_load_n(&wide, __ATOMIC_RELAXED);
    if (w < 0) __atomic_store_n(&wide, w = __builtin_cpu_supports("avx512f") ? 1 : 0, __ATOMIC_RELAXED);
    if (w && kn == 16) {
        long i = 0;
        for (; i + 16 <= n; i += 16) transpose16_avx512(src + i * ld, ld, dst + i, stride);
        if (i < n) transpose_block(src + i * ld, ld, n - i, kn, dst + i, stride);
        return;
    }
#endif
    transpose_block(src, ld, n, kn, dst, stride);
}

// A block [mc x kc] → panels of mr rows: dst[p][k][i] = A[(p*mr+i), k], zero past mc.
// Row-major A (cs == 1) is transposed in 16-wide k blocks: contiguous reads, writes within 1 KiB.
static void pack_a(int mr, long mc, long kc, const float *A, long rs, long cs, float *dst) {
    for (long p = 0; p < mc; p += mr) {
        long rows = mc - p < mr ? mc - p : mr;
        if (rs == 1) {
            for (long k = 0; k < kc; k++) {
                const float *src = A + p + k * cs;
                if (rows == 8 && mr == 8) {  // a constant-size copy: one vector move
                    memcpy(dst, src, 8 * sizeof(float));
                    dst += 8;
                    continue;
                }
                long i = 0;
                for (; i < rows; i++) dst[i] = src[i];
                for (; i < mr; i++) dst[i] = 0.0f;
                dst += mr;
            }
        } else if (cs == 1) {
            if (rows < mr) memset(dst, 0, sizeof(float) * (size_t)(kc * mr));
            for (long kb = 0; kb < kc; kb += 16) {
                long kn = kc - kb < 16 ? kc - kb : 16;
                transpose_block(A + p * rs + kb, rs, rows, kn, dst + kb * mr, mr);
            }
            dst += kc * mr;
        } else {
            for (long k = 0; k < kc; k++) {
                const float *src = A + p * rs + k * cs;
                long i = 0;
                for (; i < rows; i++) dst[i] = src[i * rs];
                for (; i < mr; i++) dst[i] = 0.0f;
                dst += mr;
            }
        }
    }
}

// B block [kc x nc] → panels of nr columns: dst[p][k][j] = B[k, p*nr+j], zero past nc.
// Transposed B (rs == 1, e.g. x·Wᵀ with W row-major) is transposed in 16-wide k blocks.
// Cloned for AVX-512, where the 128-byte panel rows are copied in two vector moves, not eight (perf
// samples of pack_b in a 6 × 384 training step, Zen 4: 12 % fewer).
#if defined(__x86_64__)
__attribute__((target_clones("avx512f", "default")))
#endif
static void pack_b(int nr, long kc, long nc, const float *B, long rs, long cs, float *dst) {
    if (cs == 1 && nr == 32 && nc % 32 == 0) {
        // Row by row: each row of the block is one sequential read (a contiguous block is one
        // stream), scattered into the panels' k-th rows.
        for (long k = 0; k < kc; k++) {
            const float *src = B + k * rs;
            // Strided rows (a head's rows of a token-major tensor) come from memory: ask for them early.
            if (k + 8 < kc)
                for (long o = 0; o < nc; o += 16) __builtin_prefetch(src + 8 * rs + o);
            for (long p = 0; p < nc; p += 32) memcpy(dst + p * kc + k * 32, src + p, 32 * sizeof(float));
        }
        return;
    }
    for (long p = 0; p < nc; p += nr) {
        long cols = nc - p < nr ? nc - p : nr;
        if (cs == 1) {
            for (long k = 0; k < kc; k++) {
                const float *src = B + k * rs + p;
                // A constant-size copy for the common widths compiles to vector moves (no libc call
                // per 128 bytes).
                if (cols == nr && nr == 32) memcpy(dst, src, 32 * sizeof(float));
                else if (cols == nr && nr == 16) memcpy(dst, src, 16 * sizeof(float));
                else if (cols == nr) memcpy(dst, src, (size_t)nr * sizeof(float));
                else { long j = 0; for (; j < cols; j++) dst[j] = src[j]; for (; j < nr; j++) dst[j] = 0.0f; }
                dst += nr;
            }
        } else if (rs == 1) {
            // The next panel's source rows (a head's keys, say, from memory) are fetched meanwhile.
            if (p + nr < nc) {
                long next = nc - p - nr < nr ? nc - p - nr : nr;
                for (long j = 0; j < next; j++)
                    for (long o = 0; o < kc; o += 16) __builtin_prefetch(B + (p + nr + j) * cs + o);
            }
            if (cols < nr) memset(dst, 0, sizeof(float) * (size_t)(kc * nr));
            for (long kb = 0; kb < kc; kb += 16) {
                long kn = kc - kb < 16 ? kc - kb : 16;
                transpose_block_wide(B + p * cs + kb, cs, cols, kn, dst + kb * nr, nr);
            }
            dst += kc * nr;
        } else {
            for (long k = 0; k < kc; k++) {
                const float *src = B + k * rs + p * cs;
                long j = 0;
                for (; j < cols; j++) dst[j] = src[j * cs];
                for (; j < nr; j++) dst[j] = 0.0f;
                dst += nr;
            }
        }
    }
}

void orr_sgemm_acc(long M, long N, long K, float alpha,
                   const float *A, long rsA, long csA,
                   const float *B, long rsB, long csB,
                   float *C, long rsC, long csC) {
    orr_sgemm(M, N, K, alpha, A, rsA, csA, B, rsB, csB, C, rsC, csC, 0);
}

// How the B block [kc x nc] at (k0, n0) of the whole B is packed into nr-wide panels: into dst, or
// (a B already packed) found elsewhere; returns where the panels are.
typedef const float *(*packb_fn)(const void *ctx, int nr, long k0, long kc, long n0, long nc, float *dst);

typedef struct { const float *B; long rs, cs; } dense_b;

static const float *pack_dense_b(const void *ctx, int nr, long k0, long kc, long n0, long nc, float *dst) {
    const dense_b *d = (const dense_b *)ctx;
    pack_b(nr, kc, nc, d->B + k0 * d->rs + n0 * d->cs, d->rs, d->cs, dst);
    return dst;
}

// A B matrix [K, N] stored already packed (orr_sgemm_prepacked): block (pc, panel jp) at
// pc·Npad + jp·kc·32.
typedef struct { const float *Bp; long Npad; } prepacked_b;

static const float *prepacked(const void *ctx, int nr, long k0, long kc, long n0, long nc, float *dst) {
    (void)nr; (void)nc; (void)dst;
    const prepacked_b *d = (const prepacked_b *)ctx;
    return d->Bp + k0 * d->Npad + (n0 / 32) * kc * 32;
}

// ---------------------------------------------------------------- implicit im2col operands
// B is the batch-folded im2col matrix of an image tensor, cols[C·kh·kw, N·Ho·Wo] (row (c, ki, kj),
// column (n, oy, ox)), or its transpose — never formed: the packers read the image directly, so a
// convolution's forward (W · cols) and weight gradient (dY · colsᵀ) skip writing and re-reading it.

// A run of output positions in one image row: columns j0..j0+len of a panel are (n, oy, ox0 + t).
typedef struct { long j0, len, n, oy, ox0; } pos_run;

// Splits `count` consecutive output positions starting at flat position p into row runs.
static long position_runs(const orr_conv_geometry *g, long p, long count, pos_run *runs) {
    const long L = g->Ho * g->Wo;
    long r = 0, j = 0;
    while (j < count) {
        const long q = p + j, n = q / L, rem = q % L, oy = rem / g->Wo, ox = rem % g->Wo;
        long len = g->Wo - ox;
        if (len > count - j) len = count - j;
        runs[r].j0 = j; runs[r].len = len; runs[r].n = n; runs[r].oy = oy; runs[r].ox0 = ox;
        r++;
        j += len;
    }
    return r;
}

static inline const float *plane(const orr_conv_geometry *g, long n, long c) {
    return g->x + (g->channelMajor ? c * g->N + n : n * g->C + c) * g->H * g->W;
}

// Values x[n, c, iy, ox·sw − pw + kj·dw] for ox = ox0 … ox0+len−1 (0 outside the image), each to
// d[t·step].
static inline void gather_run(const orr_conv_geometry *g, long n, long c, long iy, long ox0, long len, long kj,
                              float *d, long step) {
    if (iy < 0 || iy >= g->H) {
        for (long t = 0; t < len; t++) d[t * step] = 0.0f;
        return;
    }
    const float *s = plane(g, n, c) + iy * g->W;
    const long sw = g->sw, base = ox0 * sw - g->pw + kj * g->dw;
    // Valid t: 0 ≤ base + t·sw < W.
    long lo = base >= 0 ? 0 : (-base + sw - 1) / sw;
    long hi = base >= g->W ? 0 : (g->W - 1 - base) / sw + 1;
    if (lo > len) lo = len;
    if (hi > len) hi = len;
    if (hi < lo) hi = lo;
    long t = 0;
    for (; t < lo; t++) d[t * step] = 0.0f;
    if (step == 1 && sw == 1) {
        memcpy(d + lo, s + base + lo, (size_t)(hi - lo) * sizeof(float));
        t = hi;
    } else {
        for (; t < hi; t++) d[t * step] = s[base + t * sw];
    }
    for (; t < len; t++) d[t * step] = 0.0f;
}

// cols[k0 … k0+kc, n0 … n0+nc] → panels dst[p][k][j]. Each row k's channel offset and tap
// displacement are worked out once per block (no divisions in the panel loops); a run inside the
// image is a straight copy (stride 1, with AVX-512 two masked moves — no call per 32 floats) or a
// strided gather. The body is compiled twice: for any x86-64/arm64 CPU and for AVX-512.
#define PACK_IM2COL_B_BODY(COPY, ZERO)                                                                        \
    const orr_conv_geometry *g = (const orr_conv_geometry *)ctx;                                             \
    const long kk = g->kh * g->kw, HW = g->H * g->W, W = g->W, H = g->H, sw = g->sw;                          \
    long coff[KC], dy[KC], dx[KC];                                                                            \
    for (long k = 0; k < kc; k++) {                                                                           \
        const long row = k0 + k, c = row / kk, ki = (row % kk) / g->kw, kj = (row % kk) % g->kw;              \
        coff[k] = c * (g->channelMajor ? g->N : 1) * HW;                                                      \
        dy[k] = ki * g->dh - g->ph;                                                                           \
        dx[k] = kj * g->dw - g->pw;                                                                           \
    }                                                                                                         \
    pos_run runs[MAXNR];                                                                                      \
    long noff[MAXNR];                                                                                         \
    for (long p = 0; p < nc; p += nr) {                                                                       \
        const long cols = nc - p < nr ? nc - p : nr;                                                          \
        const long nruns = position_runs(g, n0 + p, cols, runs);                                              \
        for (long r = 0; r < nruns; r++) noff[r] = runs[r].n * (g->channelMajor ? 1 : g->C) * HW;            \
        for (long k = 0; k < kc; k++) {                                                                       \
            float *d = dst + k * nr;                                                                          \
            for (long r = 0; r < nruns; r++) {                                                                \
                const pos_run *u = &runs[r];                                                                  \
                float *o = d + u->j0;                                                                         \
                const long len = u->len, iy = u->oy * g->sh + dy[k], base = u->ox0 * sw + dx[k];              \
                if (iy < 0 || iy >= H) {                                                                      \
                    ZERO(o, len);                                                                             \
                    continue;                                                                                 \
                }                                                                                             \
                const float *src = g->x + noff[r] + coff[k] + iy * W;                                         \
                /* Valid t: 0 ≤ base + t·sw < W; zeros around a copy (stride 1) or a gather. */           \
                long lo = base >= 0 ? 0 : (-base + sw - 1) / sw;                                              \
                long hi = base >= W ? 0 : (W - 1 - base) / sw + 1;                                            \
                if (lo > len) lo = len;                                                                       \
                if (hi > len) hi = len;                                                                       \
                if (hi < lo) hi = lo;                                                                         \
                if (lo > 0) ZERO(o, lo);                                                                      \
                if (sw == 1) {                                                                                \
                    if (hi > lo) COPY(o + lo, src + base + lo, hi - lo);                                      \
                } else {                                                                                      \
                    const float *sb = src + base;                                                             \
                    for (long t = lo; t < hi; t++) o[t] = sb[t * sw];                                         \
                }                                                                                             \
                if (hi < len) ZERO(o + hi, len - hi);                                                         \
            }                                                                                                 \
            if (cols < nr) ZERO(d + cols, nr - cols);                                                         \
        }                                                                                                     \
        dst += kc * nr;                                                                                       \
    }

#define COPY_PLAIN(o, s, n) memcpy((o), (s), (size_t)(n) * sizeof(float))
#define ZERO_PLAIN(o, n) memset((o), 0, (size_t)(n) * sizeof(float))

static const float *pack_im2col_b(const void *ctx, int nr, long k0, long kc, long n0, long nc, float *dst) {
    float *const start = dst;
    PACK_IM2COL_B_BODY(COPY_PLAIN, ZERO_PLAIN)
    return start;
}

#if defined(__x86_64__)
// len ≤ 32 floats in two masked 16-lane moves (longer runs loop).
__attribute__((target("avx512f"))) static inline void copy_avx512(float *o, const float *s, long n) {
    while (n > 0) {
        const long m = n < 16 ? n : 16;
        const __mmask16 mask = (__mmask16)((1u << m) - 1u);
        _mm512_mask_storeu_ps(o, mask, _mm512_maskz_loadu_ps(mask, s));
        o += m; s += m; n -= m;
    }
}
__attribute__((target("avx512f"))) static inline void zero_avx512(float *o, long n) {
    while (n > 0) {
        const long m = n < 16 ? n : 16;
        _mm512_mask_storeu_ps(o, (__mmask16)((1u << m) - 1u), _mm512_setzero_ps());
        o += m; n -= m;
    }
}
__attribute__((target("avx512f")))
static const float *pack_im2col_b_avx512(const void *ctx, int nr, long k0, long kc, long n0, long nc,
                                        float *dst) {
    float *const start = dst;
    PACK_IM2COL_B_BODY(copy_avx512, zero_avx512)
    return start;
}
#endif

// colsᵀ[k0 … k0+kc (positions), n0 … n0+nc (c, ki, kj)] → panels dst[p][k][j]: each panel's
// columns are first gathered as rows of a small block (contiguous runs of positions, as in the
// forward), then transposed into the panel 4 × 4 at a time — the explicit path's transposed packing,
// on a 32 × KC block that stays in L1/L2 instead of a batch-wide matrix.
static _Thread_local float *tl_bt = NULL;

static const float *pack_im2col_bt(const void *ctx, int nr, long k0, long kc, long n0, long nc, float *dst) {
    float *const start = dst;
    const orr_conv_geometry *g = (const orr_conv_geometry *)ctx;
    const long kk = g->kh * g->kw;
    float *tmp = aligned_buffer(&tl_bt, (size_t)MAXNR * KC);
    if (!tmp) abort();
    pos_run runs[KC];
    const long nruns = position_runs(g, k0, kc, runs);
    for (long p = 0; p < nc; p += nr) {
        const long cols = nc - p < nr ? nc - p : nr;
        for (long j = 0; j < cols; j++) {
            const long col = n0 + p + j, c = col / kk, ki = (col % kk) / g->kw, kj = (col % kk) % g->kw;
            for (long r = 0; r < nruns; r++) {
                const pos_run *u = &runs[r];
                gather_run(g, u->n, c, u->oy * g->sh - g->ph + ki * g->dh, u->ox0, u->len, kj, tmp + j * kc + u->j0, 1);
            }
        }
        if (cols < nr) memset(dst, 0, sizeof(float) * (size_t)(kc * nr));
        for (long kb = 0; kb < kc; kb += 16) {
            const long kn = kc - kb < 16 ? kc - kb : 16;
            transpose_block(tmp + kb, kc, cols, kn, dst + kb * nr, nr);
        }
        dst += kc * nr;
    }
    return start;
}

static void sgemm_core(long M, long N, long K, float alpha,
                       const float *A, long rsA, long csA,
                       packb_fn packb, const void *bctx, long bn0, long ncMax,
                       float *C, long rsC, long csC, int overwrite) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0 || alpha == 0.0f) {
        if (overwrite)
            for (long i = 0; i < M; i++)
                for (long j = 0; j < N; j++) C[i * rsC + j * csC] = 0.0f;
        return;
    }
    const kernel_t *kern = pick_kernel();
    const int mr = kern->mr, nr = kern->nr;
    float *ap = aligned_buffer(&tl_apack, (size_t)(MC + MAXMR) * KC);
    float *bp = aligned_buffer(&tl_bpack, (size_t)(NC + MAXNR) * KC);
    if (!ap || !bp) abort();
    float tile[MAXMR * MAXNR] __attribute__((aligned(64)));

    for (long jc = 0; jc < N; jc += ncMax) {
        long nc = N - jc < ncMax ? N - jc : ncMax;
        for (long pc = 0; pc < K; pc += KC) {
            long kc = K - pc < KC ? K - pc : KC;
            const int ow = overwrite && pc == 0;
            const float *bpk = packb(bctx, nr, pc, kc, bn0 + jc, nc, bp);
#if defined(__x86_64__)
            if (kern == &K_AVX512 && csA == 1 && rsA != 1) {  // row-major A: no packing
                for (long ic = 0; ic < M; ic += 8) {
                    long nrows = M - ic < 8 ? M - ic : 8;
                    const float *arow = A + ic * rsA + pc;
                    const long npan = (nc + 31) / 32;
                    const long nnext = M - ic - 8 < 8 ? M - ic - 8 : 8;  // rows of the next block
                    for (long jr = 0; jr < nc; jr += 32) {
                        long ncols = nc - jr < 32 ? nc - jr : 32;
                        // The next block's rows of A (activations, often not in cache yet) are
                        // requested a share per panel, so its first products do not wait on memory.
                        if (nnext > 0) {
                            long j = jr / 32, r0 = j * nnext / npan, r1 = (j + 1) * nnext / npan;
                            for (long r = r0; r < r1; r++)
                                for (long o = 0; o < kc; o += 16) __builtin_prefetch(arow + (8 + r) * rsA + o);
                        }
                        float *c = C + ic * rsC + (jc + jr) * csC;
                        if (nrows == 8 && ncols == 32 && csC == 1) {
                            uk_avx512_8x32_rowA(kc, arow, rsA, 8, bpk + jr * kc, c, rsC, alpha, ow);
                        } else {
                            uk_avx512_8x32_rowA(kc, arow, rsA, nrows, bpk + jr * kc, tile, 32, 1.0f, 1);
                            for (long i = 0; i < nrows; i++)
                                for (long j = 0; j < ncols; j++)
                                    c[i * rsC + j * csC] = alpha * tile[i * 32 + j] + (ow ? 0.0f : c[i * rsC + j * csC]);
                        }
                    }
                }
                continue;
            }
            if (kern == &K_AVX512 && rsA == 1 && csA >= 8) {  // column-major A: full 8-row panels in place
                for (long ic = 0; ic < M; ic += 8) {
                    long nrows = M - ic < 8 ? M - ic : 8;
                    const float *apanel = A + ic + pc * csA;
                    long lda = csA;
                    if (nrows < 8) {  // the edge panel is packed (zero rows past M)
                        pack_a(8, nrows, kc, apanel, 1, csA, ap);
                        apanel = ap;
                        lda = 8;
                    }
                    const long npan = (nc + 31) / 32;
                    const int pf = ic + 8 < M;
                    for (long jr = 0; jr < nc; jr += 32) {
                        long ncols = nc - jr < 32 ? nc - jr : 32;
                        // The next panel's kc lines of A, a share per B panel (as in the row-major path).
                        if (pf) {
                            long j = jr / 32, k0 = j * kc / npan, k1 = (j + 1) * kc / npan;
                            for (long k = k0; k < k1; k++) __builtin_prefetch(A + ic + 8 + (pc + k) * csA);
                        }
                        float *c = C + ic * rsC + (jc + jr) * csC;
                        if (nrows == 8 && ncols == 32 && csC == 1) {
                            uk_avx512_8x32_colA(kc, apanel, lda, bpk + jr * kc, c, rsC, alpha, ow);
                        } else {
                            uk_avx512_8x32_colA(kc, apanel, lda, bpk + jr * kc, tile, 32, 1.0f, 1);
                            for (long i = 0; i < nrows; i++)
                                for (long j = 0; j < ncols; j++)
                                    c[i * rsC + j * csC] = alpha * tile[i * 32 + j] + (ow ? 0.0f : c[i * rsC + j * csC]);
                        }
                    }
                }
                continue;
            }
#endif
            for (long ic = 0; ic < M; ic += MC) {
                long mc = M - ic < MC ? M - ic : MC;
                pack_a(mr, mc, kc, A + ic * rsA + pc * csA, rsA, csA, ap);
                for (long jr = 0; jr < nc; jr += nr) {
                    long ncols = nc - jr < nr ? nc - jr : nr;
                    const float *bpanel = bpk + jr * kc;
                    for (long ir = 0; ir < mc; ir += mr) {
                        long nrows = mc - ir < mr ? mc - ir : mr;
                        const float *apanel = ap + ir * kc;
                        float *c = C + (ic + ir) * rsC + (jc + jr) * csC;
                        if (nrows == mr && ncols == nr && csC == 1) {
                            kern->fn(kc, apanel, bpanel, c, rsC, alpha, ow);
                        } else {
                            kern->fn(kc, apanel, bpanel, tile, nr, 1.0f, 1);
                            for (long i = 0; i < nrows; i++)
                                for (long j = 0; j < ncols; j++)
                                    c[i * rsC + j * csC] = alpha * tile[i * nr + j] + (ow ? 0.0f : c[i * rsC + j * csC]);
                        }
                    }
                }
            }
        }
    }
}

void orr_sgemm(long M, long N, long K, float alpha,
               const float *A, long rsA, long csA,
               const float *B, long rsB, long csB,
               float *C, long rsC, long csC, int overwrite) {
    dense_b d = {B, rsB, csB};
    sgemm_core(M, N, K, alpha, A, rsA, csA, pack_dense_b, &d, 0, NC, C, rsC, csC, overwrite);
}

#if defined(__x86_64__)
// ---------------------------------------------------------------- direct convolution (no packing)
// For a stride-1 (along the width) convolution whose output rows are multiples of 16 wide, the 32
// columns of a micro-tile are two runs of 16 output positions, each inside one output row; for tap
// row k, their values are 16 consecutive floats of a zero-padded copy of the image. The kernel reads
// them through two pointers per k (no packed panel: packing cost as much as a quarter of a UNet
// step), with A's rows read in place as in the row-A kernel.
__attribute__((target("avx512f,fma")))
static void uk_avx512_8x32_direct(long kc, const float *restrict a, long lda, long rows,
                                  const float *const *p0, const float *const *p1,
                                  float *restrict c, long ldc, float alpha, int ow) {
    const float *r0 = a, *r1 = a + (rows > 1 ? 1 : 0) * lda, *r2 = a + (rows > 2 ? 2 : rows - 1) * lda,
                *r3 = a + (rows > 3 ? 3 : rows - 1) * lda, *r4 = a + (rows > 4 ? 4 : rows - 1) * lda,
                *r5 = a + (rows > 5 ? 5 : rows - 1) * lda, *r6 = a + (rows > 6 ? 6 : rows - 1) * lda,
                *r7 = a + (rows > 7 ? 7 : rows - 1) * lda;
    ACC8x32_DECLARE;
    for (long k = 0; k < kc; k++) {
        __m512 b0 = _mm512_loadu_ps(p0[k]), b1 = _mm512_loadu_ps(p1[k]), ai;
        ACC8x32_ROW(0, r0[k]) ACC8x32_ROW(1, r1[k]) ACC8x32_ROW(2, r2[k]) ACC8x32_ROW(3, r3[k])
        ACC8x32_ROW(4, r4[k]) ACC8x32_ROW(5, r5[k]) ACC8x32_ROW(6, r6[k]) ACC8x32_ROW(7, r7[k])
    }
    ACC8x32_STORE
}

// The same when the tile's 32 outputs are one run (a row at least 32 wide): one pointer per k.
__attribute__((target("avx512f,fma")))
static void uk_avx512_8x32_direct1(long kc, const float *restrict a, long lda, long rows, const float *const *p0,
                                   float *restrict c, long ldc, float alpha, int ow) {
    const float *r0 = a, *r1 = a + (rows > 1 ? 1 : 0) * lda, *r2 = a + (rows > 2 ? 2 : rows - 1) * lda,
                *r3 = a + (rows > 3 ? 3 : rows - 1) * lda, *r4 = a + (rows > 4 ? 4 : rows - 1) * lda,
                *r5 = a + (rows > 5 ? 5 : rows - 1) * lda, *r6 = a + (rows > 6 ? 6 : rows - 1) * lda,
                *r7 = a + (rows > 7 ? 7 : rows - 1) * lda;
    ACC8x32_DECLARE;
    for (long k = 0; k < kc; k++) {
        const float *b = p0[k];
        __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16), ai;
        ACC8x32_ROW(0, r0[k]) ACC8x32_ROW(1, r1[k]) ACC8x32_ROW(2, r2[k]) ACC8x32_ROW(3, r3[k])
        ACC8x32_ROW(4, r4[k]) ACC8x32_ROW(5, r5[k]) ACC8x32_ROW(6, r6[k]) ACC8x32_ROW(7, r7[k])
    }
    ACC8x32_STORE
}

static const float zero_row[16] __attribute__((aligned(64))) = {0};

int orr_conv_direct_available(void) { return pick_kernel() == &K_AVX512; }

// C[M, N] = α·A[M, K] · cols[K, n0 … n0+N] with the image in g padded: plane (H + 2·ph) × (W + 2·pw),
// element (iy, ix) at (iy + ph)·Wp + ix + pw. Needs g->sw == 1 and g->Wo % 16 == 0, A row-major.
void orr_sgemm_conv_direct(long M, long N, long K, float alpha, const float *A, long lda,
                           const orr_conv_geometry *g, long n0, float *C, long ldc, int overwrite,
                           long nchwRows, long m0) {
    const long kk = g->kh * g->kw, Hp = g->H + 2 * g->ph, Wp = g->W + 2 * g->pw, P = Hp * Wp;
    const long L = g->Ho * g->Wo;
    const float *b0[KC], *b1[KC];
    long off[KC];
    float tile[8 * 32] __attribute__((aligned(64)));
    // K blocks of 256 (measured as fast as 128, with half the C-tile reloads). Column blocks of 512
    // outside the K loop: the block of C (M × 512) stays in L2 while the K blocks accumulate into
    // it, instead of streaming the whole of C from memory once per K block.
    const long KD = 256, ND = 512;
    for (long jc = 0; jc < N; jc += ND) {
        const long jend = N - jc < ND ? N : jc + ND;
        for (long pc = 0; pc < K; pc += KD) {
            const long kc = K - pc < KD ? K - pc : KD;
            const int ow = overwrite && pc == 0;
            // Offset of tap row k from the padded position of the output (relative to its plane start).
            for (long k = 0; k < kc; k++) {
                const long row = pc + k, ch = row / kk, ki = (row % kk) / g->kw, kj = (row % kk) % g->kw;
                off[k] = ch * (g->channelMajor ? g->N : 1) * P + ki * g->dh * Wp + kj * g->dw;
            }
            for (long jr = jc; jr < jend; jr += 32) {
                const long ncols = N - jr < 32 ? N - jr : 32;
                // The two 16-wide runs of this tile: image n, output row oy, first column ox.
                const float *base[2];
                for (int h = 0; h < 2; h++) {
                    const long q = n0 + jr + 16 * h;
                    if (16 * h >= ncols) { base[h] = NULL; continue; }
                    const long n = q / L, rem = q % L, oy = rem / g->Wo, ox = rem % g->Wo;
                    base[h] = g->x + n * (g->channelMajor ? 1 : g->C) * P + oy * g->sh * Wp + ox;
                }
                const int oneRun = base[1] == base[0] + 16;
                for (long k = 0; k < kc; k++) {
                    b0[k] = base[0] + off[k];
                    b1[k] = base[1] ? base[1] + off[k] : zero_row;
                }
                // Where the tile's outputs go: row ic, column jr of C; or, with nchwRows, image n's
                // [nchwRows, L] block (rows m0 + ic, position rem) — the NCHW layout directly.
                float *ctile = C + jr;
                long cld = ldc;
                if (nchwRows > 0) {
                    const long q = n0 + jr, n = q / L;
                    ctile = C + (n * nchwRows + m0) * L + q % L;
                    cld = L;
                }
                for (long ic = 0; ic < M; ic += 8) {
                    const long nrows = M - ic < 8 ? M - ic : 8;
                    float *c = ctile + ic * cld;
                    const long ldc = cld;
                    if (nrows == 8 && ncols == 32 && oneRun) {
                        uk_avx512_8x32_direct1(kc, A + ic * lda + pc, lda, 8, b0, c, ldc, alpha, ow);
                    } else if (nrows == 8 && ncols == 32) {
                        uk_avx512_8x32_direct(kc, A + ic * lda + pc, lda, 8, b0, b1, c, ldc, alpha, ow);
                    } else {
                        uk_avx512_8x32_direct(kc, A + ic * lda + pc, lda, nrows, b0, b1, tile, 32, 1.0f, 1);
                        for (long i = 0; i < nrows; i++)
                            for (long j = 0; j < ncols; j++)
                                c[i * ldc + j] = alpha * tile[i * 32 + j] + (ow ? 0.0f : c[i * ldc + j]);
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------- direct weight gradient
// dWᵀ[K, O] = cols[K, P] · dYᵀ[P, O] for a convolution with stride 1 along the width, the image
// zero-padded as for orr_sgemm_conv_direct. Row k of cols over the positions of one output row
// (n, oy) is Wo consecutive floats of the padded image, so the kernel reads A's 8 rows in place
// through one base pointer per row plus one offset per output row; B (dY transposed, 32 output
// channels per panel) is packed once per block of output rows. Replaces the transposed implicit
// packing (a gather and a 4 × 4 transpose of every im2col value for every 32 output channels).
__attribute__((target("avx512f,fma")))
static void uk_avx512_8x32_wgrad(long nseg, long wo, const float *const *a, const long *segoff,
                                 const float *restrict b, float *restrict c, long ldc, int ow) {
    const float alpha = 1.0f;
    ACC8x32_DECLARE;
    for (long s = 0; s < nseg; s++) {
        const long so = segoff[s];
        const float *r0 = a[0] + so, *r1 = a[1] + so, *r2 = a[2] + so, *r3 = a[3] + so, *r4 = a[4] + so,
                    *r5 = a[5] + so, *r6 = a[6] + so, *r7 = a[7] + so;
        for (long k = 0; k < wo; k++) ACC8x32_STEP(r0[k], r1[k], r2[k], r3[k], r4[k], r5[k], r6[k], r7[k])
    }
    ACC8x32_STORE
}

void orr_conv_direct_wgrad(long M, long m0, long O, const float *dy, long nstride, long ostride,
                           const orr_conv_geometry *g, float *C, long ldc) {
    const long kk = g->kh * g->kw, Hp = g->H + 2 * g->ph, Wp = g->W + 2 * g->pw, P = Hp * Wp;
    const long Wo = g->Wo, Ho = g->Ho, segs = g->N * Ho;
    // Blocks of whole output rows, about 256 positions: B's block (≤ 256 × O floats) stays in L2.
    const long spc = Wo >= 256 ? 1 : 256 / Wo;
    const long opanels = (O + 31) / 32, panel = spc * Wo * 32;
    float *bp = NULL;
    if (posix_memalign((void **)&bp, 64, sizeof(float) * (size_t)(panel * opanels)) != 0) abort();
    long *rowoff = (long *)malloc(sizeof(long) * (size_t)(M > 0 ? M : 1));
    long segoff[256];
    if (!rowoff) abort();
    for (long i = 0; i < M; i++) {
        const long row = m0 + i, ch = row / kk, ki = (row % kk) / g->kw, kj = (row % kk) % g->kw;
        rowoff[i] = ch * (g->channelMajor ? g->N : 1) * P + ki * g->dh * Wp + kj * g->dw;
    }
    float tile[8 * 32] __attribute__((aligned(64)));
    for (long s0 = 0; s0 < segs; s0 += spc) {
        const long ns = segs - s0 < spc ? segs - s0 : spc;
        for (long s = 0; s < ns; s++) {
            const long n = (s0 + s) / Ho, oy = (s0 + s) % Ho;
            segoff[s] = n * (g->channelMajor ? 1 : g->C) * P + oy * g->sh * Wp;
            const float *src = dy + n * nstride + oy * Wo;
            for (long jp = 0; jp < opanels; jp++) {
                const long cols = O - jp * 32 < 32 ? O - jp * 32 : 32;
                float *dst = bp + jp * panel + s * Wo * 32;
                if (cols < 32) memset(dst, 0, sizeof(float) * (size_t)(Wo * 32));
                for (long kb = 0; kb < Wo; kb += 16) {
                    const long kn = Wo - kb < 16 ? Wo - kb : 16;
                    transpose_block(src + jp * 32 * ostride + kb, ostride, cols, kn, dst + kb * 32, 32);
                }
            }
        }
        const int ow = s0 == 0;
        for (long ic = 0; ic < M; ic += 8) {
            const long rows = M - ic < 8 ? M - ic : 8;
            const float *a[8];
            for (long i = 0; i < 8; i++) a[i] = g->x + rowoff[ic + (i < rows ? i : rows - 1)];
            for (long jp = 0; jp < opanels; jp++) {
                const long cols = O - jp * 32 < 32 ? O - jp * 32 : 32;
                float *c = C + ic * ldc + jp * 32;
                if (rows == 8 && cols == 32) {
                    uk_avx512_8x32_wgrad(ns, Wo, a, segoff, bp + jp * panel, c, ldc, ow);
                } else {
                    uk_avx512_8x32_wgrad(ns, Wo, a, segoff, bp + jp * panel, tile, 32, 1);
                    for (long i = 0; i < rows; i++)
                        for (long j = 0; j < cols; j++) c[i * ldc + j] = tile[i * 32 + j] + (ow ? 0.0f : c[i * ldc + j]);
                }
            }
        }
    }
    free(rowoff);
    free(bp);
}
#else
int orr_conv_direct_available(void) { return 0; }
void orr_sgemm_conv_direct(long M, long N, long K, float alpha, const float *A, long lda,
                           const orr_conv_geometry *g, long n0, float *C, long ldc, int overwrite,
                           long nchwRows, long m0) {
    (void)nchwRows; (void)m0;
    (void)M; (void)N; (void)K; (void)alpha; (void)A; (void)lda; (void)g; (void)n0; (void)C; (void)ldc;
    (void)overwrite;
    abort();
}
void orr_conv_direct_wgrad(long M, long m0, long O, const float *dy, long nstride, long ostride,
                           const orr_conv_geometry *g, float *C, long ldc) {
    (void)M; (void)m0; (void)O; (void)dy; (void)nstride; (void)ostride; (void)g; (void)C; (void)ldc;
    abort();
}
#endif

void orr_transpose(const float *a, long rows, long cols, float *t) {
    // 16-column strips of a, each transposed 4 × 4 at a time into 16 rows of t.
    for (long c0 = 0; c0 < cols; c0 += 16) {
        const long kn = cols - c0 < 16 ? cols - c0 : 16;
        transpose_block(a + c0, cols, rows, kn, t + c0 * rows, rows);
    }
}

void orr_transpose_columns(const float *a, long rows, long cols, long c0, long c1, float *t) {
    for (; c0 < c1; c0 += 16) {
        const long kn = c1 - c0 < 16 ? c1 - c0 : 16;
        transpose_block(a + c0, cols, rows, kn, t + c0 * rows, rows);
    }
}

int orr_sgemm_prepacked_available(void) { return pick_kernel()->nr == 32; }

long orr_prepacked_offset(long row, long col, long K, long N) {
    const long Npad = (N + 31) / 32 * 32, pc = row / KC * KC, kc = K - pc < KC ? K - pc : KC;
    return pc * Npad + (col / 32) * kc * 32 + (row - pc) * 32 + col % 32;
}


void orr_sgemm_pack_b_columns(long K, long N, long n0, long n1, const float *B, long rsB, long csB, float *dst) {
    const long Npad = (N + 31) / 32 * 32;
    if (n1 > N) n1 = N;
    if (n0 >= n1) return;
    for (long pc = 0; pc < K; pc += KC) {
        long kc = K - pc < KC ? K - pc : KC;
        pack_b(32, kc, n1 - n0, B + pc * rsB + n0 * csB, rsB, csB, dst + pc * Npad + (n0 / 32) * kc * 32);
    }
}

void orr_sgemm_pack_b(long K, long N, const float *B, long rsB, long csB, float *dst) {
    orr_sgemm_pack_b_columns(K, N, 0, N, B, rsB, csB, dst);
}

long orr_range_take(uint64_t *range, int back) {
    uint64_t v = __atomic_load_n(range, __ATOMIC_ACQUIRE);
    for (;;) {
        const uint64_t lo = v & 0xffffffffu, hi = v >> 32;
        if (lo >= hi) return -1;
        const uint64_t next = back ? ((hi - 1) << 32 | lo) : (hi << 32 | (lo + 1));
        if (__atomic_compare_exchange_n(range, &v, next, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
            return (long)(back ? hi - 1 : lo);
    }
}

// A B whose K ≤ KC rows are packed as 32-column panels `stride` floats apart (a block of a larger
// packed matrix: the first rows of a key tile, the columns of a slice of Kᵀ).
typedef struct { const float *Bp; long stride; } panels_b;

static const float *panels(const void *ctx, int nr, long k0, long kc, long n0, long nc, float *dst) {
    (void)nr; (void)k0;
    const panels_b *d = (const panels_b *)ctx;
    const float *src = d->Bp + (n0 / 32) * d->stride;
    if (nc <= 32 || d->stride == 32 * kc) return src;
    // The micro-kernel finds panel j at j·32·kc: the first kc rows of a taller panel are copied there.
    for (long j = 0; j < (nc + 31) / 32; j++) memcpy(dst + j * 32 * kc, src + j * d->stride, sizeof(float) * 32 * (size_t)kc);
    return dst;
}

void orr_sgemm_panels(long M, long N, long K, float alpha, const float *A, long rsA, long csA, const float *Bp,
                      long stride, float *C, long rsC, long csC, int overwrite) {
    if (pick_kernel()->nr != 32 || ((unsigned long)Bp & 63) != 0 || K > KC || (stride & 15) != 0) abort();
    panels_b d = {Bp, stride};
    sgemm_core(M, N, K, alpha, A, rsA, csA, panels, &d, 0, NC, C, rsC, csC, overwrite);
}

void orr_sgemm_prepacked(long M, long N, long K, float alpha, const float *A, long rsA, long csA, const float *Bp,
                         float *C, long rsC, long csC, int overwrite) {
    if (pick_kernel()->nr != 32 || ((unsigned long)Bp & 63) != 0) abort();  // panels are read with aligned loads
    prepacked_b d = {Bp, (N + 31) / 32 * 32};
    sgemm_core(M, N, K, alpha, A, rsA, csA, prepacked, &d, 0, NC, C, rsC, csC, overwrite);
}

void orr_sgemm_im2col(long M, long N, long K, float alpha,
                      const float *A, long rsA, long csA,
                      const orr_conv_geometry *g, int transposed, long n0,
                      float *C, long rsC, long csC, int overwrite) {
    packb_fn pack = transposed ? pack_im2col_bt : pack_im2col_b;
#if defined(__x86_64__)
    if (!transposed && pick_kernel() == &K_AVX512) pack = pack_im2col_b_avx512;
#endif
    // A B block of KC × NC_IM2COL (256 KiB) stays in L2 while the rows of A stream over it: with the
    // few output channels of a small convolution, each packed value is used only M/8 times.
    sgemm_core(M, N, K, alpha, A, rsA, csA, pack, g, n0, NC_IM2COL, C, rsC, csC, overwrite);
}

// ---------------------------------------------------------------- grad mode (thread-local)
static _Thread_local int tl_grad_disabled = 0;
int orr_grad_enabled(void) { return !tl_grad_disabled; }
void orr_set_grad_enabled(int on) { tl_grad_disabled = !on; }
