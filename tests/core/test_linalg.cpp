#include <gtest/gtest.h>

#include "core/linalg.hpp"

namespace dmpc {
namespace {

TEST(Linalg, CholeskySolveRecoversKnownSolution) {
  // A = Lᵀ-free SPD matrix built as B Bᵀ + I, x known; solve A x = b.
  Mat<double, 3, 3> B{{{1, 2, 0}, {0, 1, 3}, {4, 0, 1}}};
  Mat<double, 3, 3> A = B * transpose(B) + Mat<double, 3, 3>::identity();
  Vec<double, 3> x{{0.5, -1.25, 2.0}};
  Vec<double, 3> b = A * x;
  Mat<double, 3, 3> L;
  ASSERT_TRUE(cholesky(A, L));
  const Vec<double, 3> solved = cholesky_solve(L, b);
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(solved[i], x[i], 1e-13);
  const Mat<double, 3, 3> LLt = L * transpose(L);
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) EXPECT_NEAR(LLt(i, j), A(i, j), 1e-12);
}

TEST(Linalg, CholeskyRejectsIndefiniteMatrix) {
  Mat<double, 2, 2> A{{{1, 2}, {2, 1}}};  // eigenvalues 3 and −1
  Mat<double, 2, 2> L;
  EXPECT_FALSE(cholesky(A, L));
}

}  // namespace
}  // namespace dmpc
