// Fixed-size vectors and matrices for the per-environment math (host and device).
//
// Row-major, stored inline, sizes known at compile time: a Ballbot state is Vec<T, 10>, a Jacobian
// Mat<T, 10, 10>. Only what the dynamics, integrators and solvers need is here; Eigen stays on the
// host side (tests, set-up code) where nvcc compatibility does not matter.
#pragma once

#include "core/hd.hpp"

namespace dmpc {

template <typename T, int N>
struct Vec {
  T v[N];

  DMPC_HD T& operator[](int i) { return v[i]; }
  DMPC_HD const T& operator[](int i) const { return v[i]; }
  DMPC_HD static constexpr int size() { return N; }

  DMPC_HD static Vec zero() {
    Vec r{};
    for (int i = 0; i < N; ++i) r.v[i] = T(0);
    return r;
  }
};

template <typename T, int R, int C>
struct Mat {
  T m[R][C];

  DMPC_HD T& operator()(int i, int j) { return m[i][j]; }
  DMPC_HD const T& operator()(int i, int j) const { return m[i][j]; }
  DMPC_HD static constexpr int rows() { return R; }
  DMPC_HD static constexpr int cols() { return C; }

  DMPC_HD static Mat zero() {
    Mat r{};
    for (int i = 0; i < R; ++i)
      for (int j = 0; j < C; ++j) r.m[i][j] = T(0);
    return r;
  }
  DMPC_HD static Mat identity() {
    static_assert(R == C, "identity needs a square matrix");
    Mat r = zero();
    for (int i = 0; i < R; ++i) r.m[i][i] = T(1);
    return r;
  }
};

template <typename T, int N>
DMPC_HD Vec<T, N> operator+(const Vec<T, N>& a, const Vec<T, N>& b) {
  Vec<T, N> r;
  for (int i = 0; i < N; ++i) r[i] = a[i] + b[i];
  return r;
}

template <typename T, int N>
DMPC_HD Vec<T, N> operator-(const Vec<T, N>& a, const Vec<T, N>& b) {
  Vec<T, N> r;
  for (int i = 0; i < N; ++i) r[i] = a[i] - b[i];
  return r;
}

template <typename T, int N>
DMPC_HD Vec<T, N> operator*(T s, const Vec<T, N>& a) {
  Vec<T, N> r;
  for (int i = 0; i < N; ++i) r[i] = s * a[i];
  return r;
}

template <typename T, int N>
DMPC_HD T dot(const Vec<T, N>& a, const Vec<T, N>& b) {
  T s = T(0);
  for (int i = 0; i < N; ++i) s += a[i] * b[i];
  return s;
}

template <typename T, int R, int C>
DMPC_HD Vec<T, R> operator*(const Mat<T, R, C>& A, const Vec<T, C>& x) {
  Vec<T, R> r;
  for (int i = 0; i < R; ++i) {
    T s = T(0);
    for (int j = 0; j < C; ++j) s += A(i, j) * x[j];
    r[i] = s;
  }
  return r;
}

template <typename T, int R, int K, int C>
DMPC_HD Mat<T, R, C> operator*(const Mat<T, R, K>& A, const Mat<T, K, C>& B) {
  Mat<T, R, C> r;
  for (int i = 0; i < R; ++i)
    for (int j = 0; j < C; ++j) {
      T s = T(0);
      for (int k = 0; k < K; ++k) s += A(i, k) * B(k, j);
      r(i, j) = s;
    }
  return r;
}

template <typename T, int R, int C>
DMPC_HD Mat<T, R, C> operator+(const Mat<T, R, C>& A, const Mat<T, R, C>& B) {
  Mat<T, R, C> r;
  for (int i = 0; i < R; ++i)
    for (int j = 0; j < C; ++j) r(i, j) = A(i, j) + B(i, j);
  return r;
}

template <typename T, int R, int C>
DMPC_HD Mat<T, R, C> operator*(T s, const Mat<T, R, C>& A) {
  Mat<T, R, C> r;
  for (int i = 0; i < R; ++i)
    for (int j = 0; j < C; ++j) r(i, j) = s * A(i, j);
  return r;
}

template <typename T, int R, int C>
DMPC_HD Mat<T, C, R> transpose(const Mat<T, R, C>& A) {
  Mat<T, C, R> r;
  for (int i = 0; i < R; ++i)
    for (int j = 0; j < C; ++j) r(j, i) = A(i, j);
  return r;
}

// Cholesky factor L (lower, A = L Lᵀ) of a symmetric positive definite matrix, in place of a copy.
// Returns false when a pivot is not positive (A not SPD to working precision); L is then invalid.
template <typename T, int N>
DMPC_HD bool cholesky(const Mat<T, N, N>& A, Mat<T, N, N>& L) {
  L = Mat<T, N, N>::zero();
  for (int j = 0; j < N; ++j) {
    T d = A(j, j);
    for (int k = 0; k < j; ++k) d -= L(j, k) * L(j, k);
    if (!(d > T(0))) return false;
    const T ljj = sqrt(d);
    L(j, j) = ljj;
    for (int i = j + 1; i < N; ++i) {
      T s = A(i, j);
      for (int k = 0; k < j; ++k) s -= L(i, k) * L(j, k);
      L(i, j) = s / ljj;
    }
  }
  return true;
}

// Solves (L Lᵀ) x = b given the Cholesky factor L.
template <typename T, int N>
DMPC_HD Vec<T, N> cholesky_solve(const Mat<T, N, N>& L, const Vec<T, N>& b) {
  Vec<T, N> y;
  for (int i = 0; i < N; ++i) {  // L y = b
    T s = b[i];
    for (int k = 0; k < i; ++k) s -= L(i, k) * y[k];
    y[i] = s / L(i, i);
  }
  Vec<T, N> x;
  for (int i = N - 1; i >= 0; --i) {  // Lᵀ x = y
    T s = y[i];
    for (int k = i + 1; k < N; ++k) s -= L(k, i) * x[k];
    x[i] = s / L(i, i);
  }
  return x;
}

// Solves (L Lᵀ) X = B for all columns at once; the columns advance together so that their
// independent substitution chains overlap instead of waiting on one another.
template <typename T, int N, int C>
DMPC_HD Mat<T, N, C> cholesky_solve(const Mat<T, N, N>& L, const Mat<T, N, C>& B) {
  T inv_diag[N];
  for (int i = 0; i < N; ++i) inv_diag[i] = T(1) / L(i, i);
  Mat<T, N, C> Y;
  for (int i = 0; i < N; ++i)  // L Y = B
    for (int c = 0; c < C; ++c) {
      T s = B(i, c);
      for (int k = 0; k < i; ++k) s -= L(i, k) * Y(k, c);
      Y(i, c) = s * inv_diag[i];
    }
  Mat<T, N, C> X;
  for (int i = N - 1; i >= 0; --i)  // Lᵀ X = Y
    for (int c = 0; c < C; ++c) {
      T s = Y(i, c);
      for (int k = i + 1; k < N; ++k) s -= L(k, i) * X(k, c);
      X(i, c) = s * inv_diag[i];
    }
  return X;
}

// Inverse of a symmetric positive definite matrix from its Cholesky factor: A⁻¹ = L⁻ᵀ L⁻¹.
template <typename T, int N>
DMPC_HD Mat<T, N, N> cholesky_inverse(const Mat<T, N, N>& L) {
  return cholesky_solve(L, Mat<T, N, N>::identity());
}

// Projects a symmetric matrix onto {M ⪰ floor·I}: eigen-decompose with cyclic Jacobi rotations
// and raise every eigenvalue below `floor` to it. Used to make Hessians of learned costs usable
// by a Riccati pass. Converges quadratically; `sweeps` bounds the work.
template <typename T, int N>
DMPC_HD void project_psd(Mat<T, N, N>& M, T floor, int sweeps = 8) {
  {  // Already above the floor (a Cholesky factor of M − floor·I exists): nothing to do.
    Mat<T, N, N> shifted = M, L;
    for (int i = 0; i < N; ++i) shifted(i, i) -= floor;
    if (cholesky(shifted, L)) return;
  }
  Mat<T, N, N> D = M;
  Mat<T, N, N> V = Mat<T, N, N>::identity();
  for (int sweep = 0; sweep < sweeps; ++sweep) {
    T off = T(0), diag = T(0);
    for (int i = 0; i < N; ++i) {
      diag += D(i, i) * D(i, i);
      for (int j = i + 1; j < N; ++j) off += D(i, j) * D(i, j);
    }
    if (off <= T(1e-24) * diag || off == T(0)) break;
    for (int p = 0; p < N; ++p)
      for (int q = p + 1; q < N; ++q) {
        if (D(p, q) == T(0)) continue;
        // Rotation that annihilates D(p, q): t = tan θ from θ = ½ atan2(2 D_pq, D_qq − D_pp).
        const T theta = (D(q, q) - D(p, p)) / (T(2) * D(p, q));
        const T t = (theta >= T(0) ? T(1) : T(-1)) / (fabs(theta) + sqrt(theta * theta + T(1)));
        const T c = T(1) / sqrt(t * t + T(1)), s = t * c;
        for (int k = 0; k < N; ++k) {  // D ← D J (columns p, q)
          const T dkp = D(k, p), dkq = D(k, q);
          D(k, p) = c * dkp - s * dkq;
          D(k, q) = s * dkp + c * dkq;
        }
        for (int k = 0; k < N; ++k) {  // D ← Jᵀ D (rows p, q)
          const T dpk = D(p, k), dqk = D(q, k);
          D(p, k) = c * dpk - s * dqk;
          D(q, k) = s * dpk + c * dqk;
        }
        for (int k = 0; k < N; ++k) {  // V ← V J
          const T vkp = V(k, p), vkq = V(k, q);
          V(k, p) = c * vkp - s * vkq;
          V(k, q) = s * vkp + c * vkq;
        }
      }
  }
  for (int i = 0; i < N; ++i)
    for (int j = i; j < N; ++j) {
      T m = T(0);
      for (int k = 0; k < N; ++k) {
        const T lambda = D(k, k) < floor ? floor : D(k, k);
        m += V(i, k) * lambda * V(j, k);
      }
      M(i, j) = M(j, i) = m;
    }
}

}  // namespace dmpc
