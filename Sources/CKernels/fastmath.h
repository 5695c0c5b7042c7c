// Branch-free scalar maths shared by the vectorised C kernels (math.c, norm.c): written so that
// loops calling it auto-vectorise under each target_clones ISA.
#ifndef ORR_FASTMATH_H
#define ORR_FASTMATH_H
#include <math.h>
#include <stdint.h>
#include <string.h>

static inline float bits_to_float(int32_t b) { float f; memcpy(&f, &b, 4); return f; }

// exp(x) to ~1 ulp over the float range (Cephes expf polynomial), branch-free so it vectorises.
// Underflow gives 0, overflow +inf, NaN stays NaN.
static inline float exp_fast(float x) {
    float xc = x < -87.33654f ? -87.33654f : (x > 88.3762626f ? 88.3762626f : x);
    float t = xc * 1.44269504088896341f;
    float n = (t + 12582912.0f) - 12582912.0f;  // round to nearest
    float r = xc - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    float y = p * r * r + r + 1.0f;
    int32_t e = ((int32_t)n + 127) << 23;
    y = y * bits_to_float(e);
    y = x < -87.33654f ? 0.0f : y;
    y = x > 88.72283f ? INFINITY : y;
    return x != x ? x : y;
}

#endif
