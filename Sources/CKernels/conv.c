// im2col / col2im for batch-folded convolution (cols [C·kh·kw, N·Ho·Wo]), in C so the inner loops
// compile to tight (vectorised where unit-stride) code; the Swift side splits the jobs over threads.
// `cm`: the image tensor is channel-major [C, N, H, W] (plane (n, c) at c·N + n) instead of NCHW.
#include "CKernels.h"

static inline void valid_range(long Wo, long W, long s, long off, long *lo, long *hi) {
    long l = off >= 0 ? 0 : (-off + s - 1) / s;
    long top = W - 1 - off;
    long h = top < 0 ? 0 : top / s + 1;
    if (l > Wo) l = Wo;
    if (h > Wo) h = Wo;
    if (h < l) h = l;
    *lo = l;
    *hi = h;
}

// Jobs are a channel and one of `blocks` ranges of images, as in col2im: the per-row bounds are worked
// out once per job, and each image plane is read while it is in L1. (One job per row and image was
// dominated by its own set-up on small maps: a 4 × 4 map's whole-window row is one float per job.)
void orr_im2col_folded(const float *restrict x, long N, long C, long H, long W, const long *g, float pad,
                       float *restrict cols, long blocks, long job0, long job1, int cm) {
    const long kh = g[0], kw = g[1], sh = g[2], sw = g[3], ph = g[4], pw = g[5], dh = g[6], dw = g[7];
    const long Ho = (H + 2 * ph - dh * (kh - 1) - 1) / sh + 1, Wo = (W + 2 * pw - dw * (kw - 1) - 1) / sw + 1;
    const long L = Ho * Wo, kk = kh * kw;
    long los[kk], his[kk];
    for (long k = 0; k < kk; k++) valid_range(Wo, W, sw, (k % kw) * dw - pw, &los[k], &his[k]);
    for (long job = job0; job < job1; job++) {
        const long c = job / blocks, b = job % blocks;
        const long n0 = N * b / blocks, n1 = N * (b + 1) / blocks;
        if (L == 1) {  // the window covers the map: one tap per image, rows written in order
            for (long k = 0; k < kk; k++) {
                const long iy = -ph + (k / kw) * dh, ix = (k % kw) * dw - pw;
                const int inside = iy >= 0 && iy < H && ix >= 0 && ix < W;
                float *row = cols + (c * kk + k) * N;
                for (long n = n0; n < n1; n++) {
                    const float *src = x + (cm ? c * N + n : n * C + c) * H * W;
                    row[n] = inside ? src[iy * W + ix] : pad;
                }
            }
            continue;
        }
        for (long n = n0; n < n1; n++) {
            const float *src = x + (cm ? c * N + n : n * C + c) * H * W;
            for (long k = 0; k < kk; k++) {
                const long ki = k / kw, off = (k % kw) * dw - pw, lo = los[k], hi = his[k];
                float *dst = cols + (c * kk + k) * N * L + n * L;
                for (long oy = 0; oy < Ho; oy++) {
                    const long iy = oy * sh - ph + ki * dh;
                    float *d = dst + oy * Wo;
                    if (iy < 0 || iy >= H) {
                        for (long ox = 0; ox < Wo; ox++) d[ox] = pad;
                        continue;
                    }
                    const float *s = src + iy * W;
                    for (long ox = 0; ox < lo; ox++) d[ox] = pad;
                    if (sw == 1) {
                        for (long ox = lo; ox < hi; ox++) d[ox] = s[ox + off];
                    } else if (sw == 2) {
                        for (long ox = lo; ox < hi; ox++) d[ox] = s[2 * ox + off];
                    } else {
                        for (long ox = lo; ox < hi; ox++) d[ox] = s[ox * sw + off];
                    }
                    for (long ox = hi; ox < Wo; ox++) d[ox] = pad;
                }
            }
        }
    }
}

// Jobs are channels: for each of its kh·kw rows, a job streams through the row's N column blocks in
// order (one sequential read of N·Ho·Wo floats) and adds each into its image's plane. Reading the kk
// rows of one image at a time instead (N·L floats apart, a power of two) thrashed L1's sets.
void orr_col2im_folded(const float *restrict cols, long N, long C, long H, long W, const long *g,
                       float *restrict x, long blocks, long job0, long job1, int cm) {
    const long kh = g[0], kw = g[1], sh = g[2], sw = g[3], ph = g[4], pw = g[5], dh = g[6], dw = g[7];
    const long Ho = (H + 2 * ph - dh * (kh - 1) - 1) / sh + 1, Wo = (W + 2 * pw - dw * (kw - 1) - 1) / sw + 1;
    const long L = Ho * Wo, kk = kh * kw;
    for (long job = job0; job < job1; job++) {
        // A job is a channel and one of `blocks` ranges of images (enough jobs for every thread even
        // when C is 3).
        const long c = job / blocks, b = job % blocks;
        const long n0 = N * b / blocks, n1 = N * (b + 1) / blocks;
        for (long n = n0; n < n1; n++) {
            float *dst = x + (cm ? c * N + n : n * C + c) * H * W;
            for (long i = 0; i < H * W; i++) dst[i] = 0;
        }
        for (long k = 0; k < kk; k++) {
            const long ki = k / kw, kj = k % kw;
            const long off = kj * dw - pw;
            long lo, hi;
            valid_range(Wo, W, sw, off, &lo, &hi);
            const float *row = cols + (c * kk + k) * N * L;
            for (long n = n0; n < n1; n++) {
                float *dst = x + (cm ? c * N + n : n * C + c) * H * W;
                const float *src = row + n * L;
                for (long oy = 0; oy < Ho; oy++) {
                    const long iy = oy * sh - ph + ki * dh;
                    if (iy < 0 || iy >= H) continue;
                    float *d = dst + iy * W;
                    const float *s = src + oy * Wo;
                    if (sw == 1) {
                        for (long ox = lo; ox < hi; ox++) d[ox + off] += s[ox];
                    } else if (sw == 2) {
                        for (long ox = lo; ox < hi; ox++) d[2 * ox + off] += s[ox];
                    } else {
                        for (long ox = lo; ox < hi; ox++) d[ox * sw + off] += s[ox];
                    }
                }
            }
        }
    }
}
