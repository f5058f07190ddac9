/* Float kernels behind pyrtrl's sparse RTRL engine (host simulator only).
 *
 * The influence matrix M is row-major, n rows, leading dimension ld; only its first L
 * columns (the live ones) are touched. The fixed-point device library is runtime_c; these
 * kernels exist because numpy pays per call and per strided pass, which at the sizes that
 * matter costs more than the arithmetic.
 */
#ifndef PYRTRL_INFLUENCE_H
#define PYRTRL_INFLUENCE_H

/* M[:, :L] <- diag(dvec) M[:, :L] + S M[act, :L], where S is n x nact in CSR form
 * (indptr[n + 1], indices into act, data). Exactly (n + nnz(S)) * L multiply-adds.
 * scratch holds nact * chunk values; chunk > 0. */
void pyrtrl_influence_update_f64(int n, int L, int ld, double *M, const double *dvec,
                                 int nact, const int *act, const int *indptr,
                                 const int *indices, const double *data,
                                 double *scratch, int chunk);
void pyrtrl_influence_update_f32(int n, int L, int ld, float *M, const float *dvec,
                                 int nact, const int *act, const int *indptr,
                                 const int *indices, const float *data,
                                 float *scratch, int chunk);

/* out[:L] += sum_k w[k] * M[rows[k], :L]. Exactly nrows * L multiply-adds. */
void pyrtrl_rows_combine_f64(int L, int ld, const double *M, int nrows, const int *rows,
                             const double *w, double *out);
void pyrtrl_rows_combine_f32(int L, int ld, const float *M, int nrows, const int *rows,
                             const float *w, float *out);

/* out[r] += X[r * ld + k] * vec[k] for every active column k (cols_on) and every stored
 * row r of that column (rowidx[colptr[k] .. colptr[k + 1]]): a masked dense matrix times
 * a vector, touching only unpruned entries of active columns. Exactly that many MACs. */
void pyrtrl_masked_matvec_f64(int ld, const double *X, int ncols_on, const int *cols_on,
                              const int *colptr, const int *rowidx, const double *vec,
                              double *out);
void pyrtrl_masked_matvec_f32(int ld, const float *X, int ncols_on, const int *cols_on,
                              const int *colptr, const int *rowidx, const float *vec,
                              float *out);

#endif
