// Counter-based random numbers: Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as
// 1, 2, 3", SC 2011).
//
// A draw is a pure function of (key, counter): the project keys it with the run seed and counts with
// (environment id, episode, step, substep, stream). A trajectory's noise therefore depends only on the seed
// and the environment's id and step — never on batch size, thread count or backend.
#pragma once

#include <cstdint>

#include "core/hd.hpp"

namespace dmpc {

struct PhiloxCounter {
  uint32_t c[4];
};

struct PhiloxKey {
  uint32_t k[2];
};

namespace detail {
DMPC_HD uint32_t mulhi32(uint32_t a, uint32_t b) {
  return static_cast<uint32_t>((static_cast<uint64_t>(a) * b) >> 32);
}
}  // namespace detail

// Ten rounds of the Philox S-box/P-box with the key schedule bumped by the Weyl constants.
DMPC_HD PhiloxCounter philox4x32_10(PhiloxCounter ctr, PhiloxKey key) {
  constexpr uint32_t kMul0 = 0xD2511F53u, kMul1 = 0xCD9E8D57u;
  constexpr uint32_t kWeyl0 = 0x9E3779B9u, kWeyl1 = 0xBB67AE85u;
  for (int round = 0; round < 10; ++round) {
    const uint32_t hi0 = detail::mulhi32(kMul0, ctr.c[0]);
    const uint32_t lo0 = kMul0 * ctr.c[0];
    const uint32_t hi1 = detail::mulhi32(kMul1, ctr.c[2]);
    const uint32_t lo1 = kMul1 * ctr.c[2];
    ctr = PhiloxCounter{{hi1 ^ ctr.c[1] ^ key.k[0], lo1, hi0 ^ ctr.c[3] ^ key.k[1], lo0}};
    key.k[0] += kWeyl0;
    key.k[1] += kWeyl1;
  }
  return ctr;
}

// What a draw is for; part of the counter so that different uses never share numbers.
enum class RandomStream : uint32_t {
  kProcessNoise = 0,   // SDE increments
  kEpisodeSample = 1,  // start and goal sampling
  kPolicy = 2,         // exploration or test policies
  kInit = 3,           // network initialisation (value-network weights)
  kReplay = 4,         // replay-buffer minibatch sampling
};

DMPC_HD PhiloxKey philox_key(uint64_t seed) {
  return PhiloxKey{{static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32)}};
}

// Counter layout: [environment id, episode, step·256 + substep, stream]. Episodes hold at most
// 2²⁴ control steps of at most 256 substeps each (the configuration reader enforces both).
DMPC_HD PhiloxCounter philox_counter(uint32_t env_id, uint32_t episode, uint32_t step,
                                     uint32_t substep, RandomStream stream) {
  return PhiloxCounter{{env_id, episode, (step << 8) | (substep & 0xFFu),
                        static_cast<uint32_t>(stream)}};
}

// Maps 32 random bits to the open interval (0, 1), never 0 or 1: (i + ½)·2⁻³² in double; in
// float only the top 23 bits are used, (i + ½)·2⁻²³, the finest grid whose points float holds.
DMPC_HD void to_open01(uint32_t bits, double& u) {
  u = (static_cast<double>(bits) + 0.5) * 2.3283064365386963e-10;
}
DMPC_HD void to_open01(uint32_t bits, float& u) {
  u = (static_cast<float>(bits >> 9) + 0.5f) * 1.1920928955078125e-07f;
}
template <typename T>
DMPC_HD T uniform_open01(uint32_t bits) {
  T u;
  to_open01(bits, u);
  return u;
}

// Four standard normals from one Philox block (Box–Muller on two pairs of uniforms).
template <typename T>
DMPC_HD void four_normals(PhiloxCounter bits, T out[4]) {
  constexpr T kTwoPi = T(6.283185307179586);
  for (int pair = 0; pair < 2; ++pair) {
    const T u1 = uniform_open01<T>(bits.c[2 * pair]);
    const T u2 = uniform_open01<T>(bits.c[2 * pair + 1]);
    const T radius = sqrt(T(-2) * log(u1));
    out[2 * pair] = radius * cos(kTwoPi * u2);
    out[2 * pair + 1] = radius * sin(kTwoPi * u2);
  }
}

}  // namespace dmpc
