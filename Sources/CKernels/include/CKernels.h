// CKernels: the few kernels that need per-function CPU targets (which Swift cannot express),
// chosen at run time by CPU feature so one binary runs on AVX-512, AVX2, baseline x86-64 and arm64.
// Everything else of the compute core is Swift.
#ifndef ORRERY_CKERNELS_H
#define ORRERY_CKERNELS_H
#include <stddef.h>
#include <stdint.h>

/// Name of the GEMM micro-kernel picked for this CPU ("avx512-8x32", "avx2-6x16", "generic-4x16").
const char *orr_gemm_kernel_name(void);

/// Forces a micro-kernel by name (tests compare them); returns 0 if that kernel is unavailable here.
int orr_gemm_force_kernel(const char *name);

/// Single-threaded strided SGEMM that accumulates:  C[M,N] += alpha * A[M,K] · B[K,N]
/// Element (i,k) of A lives at A[i*rsA + k*csA]; likewise B and C. Any strides (transposes, views).
/// Packs A and B into cache-sized panels (BLIS loop order) and runs the register-blocked micro-kernel.
void orr_sgemm_acc(long M, long N, long K, float alpha,
                   const float *A, long rsA, long csA,
                   const float *B, long rsB, long csB,
                   float *C, long rsC, long csC);
/// The same with overwrite: C = α·A·B when `overwrite` is non-zero (β = 0, no zeroing pass), else
/// C += α·A·B.
void orr_sgemm(long M, long N, long K, float alpha,
               const float *A, long rsA, long csA,
               const float *B, long rsB, long csB,
               float *C, long rsC, long csC, int overwrite);

/// An image tensor read as the batch-folded im2col matrix cols[C·kh·kw, N·Ho·Wo] of a convolution.
typedef struct {
    const float *x;
    long N, C, H, W, kh, kw, sh, sw, ph, pw, dh, dw, Ho, Wo;
    /// x is [C, N, H, W] instead of [N, C, H, W].
    int channelMajor;
} orr_conv_geometry;

/// C[M, N] (+)= α · A[M, K] · B, where B is columns n0 … n0+N of cols (K = C·kh·kw rows), or with
/// `transposed` columns n0 … of colsᵀ (K = N·Ho·Wo rows): implicit GEMM, cols is never formed.
void orr_sgemm_im2col(long M, long N, long K, float alpha, const float *A, long rsA, long csA,
                      const orr_conv_geometry *g, int transposed, long n0, float *C, long rsC, long csC,
                      int overwrite);

/// t [cols, rows] = transpose of a [rows, cols] (both row-major).
void orr_transpose(const float *a, long rows, long cols, float *t);
/// Columns c0 ..< c1 of a [rows, cols] (row-major) written as rows c0 ..< c1 of t [cols, rows].
void orr_transpose_columns(const float *a, long rows, long cols, long c0, long c1, float *t);

/// The GEMM's K block (rows of B per packed block).
#define ORR_GEMM_KC 256

/// A B operand stored pre-packed for the GEMM's micro-kernel (32-column panels, as sgemm packs them):
/// whether this CPU's kernel takes it, where element (row, col) of a [K, N] B goes, and the GEMM (Bp
/// 64-byte aligned).
int orr_sgemm_prepacked_available(void);
long orr_prepacked_offset(long row, long col, long K, long N);
/// Packs B [K, N] (any strides) into the layout orr_sgemm_prepacked reads (K·Npad floats, Npad = N
/// rounded up to 32; dst 64-byte aligned). Needs orr_sgemm_prepacked_available().
void orr_sgemm_pack_b(long K, long N, const float *B, long rsB, long csB, float *dst);
/// Packs only columns [n0, n1) of B (n0 a multiple of 32) into their panels of that layout, so that
/// workers can pack one B together.
void orr_sgemm_pack_b_columns(long K, long N, long n0, long n1, const float *B, long rsB, long csB, float *dst);
/// A range of work items [lo, hi) held in one word (hi << 32 | lo) that several workers take from:
/// one item from the front (back = 0, its owner) or the back (back = 1, a worker that ran out of its
/// own). Returns the item, or −1 when the range is empty.
long orr_range_take(uint64_t *range, int back);
/// C = α·A·B + (overwrite ? 0 : C) with B (K ≤ 256 rows) packed as 32-column panels `stride` floats
/// apart, panel j at Bp + j·stride, row k of a panel at +32·k: a sub-block of an orr_sgemm_pack_b
/// matrix (its first K rows, or its columns from a multiple of 32). Bp 64-byte aligned.
void orr_sgemm_panels(long M, long N, long K, float alpha, const float *A, long rsA, long csA, const float *Bp,
                      long stride, float *C, long rsC, long csC, int overwrite);
void orr_sgemm_prepacked(long M, long N, long K, float alpha, const float *A, long rsA, long csA, const float *Bp,
                         float *C, long rsC, long csC, int overwrite);

/// Whether this CPU runs the direct convolution kernel (AVX-512).
int orr_conv_direct_available(void);
/// C[M, N] = α·A[M, K] · cols[K, n0 … n0+N] read straight from a zero-padded image (planes of
/// (H + 2·ph) × (W + 2·pw); g->x points at the padded tensor): no packing. Needs g->sw == 1,
/// g->Wo % 16 == 0, row-major A (row stride lda) and C (row stride ldc). With nchwRows > 0 (and
/// Ho·Wo a multiple of 32), C is the base of an [N, nchwRows, Ho·Wo] tensor and this call's rows are
/// m0 … m0+M: the output is written in NCHW order directly.
void orr_sgemm_conv_direct(long M, long N, long K, float alpha, const float *A, long lda,
                           const orr_conv_geometry *g, long n0, float *C, long ldc, int overwrite,
                           long nchwRows, long m0);

/// A convolution's weight gradient, transposed: C[K, O] rows m0 … m0+M (C points at row m0, row
/// stride ldc) = cols[K, P] · dYᵀ, cols read straight from the zero-padded image as in
/// orr_sgemm_conv_direct (needs g->sw == 1; any Wo). dY element (o, n, l) is at
/// dy[n·nstride + o·ostride + l] (NCHW: O·L, L; channel-major: L, N·L).
void orr_conv_direct_wgrad(long M, long m0, long O, const float *dy, long nstride, long ostride,
                           const orr_conv_geometry *g, float *C, long ldc);

/// One Adam/AdamW step over n parameters (see math.c).
void orr_adam(float *p, const float *g, float *m, float *v, long n, float lr, float b1, float b2, float eps,
              float bc1, float bc2, float wd, int decoupled);

/// Per-thread grad-mode flag for autograd (thread-local; 1 = record operations).
int orr_grad_enabled(void);
void orr_set_grad_enabled(int on);

/// Vectorised transcendental maps over contiguous buffers (n elements). y may alias x.
void orr_vexp(const float *x, float *y, long n);
/// y = tanh(x), vectorised (relative error ~1e-6).
void orr_vtanh(const float *x, float *y, long n);
/// Row softmax over `rows` rows of length `n` (contiguous), in place allowed.
void orr_softmax_rows(const float *x, float *y, long rows, long n);
/// Row log-softmax; also writes the log-sum-exp of each row to lse (may be NULL).
void orr_logsoftmax_rows(const float *x, float *y, float *lse, long rows, long n);
/// Dot product and y += a*x for contiguous buffers.
float orr_sdot(const float *x, const float *y, long n);
void orr_saxpy(long n, float a, const float *x, float *y);

/// Attention score-tile helpers (and x ← v, x ← a·x, dp ← p ∘ (dp − d) on rows).
/// FlashAttention's online-softmax step for a [rows × cols] score tile (row stride ld): per row,
/// m' = max(m, row max), row = exp(row − m'), l = l·exp(m − m') + Σ row, acc row ·= exp(m − m')
/// (acc is [rows × d]); a row with m' = −∞ is zeroed and left as it was.
void orr_attention_softmax_tile(float *s, long ld, long rows, long cols, float *m, float *l, float *acc, long d);
/// Backward's probabilities: row = exp(row − lse[r]), or 0 where lse[r] = −∞.
void orr_attention_exp_tile(float *s, long ld, long rows, long cols, const float *lse);
/// The end of FlashAttention's forward for a tile of rows: out row r (row stride osn) = acc row / l[r]
/// (0 where l[r] = 0), lse[r] = m[r] + log l[r] (−∞ where l[r] = 0).
void orr_attention_finish(const float *acc, long d, long rows, const float *m, const float *l, float *out, long osn,
                          float *lse);
/// x[0..<n] = v (short rows: no libc call per row).
void orr_fill(float *x, long n, float v);
void orr_prefetch_rows(const float *p, long r0, long r1, long stride, long n, int write);
void orr_scale(float *x, long n, float a);
void orr_softmax_grad_row(const float *p, float *dp, long n, float d);

/// RoPE ("rotate half") on tokens [t0, t1) of x [B, T, H, d] (element strides xsB, xsT, xsH; d = 2·half
/// contiguous) into y (strides ysB, ysT, ysH; y may be x): for i < half, (x_i, x_{i+half}) rotated by
/// the angle whose cos and sin are cosT/sinT[pos[t]·half + i], times `sign` (−1: the inverse rotation).
/// Products and sums are not fused: the same bits as the scalar definition.
void orr_rope(const float *x, long xsB, long xsT, long xsH, float *y, long ysB, long ysT, long ysH, long t0,
              long t1, long T, long H, long half, const float *cosT, const float *sinT, const long *pos, float sign);

/// Fused recurrent cells (rows with the given row strides; outputs contiguous): LSTM gates [rows, 4H]
/// (i f g o) and c → (h | c') [rows, 2H]; GRU projected input xg and hidden hg [rows, 3H] (r z n) and h
/// → h' [rows, H]; and their backward passes.
void orr_lstm_cell(const float *gates, long gs, const float *c, long cs, float *out, long rows, long H);
void orr_lstm_cell_backward(const float *gates, long gs, const float *c, long cs, const float *gout, float *dgates,
                            float *dc, long rows, long H);
void orr_gru_cell(const float *xg, long xs, const float *hg, long hgs, const float *h, long hs, float *out,
                  long rows, long H);
void orr_gru_cell_backward(const float *xg, long xs, const float *hg, long hgs, const float *h, long hs,
                           const float *gout, float *dxg, float *dhg, float *dh, long rows, long H);

/// SiLU x·σ(x) and its backward (contiguous buffers).
void orr_silu(const float *x, float *y, long n);
void orr_silu_backward(const float *x, const float *g, float *dx, long n);
/// SwiGLU's gate fused: y = silu(g)·u, and its backward (dg and du both written).
void orr_swiglu(const float *g, const float *u, float *y, long n);
void orr_swiglu_backward(const float *g, const float *u, const float *dy, float *dg, float *du, long n);
/// The same over the (gate | up) halves of each row of x [rows, 2f] (row stride ldx), into y [rows, f];
/// the backward writes (dgate | dup) into dx (row stride ldx) from dy [rows, f].
void orr_swiglu_halves(const float *x, long ldx, long f, float *y, long rows);
void orr_swiglu_halves_backward(const float *x, long ldx, long f, const float *dy, float *dx, long rows);
/// The backward in place: row r's dy [f] is read from dx's up half (dx + r·ldx + f) and overwritten.
void orr_swiglu_halves_backward_inplace(const float *x, long ldx, long f, float *dx, long rows);

/// Keeps freed large blocks in the heap (glibc): tensors of the next step reuse mapped pages.
void orr_tune_allocator(void);

/// IEEE half and bfloat16 conversions (round to nearest even, NaN/Inf preserved).
void orr_f32_to_f16(const float *x, uint16_t *y, long n);
void orr_f16_to_f32(const uint16_t *x, float *y, long n);
void orr_f32_to_bf16(const float *x, uint16_t *y, long n);
void orr_bf16_to_f32(const uint16_t *x, float *y, long n);

/// Batch-folded im2col over jobs [job0, job1) of C·blocks (a channel and a range of images);
/// g = {kh, kw, sh, sw, ph, pw, dh, dw}; cm: x is channel-major [C, N, H, W] rather than [N, C, H, W].
void orr_im2col_folded(const float *x, long N, long C, long H, long W, const long *g, float pad, float *cols,
                       long blocks, long job0, long job1, int cm);
/// Its adjoint over jobs [job0, job1) of C·blocks (a channel and a range of images); those planes of x
/// are overwritten.
void orr_col2im_folded(const float *cols, long N, long C, long H, long W, const long *g, float *x, long blocks,
                       long job0, long job1, int cm);
/// im2col of images n0 … n1 straight into the GEMM's packed B layout (orr_sgemm_prepacked, with
/// N = (n1 − n0)·Ho·Wo); returns 0 (writing nothing) where the small-map kernel does not apply.
int orr_im2col_images_packed(const float *x, long N, long C, long H, long W, const long *g, float pad, float *cols,
                             long n0, long n1, int cm);

/// im2col / col2im of images n0 … n1 only (cols [C·kh·kw, (n1 − n0)·Ho·Wo]), on the calling thread.
void orr_im2col_images(const float *x, long N, long C, long H, long W, const long *g, float pad, float *cols,
                       long n0, long n1, int cm);
void orr_col2im_images(const float *cols, long N, long C, long H, long W, const long *g, float *x, long n0,
                       long n1, int cm);

// ---- GGML block-quantised weights (quant.c); type numbers are GGUF's ----
enum {
    ORR_Q_F32 = 0, ORR_Q_F16 = 1, ORR_Q_Q4_0 = 2, ORR_Q_Q4_1 = 3, ORR_Q_Q8_0 = 8, ORR_Q_Q8_1 = 9,
    ORR_Q_Q4_K = 12, ORR_Q_Q5_K = 13, ORR_Q_Q6_K = 14, ORR_Q_Q8_K = 15, ORR_Q_BF16 = 30
};
/// n values of a row of `type` (n a multiple of its block size) → float32.
void orr_dequantize(int type, const void *src, float *y, long n);
/// n float32 activations → Q8_0, Q8_1 or Q8_K blocks (llama.cpp's per-block absmax rounding).
void orr_quantize_act(int type, const float *x, void *dst, long n);
/// One weight row · one activation row (quantised to the weight type's activation type; float32 for
/// float weights). `portable`: the reference loops instead of the SIMD ones.
float orr_quant_dot(int type, const void *w, const void *act, long n, int portable);
/// y[t·ldy + r] = W row r · activation t for r in [r0, r1), t in [0, T).
void orr_quant_matmul(int type, const void *W, long rowBytes, long n, long r0, long r1, const void *act,
                      long actStride, long T, float *y, long ldy);
/// The SIMD level used (0 portable, 1 AVX2, 2 AVX-512 VNNI), capped at `level` (negative: the best).
int orr_quant_set_level(int level);
const char *orr_quant_kernel_name(void);
float orr_half_to_float(uint16_t h);
/// x rounded to the nearest float16 value, in place (llama.cpp keeps its KV cache in float16).
void orr_round_to_half(float *x, long n);
/// Four-row interleaved copies of Q4_1, Q4_0 and Q8_0 matrices (bit-identical results, faster):
/// the copy's size (0: type not repacked), the copy, whether its kernels run on this CPU, and the
/// product over row groups [g0, g1).
long orr_repack_x4_bytes(int type, long rows, long n);
void orr_repack_x4(int type, const void *src, long rowBytes, long rows, long n, void *dst);
int orr_repack_x4_available(void);
void orr_quant_matmul_x4(int type, const void *W, long rows, long n, long g0, long g1, const void *act,
                         long actStride, long T, float *y, long ldy);
/// Machine limits (orrery bench peak): an FMA loop on the widest unit (returns FLOPs; *unit names it),
/// a read stream and STREAM's triad.
double orr_fma_loop(long iters, const char **unit);
double orr_read_stream(const float *x, long n);
void orr_triad(float *a, const float *b, const float *c, float s, long n);
/// Causal attention of T new queries (jobs [job0, job1) of T·H) over a key/value cache; see quant.c.
void orr_attend(const float *q, const float *K, const float *V, long T, long H, long group, long hd, long kvw,
                long p0, float scale, int half, float *out, float *last, float *scores, long job0, long job1);

/// A parallel region on the spinning worker team: fn(ctx, i, count) for i in 0 ..< count, i = 0 on
/// the calling thread. Workers spin between regions (no wake-up system call for short regions).
typedef void (*orr_team_fn)(void *ctx, int index, int count);
void orr_team_run(int count, orr_team_fn fn, void *ctx);
/// The same, unless another region holds the team: then it returns 0 at once and runs nothing (the
/// caller goes elsewhere; nothing ever waits for the team, so regions cannot deadlock).
int orr_team_try_run(int count, orr_team_fn fn, void *ctx);
/// Step-profiler counters: while on, the thread that switched them on adds the time it waits at the
/// end of each of its regions for the workers (and counts the regions).
typedef struct {
    uint64_t wait_ns;
    uint64_t regions;
} orr_team_profile_t;
void orr_team_set_profiling(int on);
void orr_team_profile_reset(void);
uint64_t orr_team_profile_wait_ns(void);
void orr_team_profile_read(orr_team_profile_t *out);


/// GroupNorm of one group (cg channels × S positions, contiguous) with a fused activation (act 0
/// identity, 1 SiLU, 2 LeakyReLU with `slope`): y = act((x − μ)·rstd·w + b); μ and rstd written out.
/// w and b may be NULL (1 and 0). See norm.c.
void orr_groupnorm_forward(const float *x, float *y, long cg, long S, const float *w, const float *b, float eps,
                           int act, float slope, float *mean, float *rstd);
/// LayerNorm (rms 0) or RMSNorm (rms 1) over `rows` rows of C: y, and each row's mean and rstd.
void orr_norm_rows_forward(const float *x, float *y, long rows, long C, const float *w, const float *b, float eps,
                           int rms, float *mean, float *rstd);
/// Its backward: dx (overwritten, plus `add` where that is not NULL: another gradient of x); dw and db
/// (may be NULL) accumulate these rows' sums.
void orr_norm_rows_backward(const float *dy, const float *x, const float *add, long rows, long C, const float *w,
                            int rms, const float *mean, const float *rstd, float *dx, float *dw, float *db);
/// Its backward for the same group: dx, and per channel dw = Σ g·x̂, db = Σ g (g the gradient at the
/// pre-activation; dw/db may be NULL).
void orr_groupnorm_backward(const float *dy, const float *x, long cg, long S, const float *w, const float *b,
                            int act, float slope, float mu, float rs, float *dx, float *dw, float *db);

#endif
