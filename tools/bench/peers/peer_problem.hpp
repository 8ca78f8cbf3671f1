// The peer comparison's problem, shared by its benchmark programs (crocoddyl_bench.cpp on the CPU,
// gpu_batch_bench.cpp on the GPU): the weights given on the command line, the starts file, and the
// actor's `quadratic` cost parameters built from them (as core/actor_config.cpp's make_cost_params
// builds them, without the configuration file).
#pragma once

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/actor_costs.hpp"
#include "envs/ballbot/ballbot.hpp"

namespace dmpc::peers {

inline std::vector<double> parse_list(const std::string& s) {
  std::vector<double> v;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ',')) v.push_back(std::stod(item));
  return v;
}

// --q, --qf (10 each), --r (3), --upright (5: pitch, roll, their rates, yaw rate).
struct PeerWeights {
  std::vector<double> q, qf, r, upright;

  // Takes the option if it is one of the weights'; false otherwise.
  bool take(const std::string& key, const std::string& value) {
    if (key == "--q") q = parse_list(value);
    else if (key == "--qf") qf = parse_list(value);
    else if (key == "--r") r = parse_list(value);
    else if (key == "--upright") upright = parse_list(value);
    else return false;
    return true;
  }
  void check() const {
    if (q.size() != 10 || qf.size() != 10 || r.size() != 3 || upright.size() != 5)
      throw std::runtime_error("--q, --qf need 10 numbers, --r 3, --upright 5");
  }
};

// One line of the starts file: the Ballbot state (10 numbers), then the goal gx gy.
struct PeerStart {
  Ballbot<double>::State x;
  double gx, gy;
};

inline std::vector<PeerStart> read_starts(const std::string& path, int count) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::vector<PeerStart> s;
  std::string line;
  while (static_cast<int>(s.size()) < count && std::getline(in, line)) {
    std::stringstream ls(line);
    PeerStart st;
    for (int i = 0; i < Ballbot<double>::kStateDim; ++i) ls >> st.x[i];
    ls >> st.gx >> st.gy;
    if (!ls) throw std::runtime_error("bad line in " + path + ": " + line);
    s.push_back(st);
  }
  if (static_cast<int>(s.size()) < count) throw std::runtime_error(path + ": too few starts");
  return s;
}

// The actor's quadratic-mode parameters for the Ballbot in scalar T.
template <typename T>
ActorCostParams<T, 10, 3> quadratic_params(const Ballbot<T>& sys, const PeerWeights& w, double knot_dt) {
  constexpr int NX = 10, NU = 3;
  ActorCostParams<T, NX, NU> p{};
  p.mode = ActorCostMode::kQuadratic;
  p.knot_dt = T(knot_dt);
  p.log_discount = T(0);
  for (int j = 0; j < NU; ++j) p.input_weight[j] = T(w.r[j]);
  const typename Ballbot<T>::State rest = sys.rest_state(T(0), T(0));
  for (int i = 0; i < NX; ++i) {
    p.tracking.weight[i] = T(w.q[i]);
    p.tracking_final.weight[i] = T(w.qf[i]);
    p.upright.weight[i] = T(0);
    p.upright.ref[i] = rest[i];
  }
  const int index[5] = {3, 4, 8, 9, 7};
  for (int i = 0; i < 5; ++i) p.upright.weight[index[i]] = T(w.upright[i]);
  p.tilt_barrier.weight = T(0);
  return p;
}

}  // namespace dmpc::peers
