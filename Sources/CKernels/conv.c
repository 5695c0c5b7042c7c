// im2col / col2im for batch-folded convolution (cols [C·kh·kw, N·Ho·Wo]), in C so the inner loops
// compile to tight (vectorised where unit-stride) code; the Swift side splits the jobs over threads.
// `cm`: the image tensor is channel-major [C, N, H, W] (plane (n, c) at c·N + n) instead of NCHW.
#include "CKernels.h"
#include <string.h>

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


#if defined(__x86_64__)
#include <immintrin.h>
#endif

static int have_avx512(void) {
#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
    static int cached = -1;
    if (cached < 0) cached = __builtin_cpu_supports("avx512f") ? 1 : 0;
    return cached;
#else
    return 0;
#endif
}

// The general loops of orr_im2col_folded and orr_col2im_folded (documented there), over images
// nlo … nhi of a cols matrix that holds just those images.
static void im2col_plain(const float *restrict x, long N, long C, long H, long W, const long *g, float pad,
                         float *restrict cols, long blocks, long job0, long job1, int cm, long nlo, long nhi) {
    const long kh = g[0], kw = g[1], sh = g[2], sw = g[3], ph = g[4], pw = g[5], dh = g[6], dw = g[7];
    const long Ho = (H + 2 * ph - dh * (kh - 1) - 1) / sh + 1, Wo = (W + 2 * pw - dw * (kw - 1) - 1) / sw + 1;
    const long L = Ho * Wo, kk = kh * kw;
    long los[kk], his[kk];
    for (long k = 0; k < kk; k++) valid_range(Wo, W, sw, (k % kw) * dw - pw, &los[k], &his[k]);
    for (long job = job0; job < job1; job++) {
        const long c = job / blocks, b = job % blocks;
        const long n0 = nlo + (nhi - nlo) * b / blocks, n1 = nlo + (nhi - nlo) * (b + 1) / blocks;
        if (L == 1) {
            for (long k = 0; k < kk; k++) {
                const long iy = -ph + (k / kw) * dh, ix = (k % kw) * dw - pw;
                const int inside = iy >= 0 && iy < H && ix >= 0 && ix < W;
                float *row = cols + (c * kk + k) * (nhi - nlo);
                for (long n = n0; n < n1; n++) {
                    const float *src = x + (cm ? c * N + n : n * C + c) * H * W;
                    row[n - nlo] = inside ? src[iy * W + ix] : pad;
                }
            }
            continue;
        }
        for (long n = n0; n < n1; n++) {
            const float *src = x + (cm ? c * N + n : n * C + c) * H * W;
            for (long k = 0; k < kk; k++) {
                const long ki = k / kw, off = (k % kw) * dw - pw, lo = los[k], hi = his[k];
                float *dst = cols + (c * kk + k) * (nhi - nlo) * L + (n - nlo) * L;
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

static void col2im_plain(const float *restrict cols, long N, long C, long H, long W, const long *g,
                         float *restrict x, long blocks, long job0, long job1, int cm, long nlo, long nhi) {
    const long kh = g[0], kw = g[1], sh = g[2], sw = g[3], ph = g[4], pw = g[5], dh = g[6], dw = g[7];
    const long Ho = (H + 2 * ph - dh * (kh - 1) - 1) / sh + 1, Wo = (W + 2 * pw - dw * (kw - 1) - 1) / sw + 1;
    const long L = Ho * Wo, kk = kh * kw;
    for (long job = job0; job < job1; job++) {
        const long c = job / blocks, b = job % blocks;
        const long n0 = nlo + (nhi - nlo) * b / blocks, n1 = nlo + (nhi - nlo) * (b + 1) / blocks;
        for (long n = n0; n < n1; n++) {
            float *dst = x + (cm ? c * N + n : n * C + c) * H * W;
            for (long i = 0; i < H * W; i++) dst[i] = 0;
        }
        for (long k = 0; k < kk; k++) {
            const long ki = k / kw, kj = k % kw;
            const long off = kj * dw - pw;
            long lo, hi;
            valid_range(Wo, W, sw, off, &lo, &hi);
            const float *row = cols + (c * kk + k) * (nhi - nlo) * L;
            for (long n = n0; n < n1; n++) {
                float *dst = x + (cm ? c * N + n : n * C + c) * H * W;
                const float *src = row + (n - nlo) * L;
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

#if defined(__x86_64__)
// Small maps (output rows ≤ 16 wide, stride 1 or 2 along the width, padded input rows ≤ 48 floats,
// at most 64 input rows, kernels ≤ 16 × 16, dilation 1): a DCGAN's 32×32 … 4×4 layers. Row by row,
// 4- and 8-float output rows cost more in loop set-up (and, with (ki, oy) worked out from iy, in
// integer divisions) than in copying. Here every mask and permutation is worked out once per call:
// im2col extracts an output row of one tap with one or two masked loads straight from the input
// row (out-of-image lanes read `pad`) and a permute for stride 2; col2im sums, for each input row,
// the contributions of every tap into three registers (the padded row, 48 lanes) by masked
// permutes, and stores the row once (no zeroing pass, no read-modify-write through memory, whose
// overlapping unaligned stores and loads defeat store forwarding).
static int small_map(long H, long W, const long *g) {
    const long kh = g[0], kw = g[1], sw = g[3], ph = g[4], pw = g[5], dh = g[6], dw = g[7];
    const long Wo = (W + 2 * pw - (kw - 1) - 1) / sw + 1, Ho = (H + 2 * ph - (kh - 1) - 1) / g[2] + 1;
    // A window covering the map (one output per image) has its own path in the general kernels.
    return dh == 1 && dw == 1 && (sw == 1 || sw == 2) && Wo >= 1 && Wo <= 16 && Ho * Wo > 1 && kw <= 16 && kh <= 16 &&
           H <= 64 && W + 2 * pw + kw <= 48 && pw >= 0 && ph >= 0;
}

__attribute__((target("avx512f"))) static inline __mmask16 lanes_between(long lo, long hi) {
    // Lanes i (0 … 15) with lo ≤ i < hi.
    unsigned m = 0;
    for (long i = 0; i < 16; i++)
        if (i >= lo && i < hi) m |= 1u << i;
    return (__mmask16)m;
}

__attribute__((target("avx512f")))
static void im2col_small_avx512(const float *restrict x, long N, long C, long H, long W, const long *g, float pad,
                                float *restrict cols, long blocks, long job0, long job1, int cm, long nlo, long nhi,
                                int packed) {
    const long kh = g[0], kw = g[1], sh = g[2], sw = g[3], ph = g[4], pw = g[5];
    const long Ho = (H + 2 * ph - (kh - 1) - 1) / sh + 1, Wo = (W + 2 * pw - (kw - 1) - 1) / sw + 1;
    const long L = Ho * Wo, kk = kh * kw, CN = nhi - nlo;
    const __mmask16 om = lanes_between(0, Wo);
    const __m512 padv = _mm512_set1_ps(pad);
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    // Tap kj reads input columns kj − pw + ox·sw: lanes of the loads at kj − pw (and + 16).
    __mmask16 ma[16], mb[16];
    for (long kj = 0; kj < kw; kj++) {
        ma[kj] = lanes_between(pw - kj, W + pw - kj);
        mb[kj] = lanes_between(pw - kj - 16, W + pw - kj - 16);
    }
    for (long job = job0; job < job1; job++) {
        const long c = job / blocks, b = job % blocks;
        const long n0 = nlo + (nhi - nlo) * b / blocks, n1 = nlo + (nhi - nlo) * (b + 1) / blocks;
        // Row (c, k) of the output: plainly at c·kk·CN·L + k·CN·L; packed (a [C·kk, CN·L] GEMM operand
        // in 32-column panels, Wo dividing 32) at rbase[k] + (p / 32)·rkc[k] + p % 32 for column p.
        long rbase[256], rkc[256];
        for (long k = 0; k < kk; k++) {
            if (packed) {
                const long r = c * kk + k, K = C * kk, Npad = (CN * L + 31) / 32 * 32;
                const long pc = r / ORR_GEMM_KC * ORR_GEMM_KC, kc = K - pc < ORR_GEMM_KC ? K - pc : ORR_GEMM_KC;
                rbase[k] = pc * Npad + (r - pc) * 32;
                rkc[k] = kc * 32;
            } else {
                rbase[k] = (c * kk + k) * CN * L;
                rkc[k] = 0;
            }
        }
        for (long n = n0; n < n1; n++) {
            const float *src = x + (cm ? c * N + n : n * C + c) * H * W;
            for (long ki = 0; ki < kh; ki++) {
                for (long oy = 0; oy < Ho; oy++) {
                    const long iy = oy * sh - ph + ki, p = (n - nlo) * L + oy * Wo;
                    const long pa = packed ? (p >> 5) : 0, pb = packed ? (p & 31) : p;
                    if (iy < 0 || iy >= H) {
                        for (long kj = 0; kj < kw; kj++) {
                            const long k = ki * kw + kj;
                            _mm512_mask_storeu_ps(cols + rbase[k] + pa * rkc[k] + pb, om, padv);
                        }
                        continue;
                    }
                    const float *row = src + iy * W - pw;
                    for (long kj = 0; kj < kw; kj++) {
                        const long k = ki * kw + kj;
                        __m512 v = _mm512_mask_loadu_ps(padv, ma[kj], row + kj);
                        if (sw == 2)
                            v = _mm512_permutex2var_ps(v, even, _mm512_mask_loadu_ps(padv, mb[kj], row + kj + 16));
                        _mm512_mask_storeu_ps(cols + rbase[k] + pa * rkc[k] + pb, om, v);
                    }
                }
            }
        }
    }
}

__attribute__((target("avx512f")))
static void col2im_small_avx512(const float *restrict cols, long N, long C, long H, long W, const long *g,
                                float *restrict x, long blocks, long job0, long job1, int cm, long nlo, long nhi) {
    const long kh = g[0], kw = g[1], sh = g[2], sw = g[3], ph = g[4], pw = g[5];
    const long Ho = (H + 2 * ph - (kh - 1) - 1) / sh + 1, Wo = (W + 2 * pw - (kw - 1) - 1) / sw + 1;
    const long L = Ho * Wo, kk = kh * kw, CN = nhi - nlo;
    const __mmask16 om = lanes_between(0, Wo);
    // Padded lane i = 16p + l receives tap kj's value v[(i − kj)/sw] when i − kj ≥ 0 is a multiple of sw.
    __m512i idx[16][3];
    __mmask16 msk[16][3];
    for (long kj = 0; kj < kw; kj++)
        for (int p = 0; p < 3; p++) {
            int id[16];
            unsigned m = 0;
            for (int l = 0; l < 16; l++) {
                const long t = 16 * p + l - kj;
                id[l] = 0;
                if (t >= 0 && t % sw == 0 && t / sw < 16) { id[l] = (int)(t / sw); m |= 1u << l; }
            }
            idx[kj][p] = _mm512_loadu_si512(id);
            msk[kj][p] = (__mmask16)m;
        }
    // Image columns 16j … 16j + 15 are padded lanes pw + 16j …: a permute of registers q, q + 1.
    __m512i sidx[3];
    __mmask16 smask[3];
    long sreg[3];
    for (int j = 0; j < 3; j++) {
        const long first = pw + 16 * j;
        sreg[j] = first / 16;
        sidx[j] = _mm512_add_epi32(_mm512_set1_epi32((int)(first % 16)),
                                   _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
        smask[j] = lanes_between(0, W - 16 * j);
    }
    // For each input row, the (ki, oy) pairs that read it.
    unsigned char cnt[64] = {0}, tki[64][16], toy[64][16];
    for (long ki = 0; ki < kh; ki++)
        for (long oy = 0; oy < Ho; oy++) {
            const long iy = oy * sh - ph + ki;
            if (iy < 0 || iy >= H) continue;
            tki[iy][cnt[iy]] = (unsigned char)ki;
            toy[iy][cnt[iy]] = (unsigned char)oy;
            cnt[iy]++;
        }
    const __m512 zero = _mm512_setzero_ps();
    const int parts = (int)((W + 2 * pw + 15) / 16);
    for (long job = job0; job < job1; job++) {
        const long c = job / blocks, b = job % blocks;
        const long n0 = nlo + (nhi - nlo) * b / blocks, n1 = nlo + (nhi - nlo) * (b + 1) / blocks;
        for (long n = n0; n < n1; n++) {
            float *dst = x + (cm ? c * N + n : n * C + c) * H * W;
            const float *base = cols + c * kk * CN * L + (n - nlo) * L;
            for (long iy = 0; iy < H; iy++) {
                __m512 a0 = zero, a1 = zero, a2 = zero;
                for (long kj = 0; kj < kw; kj++) {
                    __m512 v = zero;
                    for (int e = 0; e < cnt[iy]; e++)
                        v = _mm512_add_ps(
                            v, _mm512_maskz_loadu_ps(om, base + (tki[iy][e] * kw + kj) * CN * L + toy[iy][e] * Wo));
                    a0 = _mm512_add_ps(a0, _mm512_maskz_permutexvar_ps(msk[kj][0], idx[kj][0], v));
                    if (parts > 1) a1 = _mm512_add_ps(a1, _mm512_maskz_permutexvar_ps(msk[kj][1], idx[kj][1], v));
                    if (parts > 2) a2 = _mm512_add_ps(a2, _mm512_maskz_permutexvar_ps(msk[kj][2], idx[kj][2], v));
                }
                const __m512 r[4] = {a0, a1, a2, zero};
                float *out = dst + iy * W;
                for (long j = 0; j * 16 < W; j++)
                    _mm512_mask_storeu_ps(out + 16 * j, smask[j], _mm512_permutex2var_ps(r[sreg[j]], sidx[j], r[sreg[j] + 1]));
            }
        }
    }
}
#endif

// col2im of a window that covers the map (one output per image): every tap lands on its own
// pixel, so it is a transposition of cols [C·kh·kw, N] into the planes (pixels outside every
// window are zero), done per (channel, image) without the row machinery.
static int col2im_single(const float *restrict cols, long N, long C, long H, long W, const long *g,
                         float *restrict x, long blocks, long job0, long job1, int cm, long nlo, long nhi) {
    const long kh = g[0], kw = g[1], sh = g[2], sw = g[3], ph = g[4], pw = g[5], dh = g[6], dw = g[7];
    const long Ho = (H + 2 * ph - dh * (kh - 1) - 1) / sh + 1, Wo = (W + 2 * pw - dw * (kw - 1) - 1) / sw + 1;
    if (Ho * Wo != 1) return 0;
    const long kk = kh * kw, CN = nhi - nlo;
    for (long job = job0; job < job1; job++) {
        const long c = job / blocks, b = job % blocks;
        const long n0 = nlo + (nhi - nlo) * b / blocks, n1 = nlo + (nhi - nlo) * (b + 1) / blocks;
        for (long n = n0; n < n1; n++) memset(x + (cm ? c * N + n : n * C + c) * H * W, 0, sizeof(float) * (size_t)(H * W));
        for (long k = 0; k < kk; k++) {  // row k of cols is read in order
            const long iy = (k / kw) * dh - ph, ix = (k % kw) * dw - pw;
            if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
            const float *row = cols + (c * kk + k) * CN - nlo;
            for (long n = n0; n < n1; n++) x[(cm ? c * N + n : n * C + c) * H * W + iy * W + ix] += row[n];
        }
    }
    return 1;
}

// Jobs are a channel and one of `blocks` ranges of images, as in col2im: the per-row bounds are worked
// out once per job, and each image plane is read while it is in L1. (One job per row and image was
// dominated by its own set-up on small maps: a 4 × 4 map's whole-window row is one float per job.)
// One row of a job whose window covers the map (L == 1) writes one tap per image in order.
void orr_im2col_folded(const float *restrict x, long N, long C, long H, long W, const long *g, float pad,
                       float *restrict cols, long blocks, long job0, long job1, int cm) {
#if defined(__x86_64__)
    if (have_avx512() && small_map(H, W, g)) {
        im2col_small_avx512(x, N, C, H, W, g, pad, cols, blocks, job0, job1, cm, 0, N, 0);
        return;
    }
#endif
    im2col_plain(x, N, C, H, W, g, pad, cols, blocks, job0, job1, cm, 0, N);
}

// Jobs are channels: for each of its kh·kw rows, a job streams through the row's N column blocks in
// order (one sequential read of N·Ho·Wo floats) and adds each into its image's plane. Reading the kk
// rows of one image at a time instead (N·L floats apart, a power of two) thrashed L1's sets.
// A job is a channel and one of `blocks` ranges of images (enough jobs for every thread even when C
// is 3).
void orr_col2im_folded(const float *restrict cols, long N, long C, long H, long W, const long *g,
                       float *restrict x, long blocks, long job0, long job1, int cm) {
    if (col2im_single(cols, N, C, H, W, g, x, blocks, job0, job1, cm, 0, N)) return;
#if defined(__x86_64__)
    if (have_avx512() && small_map(H, W, g)) {
        col2im_small_avx512(cols, N, C, H, W, g, x, blocks, job0, job1, cm, 0, N);
        return;
    }
#endif
    col2im_plain(cols, N, C, H, W, g, x, blocks, job0, job1, cm, 0, N);
}

// Images n0 … n1 only, on the calling thread: cols is [C·kh·kw, (n1 − n0)·Ho·Wo] (a block of the
// batch small enough to stay in cache while a GEMM consumes or produces it).
void orr_im2col_images(const float *x, long N, long C, long H, long W, const long *g, float pad, float *cols,
                       long n0, long n1, int cm) {
#if defined(__x86_64__)
    if (have_avx512() && small_map(H, W, g)) {
        im2col_small_avx512(x, N, C, H, W, g, pad, cols, 1, 0, C, cm, n0, n1, 0);
        return;
    }
#endif
    im2col_plain(x, N, C, H, W, g, pad, cols, 1, 0, C, cm, n0, n1);
}

void orr_col2im_images(const float *cols, long N, long C, long H, long W, const long *g, float *x, long n0,
                       long n1, int cm) {
    if (col2im_single(cols, N, C, H, W, g, x, 1, 0, C, cm, n0, n1)) return;
#if defined(__x86_64__)
    if (have_avx512() && small_map(H, W, g)) {
        col2im_small_avx512(cols, N, C, H, W, g, x, 1, 0, C, cm, n0, n1);
        return;
    }
#endif
    col2im_plain(cols, N, C, H, W, g, x, 1, 0, C, cm, n0, n1);
}

int orr_im2col_images_packed(const float *x, long N, long C, long H, long W, const long *g, float pad, float *cols,
                             long n0, long n1, int cm) {
#if defined(__x86_64__)
    const long kh = g[0], kw = g[1], sh = g[2], sw = g[3], ph = g[4], pw = g[5];
    const long Ho = (H + 2 * ph - (kh - 1) - 1) / sh + 1, Wo = (W + 2 * pw - (kw - 1) - 1) / sw + 1;
    if (!have_avx512() || !small_map(H, W, g) || 32 % Wo != 0 || kh * kw > 256 || !orr_sgemm_prepacked_available())
        return 0;
    im2col_small_avx512(x, N, C, H, W, g, pad, cols, 1, 0, C, cm, n0, n1, 1);
    // Columns past the last image in the last panel are zero (the GEMM multiplies them too).
    const long P = (n1 - n0) * Ho * Wo, K = C * kh * kw;
    if (P % 32 != 0)
        for (long r = 0; r < K; r++) {
            const long off = orr_prepacked_offset(r, P, K, P);
            memset(cols + off, 0, sizeof(float) * (size_t)(32 - P % 32));
        }
    return 1;
#else
    (void)x; (void)N; (void)C; (void)H; (void)W; (void)g; (void)pad; (void)cols; (void)n0; (void)n1; (void)cm;
    return 0;
#endif
}
