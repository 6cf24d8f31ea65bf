/* The float32 ReLU step of stacked shallow runs in one call of two fused passes (AVX-512), for _relu_kernel.py.
 *
 * Run r (rows r*m .. r*m+m-1 of W, R*m x d) with inputs XT (d x npad, x / sqrt(d) transposed, zero columns past n)
 * and node factors c_j = u_j sqrt(lambda_j) mask_j:
 *
 *   pass 1:  Z_j = W_j XT,  bits_j = 1{Z_j > 0},  f = sum_j c_j max(Z_j, 0)
 *   then:    e = f - y,  loss = mean_n e_n^2,  X = diag(2 e / n) x / sqrt(d)   (n x dpad)
 *   pass 2:  dL/dW_j = c_j sum_{n : bits_jn} X_n   (stored, or the GD step W_j <- W_j - lr dL/dW_j taken in place)
 *
 * Pass 1 never stores Z: each 3 x 112 tile of Z lives in registers and leaves one bit per entry and its share of
 * f.  Pass 2 is a product with the bits as its left factor, bit_jn X_n summed over n, for tiles of six rows: three
 * rows add X_n under a lane mask (the CPU's adders), three multiply-add it by 0.0 or 1.0 (its multiply-adders),
 * so the two kinds of unit work side by side (measured: 0.78 ms for the E1 shapes, against 1.06 ms with
 * multiply-adds alone and 0.92 ms adding only the rows whose bit is set, which loses on branches).
 *
 * The runs go one after the other, and each thread takes the same rows of a run in both passes, so the run's rows
 * of W (400 kB for m = 2000, d = 50), its bits and X are still in that core's cache when pass 2 reads them: W
 * comes from memory once a step, not twice.  One barrier per run separates the passes.
 *
 * Every sum runs in an order fixed by the shapes, whatever the thread count: f over fixed shares of SHARE rows,
 * then over the shares in order (each thread forms the same sum); each gradient row over n in increasing order.
 * So one and several threads give the same bits.
 *
 * max(0, z) is written _mm512_max_ps(zero, z), which returns z when z is NaN: a non-finite run keeps a
 * non-finite f (and so a non-finite loss), as the unfused path does.
 */
#include <immintrin.h>
#include <math.h>
#include <omp.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define SHARE 12 /* rows per share of f: a multiple of pass 1's 3-row and pass 2's 6-row tiles */
#define NV_MAX 7 /* 16-float vectors of Z per tile row: 3 x 7 accumulators + 7 inputs + 1 weight = 29 registers */
#define NK_MAX 4 /* 16-float vectors of a gradient row per sweep over n: 6 x 4 accumulators + 4 inputs */

#define UNROLL _Pragma("GCC unroll 8")

typedef void (*tile1_fn)(const float *, int, const float *, int, const float *, float *, uint16_t *, int);

#define DEF_TILE1(RT, NV)                                                                                        \
    static void tile1_##RT##_##NV(const float *W, int d, const float *XT, int ldx, const float *c, float *f,    \
                                  uint16_t *bits, int ldb) {                                                     \
        __m512 acc[RT][NV];                                                                                      \
        UNROLL for (int i = 0; i < RT; i++) UNROLL for (int v = 0; v < NV; v++) acc[i][v] = _mm512_setzero_ps(); \
        for (int k = 0; k < d; k++) {                                                                            \
            __m512 x[NV];                                                                                        \
            UNROLL for (int v = 0; v < NV; v++) x[v] = _mm512_loadu_ps(XT + (size_t)k * ldx + 16 * v);           \
            UNROLL for (int i = 0; i < RT; i++) {                                                                \
                const __m512 w = _mm512_set1_ps(W[(size_t)i * d + k]);                                           \
                UNROLL for (int v = 0; v < NV; v++) acc[i][v] = _mm512_fmadd_ps(w, x[v], acc[i][v]);             \
            }                                                                                                    \
        }                                                                                                        \
        const __m512 zero = _mm512_setzero_ps();                                                                 \
        UNROLL for (int v = 0; v < NV; v++) {                                                                    \
            __m512 s = _mm512_loadu_ps(f + 16 * v);                                                              \
            UNROLL for (int i = 0; i < RT; i++) {                                                                \
                bits[(size_t)i * ldb + v] = (uint16_t)_mm512_cmp_ps_mask(acc[i][v], zero, _CMP_GT_OQ);           \
                s = _mm512_fmadd_ps(_mm512_set1_ps(c[i]), _mm512_max_ps(zero, acc[i][v]), s);                    \
            }                                                                                                    \
            _mm512_storeu_ps(f + 16 * v, s);                                                                     \
        }                                                                                                        \
    }

#define DEF_TILE1_ALL(RT)                                                                                    \
    DEF_TILE1(RT, 1) DEF_TILE1(RT, 2) DEF_TILE1(RT, 3) DEF_TILE1(RT, 4) DEF_TILE1(RT, 5) DEF_TILE1(RT, 6) \
    DEF_TILE1(RT, 7)
DEF_TILE1_ALL(1)
DEF_TILE1_ALL(3)

static const tile1_fn TILE1_1[NV_MAX + 1] = {0, tile1_1_1, tile1_1_2, tile1_1_3, tile1_1_4, tile1_1_5, tile1_1_6,
                                             tile1_1_7};
static const tile1_fn TILE1_3[NV_MAX + 1] = {0, tile1_3_1, tile1_3_2, tile1_3_3, tile1_3_4, tile1_3_5, tile1_3_6,
                                             tile1_3_7};

/* Pass 1 over rows j0 .. j1 - 1 of one run (W, c and bits at the run's row 0; j0 a multiple of SHARE): the bits, and
 * f's share of each SHARE rows into fpart (share s at fpart + s * npad). */
static void forward_rows(const float *W, int d, const float *XT, int npad, const float *c, float *fpart,
                         uint16_t *bits, int j0, int j1) {
    const int nvt = npad / 16;
    for (int s0 = j0; s0 < j1; s0 += SHARE) {
        const int s1 = s0 + SHARE < j1 ? s0 + SHARE : j1;
        float *fp = fpart + (size_t)(s0 / SHARE) * npad;
        memset(fp, 0, sizeof(float) * (size_t)npad);
        for (int v0 = 0; v0 < nvt; v0 += NV_MAX) {
            const int nv = nvt - v0 < NV_MAX ? nvt - v0 : NV_MAX;
            int j = s0;
            for (; j + 3 <= s1; j += 3)
                TILE1_3[nv](W + (size_t)j * d, d, XT + 16 * v0, npad, c + j, fp + 16 * v0, bits + (size_t)j * nvt + v0,
                            nvt);
            for (; j < s1; j++)
                TILE1_1[nv](W + (size_t)j * d, d, XT + 16 * v0, npad, c + j, fp + 16 * v0, bits + (size_t)j * nvt + v0,
                            nvt);
        }
    }
}

#define RT2 6 /* gradient rows per tile (7 spills registers: 1.15 ms) */
#define NA2 3 /* of which through masked adds, the others through multiply-adds (2 or 4 of 6: 0.83 and 0.86 ms) */

typedef void (*tile2_fn)(const uint16_t *, const float *, int, int, const float *, int, float *);

/* out (RT2 x 16 NK, row stride 16 NK_MAX) = for each of the tile's rows j, sum_n bit_jn Xe[n, 0 : 16 NK].  Rows 0-2
 * add Xe_n under a mask (0 or all lanes: km, 3 x ld uint16), rows 3-5 multiply-add it by 0.0 or 1.0 (fm, 3 x ld
 * floats): the two halves go to the CPU's adders and its multiply-adders, which work side by side. */
#define DEF_TILE2(NK)                                                                                            \
    static void tile2_##NK(const uint16_t *km, const float *fm, int ld, int n, const float *X, int ldx,         \
                           float *out) {                                                                         \
        __m512 a[NA2][NK], b[RT2 - NA2][NK];                                                                     \
        UNROLL for (int v = 0; v < NK; v++) {                                                                    \
            UNROLL for (int i = 0; i < NA2; i++) a[i][v] = _mm512_setzero_ps();                                  \
            UNROLL for (int i = 0; i < RT2 - NA2; i++) b[i][v] = _mm512_setzero_ps();                            \
        }                                                                                                        \
        for (int q = 0; q < n; q++) {                                                                            \
            __m512 x[NK];                                                                                        \
            UNROLL for (int v = 0; v < NK; v++) x[v] = _mm512_loadu_ps(X + (size_t)q * ldx + 16 * v);            \
            UNROLL for (int i = 0; i < NA2; i++) {                                                               \
                const __mmask16 k = km[i * ld + q];                                                              \
                UNROLL for (int v = 0; v < NK; v++) a[i][v] = _mm512_mask_add_ps(a[i][v], k, a[i][v], x[v]);     \
            }                                                                                                    \
            UNROLL for (int i = 0; i < RT2 - NA2; i++) {                                                         \
                const __m512 f = _mm512_set1_ps(fm[i * ld + q]);                                                 \
                UNROLL for (int v = 0; v < NK; v++) b[i][v] = _mm512_fmadd_ps(f, x[v], b[i][v]);                 \
            }                                                                                                    \
        }                                                                                                        \
        UNROLL for (int v = 0; v < NK; v++) {                                                                    \
            UNROLL for (int i = 0; i < NA2; i++) _mm512_storeu_ps(out + i * 16 * NK_MAX + 16 * v, a[i][v]);      \
            UNROLL for (int i = 0; i < RT2 - NA2; i++)                                                           \
                _mm512_storeu_ps(out + (NA2 + i) * 16 * NK_MAX + 16 * v, b[i][v]);                               \
        }                                                                                                        \
    }

DEF_TILE2(1) DEF_TILE2(2) DEF_TILE2(3) DEF_TILE2(4)
static const tile2_fn TILE2[NK_MAX + 1] = {0, tile2_1, tile2_2, tile2_3, tile2_4};

/* The bits of one row as lane masks (0 or 0xFFFF per n) or as floats (0.0 or 1.0 per n), zero rows past the run. */
static inline void expand_mask(const uint16_t *bits, int nvt, uint16_t *km) {
    for (int v = 0; v < nvt; v += 2) {
        const __mmask32 k = (__mmask32)bits[v] | (v + 1 < nvt ? (__mmask32)bits[v + 1] << 16 : 0u);
        _mm512_storeu_si512((void *)(km + 16 * v), _mm512_movm_epi16(k));
    }
}

static inline void expand_float(const uint16_t *bits, int nvt, float *fm) {
    const __m512 one = _mm512_set1_ps(1.0f);
    for (int v = 0; v < nvt; v++) _mm512_storeu_ps(fm + 16 * v, _mm512_maskz_mov_ps((__mmask16)bits[v], one));
}

/* Pass 2 over rows j0 .. j1 - 1 of one run (bits, c and out at the run's row 0; j0 a multiple of RT2), X = its
 * diag(dL/df) x / sqrt(d) (n x dpad): out_j = c_j sum_{n : bits_jn} X_n, or with descend out_j <- out_j + alpha that
 * (one multiply-add, as torch's out.add_(g, alpha=alpha)). */
static void backward_rows(const uint16_t *bits, int npad, const float *X, int n, int d, int dpad, const float *c,
                          float *out, int descend, float alpha, uint16_t *km, float *fm, int j0, int j1) {
    const int nvt = npad / 16, ld = npad + 32;
    float buf[RT2 * 16 * NK_MAX] __attribute__((aligned(64)));
    const __m512 a = _mm512_set1_ps(alpha);
    for (int t0 = j0; t0 < j1; t0 += RT2) {
        const int rows = j1 - t0 < RT2 ? j1 - t0 : RT2;
        for (int i = 0; i < NA2; i++) {
            if (i < rows) expand_mask(bits + (size_t)(t0 + i) * nvt, nvt, km + i * ld);
            else memset(km + i * ld, 0, sizeof(uint16_t) * (size_t)npad);
        }
        for (int i = 0; i < RT2 - NA2; i++) {
            if (NA2 + i < rows) expand_float(bits + (size_t)(t0 + NA2 + i) * nvt, nvt, fm + i * ld);
            else memset(fm + i * ld, 0, sizeof(float) * (size_t)npad);
        }
        for (int k0 = 0; k0 < d; k0 += 16 * NK_MAX) {
            const int left = (d - k0 + 15) / 16, nk = left < NK_MAX ? left : NK_MAX;
            TILE2[nk](km, fm, ld, n, X + k0, dpad, buf);
            for (int i = 0; i < rows; i++) {
                const __m512 cj = _mm512_set1_ps(c[t0 + i]);
                float *g = out + (size_t)(t0 + i) * d;
                for (int v = 0; v < nk; v++) {
                    const int k = k0 + 16 * v, width = d - k < 16 ? d - k : 16;
                    const __mmask16 keep = (__mmask16)((1u << width) - 1u);
                    const __m512 gk = _mm512_mul_ps(cj, _mm512_load_ps(buf + i * 16 * NK_MAX + 16 * v));
                    _mm512_mask_storeu_ps(g + k, keep,
                                          descend ? _mm512_fmadd_ps(gk, a, _mm512_maskz_loadu_ps(keep, g + k)) : gk);
                }
            }
        }
    }
}

/* Rows per share of f (fpart holds 2 x ceil(m / SHARE) shares of npad floats). */
int relu_step_share(void) { return SHARE; }

/* Bytes of scratch one thread of relu_step needs: the expanded bits of a pass-2 tile, f, and its own copy of X. */
size_t relu_step_scratch(int n, int npad, int dpad) {
    const size_t ld = (size_t)npad + 32;
    return sizeof(uint16_t) * NA2 * ld + sizeof(float) * ((RT2 - NA2) * ld + npad + (size_t)n * dpad) + 256;
}

/* One GD step's loss and gradient of R runs (W: R*m x d), run after run: every thread takes the same rows of the run
 * in both passes, so they are still in its cache for pass 2.
 *   pass 1 on the thread's rows (bits: m x npad/16, reused from run to run; fpart: f's shares, two runs' worth);
 *   a barrier; each thread then sums f's shares in order (the same sum on every thread), the residual e = f - y,
 *   loss[r] = mean_n e_n^2 (accumulated in double), ok[r] = alive[r], loss finite and |loss| <= threshold, and its
 *   own X = diag(scale e) xs (xs: n x dpad, x / sqrt(d) with zero columns past d; scale = 2 / n);
 *   pass 2 on the thread's rows: with grad, grad_j = c_j sum_{n : bit} X_n (zero rows for a run not ok); with grad
 *   NULL, W_j <- W_j + alpha (c_j sum_{n : bit} X_n), the GD step with alpha = -lr, for the runs ok only.
 * scratch: threads x relu_step_scratch(n, npad, dpad) bytes. */
void relu_step(float *W, int R, int m, int d, int n, const float *XT, int npad, const float *xs, int dpad,
               const float *y, const float *c, const uint8_t *alive, double threshold, float scale, float *grad,
               float alpha, float *loss, uint8_t *ok, float *fpart, uint16_t *bits, unsigned char *scratch,
               int threads) {
    const int nvt = npad / 16, ld = npad + 32, nsh = (m + SHARE - 1) / SHARE;
    const size_t per_thread = relu_step_scratch(n, npad, dpad);
#pragma omp parallel num_threads(threads)
    {
        const int T = omp_get_num_threads(), me = omp_get_thread_num();
        const int j0 = (int)((long)me * nsh / T) * SHARE, j1c = (int)((long)(me + 1) * nsh / T) * SHARE;
        const int j1 = j1c < m ? j1c : m;
        unsigned char *mine = scratch + per_thread * (size_t)me;
        float *fm = (float *)(((uintptr_t)mine + 63) & ~(uintptr_t)63);
        uint16_t *km = (uint16_t *)(fm + (size_t)(RT2 - NA2) * ld);
        float *f = (float *)(((uintptr_t)(km + (size_t)NA2 * ld) + 63) & ~(uintptr_t)63);
        float *X = f + npad;
        for (int r = 0; r < R; r++) {
            float *Wr = W + (size_t)r * m * d, *fp = fpart + (size_t)(r & 1) * nsh * npad;
            const float *cr = c + (size_t)r * m;
            if (j0 < j1) forward_rows(Wr, d, XT, npad, cr, fp, bits, j0, j1);
#pragma omp barrier
            for (int v = 0; v < nvt; v++) _mm512_storeu_ps(f + 16 * v, _mm512_setzero_ps());
            for (int sh = 0; sh < nsh; sh++)  /* the shares in order; the vectors of f side by side */
                for (int v = 0; v < nvt; v++)
                    _mm512_storeu_ps(f + 16 * v, _mm512_add_ps(_mm512_loadu_ps(f + 16 * v),
                                                               _mm512_loadu_ps(fp + (size_t)sh * npad + 16 * v)));
            double acc = 0.0;
            for (int q = 0; q < n; q++) {
                const float e = f[q] - y[q];
                f[q] = e;
                acc += (double)(e * e);
            }
            const float lr_ = (float)(acc / n);
            const int okr = alive[r] && isfinite(lr_) && (double)fabsf(lr_) <= threshold;
            if (me == 0) {
                loss[r] = lr_;
                ok[r] = (uint8_t)okr;
            }
            if (!okr) {
                if (grad != NULL && j0 < j1)
                    memset(grad + ((size_t)r * m + j0) * d, 0, sizeof(float) * (size_t)d * (j1 - j0));
                continue;
            }
            for (int q = 0; q < n; q++) {
                const __m512 eq = _mm512_set1_ps(f[q] * scale);
                for (int k = 0; k < dpad; k += 16)
                    _mm512_storeu_ps(X + (size_t)q * dpad + k,
                                     _mm512_mul_ps(eq, _mm512_loadu_ps(xs + (size_t)q * dpad + k)));
            }
            if (j0 < j1)
                backward_rows(bits, npad, X, n, d, dpad, cr, grad != NULL ? grad + (size_t)r * m * d : Wr, grad == NULL,
                              alpha, km, fm, j0, j1);
        }
    }
}
