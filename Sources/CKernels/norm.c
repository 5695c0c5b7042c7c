// GroupNorm (and BatchNorm, which is GroupNorm with one group per channel over the folded batch)
// with an optional activation fused in: forward y = act(x̂·w + b), x̂ = (x − μ)·rstd over one group,
// and the matching backward, which recomputes the pre-activation from x, μ and rstd instead of
// storing it. One call handles one group (cg channels × S positions, contiguous); the caller
// spreads groups over threads. Reductions keep 16 partial sums so they vectorise without
// reassociating one accumulator.
#include "CKernels.h"
#include "fastmath.h"
#include <math.h>
#include <string.h>

#if defined(__x86_64__) && defined(__linux__) && defined(__clang__)
#define MULTIVERSION __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define MULTIVERSION
#endif

#define LANES 16

// d act/dv at the pre-activation v, for act: 0 identity, 1 SiLU, 2 LeakyReLU(slope) (ReLU is slope 0).
static inline float act_grad(int act, float slope, float v) {
    if (act == 1) {
        float s = 1.0f / (1.0f + exp_fast(-v));
        return s * (1.0f + v * (1.0f - s));
    }
    if (act == 2) return v > 0.0f ? 1.0f : slope;
    return 1.0f;
}

MULTIVERSION
static float sum16(const float *x, long n) {
    float acc[LANES] = {0};
    long i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int j = 0; j < LANES; j++) acc[j] += x[i + j];
    float s = 0.0f;
    for (int j = 0; j < LANES; j++) s += acc[j];
    for (; i < n; i++) s += x[i];
    return s;
}

MULTIVERSION
static float sqdev16(const float *x, long n, float mu) {
    float acc[LANES] = {0};
    long i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int j = 0; j < LANES; j++) { float d = x[i + j] - mu; acc[j] += d * d; }
    float s = 0.0f;
    for (int j = 0; j < LANES; j++) s += acc[j];
    for (; i < n; i++) { float d = x[i] - mu; s += d * d; }
    return s;
}

MULTIVERSION
static void affine_act(const float *restrict x, float *restrict y, long n, float a, float c, int act, float slope) {
    // y = act(x·a + c) with a = rstd·w, c = b − μ·rstd·w.
    if (act == 1) {
        for (long i = 0; i < n; i++) { float v = x[i] * a + c; y[i] = v / (1.0f + exp_fast(-v)); }
    } else if (act == 2) {
        for (long i = 0; i < n; i++) { float v = x[i] * a + c; y[i] = v > 0.0f ? v : slope * v; }
    } else {
        for (long i = 0; i < n; i++) y[i] = x[i] * a + c;
    }
}

void orr_groupnorm_forward(const float *x, float *y, long cg, long S, const float *w, const float *b, float eps,
                           int act, float slope, float *mean, float *rstd) {
    const long len = cg * S;
    // Two passes (mean, then squared deviations): as exact as the textbook formula, and both
    // passes read a group that is still in L1/L2.
    const float mu = sum16(x, len) / (float)len;
    const float rs = 1.0f / sqrtf(sqdev16(x, len, mu) / (float)len + eps);
    *mean = mu;
    *rstd = rs;
    for (long c = 0; c < cg; c++) {
        const float wc = w ? w[c] : 1.0f, bc = b ? b[c] : 0.0f;
        affine_act(x + c * S, y + c * S, S, rs * wc, bc - mu * rs * wc, act, slope);
    }
}

// Pass 1 of the backward for one channel: g = dL/d(pre-activation) (written to gp), and the sums
// Σ g and Σ g·x̂ over the channel's S positions.
MULTIVERSION
static void channel_grad(const float *restrict dy, const float *restrict x, float *restrict gp, long S, float mu,
                         float rs, float wc, float bc, int act, float slope, float *sg, float *sgx) {
    float a0[LANES] = {0}, a1[LANES] = {0};
    long i = 0;
    if (act == 0) {
        for (; i + LANES <= S; i += LANES)
            for (int j = 0; j < LANES; j++) {
                float xh = (x[i + j] - mu) * rs, g = dy[i + j];
                gp[i + j] = g;
                a0[j] += g;
                a1[j] += g * xh;
            }
    } else if (act == 1) {
        for (; i + LANES <= S; i += LANES)
            for (int j = 0; j < LANES; j++) {
                float xh = (x[i + j] - mu) * rs, v = xh * wc + bc;
                float s = 1.0f / (1.0f + exp_fast(-v));
                float g = dy[i + j] * s * (1.0f + v * (1.0f - s));
                gp[i + j] = g;
                a0[j] += g;
                a1[j] += g * xh;
            }
    } else {
        for (; i + LANES <= S; i += LANES)
            for (int j = 0; j < LANES; j++) {
                float xh = (x[i + j] - mu) * rs, v = xh * wc + bc;
                float g = dy[i + j] * (v > 0.0f ? 1.0f : slope);
                gp[i + j] = g;
                a0[j] += g;
                a1[j] += g * xh;
            }
    }
    float s0 = 0.0f, s1 = 0.0f;
    for (int j = 0; j < LANES; j++) { s0 += a0[j]; s1 += a1[j]; }
    for (; i < S; i++) {
        float xh = (x[i] - mu) * rs, g = dy[i] * act_grad(act, slope, xh * wc + bc);
        gp[i] = g;
        s0 += g;
        s1 += g * xh;
    }
    *sg = s0;
    *sgx = s1;
}

// dx = rstd·(g·w − mean(g·w) − x̂·mean(g·w·x̂)), in place over g.
MULTIVERSION
static void channel_dx(float *restrict gdx, const float *restrict x, long S, float mu, float rs, float wc, float mg,
                       float mgx) {
    for (long i = 0; i < S; i++) gdx[i] = rs * (gdx[i] * wc - mg - (x[i] - mu) * rs * mgx);
}

void orr_groupnorm_backward(const float *dy, const float *x, long cg, long S, const float *w, const float *b,
                            int act, float slope, float mu, float rs, float *dx, float *dw, float *db) {
    float tg = 0.0f, tgx = 0.0f;
    for (long c = 0; c < cg; c++) {
        const float wc = w ? w[c] : 1.0f, bc = b ? b[c] : 0.0f;
        float sg, sgx;
        channel_grad(dy + c * S, x + c * S, dx + c * S, S, mu, rs, wc, bc, act, slope, &sg, &sgx);
        if (db) db[c] = sg;
        if (dw) dw[c] = sgx;
        tg += sg * wc;
        tgx += sgx * wc;
    }
    const float len = (float)(cg * S);
    for (long c = 0; c < cg; c++)
        channel_dx(dx + c * S, x + c * S, S, mu, rs, w ? w[c] : 1.0f, tg / len, tgx / len);
}

// ---------------------------------------------------------------- LayerNorm / RMSNorm over rows
// x [rows, C] → y = (x − μ)·rstd·w + b per row (rms: μ = 0, no bias, rstd = 1/√(mean x² + ε)).
MULTIVERSION
static float sumsq16(const float *x, long n) {
    float acc[LANES] = {0};
    long i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int j = 0; j < LANES; j++) acc[j] += x[i + j] * x[i + j];
    float s = 0.0f;
    for (int j = 0; j < LANES; j++) s += acc[j];
    for (; i < n; i++) s += x[i] * x[i];
    return s;
}

MULTIVERSION
static void row_affine(const float *restrict x, float *restrict y, long n, float mu, float rs,
                       const float *restrict w, const float *restrict b) {
    if (w && b) {
        for (long i = 0; i < n; i++) y[i] = (x[i] - mu) * rs * w[i] + b[i];
    } else if (w) {
        for (long i = 0; i < n; i++) y[i] = (x[i] - mu) * rs * w[i];
    } else {
        for (long i = 0; i < n; i++) y[i] = (x[i] - mu) * rs;
    }
}

void orr_norm_rows_forward(const float *x, float *y, long rows, long C, const float *w, const float *b, float eps,
                           int rms, float *mean, float *rstd) {
    for (long r = 0; r < rows; r++) {
        const float *xr = x + r * C;
        const float mu = rms ? 0.0f : sum16(xr, C) / (float)C;
        const float v = rms ? sumsq16(xr, C) / (float)C : sqdev16(xr, C, mu) / (float)C;
        const float rs = 1.0f / sqrtf(v + eps);
        mean[r] = mu;
        rstd[r] = rs;
        row_affine(xr, y + r * C, C, mu, rs, w, rms ? NULL : b);
    }
}

// Per row: sg = Σ g·w, sgx = Σ g·w·x̂; dx = rstd·(g·w − mean(g·w) − x̂·mean(g·w·x̂)) (rms: no mean
// term), plus add[i] where add is given (another gradient of x, summed in the same pass). dw += g·x̂
// and db += g over this call's rows (the caller sums calls in a fixed order).
MULTIVERSION
static void row_backward(const float *restrict g, const float *restrict x, const float *restrict add,
                         float *restrict dx, long C, float mu, float rs, const float *restrict w, int rms,
                         float *restrict dw, float *restrict db) {
    float a0[LANES] = {0}, a1[LANES] = {0};
    long i = 0;
    if (w) {
        for (; i + LANES <= C; i += LANES)
            for (int j = 0; j < LANES; j++) {
                const float gw = g[i + j] * w[i + j], xh = (x[i + j] - mu) * rs;
                a0[j] += gw;
                a1[j] += gw * xh;
            }
    } else {
        for (; i + LANES <= C; i += LANES)
            for (int j = 0; j < LANES; j++) {
                const float gw = g[i + j], xh = (x[i + j] - mu) * rs;
                a0[j] += gw;
                a1[j] += gw * xh;
            }
    }
    float sg = 0.0f, sgx = 0.0f;
    for (int j = 0; j < LANES; j++) { sg += a0[j]; sgx += a1[j]; }
    for (; i < C; i++) {
        const float gw = g[i] * (w ? w[i] : 1.0f), xh = (x[i] - mu) * rs;
        sg += gw;
        sgx += gw * xh;
    }
    const float mg = rms ? 0.0f : sg / (float)C, mgx = sgx / (float)C;
    if (w && dw && db) {  // LayerNorm with affine parameters: the common case, one vectorised loop
        for (i = 0; i < C; i++) {
            const float xh = (x[i] - mu) * rs, gi = g[i];
            const float d = rs * (gi * w[i] - mg - xh * mgx);
            dx[i] = add ? add[i] + d : d;
            dw[i] += gi * xh;
            db[i] += gi;
        }
    } else if (w && dw && add) {  // RMSNorm beside a residual
        for (i = 0; i < C; i++) {
            const float xh = (x[i] - mu) * rs, gi = g[i];
            const float d = rs * (gi * w[i] - mg - xh * mgx);  // own statement: no FMA with the add
            dx[i] = add[i] + d;
            dw[i] += gi * xh;
        }
    } else if (w && dw) {  // RMSNorm
        for (i = 0; i < C; i++) {
            const float xh = (x[i] - mu) * rs, gi = g[i];
            dx[i] = rs * (gi * w[i] - mg - xh * mgx);
            dw[i] += gi * xh;
        }
    } else {
        for (i = 0; i < C; i++) {
            const float xh = (x[i] - mu) * rs;
            const float d = rs * (g[i] * (w ? w[i] : 1.0f) - mg - xh * mgx);
            dx[i] = add ? add[i] + d : d;
            if (dw) dw[i] += g[i] * xh;
            if (db) db[i] += g[i];
        }
    }
}

void orr_norm_rows_backward(const float *dy, const float *x, const float *add, long rows, long C, const float *w,
                            int rms, const float *mean, const float *rstd, float *dx, float *dw, float *db) {
    for (long r = 0; r < rows; r++)
        row_backward(dy + r * C, x + r * C, add ? add + r * C : NULL, dx + r * C, C, mean[r], rstd[r], w, rms, dw,
                     db);
}
