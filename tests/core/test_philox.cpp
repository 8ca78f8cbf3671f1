#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "core/philox.hpp"

namespace dmpc {
namespace {

// Known-answer vectors of Philox4x32-10 published with the Random123 library (kat_vectors).
TEST(Philox, MatchesRandom123KnownAnswers) {
  struct Case {
    PhiloxCounter ctr;
    PhiloxKey key;
    PhiloxCounter expected;
  };
  const Case cases[] = {
      {{{0, 0, 0, 0}}, {{0, 0}}, {{0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u}}},
      {{{0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}},
       {{0xffffffffu, 0xffffffffu}},
       {{0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu}}},
      {{{0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}},
       {{0xa4093822u, 0x299f31d0u}},
       {{0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u}}},
  };
  for (const Case& c : cases) {
    const PhiloxCounter got = philox4x32_10(c.ctr, c.key);
    for (int i = 0; i < 4; ++i) EXPECT_EQ(got.c[i], c.expected.c[i]) << "word " << i;
  }
}

TEST(Philox, UniformsStayInsideOpenInterval) {
  EXPECT_GT(uniform_open01<double>(0u), 0.0);
  EXPECT_LT(uniform_open01<double>(0xffffffffu), 1.0);
  EXPECT_GT(uniform_open01<float>(0u), 0.0f);
  EXPECT_LT(uniform_open01<float>(0xffffffffu), 1.0f);
}

// Mean, variance and a tail fraction of the Box–Muller normals over 400k draws: standard errors
// are 1/√N ≈ 0.0016 for the mean and √(2/N) ≈ 0.0022 for the variance; 5σ bounds.
TEST(Philox, NormalsHaveUnitMomentsAndDistinctStreams) {
  const PhiloxKey key = philox_key(12345);
  const int blocks = 100000;
  double sum = 0, sum2 = 0;
  int beyond_two_sigma = 0;
  for (int b = 0; b < blocks; ++b) {
    double z[4];
    four_normals<double>(philox4x32_10(philox_counter(b, 0, 0, 0, RandomStream::kProcessNoise), key),
                         z);
    for (double v : z) {
      sum += v;
      sum2 += v * v;
      beyond_two_sigma += std::fabs(v) > 2.0;
    }
  }
  const double n = 4.0 * blocks;
  EXPECT_NEAR(sum / n, 0.0, 5 / std::sqrt(n));
  EXPECT_NEAR(sum2 / n, 1.0, 5 * std::sqrt(2 / n));
  // P(|z| > 2) = 0.0455; binomial standard error √(p(1−p)/n) ≈ 3.3e-4.
  EXPECT_NEAR(beyond_two_sigma / n, 0.0455, 5 * 3.3e-4);

  std::set<uint32_t> first_words;
  for (RandomStream s : {RandomStream::kProcessNoise, RandomStream::kEpisodeSample,
                         RandomStream::kPolicy})
    first_words.insert(philox4x32_10(philox_counter(1, 2, 3, 0, s), key).c[0]);
  EXPECT_EQ(first_words.size(), 3u);
}

}  // namespace
}  // namespace dmpc
