// Vectorisable maps (exp, softmax, dot, axpy) compiled once per ISA with target_clones where the
// toolchain and platform support it, so the loader picks the widest vectors this CPU has.
#include "CKernels.h"
#include "fastmath.h"
#include <math.h>
#include <string.h>

#if defined(__x86_64__) && defined(__linux__) && defined(__clang__)
#define MULTIVERSION __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define MULTIVERSION
#endif

MULTIVERSION
void orr_vexp(const float *x, float *y, long n) {
    for (long i = 0; i < n; i++) y[i] = exp_fast(x[i]);
}

// tanh(x) = sign(x)·(1 − e)/(1 + e) with e = exp(−2|x|), and x − x³/3 + 2x⁵/15 below |x| < 2⁻⁴
// (where 1 − e would cancel); relative error about 1e-6, vectorised like exp.
MULTIVERSION
void orr_vtanh(const float *restrict x, float *restrict y, long n) {
    for (long i = 0; i < n; i++) {
        float a = fabsf(x[i]);
        float e = exp_fast(-2.0f * (a < 20.0f ? a : 20.0f));
        float t = (1.0f - e) / (1.0f + e);
        float x2 = x[i] * x[i];
        float p = x[i] * (1.0f - x2 * (1.0f / 3.0f - x2 * (2.0f / 15.0f)));
        float r = x[i] < 0 ? -t : t;
        y[i] = a < 0.0625f ? p : r;
    }
}

// Reductions keep 16 independent partial results so the compiler can vectorise them without
// reassociating a single accumulator (which strict IEEE semantics forbid).
#define LANES 16

MULTIVERSION
static float row_max(const float *x, long n) {
    float acc[LANES];
    for (int j = 0; j < LANES; j++) acc[j] = -INFINITY;
    long i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int j = 0; j < LANES; j++) acc[j] = x[i + j] > acc[j] ? x[i + j] : acc[j];
    float m = -INFINITY;
    for (int j = 0; j < LANES; j++) m = acc[j] > m ? acc[j] : m;
    for (; i < n; i++) m = x[i] > m ? x[i] : m;
    return m;
}

MULTIVERSION
static float exp_shift_sum(const float *restrict x, float *restrict y, long n, float m) {
    float acc[LANES] = {0};
    long i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int j = 0; j < LANES; j++) { float e = exp_fast(x[i + j] - m); y[i + j] = e; acc[j] += e; }
    float s = 0.0f;
    for (int j = 0; j < LANES; j++) s += acc[j];
    for (; i < n; i++) { float e = exp_fast(x[i] - m); y[i] = e; s += e; }
    return s;
}

MULTIVERSION
static void scale_row(float *y, long n, float a) {
    for (long i = 0; i < n; i++) y[i] *= a;
}

MULTIVERSION
static float exp_shift_sum_only(const float *x, long n, float m) {
    float acc[LANES] = {0};
    long i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int j = 0; j < LANES; j++) acc[j] += exp_fast(x[i + j] - m);
    float s = 0.0f;
    for (int j = 0; j < LANES; j++) s += acc[j];
    for (; i < n; i++) s += exp_fast(x[i] - m);
    return s;
}

MULTIVERSION
static void sub_row(const float *x, float *y, long n, float a) {
    for (long i = 0; i < n; i++) y[i] = x[i] - a;
}

static int has_nan(const float *x, long n) {
    for (long i = 0; i < n; i++) if (x[i] != x[i]) return 1;
    return 0;
}

void orr_softmax_rows(const float *x, float *y, long rows, long n) {
    for (long r = 0; r < rows; r++) {
        const float *xr = x + r * n; float *yr = y + r * n;
        float m = row_max(xr, n);
        if (m == -INFINITY) { memset(yr, 0, sizeof(float) * (size_t)n); continue; }  // fully masked row
        if (m != m || has_nan(xr, n)) { for (long i = 0; i < n; i++) yr[i] = NAN; continue; }
        float s = exp_shift_sum(xr, yr, n, m);
        scale_row(yr, n, 1.0f / s);
    }
}

void orr_logsoftmax_rows(const float *x, float *y, float *lse, long rows, long n) {
    for (long r = 0; r < rows; r++) {
        const float *xr = x + r * n; float *yr = y + r * n;
        float m = row_max(xr, n);
        float l;
        if (m == -INFINITY) l = -INFINITY;
        else if (m != m || has_nan(xr, n)) l = NAN;
        else l = m + logf(exp_shift_sum_only(xr, n, m));
        if (lse) lse[r] = l;
        sub_row(xr, yr, n, l);
    }
}

MULTIVERSION
float orr_sdot(const float *x, const float *y, long n) {
    float acc[LANES] = {0};
    long i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int j = 0; j < LANES; j++) acc[j] += x[i + j] * y[i + j];
    float s = 0.0f;
    for (int j = 0; j < LANES; j++) s += acc[j];
    for (; i < n; i++) s += x[i] * y[i];
    return s;
}

MULTIVERSION
void orr_saxpy(long n, float a, const float *x, float *y) {
    for (long i = 0; i < n; i++) y[i] += a * x[i];
}

// ---------------------------------------------------------------- half / bfloat16
static inline uint16_t f32_to_f16_one(float f) {
    uint32_t x; memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000u;
    uint32_t exp = (x >> 23) & 0xffu, man = x & 0x7fffffu;
    if (exp == 0xffu) return (uint16_t)(sign | 0x7c00u | (man ? 0x200u | (man >> 13) : 0u));  // inf / nan
    int32_t e = (int32_t)exp - 127 + 15;
    if (e >= 0x1f) return (uint16_t)(sign | 0x7c00u);  // overflow → inf
    if (e <= 0) {  // subnormal or zero
        if (e < -10) return (uint16_t)sign;
        man |= 0x800000u;
        uint32_t shift = (uint32_t)(14 - e);
        uint32_t half = man >> shift;
        uint32_t rem = man & ((1u << shift) - 1u), mid = 1u << (shift - 1u);
        if (rem > mid || (rem == mid && (half & 1u))) half++;
        return (uint16_t)(sign | half);
    }
    uint32_t half = sign | ((uint32_t)e << 10) | (man >> 13);
    uint32_t rem = man & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (half & 1u))) half++;  // may carry into exponent: correct
    return (uint16_t)half;
}

static inline float f16_to_f32_one(uint16_t h) {
    uint32_t sign = ((uint32_t)h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, man = h & 0x3ffu, x;
    if (exp == 0) {
        if (man == 0) x = sign;
        else {  // subnormal: normalise
            int e = -1;
            do { e++; man <<= 1; } while (!(man & 0x400u));
            x = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ffu) << 13);
        }
    } else if (exp == 0x1f) x = sign | 0x7f800000u | (man << 13);
    else x = sign | ((exp + 127 - 15) << 23) | (man << 13);
    float f; memcpy(&f, &x, 4); return f;
}

void orr_f32_to_f16(const float *x, uint16_t *y, long n) { for (long i = 0; i < n; i++) y[i] = f32_to_f16_one(x[i]); }
void orr_f16_to_f32(const uint16_t *x, float *y, long n) { for (long i = 0; i < n; i++) y[i] = f16_to_f32_one(x[i]); }

void orr_f32_to_bf16(const float *x, uint16_t *y, long n) {
    for (long i = 0; i < n; i++) {
        uint32_t b; memcpy(&b, &x[i], 4);
        if ((b & 0x7fffffffu) > 0x7f800000u) { y[i] = (uint16_t)((b >> 16) | 0x40u); continue; }  // quiet NaN
        b += 0x7fffu + ((b >> 16) & 1u);
        y[i] = (uint16_t)(b >> 16);
    }
}
void orr_bf16_to_f32(const uint16_t *x, float *y, long n) {
    for (long i = 0; i < n; i++) { uint32_t b = (uint32_t)x[i] << 16; memcpy(&y[i], &b, 4); }
}

// ---------------------------------------------------------------- attention row helpers
float orr_row_max(const float *x, long n) { return row_max(x, n); }

MULTIVERSION
float orr_exp_sub_sum(float *x, long n, float m) {  // in place: one pointer, so no aliasing fallback
    float acc[LANES] = {0};
    long i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int j = 0; j < LANES; j++) { float e = exp_fast(x[i + j] - m); x[i + j] = e; acc[j] += e; }
    float s = 0.0f;
    for (int j = 0; j < LANES; j++) s += acc[j];
    for (; i < n; i++) { float e = exp_fast(x[i] - m); x[i] = e; s += e; }
    return s;
}

MULTIVERSION
void orr_scale(float *x, long n, float a) {
    for (long i = 0; i < n; i++) x[i] *= a;
}

// dS = P ∘ (dP − D) in place in dp.
MULTIVERSION
void orr_softmax_grad_row(const float *p, float *dp, long n, float d) {
    for (long i = 0; i < n; i++) dp[i] = p[i] * (dp[i] - d);
}

// ---------------------------------------------------------------- SiLU (the SwiGLU gate)
MULTIVERSION
void orr_silu(const float *restrict x, float *restrict y, long n) {
    for (long i = 0; i < n; i++) y[i] = x[i] / (1.0f + exp_fast(-x[i]));
}

// dx = g · σ(x)(1 + x(1 − σ(x)))
MULTIVERSION
void orr_silu_backward(const float *restrict x, const float *restrict g, float *restrict dx, long n) {
    for (long i = 0; i < n; i++) {
        float s = 1.0f / (1.0f + exp_fast(-x[i]));
        dx[i] = g[i] * s * (1.0f + x[i] * (1.0f - s));
    }
}

// ---------------------------------------------------------------- fused recurrent cells
static inline float sigmoid_fast(float x) { return 1.0f / (1.0f + exp_fast(-x)); }
static inline float tanh_fast(float x) {
    float a = fabsf(x);
    float e = exp_fast(-2.0f * (a < 20.0f ? a : 20.0f));
    float t = (1.0f - e) / (1.0f + e);
    float x2 = x * x;
    float p = x * (1.0f - x2 * (1.0f / 3.0f - x2 * (2.0f / 15.0f)));
    float r = x < 0 ? -t : t;
    return a < 0.0625f ? p : r;
}

// LSTM, `rows` rows of H: gates [rows, 4H] (i f g o pre-activations, row stride gs), c [rows, H]
// → out [rows, 2H] = (h | c'), c' = σ(f)c + σ(i)tanh(g), h = σ(o)tanh(c').
MULTIVERSION
void orr_lstm_cell(const float *restrict gates, long gs, const float *restrict c, long cs, float *restrict out,
                   long rows, long H) {
    for (long b = 0; b < rows; b++) {
        const float *g = gates + b * gs;
        const float *cb = c + b * cs;
        float *h = out + b * 2 * H, *cn = h + H;
        for (long j = 0; j < H; j++) {
            float i = sigmoid_fast(g[j]), f = sigmoid_fast(g[H + j]), gg = tanh_fast(g[2 * H + j]);
            float o = sigmoid_fast(g[3 * H + j]);
            float cc = f * cb[j] + i * gg;
            cn[j] = cc;
            h[j] = o * tanh_fast(cc);
        }
    }
}

// Its backward from gout [rows, 2H] = (∂h | ∂c'): dgates [rows, 4H], dc [rows, H] (contiguous).
MULTIVERSION
void orr_lstm_cell_backward(const float *restrict gates, long gs, const float *restrict c, long cs,
                            const float *restrict gout, float *restrict dgates, float *restrict dc, long rows,
                            long H) {
    for (long b = 0; b < rows; b++) {
        const float *g = gates + b * gs;
        const float *cb = c + b * cs;
        const float *gh = gout + b * 2 * H, *gc = gh + H;
        float *dg = dgates + b * 4 * H, *dcb = dc + b * H;
        for (long j = 0; j < H; j++) {
            float i = sigmoid_fast(g[j]), f = sigmoid_fast(g[H + j]), gg = tanh_fast(g[2 * H + j]);
            float o = sigmoid_fast(g[3 * H + j]);
            float cc = f * cb[j] + i * gg;
            float th = tanh_fast(cc);
            float dcc = gc[j] + gh[j] * o * (1.0f - th * th);
            dg[j] = dcc * gg * i * (1.0f - i);
            dg[H + j] = dcc * cb[j] * f * (1.0f - f);
            dg[2 * H + j] = dcc * i * (1.0f - gg * gg);
            dg[3 * H + j] = gh[j] * th * o * (1.0f - o);
            dcb[j] = dcc * f;
        }
    }
}

// GRU, `rows` rows of H: xg, hg [rows, 3H] (r z n parts of x·W_ihᵀ + b_ih and h·W_hhᵀ + b_hh), h [rows, H]
// → out [rows, H]: r = σ(x_r + h_r), z = σ(x_z + h_z), n = tanh(x_n + r·h_n), h' = n + z(h − n).
MULTIVERSION
void orr_gru_cell(const float *restrict xg, long xs, const float *restrict hg, long hgs, const float *restrict h,
                  long hs, float *restrict out, long rows, long H) {
    for (long b = 0; b < rows; b++) {
        const float *x = xg + b * xs, *hh = hg + b * hgs, *hb = h + b * hs;
        float *o = out + b * H;
        for (long j = 0; j < H; j++) {
            float r = sigmoid_fast(x[j] + hh[j]), z = sigmoid_fast(x[H + j] + hh[H + j]);
            float n = tanh_fast(x[2 * H + j] + r * hh[2 * H + j]);
            o[j] = n + z * (hb[j] - n);
        }
    }
}

// Its backward from gout [rows, H]: dxg, dhg [rows, 3H], dh [rows, H] (contiguous).
MULTIVERSION
void orr_gru_cell_backward(const float *restrict xg, long xs, const float *restrict hg, long hgs,
                           const float *restrict h, long hs, const float *restrict gout, float *restrict dxg,
                           float *restrict dhg, float *restrict dh, long rows, long H) {
    for (long b = 0; b < rows; b++) {
        const float *x = xg + b * xs, *hh = hg + b * hgs, *hb = h + b * hs, *g = gout + b * H;
        float *dx = dxg + b * 3 * H, *dhh = dhg + b * 3 * H, *dhb = dh + b * H;
        for (long j = 0; j < H; j++) {
            float r = sigmoid_fast(x[j] + hh[j]), z = sigmoid_fast(x[H + j] + hh[H + j]);
            float n = tanh_fast(x[2 * H + j] + r * hh[2 * H + j]);
            float dn = g[j] * (1.0f - z);
            float dz = g[j] * (hb[j] - n);
            float da2 = dn * (1.0f - n * n);
            float da0 = da2 * hh[2 * H + j] * r * (1.0f - r);
            float da1 = dz * z * (1.0f - z);
            dx[j] = da0;
            dx[H + j] = da1;
            dx[2 * H + j] = da2;
            dhh[j] = da0;
            dhh[H + j] = da1;
            dhh[2 * H + j] = da2 * r;
            dhb[j] = g[j] * z;
        }
    }
}

// ---------------------------------------------------------------- allocator
#if defined(__GLIBC__)
#include <malloc.h>
#endif
void orr_tune_allocator(void) {
#if defined(__GLIBC__)
    mallopt(M_MMAP_THRESHOLD, 1 << 30);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
#endif
}

// ---- machine limits for `orrery bench peak` ----
// Twelve independent FMA chains per thread (enough to cover the FMA latency on two pipes), on the
// widest vector unit this CPU has; returns the FLOPs done.
#if defined(__x86_64__)
#include <immintrin.h>
__attribute__((target("avx512f"))) static double fma_loop_avx512(long iters) {
    __m512 a[12];
    const __m512 m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
    for (int i = 0; i < 12; i++) a[i] = _mm512_set1_ps((float)i);
    for (long k = 0; k < iters; k++)
        for (int i = 0; i < 12; i++) a[i] = _mm512_fmadd_ps(a[i], m, c);
    float sink = 0;
    for (int i = 0; i < 12; i++) sink += _mm512_reduce_add_ps(a[i]);
    __asm__ __volatile__("" ::"x"(sink));
    return (double)iters * 12 * 16 * 2;
}
__attribute__((target("avx2,fma"))) static double fma_loop_avx2(long iters) {
    __m256 a[12];
    const __m256 m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
    for (int i = 0; i < 12; i++) a[i] = _mm256_set1_ps((float)i);
    for (long k = 0; k < iters; k++)
        for (int i = 0; i < 12; i++) a[i] = _mm256_fmadd_ps(a[i], m, c);
    __m256 s = a[0];
    for (int i = 1; i < 12; i++) s = _mm256_add_ps(s, a[i]);
    float out[8];
    _mm256_storeu_ps(out, s);
    __asm__ __volatile__("" ::"r"(out) : "memory");
    return (double)iters * 12 * 8 * 2;
}
#endif

double orr_fma_loop(long iters, const char **unit) {
#if defined(__x86_64__)
    if (__builtin_cpu_supports("avx512f")) { if (unit) *unit = "avx512 (zmm)"; return fma_loop_avx512(iters); }
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) { if (unit) *unit = "avx2 (ymm)"; return fma_loop_avx2(iters); }
#endif
    float a[12];
    for (int i = 0; i < 12; i++) a[i] = (float)i;
    for (long k = 0; k < iters; k++)
        for (int i = 0; i < 12; i++) a[i] = a[i] * 0.999999f + 1e-7f;
    volatile float sink = a[0] + a[11];
    (void)sink;
    if (unit) *unit = "scalar";
    return (double)iters * 12 * 2;
}

// Sum of n floats (a read stream), and a[i] = b[i] + s·c[i] (STREAM's triad).
#if defined(__x86_64__)
__attribute__((target("avx2"))) static double read_stream_avx2(const float *x, long n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    long i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm256_add_ps(s0, _mm256_loadu_ps(x + i));
        s1 = _mm256_add_ps(s1, _mm256_loadu_ps(x + i + 8));
        s2 = _mm256_add_ps(s2, _mm256_loadu_ps(x + i + 16));
        s3 = _mm256_add_ps(s3, _mm256_loadu_ps(x + i + 24));
    }
    float out[8], t = 0;
    _mm256_storeu_ps(out, _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
    for (int k = 0; k < 8; k++) t += out[k];
    for (; i < n; i++) t += x[i];
    return t;
}
#endif

double orr_read_stream(const float *x, long n) {
#if defined(__x86_64__)
    if (__builtin_cpu_supports("avx2")) return read_stream_avx2(x, n);
#endif
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
    long i = 0;
    for (; i + 8 <= n; i += 8) {
        s0 += x[i]; s1 += x[i + 1]; s2 += x[i + 2]; s3 += x[i + 3];
        s4 += x[i + 4]; s5 += x[i + 5]; s6 += x[i + 6]; s7 += x[i + 7];
    }
    for (; i < n; i++) s0 += x[i];
    return (double)(s0 + s1 + s2 + s3 + s4 + s5 + s6 + s7);
}

void orr_triad(float *a, const float *b, const float *c, float s, long n) {
    for (long i = 0; i < n; i++) a[i] = b[i] + s * c[i];
}

// ---------------------------------------------------------------- Adam / AdamW update
// m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g², p ← p − lr·(m/bc1)/(√(v/bc2) + ε); weight decay either
// decoupled (p ← p − lr·wd·p first, AdamW) or added to the gradient (Adam's L2). The same operations
// in the same order as the scalar definition, no FMA contraction: bit for bit the same trajectory.
MULTIVERSION
void orr_adam(float *restrict p, const float *restrict g, float *restrict m, float *restrict v, long n, float lr,
              float b1, float b2, float eps, float bc1, float bc2, float wd, int decoupled) {
#pragma clang fp contract(off)
    const float c1 = 1.0f - b1, c2 = 1.0f - b2, lwd = lr * wd;
    for (long j = 0; j < n; j++) {
        float pj = p[j], gj = g[j];
        if (decoupled) pj = pj - lwd * pj;
        else gj = gj + wd * pj;
        const float mj = b1 * m[j] + c1 * gj, vj = b2 * v[j] + c2 * gj * gj;
        m[j] = mj;
        v[j] = vj;
        p[j] = pj - lr * (mj / bc1) / (sqrtf(vj / bc2) + eps);
    }
}

// ---------------------------------------------------------------- SwiGLU's gate, fused
// y = silu(g)·u; backward dg = dy·u·σ(g)(1 + g(1 − σ(g))), du = dy·silu(g). One pass each way
// instead of a SiLU, a product and their two backward passes.
MULTIVERSION
void orr_swiglu(const float *restrict g, const float *restrict u, float *restrict y, long n) {
    for (long i = 0; i < n; i++) y[i] = g[i] / (1.0f + exp_fast(-g[i])) * u[i];
}

MULTIVERSION
void orr_swiglu_backward(const float *restrict g, const float *restrict u, const float *restrict dy,
                         float *restrict dg, float *restrict du, long n) {
    for (long i = 0; i < n; i++) {
        // The same operations as SiLU's forward and backward and the product's: bit for bit the
        // unfused result.
        const float e = exp_fast(-g[i]), s = 1.0f / (1.0f + e);
        dg[i] = dy[i] * u[i] * s * (1.0f + g[i] * (1.0f - s));
        du[i] = dy[i] * (g[i] / (1.0f + e));
    }
}
