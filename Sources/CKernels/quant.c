// GGML block-quantised weights: dequantisation exactly as the formats define it, activation
// quantisation (Q8_0, Q8_1, Q8_K, as llama.cpp does it: per-block absmax scale, round to nearest),
// and integer dot products of a weight row with quantised activations. The dot products have a
// portable version (the reference every SIMD path is tested against) and AVX2 / AVX-512 VNNI
// versions for the types small models ship in, chosen at run time.
#include "CKernels.h"
#include <math.h>
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

// ---- float16 / bfloat16 ----

static inline float h2f(uint16_t h) {
    const uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1F, man = h & 0x3FF, bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else {  // subnormal: normalise
            int e = -1;
            do { man <<= 1; e++; } while (!(man & 0x400));
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3FF) << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7F800000u | (man << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static inline uint16_t f2h(float f) {  // round to nearest even
    uint16_t h;
    orr_f32_to_f16(&f, &h, 1);
    return h;
}

static inline float bf2f(uint16_t b) {
    uint32_t bits = (uint32_t)b << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static inline uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

float orr_half_to_float(uint16_t h) { return h2f(h); }

// ---- dequantisation ----

// Q6_K: the four 6-bit values (minus 32) at position l of a 128-value half — values l, l+32, l+64 and
// l+96, from the low/high nibbles of ql[l] and ql[l+32] and the 2-bit pairs of qh[l]. The one place
// the layout is written down for the portable kernels.
static inline void q6_values(const uint8_t *ql, const uint8_t *qh, int l, int *q1, int *q2, int *q3, int *q4) {
    *q1 = (int)((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
    *q2 = (int)((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
    *q3 = (int)((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
    *q4 = (int)((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
}

static inline void scale_min_k4(int j, const uint8_t *q, uint8_t *d, uint8_t *m) {
    if (j < 4) {
        *d = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *d = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

#if defined(__x86_64__)
__attribute__((target("avx2,f16c"))) static void f16_to_f32_f16c(const uint8_t *b, float *y, long n) {
    long i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(b + 2 * i))));
    for (; i < n; i++) y[i] = h2f(rd16(b + 2 * i));
}
#endif
static int pick_level(void);

void orr_dequantize(int type, const void *src, float *y, long n) {
    const uint8_t *b = (const uint8_t *)src;
#if defined(__x86_64__)
    if (type == ORR_Q_F16 && pick_level() > 0) {
        f16_to_f32_f16c(b, y, n);
        return;
    }
#endif
    switch (type) {
    case ORR_Q_F32: memcpy(y, src, sizeof(float) * (size_t)n); return;
    case ORR_Q_F16: for (long i = 0; i < n; i++) y[i] = h2f(rd16(b + 2 * i)); return;
    case ORR_Q_BF16: for (long i = 0; i < n; i++) y[i] = bf2f(rd16(b + 2 * i)); return;
    case ORR_Q_Q4_0:
        for (long i = 0; i < n / 32; i++, b += 18, y += 32) {
            const float d = h2f(rd16(b));
            for (int j = 0; j < 16; j++) {
                y[j] = ((b[2 + j] & 0xF) - 8) * d;
                y[j + 16] = ((b[2 + j] >> 4) - 8) * d;
            }
        }
        return;
    case ORR_Q_Q4_1:
        for (long i = 0; i < n / 32; i++, b += 20, y += 32) {
            const float d = h2f(rd16(b)), m = h2f(rd16(b + 2));
            for (int j = 0; j < 16; j++) {
                y[j] = (b[4 + j] & 0xF) * d + m;
                y[j + 16] = (b[4 + j] >> 4) * d + m;
            }
        }
        return;
    case ORR_Q_Q8_0:
        for (long i = 0; i < n / 32; i++, b += 34, y += 32) {
            const float d = h2f(rd16(b));
            for (int j = 0; j < 32; j++) y[j] = (int8_t)b[2 + j] * d;
        }
        return;
    case ORR_Q_Q8_1:
        for (long i = 0; i < n / 32; i++, b += 36, y += 32) {
            const float d = h2f(rd16(b));
            for (int j = 0; j < 32; j++) y[j] = (int8_t)b[4 + j] * d;
        }
        return;
    case ORR_Q_Q4_K:
        for (long i = 0; i < n / 256; i++, b += 144) {
            const float d = h2f(rd16(b)), dmin = h2f(rd16(b + 2));
            const uint8_t *sc = b + 4, *q = b + 16;
            for (int j = 0, is = 0; j < 256; j += 64, is += 2, q += 32) {
                uint8_t s1, m1, s2, m2;
                scale_min_k4(is, sc, &s1, &m1);
                scale_min_k4(is + 1, sc, &s2, &m2);
                const float d1 = d * s1, mm1 = dmin * m1, d2 = d * s2, mm2 = dmin * m2;
                for (int l = 0; l < 32; l++) *y++ = d1 * (q[l] & 0xF) - mm1;
                for (int l = 0; l < 32; l++) *y++ = d2 * (q[l] >> 4) - mm2;
            }
        }
        return;
    case ORR_Q_Q5_K:
        for (long i = 0; i < n / 256; i++, b += 176) {
            const float d = h2f(rd16(b)), dmin = h2f(rd16(b + 2));
            const uint8_t *sc = b + 4, *qh = b + 16, *ql = b + 48;
            uint8_t u1 = 1, u2 = 2;
            for (int j = 0, is = 0; j < 256; j += 64, is += 2, ql += 32, u1 <<= 2, u2 <<= 2) {
                uint8_t s1, m1, s2, m2;
                scale_min_k4(is, sc, &s1, &m1);
                scale_min_k4(is + 1, sc, &s2, &m2);
                const float d1 = d * s1, mm1 = dmin * m1, d2 = d * s2, mm2 = dmin * m2;
                for (int l = 0; l < 32; l++) *y++ = d1 * ((ql[l] & 0xF) + (qh[l] & u1 ? 16 : 0)) - mm1;
                for (int l = 0; l < 32; l++) *y++ = d2 * ((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - mm2;
            }
        }
        return;
    case ORR_Q_Q6_K:
        for (long i = 0; i < n / 256; i++, b += 210) {
            const uint8_t *ql = b, *qh = b + 128;
            const int8_t *sc = (const int8_t *)(b + 192);
            const float d = h2f(rd16(b + 208));
            for (int h = 0; h < 2; h++, ql += 64, qh += 32, sc += 8, y += 128) {
                for (int l = 0; l < 32; l++) {
                    const int is = l / 16;
                    int q1, q2, q3, q4;
                    q6_values(ql, qh, l, &q1, &q2, &q3, &q4);
                    y[l] = d * sc[is] * q1;
                    y[l + 32] = d * sc[is + 2] * q2;
                    y[l + 64] = d * sc[is + 4] * q3;
                    y[l + 96] = d * sc[is + 6] * q4;
                }
            }
        }
        return;
    case ORR_Q_Q8_K:
        for (long i = 0; i < n / 256; i++, b += 292, y += 256) {
            float d;
            memcpy(&d, b, 4);
            for (int j = 0; j < 256; j++) y[j] = (int8_t)b[4 + j] * d;
        }
        return;
    default: return;
    }
}

// ---- activation quantisation ----

static inline int nearest(float x) { return (int)lrintf(x); }

void orr_quantize_act(int type, const float *x, void *dst, long n) {
    uint8_t *b = (uint8_t *)dst;
    if (type == ORR_Q_Q8_0 || type == ORR_Q_Q8_1) {
        const int stride = type == ORR_Q_Q8_0 ? 34 : 36, qoff = type == ORR_Q_Q8_0 ? 2 : 4;
        for (long i = 0; i < n / 32; i++, x += 32, b += stride) {
            float amax = 0;
            for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[j]));
            const float d = amax / 127.0f, id = amax != 0 ? 127.0f / amax : 0.0f;  // as llama.cpp
            const uint16_t dh = f2h(d);
            b[0] = (uint8_t)dh;
            b[1] = (uint8_t)(dh >> 8);
            int sum = 0;
            for (int j = 0; j < 32; j++) {
                const int q = nearest(x[j] * id);
                b[qoff + j] = (uint8_t)(int8_t)q;
                sum += q;
            }
            if (type == ORR_Q_Q8_1) {
                const uint16_t sh = f2h(d * (float)sum);
                b[2] = (uint8_t)sh;
                b[3] = (uint8_t)(sh >> 8);
            }
        }
        return;
    }
    if (type == ORR_Q_Q8_K) {
        for (long i = 0; i < n / 256; i++, x += 256, b += 292) {
            float amax = 0, max = 0;
            for (int j = 0; j < 256; j++) {
                const float ax = fabsf(x[j]);
                if (ax > amax) { amax = ax; max = x[j]; }
            }
            int8_t *q = (int8_t *)(b + 4);
            int16_t sums[16];
            if (amax == 0) {
                const float z = 0;
                memcpy(b, &z, 4);
                memset(q, 0, 256);
                memset(sums, 0, sizeof sums);
            } else {
                const float iscale = -127.0f / max;
                for (int j = 0; j < 256; j++) {
                    int v = nearest(iscale * x[j]);
                    q[j] = (int8_t)(v > 127 ? 127 : v < -128 ? -128 : v);
                }
                for (int j = 0; j < 16; j++) {
                    int s = 0;
                    for (int l = 0; l < 16; l++) s += q[16 * j + l];
                    sums[j] = (int16_t)s;
                }
                const float d = 1.0f / iscale;
                memcpy(b, &d, 4);
            }
            memcpy(b + 260, sums, sizeof sums);
        }
    }
}

// ---- portable dot products: weight row (type) · activations (its activation type) ----

static float dot_ref(int type, const uint8_t *w, const uint8_t *a, long n) {
    float sum = 0;
    switch (type) {
    case ORR_Q_Q4_0:
        for (long i = 0; i < n / 32; i++, w += 18, a += 34) {
            int s = 0;
            for (int j = 0; j < 16; j++) {
                s += ((w[2 + j] & 0xF) - 8) * (int8_t)a[2 + j];
                s += ((w[2 + j] >> 4) - 8) * (int8_t)a[2 + j + 16];
            }
            sum += h2f(rd16(w)) * h2f(rd16(a)) * (float)s;
        }
        return sum;
    case ORR_Q_Q4_1:
        for (long i = 0; i < n / 32; i++, w += 20, a += 36) {
            int s = 0;
            for (int j = 0; j < 16; j++) {
                s += (w[4 + j] & 0xF) * (int8_t)a[4 + j];
                s += (w[4 + j] >> 4) * (int8_t)a[4 + j + 16];
            }
            sum += h2f(rd16(w)) * h2f(rd16(a)) * (float)s + h2f(rd16(w + 2)) * h2f(rd16(a + 2));
        }
        return sum;
    case ORR_Q_Q8_0:
        for (long i = 0; i < n / 32; i++, w += 34, a += 34) {
            int s = 0;
            for (int j = 0; j < 32; j++) s += (int8_t)w[2 + j] * (int8_t)a[2 + j];
            sum += h2f(rd16(w)) * h2f(rd16(a)) * (float)s;
        }
        return sum;
    case ORR_Q_Q4_K:
    case ORR_Q_Q5_K:
        for (long i = 0; i < n / 256; i++, a += 292) {
            const float d = h2f(rd16(w)), dmin = h2f(rd16(w + 2));
            float dy;
            memcpy(&dy, a, 4);
            const int8_t *q8 = (const int8_t *)(a + 4);
            int16_t bs[16];
            memcpy(bs, a + 260, sizeof bs);
            const uint8_t *sc = w + 4;
            const uint8_t *qh = w + 16, *ql = type == ORR_Q_Q4_K ? w + 16 : w + 48;
            int sumi = 0, summ = 0;
            for (int j = 0; j < 8; j++) {  // sub-blocks of 32: j even low nibbles, odd high
                uint8_t s, m;
                scale_min_k4(j, sc, &s, &m);
                const uint8_t *q = ql + (j / 2) * 32;
                int dot = 0;
                for (int l = 0; l < 32; l++) {
                    int v = j % 2 == 0 ? (q[l] & 0xF) : (q[l] >> 4);
                    if (type == ORR_Q_Q5_K && (qh[l] & (1 << j))) v += 16;
                    dot += v * q8[32 * j + l];
                }
                sumi += s * dot;
                summ += m * (bs[2 * j] + bs[2 * j + 1]);
            }
            sum += dy * (d * (float)sumi - dmin * (float)summ);
            w += type == ORR_Q_Q4_K ? 144 : 176;
        }
        return sum;
    case ORR_Q_Q6_K:
        for (long i = 0; i < n / 256; i++, w += 210, a += 292) {
            const uint8_t *ql = w, *qh = w + 128;
            const int8_t *sc = (const int8_t *)(w + 192);
            const float d = h2f(rd16(w + 208));
            float dy;
            memcpy(&dy, a, 4);
            const int8_t *q8 = (const int8_t *)(a + 4);
            int sumi = 0;
            for (int h = 0; h < 2; h++, ql += 64, qh += 32, sc += 8, q8 += 128) {
                int part[8] = {0};
                for (int l = 0; l < 32; l++) {
                    const int is = l / 16;
                    int q1, q2, q3, q4;
                    q6_values(ql, qh, l, &q1, &q2, &q3, &q4);
                    part[is] += q1 * q8[l];
                    part[is + 2] += q2 * q8[l + 32];
                    part[is + 4] += q3 * q8[l + 64];
                    part[is + 6] += q4 * q8[l + 96];
                }
                for (int k = 0; k < 8; k++) sumi += sc[k] * part[k];
            }
            sum += d * dy * (float)sumi;
        }
        return sum;
    default: return 0;
    }
}

// ---- float weights: a dot with float activations ----

static float dot_float(int type, const uint8_t *w, const float *x, long n) {
    float s = 0;
    switch (type) {
    case ORR_Q_F32: {
        const float *f = (const float *)(const void *)w;
        for (long i = 0; i < n; i++) s += f[i] * x[i];
        return s;
    }
    case ORR_Q_F16: for (long i = 0; i < n; i++) s += h2f(rd16(w + 2 * i)) * x[i]; return s;
    case ORR_Q_BF16: for (long i = 0; i < n; i++) s += bf2f(rd16(w + 2 * i)) * x[i]; return s;
    default: return 0;
    }
}

// ---- SIMD dot products (x86-64) ----

#if defined(__x86_64__)
#define AVX2 __attribute__((target("avx2,fma,f16c")))
#define VNNI __attribute__((target("avx2,fma,f16c,avx512f,avx512vl,avx512vnni,avx512bw")))

static inline AVX2 __m256i nibbles(const uint8_t *q) {  // 16 bytes → 32 values 0…15 (low half first)
    const __m128i t = _mm_loadu_si128((const __m128i *)q);
    const __m256i both = _mm256_insertf128_si256(_mm256_castsi128_si256(t), _mm_srli_epi16(t, 4), 1);
    return _mm256_and_si256(both, _mm256_set1_epi8(0xF));
}

static inline AVX2 __m256i dot_u8s8_avx2(__m256i u, __m256i s) {  // u8 × s8 → 8 int32 sums
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}
static inline VNNI __m256i dot_u8s8_vnni(__m256i u, __m256i s) {
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s);
}

static inline AVX2 float hsum(__m256 v) {
    __m128 r = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    r = _mm_add_ps(r, _mm_movehl_ps(r, r));
    r = _mm_add_ss(r, _mm_movehdup_ps(r));
    return _mm_cvtss_f32(r);
}

#define DEFINE_SIMD_DOTS(SUFFIX, TARGET, DOT)                                                             \
    static TARGET float dot_q4_1_##SUFFIX(const uint8_t *w, const uint8_t *a, long n) {                  \
        __m256 acc = _mm256_setzero_ps();                                                                 \
        float summ = 0;                                                                                   \
        for (long i = 0; i < n / 32; i++, w += 20, a += 36) {                                             \
            const __m256i q4 = nibbles(w + 4);                                                            \
            const __m256i q8 = _mm256_loadu_si256((const __m256i *)(a + 4));                             \
            const __m256 p = _mm256_cvtepi32_ps(DOT(q4, q8));                                             \
            const float d = _cvtsh_ss(rd16(w)) * _cvtsh_ss(rd16(a));                                       \
            acc = _mm256_fmadd_ps(_mm256_set1_ps(d), p, acc);                                             \
            summ += _cvtsh_ss(rd16(w + 2)) * _cvtsh_ss(rd16(a + 2));                                       \
        }                                                                                                 \
        return hsum(acc) + summ;                                                                          \
    }                                                                                                     \
    static TARGET float dot_q4_0_##SUFFIX(const uint8_t *w, const uint8_t *a, long n) {                  \
        __m256 acc = _mm256_setzero_ps();                                                                 \
        for (long i = 0; i < n / 32; i++, w += 18, a += 34) {                                             \
            const __m256i q4 = nibbles(w + 2);                                                            \
            const __m256i q8 = _mm256_loadu_si256((const __m256i *)(a + 2));                             \
            /* Σ(q4 − 8)·q8 = Σ q4·q8 − 8·Σ q8 */                                                          \
            const __m256i s = _mm256_sub_epi32(DOT(q4, q8), DOT(_mm256_set1_epi8(8), q8));                \
            const float d = _cvtsh_ss(rd16(w)) * _cvtsh_ss(rd16(a));                                       \
            acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(s), acc);                         \
        }                                                                                                 \
        return hsum(acc);                                                                                 \
    }                                                                                                     \
    static TARGET float dot_q8_0_##SUFFIX(const uint8_t *w, const uint8_t *a, long n) {                  \
        __m256 acc = _mm256_setzero_ps();                                                                 \
        for (long i = 0; i < n / 32; i++, w += 34, a += 34) {                                             \
            const __m256i x = _mm256_loadu_si256((const __m256i *)(w + 2));                               \
            const __m256i y = _mm256_loadu_si256((const __m256i *)(a + 2));                               \
            /* |x| as u8 times y with x's sign: u8 × s8 */                                                 \
            const __m256i s = DOT(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));                        \
            const float d = _cvtsh_ss(rd16(w)) * _cvtsh_ss(rd16(a));                                       \
            acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(s), acc);                         \
        }                                                                                                 \
        return hsum(acc);                                                                                 \
    }

DEFINE_SIMD_DOTS(avx2, AVX2, dot_u8s8_avx2)

// K-quants (256-value blocks against Q8_K). Integer sums are exact in both versions, and the float
// arithmetic is the reference's, so these return the portable kernels' results bit for bit.
static AVX2 int hsum_i32(__m256i v) {
    __m128i r = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    r = _mm_add_epi32(r, _mm_shuffle_epi32(r, 0x4E));
    r = _mm_add_epi32(r, _mm_shuffle_epi32(r, 0xB1));
    return _mm_cvtsi128_si32(r);
}

static AVX2 float dot_q4_K_avx2(const uint8_t *w, const uint8_t *a, long n) {
#pragma clang fp contract(off)  // no FMA: the reference's roundings exactly
    float sum = 0;
    const __m256i low = _mm256_set1_epi8(0xF);
    for (long i = 0; i < n / 256; i++, w += 144, a += 292) {
        const float d = h2f(rd16(w)), dmin = h2f(rd16(w + 2));
        float dy;
        memcpy(&dy, a, 4);
        const int8_t *q8 = (const int8_t *)(a + 4);
        int16_t bs[16];
        memcpy(bs, a + 260, sizeof bs);
        uint8_t sc[8], mn[8];
        for (int j = 0; j < 8; j++) scale_min_k4(j, w + 4, &sc[j], &mn[j]);
        int summ = 0;
        for (int j = 0; j < 8; j++) summ += mn[j] * (bs[2 * j] + bs[2 * j + 1]);
        __m256i acc = _mm256_setzero_si256();
        for (int j = 0; j < 4; j++) {  // 32 bytes: low nibbles sub-block 2j, high 2j+1
            const __m256i q = _mm256_loadu_si256((const __m256i *)(w + 16 + 32 * j));
            const __m256i lo = _mm256_and_si256(q, low), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), low);
            const __m256i p0 = _mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)(q8 + 64 * j)));
            const __m256i p1 = _mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *)(q8 + 64 * j + 32)));
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p0, _mm256_set1_epi16(sc[2 * j])));
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p1, _mm256_set1_epi16(sc[2 * j + 1])));
        }
        const int sumi = hsum_i32(acc);
        sum += dy * (d * (float)sumi - dmin * (float)summ);
    }
    return sum;
}

static AVX2 float dot_q6_K_avx2(const uint8_t *w, const uint8_t *a, long n) {
#pragma clang fp contract(off)  // no FMA: the reference's roundings exactly
    float sum = 0;
    const __m256i low = _mm256_set1_epi8(0xF), two = _mm256_set1_epi8(3);
    for (long i = 0; i < n / 256; i++, w += 210, a += 292) {
        const int8_t *sc = (const int8_t *)(w + 192);
        const float d = h2f(rd16(w + 208));
        float dy;
        memcpy(&dy, a, 4);
        const int8_t *q8 = (const int8_t *)(a + 4);
        int16_t bs[16];
        memcpy(bs, a + 260, sizeof bs);
        int corr = 0;  // Σ (q − 32)·y = Σ q·y − 32·Σ y, per group of 16 with its scale
        for (int g = 0; g < 16; g++) corr += sc[g] * bs[g];
        __m256i acc = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = w + 64 * h, *qh = w + 128 + 32 * h;
            const __m256i l0 = _mm256_loadu_si256((const __m256i *)ql);
            const __m256i l1 = _mm256_loadu_si256((const __m256i *)(ql + 32));
            const __m256i hb = _mm256_loadu_si256((const __m256i *)qh);
            __m256i q[4];
            q[0] = _mm256_or_si256(_mm256_and_si256(l0, low), _mm256_slli_epi16(_mm256_and_si256(hb, two), 4));
            q[1] = _mm256_or_si256(_mm256_and_si256(l1, low),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2), two), 4));
            q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), low),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 4), two), 4));
            q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), low),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 6), two), 4));
            for (int k = 0; k < 4; k++) {
                const __m256i p = _mm256_maddubs_epi16(q[k], _mm256_loadu_si256((const __m256i *)(q8 + 128 * h + 32 * k)));
                const int8_t s0 = sc[8 * h + 2 * k], s1 = sc[8 * h + 2 * k + 1];
                const __m256i sv = _mm256_setr_epi16(s0, s0, s0, s0, s0, s0, s0, s0, s1, s1, s1, s1, s1, s1, s1, s1);
                // maddubs's 16-bit lanes 0–7 hold bytes 0–15 (scale s0), lanes 8–15 bytes 16–31 (s1).
                acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p, sv));
            }
        }
        const int sumi = hsum_i32(acc) - 32 * corr;
        sum += d * dy * (float)sumi;
    }
    return sum;
}

DEFINE_SIMD_DOTS(vnni, VNNI, dot_u8s8_vnni)

static AVX2 float dot_f32_avx2(const float *w, const float *x, long n) {
    __m256 acc = _mm256_setzero_ps();
    long i = 0;
    for (; i + 8 <= n; i += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), _mm256_loadu_ps(x + i), acc);
    float s = hsum(acc);
    for (; i < n; i++) s += w[i] * x[i];
    return s;
}
static AVX2 float dot_f16_avx2(const uint16_t *w, const float *x, long n) {
    __m256 acc = _mm256_setzero_ps();
    long i = 0;
    for (; i + 8 <= n; i += 8)
        acc = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + i))), _mm256_loadu_ps(x + i), acc);
    float s = hsum(acc);
    for (; i < n; i++) s += h2f(w[i]) * x[i];
    return s;
}
#endif

typedef float (*qdot_fn)(const uint8_t *, const uint8_t *, long);
static int simd_level = -1;  // 0 portable, 1 AVX2, 2 AVX-512 VNNI

static int pick_level(void) {
    if (simd_level >= 0) return simd_level;
    int level = 0;
#if defined(__x86_64__)
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c")) level = 1;
    if (level == 1 && __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512bw"))
        level = 2;
#endif
    simd_level = level;
    return level;
}

int orr_quant_set_level(int level) {
    simd_level = -1;
    const int best = pick_level();
    simd_level = level < 0 || level > best ? best : level;
    return simd_level;
}

const char *orr_quant_kernel_name(void) {
    switch (pick_level()) {
    case 2: return "avx512-vnni";
    case 1: return "avx2";
    default: return "portable";
    }
}

static inline float dot_row(int type, const uint8_t *w, const void *act, long n, int level) {
#if defined(__x86_64__)
    if (level > 0) {
        const uint8_t *a = (const uint8_t *)act;
        switch (type) {
        case ORR_Q_Q4_1: return level == 2 ? dot_q4_1_vnni(w, a, n) : dot_q4_1_avx2(w, a, n);
        case ORR_Q_Q4_0: return level == 2 ? dot_q4_0_vnni(w, a, n) : dot_q4_0_avx2(w, a, n);
        case ORR_Q_Q8_0: return level == 2 ? dot_q8_0_vnni(w, a, n) : dot_q8_0_avx2(w, a, n);
        case ORR_Q_Q4_K: return dot_q4_K_avx2(w, a, n);
        case ORR_Q_Q6_K: return dot_q6_K_avx2(w, a, n);
        case ORR_Q_F32: return dot_f32_avx2((const float *)(const void *)w, (const float *)act, n);
        case ORR_Q_F16: return dot_f16_avx2((const uint16_t *)(const void *)w, (const float *)act, n);
        default: break;
        }
    }
#else
    (void)level;
#endif
    if (type == ORR_Q_F32 || type == ORR_Q_F16 || type == ORR_Q_BF16) return dot_float(type, w, (const float *)act, n);
    return dot_ref(type, w, (const uint8_t *)act, n);
}

float orr_quant_dot(int type, const void *w, const void *act, long n, int portable) {
    return dot_row(type, (const uint8_t *)w, act, n, portable ? 0 : pick_level());
}

// y[t·ldy + r] = row r of W · activation t, for rows [r0, r1) and tokens [0, T). Activations are
// quantised rows (or float rows for float weights) `actStride` bytes apart. Four rows at a time
// against every token: a weight row is read from memory once per call and reused from L1.
void orr_quant_matmul(int type, const void *W, long rowBytes, long n, long r0, long r1, const void *act,
                      long actStride, long T, float *y, long ldy) {
    const int level = pick_level();
    const uint8_t *w = (const uint8_t *)W;
    const uint8_t *a = (const uint8_t *)act;
    for (long r = r0; r < r1; r += 4) {
        const long re = r + 4 < r1 ? r + 4 : r1;
        for (long t = 0; t < T; t++)
            for (long k = r; k < re; k++) y[t * ldy + k] = dot_row(type, w + k * rowBytes, a + t * actStride, n, level);
    }
}


// ---- attention of new queries over a key/value cache ----

#if defined(__x86_64__)
static AVX2 float dot64_avx2(const float *a, const float *b, long n) { return dot_f32_avx2(a, b, n); }
static AVX2 void axpy_avx2(float *y, float w, const float *x, long n) {
    const __m256 wv = _mm256_set1_ps(w);
    long i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(wv, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++) y[i] += w * x[i];
}
#endif

#if defined(__x86_64__)
static AVX2 void round_half_f16c(float *x, long n) {
    long i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(x + i, _mm256_cvtph_ps(_mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT)));
    for (; i < n; i++) x[i] = h2f(f2h(x[i]));
}
#endif

// x rounded to float16 values (round to nearest even), in place.
static void round_half_array(float *x, long n) {
#if defined(__x86_64__)
    if (pick_level() > 0) { round_half_f16c(x, n); return; }
#endif
    for (long i = 0; i < n; i++) x[i] = h2f(f2h(x[i]));
}

static inline float dot_plain(const float *a, const float *b, long n) {
#if defined(__x86_64__)
    if (pick_level() > 0) return dot64_avx2(a, b, n);
#endif
    float s = 0;
    for (long i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

static inline void axpy_plain(float *y, float w, const float *x, long n) {
#if defined(__x86_64__)
    if (pick_level() > 0) { axpy_avx2(y, w, x, n); return; }
#endif
    for (long i = 0; i < n; i++) y[i] += w * x[i];
}

// Jobs [job0, job1) of T·H (query t, head h): causal softmax(q·kᵀ·scale) over cache rows
// 0 … p0+t, times V. K, V rows are kvw floats apart, head h reads KV head h / group. `scores` is
// scratch of ≥ p0+T floats. With `half`, probabilities are rounded to float16 before multiplying V
// (llama.cpp's arithmetic). The last query's probabilities go to last[h·(p0+T) + j] when non-null.
void orr_attend(const float *q, const float *K, const float *V, long T, long H, long group, long hd, long kvw,
                long p0, float scale, int half, float *out, float *last, float *scores, long job0, long job1) {
    const long total = p0 + T;
    for (long job = job0; job < job1; job++) {
        const long t = job / H, h = job % H, kvh = h / group, n = p0 + t + 1;
        const float *qv = q + (t * H + h) * hd;
        float m = -INFINITY;
        for (long j = 0; j < n; j++) {
            const float d = dot_plain(qv, K + j * kvw + kvh * hd, hd) * scale;
            scores[j] = d;
            if (d > m) m = d;
        }
        double z = 0;  // in double, as ggml's softmax
        for (long j = 0; j < n; j++) {
            const float e = expf(scores[j] - m);
            scores[j] = e;
            z += e;
        }
        const float iz = (float)(1.0 / z);
        for (long j = 0; j < n; j++) scores[j] *= iz;
        if (last && t == T - 1) memcpy(last + h * total, scores, sizeof(float) * (size_t)n);
        if (half) round_half_array(scores, n);
        float *o = out + (t * H + h) * hd;
        for (long i = 0; i < hd; i++) o[i] = 0;
        for (long j = 0; j < n; j++) axpy_plain(o, scores[j], V + j * kvw + kvh * hd, hd);
    }
}

// ---- four rows interleaved ("x4" repacking) ----
// A copy of the weights made at load time in which each group of four rows stores, block by
// block, the four scales side by side and then the four rows' quants: one vcvtph2ps converts
// four scales, and one activation block is loaded once for four rows. The arithmetic (per block
// d·d' times the integer dot, accumulated in eight float lanes per row, then the m·s terms) is the
// one-row kernels' exactly, so results are bit-identical to them.
//   Q4_1x4 block: d[4], m[4] (float16), qs[4][16]   (80 bytes)
//   Q4_0x4 block: d[4], qs[4][16]                   (72 bytes)
//   Q8_0x4 block: d[4], (qs + 128)[4][32] as u8     (136 bytes)

long orr_repack_x4_bytes(int type, long rows, long n) {
    const long groups = (rows + 3) / 4, blocks = n / 32;
    switch (type) {
    case ORR_Q_Q4_1: return groups * blocks * 80;
    case ORR_Q_Q4_0: return groups * blocks * 72;
    case ORR_Q_Q8_0: return groups * blocks * 136;
    default: return 0;
    }
}

void orr_repack_x4(int type, const void *src, long rowBytes, long rows, long n, void *dst) {
    const uint8_t *s = (const uint8_t *)src;
    uint8_t *d = (uint8_t *)dst;
    const long blocks = n / 32;
    const int bb = type == ORR_Q_Q4_1 ? 20 : type == ORR_Q_Q4_0 ? 18 : 34;   // source block bytes
    const int qb = type == ORR_Q_Q8_0 ? 32 : 16;                              // quant bytes per row-block
    const int hb = type == ORR_Q_Q4_1 ? 16 : 8;                               // header bytes (scales)
    for (long g = 0; g < (rows + 3) / 4; g++) {
        for (long b = 0; b < blocks; b++) {
            uint8_t *o = d + (g * blocks + b) * (hb + 4 * qb);
            memset(o, 0, (size_t)(hb + 4 * qb));
            for (int r = 0; r < 4; r++) {
                const long row = g * 4 + r;
                if (row >= rows) continue;
                const uint8_t *blk = s + row * rowBytes + b * bb;
                memcpy(o + 2 * r, blk, 2);                                      // d
                if (type == ORR_Q_Q4_1) memcpy(o + 8 + 2 * r, blk + 2, 2);       // m
                memcpy(o + hb + r * qb, blk + (bb - qb), (size_t)qb);
                // Q8_0 quants are stored offset by 128 (as u8), so the kernel needs no sign tricks:
                // Σ x·y = Σ (x + 128)·y − 128·Σ y, with the last term shared by the four rows.
                if (type == ORR_Q_Q8_0)
                    for (int k = 0; k < qb; k++) o[hb + r * qb + k] ^= 0x80;
            }
        }
    }
}

#if defined(__x86_64__)
static inline VNNI __m256 lane_bcast(__m128 v, int r) {
    switch (r) {
    case 0: return _mm256_broadcastss_ps(v);
    case 1: return _mm256_broadcastss_ps(_mm_permute_ps(v, 1));
    case 2: return _mm256_broadcastss_ps(_mm_permute_ps(v, 2));
    default: return _mm256_broadcastss_ps(_mm_permute_ps(v, 3));
    }
}

// out[0..3] = four rows · one activation row; yd/ys: the activation blocks' d and s as floats.
static VNNI void dot4_q4_1(const uint8_t *w, const int8_t *yq, const float *yd, const float *ys, long blocks,
                           float *out) {
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    __m128 accm = _mm_setzero_ps();
    for (long b = 0; b < blocks; b++, w += 80) {
        const __m256i y = _mm256_loadu_si256((const __m256i *)(yq + 32 * b));
        const __m128 dx = _mm_cvtph_ps(_mm_loadl_epi64((const __m128i *)w));
        const __m128 mx = _mm_cvtph_ps(_mm_loadl_epi64((const __m128i *)(w + 8)));
        const __m128 sc = _mm_mul_ps(dx, _mm_set1_ps(yd[b]));
        accm = _mm_fmadd_ps(mx, _mm_set1_ps(ys[b]), accm);
        for (int r = 0; r < 4; r++) {
            const __m256 p = _mm256_cvtepi32_ps(_mm256_dpbusd_epi32(_mm256_setzero_si256(), nibbles(w + 16 + 16 * r), y));
            acc[r] = _mm256_fmadd_ps(lane_bcast(sc, r), p, acc[r]);
        }
    }
    float m[4];
    _mm_storeu_ps(m, accm);
    for (int r = 0; r < 4; r++) out[r] = hsum(acc[r]) + m[r];
}

static VNNI void dot4_q4_0(const uint8_t *w, const int8_t *yq, const float *yd, long blocks, float *out) {
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    for (long b = 0; b < blocks; b++, w += 72) {
        const __m256i y = _mm256_loadu_si256((const __m256i *)(yq + 32 * b));
        const __m256i corr = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_set1_epi8(8), y);
        const __m128 sc = _mm_mul_ps(_mm_cvtph_ps(_mm_loadl_epi64((const __m128i *)w)), _mm_set1_ps(yd[b]));
        for (int r = 0; r < 4; r++) {
            const __m256i s = _mm256_sub_epi32(_mm256_dpbusd_epi32(_mm256_setzero_si256(), nibbles(w + 8 + 16 * r), y), corr);
            acc[r] = _mm256_fmadd_ps(lane_bcast(sc, r), _mm256_cvtepi32_ps(s), acc[r]);
        }
    }
    for (int r = 0; r < 4; r++) out[r] = hsum(acc[r]);
}

static VNNI void dot4_q8_0(const uint8_t *w, const int8_t *yq, const float *yd, long blocks, float *out) {
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    for (long b = 0; b < blocks; b++, w += 136) {
        const __m256i y = _mm256_loadu_si256((const __m256i *)(yq + 32 * b));
        const __m128 sc = _mm_mul_ps(_mm_cvtph_ps(_mm_loadl_epi64((const __m128i *)w)), _mm_set1_ps(yd[b]));
        const __m256i corr = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_set1_epi8((char)0x80), y);
        for (int r = 0; r < 4; r++) {
            const __m256i xu = _mm256_loadu_si256((const __m256i *)(w + 8 + 32 * r));
            const __m256i s = _mm256_sub_epi32(_mm256_dpbusd_epi32(_mm256_setzero_si256(), xu, y), corr);
            acc[r] = _mm256_fmadd_ps(lane_bcast(sc, r), _mm256_cvtepi32_ps(s), acc[r]);
        }
    }
    for (int r = 0; r < 4; r++) out[r] = hsum(acc[r]);
}

// Two tokens at once (prompts): each weight block is loaded (and, for Q4_1, its nibbles expanded)
// once for both. Every (row, token) accumulator sees the one-token kernel's operations in the same
// order, so results are bit-identical to it.
static VNNI void dot4x2_q4_1(const uint8_t *w, const int8_t *yq0, const float *yd0, const float *ys0,
                             const int8_t *yq1, const float *yd1, const float *ys1, long blocks, float *out0,
                             float *out1) {
    __m256 a0[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    __m256 a1[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    __m128 m0 = _mm_setzero_ps(), m1 = _mm_setzero_ps();
    for (long b = 0; b < blocks; b++, w += 80) {
        const __m256i y0 = _mm256_loadu_si256((const __m256i *)(yq0 + 32 * b));
        const __m256i y1 = _mm256_loadu_si256((const __m256i *)(yq1 + 32 * b));
        const __m128 dx = _mm_cvtph_ps(_mm_loadl_epi64((const __m128i *)w));
        const __m128 mx = _mm_cvtph_ps(_mm_loadl_epi64((const __m128i *)(w + 8)));
        const __m128 sc0 = _mm_mul_ps(dx, _mm_set1_ps(yd0[b])), sc1 = _mm_mul_ps(dx, _mm_set1_ps(yd1[b]));
        m0 = _mm_fmadd_ps(mx, _mm_set1_ps(ys0[b]), m0);
        m1 = _mm_fmadd_ps(mx, _mm_set1_ps(ys1[b]), m1);
        for (int r = 0; r < 4; r++) {
            const __m256i q = nibbles(w + 16 + 16 * r);
            const __m256 p0 = _mm256_cvtepi32_ps(_mm256_dpbusd_epi32(_mm256_setzero_si256(), q, y0));
            const __m256 p1 = _mm256_cvtepi32_ps(_mm256_dpbusd_epi32(_mm256_setzero_si256(), q, y1));
            a0[r] = _mm256_fmadd_ps(lane_bcast(sc0, r), p0, a0[r]);
            a1[r] = _mm256_fmadd_ps(lane_bcast(sc1, r), p1, a1[r]);
        }
    }
    float mm0[4], mm1[4];
    _mm_storeu_ps(mm0, m0);
    _mm_storeu_ps(mm1, m1);
    for (int r = 0; r < 4; r++) {
        out0[r] = hsum(a0[r]) + mm0[r];
        out1[r] = hsum(a1[r]) + mm1[r];
    }
}

static VNNI void dot4x2_q8_0(const uint8_t *w, const int8_t *yq0, const float *yd0, const int8_t *yq1,
                             const float *yd1, long blocks, float *out0, float *out1) {
    __m256 a0[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    __m256 a1[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    const __m256i off = _mm256_set1_epi8((char)0x80);
    for (long b = 0; b < blocks; b++, w += 136) {
        const __m256i y0 = _mm256_loadu_si256((const __m256i *)(yq0 + 32 * b));
        const __m256i y1 = _mm256_loadu_si256((const __m256i *)(yq1 + 32 * b));
        const __m128 d = _mm_cvtph_ps(_mm_loadl_epi64((const __m128i *)w));
        const __m128 sc0 = _mm_mul_ps(d, _mm_set1_ps(yd0[b])), sc1 = _mm_mul_ps(d, _mm_set1_ps(yd1[b]));
        const __m256i c0 = _mm256_dpbusd_epi32(_mm256_setzero_si256(), off, y0);
        const __m256i c1 = _mm256_dpbusd_epi32(_mm256_setzero_si256(), off, y1);
        for (int r = 0; r < 4; r++) {
            const __m256i xu = _mm256_loadu_si256((const __m256i *)(w + 8 + 32 * r));
            const __m256i s0 = _mm256_sub_epi32(_mm256_dpbusd_epi32(_mm256_setzero_si256(), xu, y0), c0);
            const __m256i s1 = _mm256_sub_epi32(_mm256_dpbusd_epi32(_mm256_setzero_si256(), xu, y1), c1);
            a0[r] = _mm256_fmadd_ps(lane_bcast(sc0, r), _mm256_cvtepi32_ps(s0), a0[r]);
            a1[r] = _mm256_fmadd_ps(lane_bcast(sc1, r), _mm256_cvtepi32_ps(s1), a1[r]);
        }
    }
    for (int r = 0; r < 4; r++) {
        out0[r] = hsum(a0[r]);
        out1[r] = hsum(a1[r]);
    }
}
#endif

// Whether the repacked kernels run here (AVX-512 VNNI); elsewhere the one-row kernels are used.
int orr_repack_x4_available(void) { return pick_level() == 2; }

// y[t·ldy + r] for row groups [g0, g1) of a repacked matrix, every token t < T. Activations are
// the standard Q8_0 / Q8_1 rows (actStride bytes apart), unpacked here once per token.
void orr_quant_matmul_x4(int type, const void *W, long rows, long n, long g0, long g1, const void *act,
                         long actStride, long T, float *y, long ldy) {
#if defined(__x86_64__)
    const long blocks = n / 32;
    const int gb = type == ORR_Q_Q4_1 ? 80 : type == ORR_Q_Q4_0 ? 72 : 136;
    const int ab = type == ORR_Q_Q4_1 ? 36 : 34, qoff = type == ORR_Q_Q4_1 ? 4 : 2;
    float yd[2][blocks], ys[2][blocks];
    int8_t yq[2][32 * blocks];
    for (long t = 0; t < T; t += 2) {
        const int pair = t + 1 < T && type != ORR_Q_Q4_0;  // two tokens per pass (Q4_1, Q8_0)
        for (int u = 0; u <= pair; u++) {
            const uint8_t *a = (const uint8_t *)act + (t + u) * actStride;
            for (long b = 0; b < blocks; b++) {
                yd[u][b] = h2f(rd16(a + b * ab));
                ys[u][b] = type == ORR_Q_Q4_1 ? h2f(rd16(a + b * ab + 2)) : 0;
                memcpy(yq[u] + 32 * b, a + b * ab + qoff, 32);
            }
        }
        for (long g = g0; g < g1; g++) {
            const uint8_t *w = (const uint8_t *)W + g * blocks * gb;
            float out[2][4];
            if (pair && type == ORR_Q_Q4_1) {
                dot4x2_q4_1(w, yq[0], yd[0], ys[0], yq[1], yd[1], ys[1], blocks, out[0], out[1]);
            } else if (pair) {
                dot4x2_q8_0(w, yq[0], yd[0], yq[1], yd[1], blocks, out[0], out[1]);
            } else if (type == ORR_Q_Q4_1) {
                dot4_q4_1(w, yq[0], yd[0], ys[0], blocks, out[0]);
            } else if (type == ORR_Q_Q4_0) {
                dot4_q4_0(w, yq[0], yd[0], blocks, out[0]);
            } else {
                dot4_q8_0(w, yq[0], yd[0], blocks, out[0]);
            }
            for (int u = 0; u <= pair; u++)
                for (int r = 0; r < 4 && g * 4 + r < rows; r++) y[(t + u) * ldy + g * 4 + r] = out[u][r];
        }
        if (!pair) t -= 1;  // one token done
    }
#else
    (void)type; (void)W; (void)rows; (void)n; (void)g0; (void)g1; (void)act; (void)actStride; (void)T; (void)y; (void)ldy;
#endif
}

void orr_round_to_half(float *x, long n) { round_half_array(x, n); }
