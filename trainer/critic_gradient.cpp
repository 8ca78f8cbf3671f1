#include "trainer/critic_gradient.hpp"

#include <Eigen/Dense>

#include <algorithm>
#include <stdexcept>

namespace dmpc {
namespace {

template <typename T>
using Matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;  // samples are columns
template <typename T>
using RowVector = Eigen::Matrix<T, 1, Eigen::Dynamic>;
template <typename T>
using Vector = Eigen::Matrix<T, Eigen::Dynamic, 1>;
template <typename T>
using WeightMap = Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;
template <typename T>
using GradMap = Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;

template <typename T>
WeightMap<T> weights(const MlpShape& s, const T* params, int layer) {
  return WeightMap<T>(params + mlp_weight_offset(s, layer), s.width, layer == 1 ? mlp_network_inputs(s) : s.width);
}

template <typename T>
Eigen::Map<const Vector<T>> biases(const MlpShape& s, const T* params, int layer) {
  return Eigen::Map<const Vector<T>>(params + mlp_bias_offset(s, layer), s.width);
}

// The network's forward pass over n samples: the normalised inputs a_0 and the activations a_l
// (l = 1 … depth), and V̂ as a row. With feature_grad, also every sample's feature gradients over
// their slots (nf × kFeatureSlots numbers per sample), for the tangents.
template <typename T>
struct ForwardPass {
  std::vector<Matrix<T>> a;  // a[0]: [N, n]; a[l]: [width, n]
  RowVector<T> value;
  std::vector<T> feature_grad;
  T inv_scale[kMaxMlpInputs] = {};

  ForwardPass(const MlpShape& s, const T* params, const T* z, int64_t n, bool with_feature_grad) {
    const int inputs = s.inputs, N = mlp_network_inputs(s), nf = s.features + s.path_features;
    a.resize(static_cast<size_t>(s.depth) + 1);
    a[0].resize(N, n);
    if (with_feature_grad) feature_grad.assign(static_cast<size_t>(n * nf * kFeatureSlots), T(0));
    T fgrad[kMaxNetFeatures][kFeatureSlots];
    for (int64_t i = 0; i < n; ++i) {
      detail::mlp_normalise<T>(s, params, z + i * inputs, a[0].col(i).data(), inv_scale,
                               with_feature_grad && nf > 0 ? fgrad : nullptr);
      if (with_feature_grad)
        for (int j = 0; j < nf; ++j)
          std::copy(fgrad[j], fgrad[j] + kFeatureSlots, feature_grad.data() + (i * nf + j) * kFeatureSlots);
    }
    for (int l = 1; l <= s.depth; ++l) {
      Matrix<T> u = weights(s, params, l) * a[static_cast<size_t>(l) - 1];
      u.colwise() += biases(s, params, l);
      a[static_cast<size_t>(l)] = u.array().tanh().matrix();
    }
    const Eigen::Map<const Vector<T>> w_out(params + mlp_output_offset(s), s.width);
    value = w_out.transpose() * a[static_cast<size_t>(s.depth)];
    value.array() += params[mlp_output_offset(s) + s.width];
  }
};

// ∂L/∂θ added into grad for a loss that weighs each sample's V̂ by alpha and, when tangents are
// given (a'_0 … a'_d and u'_1 … u'_d), its directional derivative V̂' by beta (header comment).
template <typename T>
void backpropagate(const MlpShape& s, const T* params, const ForwardPass<T>& fwd, const RowVector<T>& alpha,
                   const std::vector<Matrix<T>>* tangent_a, const std::vector<Matrix<T>>* tangent_u,
                   const RowVector<T>* beta, T* grad) {
  const int d = s.depth, w = s.width;
  const Eigen::Map<const Vector<T>> w_out(params + mlp_output_offset(s), w);
  Eigen::Map<Vector<T>> g_out(grad + mlp_output_offset(s), w);
  g_out += fwd.a[static_cast<size_t>(d)] * alpha.transpose();
  grad[mlp_output_offset(s) + w] += alpha.sum();
  Matrix<T> adj = w_out * alpha;  // ā_l
  Matrix<T> adj_t;                // ā'_l
  if (beta) {
    g_out += (*tangent_a)[static_cast<size_t>(d)] * beta->transpose();
    adj_t = w_out * (*beta);
  }
  for (int l = d; l >= 1; --l) {
    const size_t L = static_cast<size_t>(l);
    const Matrix<T>& a = fwd.a[L];
    const auto slope = (T(1) - a.array().square());  // s_l
    Matrix<T> u_bar = (adj.array() * slope).matrix();
    Matrix<T> u_bar_t;
    if (beta) {
      u_bar.array() -= T(2) * adj_t.array() * (*tangent_u)[L].array() * a.array() * slope;
      u_bar_t = (adj_t.array() * slope).matrix();
    }
    const int fan_in = l == 1 ? mlp_network_inputs(s) : w;
    GradMap<T> g_w(grad + mlp_weight_offset(s, l), w, fan_in);
    g_w.noalias() += u_bar * fwd.a[L - 1].transpose();
    if (beta) g_w.noalias() += u_bar_t * (*tangent_a)[L - 1].transpose();
    Eigen::Map<Vector<T>>(grad + mlp_bias_offset(s, l), w) += u_bar.rowwise().sum();
    if (l > 1) {
      const WeightMap<T> W = weights(s, params, l);
      adj = W.transpose() * u_bar;
      if (beta) adj_t = W.transpose() * u_bar_t;
    }
  }
}

// The loss sums and gradient of one chunk of samples: columns [begin, end) of the main batch, or
// of the boundary samples. Sums are unnormalised where the header's L divides by a count.
struct ChunkSums {
  double td = 0, hjb = 0, boundary = 0;
};

template <typename T>
void main_chunk(const MlpShape& s, const T* params, const CriticMinibatch<T>& batch, int64_t begin, int64_t end,
                T* grad, ChunkSums& sums) {
  const int64_t n = end - begin;
  const bool hjb = batch.hjb_weight > T(0);
  const int inputs = s.inputs, N = mlp_network_inputs(s), nf = s.features + s.path_features, d = s.depth;
  const ForwardPass<T> fwd(s, params, batch.z + begin * inputs, n, hjb);
  RowVector<T> alpha = RowVector<T>::Zero(n);
  for (int64_t i = begin; i < std::min(end, batch.td_count); ++i) {
    const T e = fwd.value(i - begin) - batch.td_target[i];
    sums.td += static_cast<double>(e) * static_cast<double>(e);
    alpha(i - begin) = T(2) * e / static_cast<T>(batch.td_count);
  }
  if (!hjb) {
    backpropagate<T>(s, params, fwd, alpha, nullptr, nullptr, nullptr, grad);
    return;
  }
  // ∇_zV̂: the backward pass with a unit weight on every sample's V̂.
  const Eigen::Map<const Vector<T>> w_out(params + mlp_output_offset(s), s.width);
  Matrix<T> g = w_out.replicate(1, n);
  for (int l = d; l >= 1; --l) {
    const Matrix<T>& a = fwd.a[static_cast<size_t>(l)];
    const Matrix<T> delta = (g.array() * (T(1) - a.array().square())).matrix();
    g = weights(s, params, l).transpose() * delta;
  }
  int slot[kFeatureSlots] = {};
  const int ns = detail::mlp_feature_slots(s, params, slot);
  const int nx = batch.nx, nu = batch.nu;
  Matrix<T> tangent_in(N, n);  // a'_0
  RowVector<T> beta(n);
  T grad_z[kMaxMlpInputs], dz[kMaxMlpInputs], gtv[kMaxControlInputs];
  const T total = static_cast<T>(batch.count);
  for (int64_t c = 0; c < n; ++c) {
    const int64_t i = begin + c;
    const T* fgrad = fwd.feature_grad.data() + c * nf * kFeatureSlots;
    for (int k = 0; k < inputs; ++k) grad_z[k] = g(k, c) * fwd.inv_scale[k];
    for (int j = 0; j < nf; ++j) {
      const T fg = g(inputs + j, c) * fwd.inv_scale[inputs + j];
      for (int a = 0; a < ns; ++a) grad_z[slot[a]] += fg * fgrad[j * kFeatureSlots + a];
    }
    const T* f = batch.drift + i * nx;
    const T* G = batch.input_map + i * nx * nu;
    T l_hat = grad_z[0] - batch.log_discount * fwd.value(c);
    for (int k = 0; k < nx; ++k) l_hat -= f[k] * grad_z[1 + k];
    for (int j = 0; j < nu; ++j) {
      T acc = T(0);
      for (int k = 0; k < nx; ++k) acc += G[k * nu + j] * grad_z[1 + k];
      gtv[j] = acc;
      l_hat += batch.quadratic * batch.r_inverse[j] * acc * acc;
    }
    const T residual = l_hat - batch.task_cost[i];
    sums.hjb += static_cast<double>(residual) * static_cast<double>(residual);
    const T rho = T(2) * batch.hjb_weight * residual / total;
    alpha(c) -= rho * batch.log_discount;
    beta(c) = rho;
    // δz = ∂l̂/∂(∇_zV̂): τ, then the state; the goal's entries are zero.
    std::fill(dz, dz + inputs, T(0));
    dz[0] = T(1);
    for (int k = 0; k < nx; ++k) {
      T acc = -f[k];
      for (int j = 0; j < nu; ++j) acc += T(2) * batch.quadratic * batch.r_inverse[j] * gtv[j] * G[k * nu + j];
      dz[1 + k] = acc;
    }
    for (int k = 0; k < inputs; ++k) tangent_in(k, c) = dz[k] * fwd.inv_scale[k];
    for (int j = 0; j < nf; ++j) {
      T acc = T(0);
      for (int a = 0; a < ns; ++a) acc += fgrad[j * kFeatureSlots + a] * dz[slot[a]];
      tangent_in(inputs + j, c) = acc * fwd.inv_scale[inputs + j];
    }
  }
  // Tangents forward: u'_l = W_l a'_{l−1}, a'_l = s_l ⊙ u'_l.
  std::vector<Matrix<T>> tangent_a(static_cast<size_t>(d) + 1), tangent_u(static_cast<size_t>(d) + 1);
  tangent_a[0] = std::move(tangent_in);
  for (int l = 1; l <= d; ++l) {
    const size_t L = static_cast<size_t>(l);
    tangent_u[L] = weights(s, params, l) * tangent_a[L - 1];
    tangent_a[L] = (tangent_u[L].array() * (T(1) - fwd.a[L].array().square())).matrix();
  }
  backpropagate<T>(s, params, fwd, alpha, &tangent_a, &tangent_u, &beta, grad);
}

template <typename T>
void boundary_chunk(const MlpShape& s, const T* params, const CriticMinibatch<T>& batch, int64_t begin, int64_t end,
                    T* grad, ChunkSums& sums) {
  const int64_t n = end - begin;
  const ForwardPass<T> fwd(s, params, batch.boundary_z + begin * s.inputs, n, false);
  RowVector<T> alpha(n);
  for (int64_t c = 0; c < n; ++c) {
    const T e = fwd.value(c) - batch.boundary_value[begin + c];
    sums.boundary += static_cast<double>(e) * static_cast<double>(e);
    alpha(c) = T(2) * batch.boundary_weight * e / static_cast<T>(batch.boundary_count);
  }
  backpropagate<T>(s, params, fwd, alpha, nullptr, nullptr, nullptr, grad);
}

}  // namespace

template <typename T>
void critic_values(const MlpShape& shape, const T* params, const T* z, int64_t n, T* value) {
  const ForwardPass<T> fwd(shape, params, z, n, false);
  std::copy(fwd.value.data(), fwd.value.data() + n, value);
}

template <typename T>
CriticObjectiveValue critic_objective_gradient(const MlpShape& s, const T* params, const CriticMinibatch<T>& batch,
                                               T* grad, ThreadPool* pool) {
  if (batch.td_count > batch.count) throw std::invalid_argument("critic_objective_gradient: more TD targets than samples");
  if (batch.hjb_weight > T(0) && batch.nu > kMaxControlInputs)
    throw std::invalid_argument("critic_objective_gradient: more than kMaxControlInputs control inputs");
  const bool boundary = batch.boundary_weight > T(0) && batch.boundary_count > 0;
  const int64_t main_chunks = (batch.count + kCriticChunk - 1) / kCriticChunk;
  const int64_t chunks = main_chunks + (boundary ? (batch.boundary_count + kCriticChunk - 1) / kCriticChunk : 0);
  const size_t P = static_cast<size_t>(mlp_parameter_count(s));
  std::vector<T> partial(static_cast<size_t>(chunks) * P, T(0));
  std::vector<ChunkSums> sums(static_cast<size_t>(chunks));
  const auto body = [&](size_t first, size_t last) {
    for (size_t k = first; k < last; ++k) {
      const int64_t c = static_cast<int64_t>(k);
      T* g = partial.data() + k * P;
      if (c < main_chunks)
        main_chunk(s, params, batch, c * kCriticChunk, std::min(batch.count, (c + 1) * kCriticChunk), g, sums[k]);
      else
        boundary_chunk(s, params, batch, (c - main_chunks) * kCriticChunk,
                       std::min(batch.boundary_count, (c - main_chunks + 1) * kCriticChunk), g, sums[k]);
    }
  };
  if (pool && chunks > 1)
    pool->parallel_for(static_cast<size_t>(chunks), body);
  else
    body(0, static_cast<size_t>(chunks));
  // Chunk by chunk in a fixed order: the sum does not depend on the pool's thread count.
  std::fill(grad, grad + P, T(0));
  ChunkSums total;
  for (size_t k = 0; k < static_cast<size_t>(chunks); ++k) {
    const T* g = partial.data() + k * P;
    for (size_t i = 0; i < P; ++i) grad[i] += g[i];
    total.td += sums[k].td;
    total.hjb += sums[k].hjb;
    total.boundary += sums[k].boundary;
  }
  CriticObjectiveValue out;
  out.td = batch.td_count > 0 ? total.td / static_cast<double>(batch.td_count) : 0.0;
  out.loss = out.td;
  if (batch.hjb_weight > T(0) && batch.count > 0)
    out.loss += static_cast<double>(batch.hjb_weight) * total.hjb / static_cast<double>(batch.count);
  if (boundary)
    out.loss += static_cast<double>(batch.boundary_weight) * total.boundary / static_cast<double>(batch.boundary_count);
  return out;
}

template CriticObjectiveValue critic_objective_gradient<float>(const MlpShape&, const float*,
                                                               const CriticMinibatch<float>&, float*, ThreadPool*);
template CriticObjectiveValue critic_objective_gradient<double>(const MlpShape&, const double*,
                                                                const CriticMinibatch<double>&, double*, ThreadPool*);
template void critic_values<float>(const MlpShape&, const float*, const float*, int64_t, float*);
template void critic_values<double>(const MlpShape&, const double*, const double*, int64_t, double*);

}  // namespace dmpc
