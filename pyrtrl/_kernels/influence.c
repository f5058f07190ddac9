#include "influence.h"

#include <string.h>

/* One body for float and double. Columns are processed in chunks so that the copied
 * active rows and the output row stay in L1 while every nonzero of S is applied. */
#define DEFINE_INFLUENCE_UPDATE(SUFFIX, T)                                                 \
    void pyrtrl_influence_update_##SUFFIX(int n, int L, int ld, T *M, const T *dvec,       \
                                          int nact, const int *act, const int *indptr,     \
                                          const int *indices, const T *data, T *scratch,   \
                                          int chunk)                                       \
    {                                                                                      \
        for (int c0 = 0; c0 < L; c0 += chunk) {                                            \
            const int w = (L - c0 < chunk) ? (L - c0) : chunk;                             \
            for (int a = 0; a < nact; ++a)                                                 \
                memcpy(scratch + (long)a * chunk, M + (long)act[a] * ld + c0,              \
                       (size_t)w * sizeof(T));                                             \
            for (int i = 0; i < n; ++i) {                                                  \
                T *row = M + (long)i * ld + c0;                                            \
                const T di = dvec[i];                                                      \
                for (int c = 0; c < w; ++c)                                                \
                    row[c] *= di;                                                          \
                for (int e = indptr[i]; e < indptr[i + 1]; ++e) {                          \
                    const T v = data[e];                                                   \
                    const T *src = scratch + (long)indices[e] * chunk;                     \
                    for (int c = 0; c < w; ++c)                                            \
                        row[c] += v * src[c];                                              \
                }                                                                          \
            }                                                                              \
        }                                                                                  \
    }

#define DEFINE_ROWS_COMBINE(SUFFIX, T)                                                     \
    void pyrtrl_rows_combine_##SUFFIX(int L, int ld, const T *M, int nrows,                \
                                      const int *rows, const T *w, T *out)                 \
    {                                                                                      \
        for (int k = 0; k < nrows; ++k) {                                                  \
            const T *src = M + (long)rows[k] * ld;                                         \
            const T wk = w[k];                                                             \
            for (int c = 0; c < L; ++c)                                                    \
                out[c] += wk * src[c];                                                     \
        }                                                                                  \
    }

#define DEFINE_MASKED_MATVEC(SUFFIX, T)                                                    \
    void pyrtrl_masked_matvec_##SUFFIX(int ld, const T *X, int ncols_on, const int *cols_on, \
                                       const int *colptr, const int *rowidx, const T *vec,   \
                                       T *out)                                               \
    {                                                                                      \
        for (int a = 0; a < ncols_on; ++a) {                                               \
            const int k = cols_on[a];                                                      \
            const T vk = vec[k];                                                           \
            for (int e = colptr[k]; e < colptr[k + 1]; ++e)                                \
                out[rowidx[e]] += X[(long)rowidx[e] * ld + k] * vk;                        \
        }                                                                                  \
    }

DEFINE_MASKED_MATVEC(f64, double)
DEFINE_MASKED_MATVEC(f32, float)
DEFINE_INFLUENCE_UPDATE(f64, double)
DEFINE_INFLUENCE_UPDATE(f32, float)
DEFINE_ROWS_COMBINE(f64, double)
DEFINE_ROWS_COMBINE(f32, float)
