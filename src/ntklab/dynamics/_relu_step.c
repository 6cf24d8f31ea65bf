/* The float32 ReLU step of stacked shallow runs in two fused passes (AVX-512), for _relu_kernel.py.
 *
 * Run r (rows r*m .. r*m+m-1 of W, R*m x d) with inputs XT (d x npad, x / sqrt(d) transposed, zero columns past n)
 * and node factors c_j = u_j sqrt(lambda_j) mask_j:
 *
 *   pass 1 (relu_forward):   Z_j = W_j XT,  bits_j = 1{Z_j > 0},  f = sum_j c_j max(Z_j, 0)
 *   pass 2 (relu_backward):  dL/dW_j = c_j sum_{n : bits_jn} Xe_n,   Xe = diag(dL/df) x / sqrt(d)   (n x dpad)
 *
 * Pass 1 never stores Z: each 3 x 112 tile of Z lives in registers and leaves one bit per entry and its share of
 * f.  Pass 2 is a product with the bits as its left factor, bit_jn Xe_n summed over n, for tiles of six rows: three
 * rows add Xe_n under a lane mask (the CPU's adders), three multiply-add it by 0.0 or 1.0 (its multiply-adders),
 * so the two kinds of unit work side by side (measured: 0.78 ms for the E1 shapes, against 1.06 ms with
 * multiply-adds alone and 0.92 ms adding only the rows whose bit is set, which loses on branches).
 *
 * Every sum runs in an order fixed by the shapes, whatever the thread count: f over fixed chunks of rows, then over
 * the chunks in order; each gradient row over n in increasing order.  So one and several threads give the same bits.
 *
 * max(0, z) is written _mm512_max_ps(zero, z), which returns z when z is NaN: a non-finite run keeps a
 * non-finite f (and so a non-finite loss), as the unfused path does.
 */
#include <immintrin.h>
#include <omp.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define CHUNK 96 /* rows per share of f: a multiple of the tile's 3 rows */
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

/* Rows per share of f: fpart holds ceil(m / CHUNK) shares per run. */
int relu_forward_chunk(void) { return CHUNK; }

/* f (R x npad) = sum_j c_j max(W_j XT, 0) per run, bits (R*m x npad/16) = 1{W XT > 0}; fpart: R x nch x npad. */
void relu_forward(const float *W, int R, int m, int d, const float *XT, int npad, const float *c, float *fpart,
                  uint16_t *bits, float *f, int threads) {
    const int nvt = npad / 16, nch = (m + CHUNK - 1) / CHUNK;
#pragma omp parallel for schedule(static) num_threads(threads)
    for (long t = 0; t < (long)R * nch; t++) {
        const long r = t / nch;
        const int j0 = (int)(t % nch) * CHUNK, j1 = j0 + CHUNK < m ? j0 + CHUNK : m;
        float *fp = fpart + (size_t)t * npad;
        memset(fp, 0, sizeof(float) * (size_t)npad);
        for (int v0 = 0; v0 < nvt; v0 += NV_MAX) {
            const int nv = nvt - v0 < NV_MAX ? nvt - v0 : NV_MAX;
            int j = j0;
            for (; j + 3 <= j1; j += 3) {
                const long row = r * m + j;
                TILE1_3[nv](W + row * d, d, XT + 16 * v0, npad, c + row, fp + 16 * v0, bits + row * nvt + v0, nvt);
            }
            for (; j < j1; j++) {
                const long row = r * m + j;
                TILE1_1[nv](W + row * d, d, XT + 16 * v0, npad, c + row, fp + 16 * v0, bits + row * nvt + v0, nvt);
            }
        }
    }
#pragma omp parallel for schedule(static) num_threads(threads)
    for (long r = 0; r < R; r++) {
        for (int v = 0; v < nvt; v++) {
            __m512 s = _mm512_setzero_ps();
            for (int ch = 0; ch < nch; ch++)
                s = _mm512_add_ps(s, _mm512_loadu_ps(fpart + ((size_t)r * nch + ch) * npad + 16 * v));
            _mm512_storeu_ps(f + (size_t)r * npad + 16 * v, s);
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

/* Bytes of scratch one thread of relu_backward needs (the expanded bits of a tile). */
size_t relu_backward_scratch(int npad) {
    const size_t ld = (size_t)npad + 32;
    return sizeof(uint16_t) * NA2 * ld + sizeof(float) * (RT2 - NA2) * ld + 64;
}

/* grad (R*m x d) = c_j sum_{n : bits_jn} Xe[r, n, :d] for the runs with ok[r], zero for the others.
 * Xe: R x n x dpad (dpad a multiple of 16, the columns past d ignored); scratch: threads x relu_backward_scratch.
 * With W not NULL the gradient is not stored: each row of a run with ok[r] takes the descent step
 * W_j <- W_j + alpha g_j (one fused multiply-add, as torch's add_(g, alpha=alpha)), and the other runs' rows are left
 * as they are (grad may then be NULL). */
void relu_backward(const uint16_t *bits, int R, int m, int npad, const float *Xe, int n, int d, int dpad,
                   const float *c, const uint8_t *ok, float *grad, float *W, float alpha, unsigned char *scratch,
                   int threads) {
    const int nvt = npad / 16, ld = npad + 32, tiles = (m + RT2 - 1) / RT2;
    const size_t per_thread = relu_backward_scratch(npad);
#pragma omp parallel num_threads(threads)
    {
        unsigned char *mine = scratch + per_thread * (size_t)omp_get_thread_num();
        float *fm = (float *)(((uintptr_t)mine + 63) & ~(uintptr_t)63);
        uint16_t *km = (uint16_t *)(fm + (size_t)(RT2 - NA2) * ld);
        float buf[RT2 * 16 * NK_MAX] __attribute__((aligned(64)));
#pragma omp for schedule(static)
        for (long t = 0; t < (long)R * tiles; t++) {
            const long r = t / tiles;
            const int j0 = (int)(t % tiles) * RT2, rows = m - j0 < RT2 ? m - j0 : RT2;
            const long row0 = r * m + j0;
            if (!ok[r]) {
                if (W == NULL) memset(grad + row0 * d, 0, sizeof(float) * (size_t)d * rows);
                continue;
            }
            for (int i = 0; i < NA2; i++) {
                if (i < rows) expand_mask(bits + (row0 + i) * nvt, nvt, km + i * ld);
                else memset(km + i * ld, 0, sizeof(uint16_t) * (size_t)npad);
            }
            for (int i = 0; i < RT2 - NA2; i++) {
                if (NA2 + i < rows) expand_float(bits + (row0 + NA2 + i) * nvt, nvt, fm + i * ld);
                else memset(fm + i * ld, 0, sizeof(float) * (size_t)npad);
            }
            const float *X = Xe + (size_t)r * n * dpad;
            for (int k0 = 0; k0 < d; k0 += 16 * NK_MAX) {
                const int left = (d - k0 + 15) / 16, nk = left < NK_MAX ? left : NK_MAX;
                TILE2[nk](km, fm, ld, n, X + k0, dpad, buf);
                for (int i = 0; i < rows; i++) {
                    const __m512 cj = _mm512_set1_ps(c[row0 + i]), a = _mm512_set1_ps(alpha);
                    float *g = (W == NULL ? grad : W) + (row0 + i) * d;
                    for (int v = 0; v < nk; v++) {
                        const int k = k0 + 16 * v, width = d - k < 16 ? d - k : 16;
                        const __mmask16 keep = (__mmask16)((1u << width) - 1u);
                        const __m512 sum = _mm512_load_ps(buf + i * 16 * NK_MAX + 16 * v);
                        const __m512 gk = _mm512_mul_ps(cj, sum);
                        if (W == NULL) _mm512_mask_storeu_ps(g + k, keep, gk);
                        else _mm512_mask_storeu_ps(g + k, keep,
                                                   _mm512_fmadd_ps(gk, a, _mm512_maskz_loadu_ps(keep, g + k)));
                    }
                }
            }
        }
    }
}
