// The critic's value network V̂(z) with its exact gradient and Hessian (host and device).
//
// Input z = [τ, s (nx numbers), g (2 numbers)]: time left, state, goal; inputs = 1 + nx + 2. The
// network may append `features` wall-clearance features computed from the ball's position
// p = (z_1, z_2) (the first two state entries of both systems), one per wall segment j:
//
//     φ_j(p) = √(‖p − c_j(p)‖² + ε²) − r_j,   c_j(p) the point of segment j closest to p,
//     r_j its collision radius (half thickness + robot clearance), ε = kWallFeatureSmoothing
//
// — the (smoothed) distance to the wall's collision zone, so that a tanh layer can place a
// steep change at the zone's edge (the cliff of the collision penalty in V*) instead of building
// it from the raw coordinates. The network input is z' = [z, φ, ψ] (N = inputs + F + P numbers;
// ψ the path-length features below). It normalises that with fixed constants, runs `depth` tanh
// layers of `width` units and ends in a linear output:
//
//     a_0 = z̃',  z̃'_i = (z'_i − offset_i) / scale_i
//     z_l = W_l a_{l−1} + b_l,  a_l = σ(z_l) = tanh(z_l)           l = 1 … depth
//     V̂  = w_outᵀ a_depth + b_out
//
// Flat parameter buffer (T = float or double), n = N = inputs + features, w = width, d = depth;
// every matrix is row-major (W_l[k][m] at W_l + k·fan_in + m, fan_in = n for W_1 and w after):
//
//     offset  n      at 0
//     scale   n      at n
//     W_1     w × n  at 2n
//     b_1     w      at 2n + w·n
//     W_l     w × w  at 2n + w·n + w + (l − 2)(w² + w)          l = 2 … d
//     b_l     w      at 2n + w·n + w + (l − 2)(w² + w) + w²
//     w_out   w      at 2n + w·n + w + (d − 1)(w² + w)
//     b_out   1      at 2n + w·n + w + (d − 1)(w² + w) + w
//     walls   5F     at 2n + w·n + w + (d − 1)(w² + w) + w + 1  (x0, y0, x1, y1, r) per feature
//     path    2 + P  after the walls, when P > 0 (velocity index, margin, κ_1 … κ_P)
//             [+ 2]  with path_body: yaw's state index, the lean gain h
//     count          2n + w·n + w + (d − 1)(w² + w) + w + 1 + 5F [+ 2 + P [+ 2]]
//                    (paper net n 13, w 12, d 3: 519)
//
// Derivatives. With σ' = 1 − tanh² and σ'' = −2 tanh (1 − tanh²), backpropagation gives the
// adjoints g_l = ∂V̂/∂a_l:
//
//     g_depth = w_out,   δ_l = g_l ⊙ σ'(z_l),   g_{l−1} = W_lᵀ δ_l,   ∂V̂/∂z_i = g_{0,i} / scale_i
//
// For the Hessian with respect to the first ND raw inputs (the actor's (τ, x) block), the tangents
// of the pre-activations Zx_l = ∂z_l/∂z_{0:ND} (w × ND) are carried forward:
//
//     Zx_1 = W_1[:, :ND] · diag(1/scale_{0:ND}),   Zx_l = W_l · diag(σ'(z_{l−1})) · Zx_{l−1}
//
//     ∂²V̂/∂z_{0:ND}² = Σ_l Zx_lᵀ · diag(g_l ⊙ σ''(z_l)) · Zx_l
//
// With features the raw input reaches the network also through φ(p): by the chain rule the
// gradient gains ∂V̂/∂φ_j ∇_pφ_j, Zx_1 gains W_1[:, φ_j] / scale_φj ⊗ ∇φ_j, and the Hessian gains
// Σ_j (∂V̂/∂φ_j) ∇²_pφ_j (the features' own curvature; the network's terms are in the sum above).
// With e = p − c_j and s = √(‖e‖² + ε²): ∇φ_j = e / s and ∇²φ_j = P / s − e eᵀ / s³, where P = I
// beyond the segment's ends (c_j is an end point) and P = m mᵀ beside it (c_j slides along the
// segment, m its unit normal).
//
// Why this is exact (not Gauss–Newton): the affine maps have no curvature, so every second
// derivative comes from a tanh. For one unit, ∇²a_{l,k} = σ''(z_{l,k}) ∇z_{l,k} ∇z_{l,k}ᵀ
// + σ'(z_{l,k}) ∇²z_{l,k} with ∇²z_{l,k} = Σ_m W_l[k][m] ∇²a_{l−1,m} (and ∇²z_1 = 0). Expanding
// ∇²V̂ = Σ_k w_out,k ∇²a_{depth,k} through this recursion, the coefficient that reaches each
// σ''(z_{l,k}) ∇z_{l,k} ∇z_{l,k}ᵀ term is the product of w_out, σ' and W along every path from the
// unit to the output, which is exactly the backpropagated g_{l,k}. Nothing is dropped or
// approximated; the result is as exact as the arithmetic.
//
// Path-length features (MlpShape::path_features = P > 0, after the wall features; beyond the
// paper). Where the wall-clearance features say how far the wall is, these say which way round it
// is short: each is the length of the shortest way from a point q to the goal g around the walls
// of the F wall blocks,
//
//     ψ(q, g) = s(q, g)                                  when the segment q–g crosses no wall
//             = min over waypoints e of s(q, e) + ‖e − g‖  otherwise,   s(a, b) = √(‖a − b‖² + ε²)
//
// where a wall blocks q–g when q–g crosses the wall's segment extended at both ends by its
// collision radius plus a margin m, and the waypoints are those extended ends. This is the exact
// shortest way for one wall (the task's layout) and a one-turn approximation for several. ψ is
// continuous (up to the smoothing ε), has a kink where the ways round either end are equally long
// (the ridge behind the wall: exactly what a smooth network cannot build from p itself), and its
// curvature jumps at the edge of the wall's shadow. Feature p evaluates
// ψ at the look-ahead point q = p + κ_p v (p the ball's position, v its velocity, κ_p a time), so a
// network with κ > 0 among its inputs gets V̂'s velocity dependence along the short way directly:
// ∂ψ/∂v = κ ∇_qψ. With a = the active anchor (g or e) and d = q − a: ∇_qψ = d / s,
// ∇²_qψ = I / s − d dᵀ / s³, ∇_gψ = (g − q)/s directly or (g − e)/‖g − e‖ round an end (with its
// curvature (I − u uᵀ)/‖g − e‖); in the state coordinates (p, v) the Hessian is
// [[1, κ], [κ, κ²]] ⊗ ∇²_qψ. Their parameters follow the walls: the state index of the ball's
// velocity x, the margin m, then κ_1 … κ_P (count 2 + P).
//
// The body's lean (MlpShape::path_body = 1, the Ballbot). A balancing robot cannot accelerate its
// ball without first leaning the body that way, so where it will be depends on its lean as much as
// on its velocity; with a look-ahead point that ignores the lean, V̂ has no gradient in the lean and
// the actor's greedy input (−R⁻¹gᵀ∂ₓV̂, which for the Ballbot acts through the body) pushes the ball
// against the body instead of leaning into the turn. With path_body the look-ahead point moves with
// the lean: with its horizontal direction in the world, Rz(yaw) (pitch, −roll) (the body's z axis
// tips towards +x with pitch and −y with roll), and a length h [m/rad],
//
//     q = p + κ v + h Rz(yaw) ((pitch, −roll) + κ (pitch rate, −roll rate))
//
// — to first order in the lean, the point h above the ball centre on the body's axis and its
// velocity, κ seconds ahead (h ≈ 0.2 m puts it at the body's centre of mass; the training
// configurations use larger h, which weigh the lean as the acceleration it is about to cause).
// Two numbers follow κ_P: the state index b of yaw (pitch and roll follow it; their rates lie at
// b + 1 + vi and b + 2 + vi, the state being [q; q̇] with q̇ from index vi) and h. With c, s = cos,
// sin(yaw), A = h(pitch + κ ṗitch), B = −h(roll + κ ṙoll) the offset is o = (cA − sB, sA + cB); its
// Jacobian is ∂o/∂yaw = (−o_y, o_x), ∂o/∂(pitch, ṗitch) = h (1, κ) ⊗ (c, s), ∂o/∂(roll, ṙoll) = h (1, κ) ⊗
// (s, −c); its curvature lies in the yaw row and column only: ∂²o/∂yaw² = −o,
// ∂²o/∂yaw∂(pitch, ṗitch) = h (1, κ) ⊗ (−s, c), ∂²o/∂yaw∂(roll, ṙoll) = h (1, κ) ⊗ (c, s). The
// feature's Hessian is Jᵀ ∇²ψ J + Σ_m ∂ψ/∂q_m ∇²q_m.
//
// Each feature's chain rule runs over the coordinates of z it can depend on (its slots, ascending):
// p (2), v (2) and g (2), or with path_body p, yaw, pitch, roll, v, the two lean rates and g (11).
// The Hessian takes the slots among the first ND inputs (the actor's (τ, x) block never holds the
// goal).
//
// Cost for the paper net (n 13, w 12, d 3, ND 11): 36 tanh, ~0.9k multiply-adds for the value and
// gradient, ~3.2k for the tangents and ~2.4k for the Hessian's upper triangle; about 1 µs per call
// in double and 0.8 µs in float on one core of the 2-core development VM (-O3, no -march), 0.25 µs
// for the value alone. Runtime shape sizes bound every loop; the compile-time caps only size the
// scratch arrays, which under nvcc made a stack frame of ~16 KB (double) / ~8 KB (float) per
// thread for ND = 11 with six feature slots; the eleven slots of path_body add ~4 KB / ~2 KB of
// feature Hessians (untouched, so no memory traffic, unless a network has features).
#pragma once

#include <cstdint>

#include "core/hd.hpp"

namespace dmpc {

constexpr int kMaxMlpInputs = 16;
constexpr int kMaxMlpWidth = 64;
constexpr int kMaxMlpDepth = 4;
constexpr int kMaxMlpFeatures = 4;        // wall-clearance features (one per wall segment)
constexpr int kMaxPathFeatures = 2;       // path-length features (look-ahead times)
constexpr int kMaxNetFeatures = kMaxMlpFeatures + kMaxPathFeatures;
constexpr int kFeatureSlots = 11;         // the most coordinates a feature depends on (with path_body)
constexpr double kWallFeatureSmoothing = 0.01;  // ε of φ_j and ψ_p [m]
static_assert(kMaxMlpWidth >= kMaxMlpInputs, "an activation buffer also holds the input");

struct MlpShape {
  int32_t inputs;        // raw inputs: 1 + nx + 2
  int32_t width;         // units per hidden layer
  int32_t depth;         // number of hidden (tanh) layers
  int32_t features = 0;  // wall-clearance features appended to the input (0: none)
  int32_t path_features = 0;  // path-length features round those walls, after them (0: none)
  int32_t path_body = 0;      // 1: their look-ahead point follows the body's lean (Ballbot)
};

// N: the first layer's fan-in, raw inputs and features.
DMPC_HD int mlp_network_inputs(const MlpShape& s) { return s.inputs + s.features + s.path_features; }

DMPC_HD bool mlp_shape_valid(const MlpShape& s) {
  return s.inputs >= 1 && s.features >= 0 && s.features <= kMaxMlpFeatures &&
         (s.features == 0 || s.inputs >= 3) && s.path_features >= 0 &&
         s.path_features <= kMaxPathFeatures && (s.path_features == 0 || (s.features >= 1 && s.inputs >= 7)) &&
         (s.path_body == 0 || (s.path_body == 1 && s.path_features > 0 && s.inputs >= 13)) &&
         mlp_network_inputs(s) <= kMaxMlpInputs &&
         s.width >= 1 && s.width <= kMaxMlpWidth && s.depth >= 1 && s.depth <= kMaxMlpDepth;
}

// Offset of W_layer (layer = 1 … depth) in the flat buffer; layer = depth + 1 gives w_out.
DMPC_HD int mlp_weight_offset(const MlpShape& s, int layer) {
  const int n = mlp_network_inputs(s), w = s.width;
  return layer == 1 ? 2 * n : 2 * n + w * n + w + (layer - 2) * (w * w + w);
}

// Offset of b_layer (layer = 1 … depth).
DMPC_HD int mlp_bias_offset(const MlpShape& s, int layer) {
  return mlp_weight_offset(s, layer) + s.width * (layer == 1 ? mlp_network_inputs(s) : s.width);
}

// Offset of w_out; b_out follows it at + width.
DMPC_HD int mlp_output_offset(const MlpShape& s) { return mlp_weight_offset(s, s.depth + 1); }

// Offset of the wall segments of the features (5 numbers each).
DMPC_HD int mlp_walls_offset(const MlpShape& s) { return mlp_output_offset(s) + s.width + 1; }

// Offset of the path features' parameters: velocity index, margin, κ_1 … κ_P [, yaw index, lean gain].
DMPC_HD int mlp_path_offset(const MlpShape& s) { return mlp_walls_offset(s) + 5 * s.features; }

DMPC_HD int mlp_parameter_count(const MlpShape& s) {
  return mlp_path_offset(s) + (s.path_features > 0 ? 2 + s.path_features + 2 * s.path_body : 0);
}

template <typename T, int ND>
struct ValueDerivatives {
  T value;
  T grad[kMaxMlpInputs];  // ∂V̂/∂z_i for i < inputs (raw inputs); zero above
  T hess[ND][ND];         // ∂²V̂/∂z_i∂z_j for i, j < ND (symmetric, both triangles filled)
};

// ND = 0: the value and the gradient only. value_mlp_derivatives then skips the tangents and the
// features' curvature, about half its work (the actor's rollouts ask for Eq. 14's running cost at
// every knot, which needs ∇V̂ but no Hessian).
template <typename T>
struct ValueDerivatives<T, 0> {
  T value;
  T grad[kMaxMlpInputs];
};

namespace detail {

// tanh from one exponential, (1 − e)/(1 + e) with e = exp(−2|x|) ∈ (0, 1]: no overflow, absolute
// error within a few ε (all the network needs: activations only enter sums), NaN stays NaN. On
// the host it is about twice as fast as the C library's tanh, which the MLP's cost is dominated by.
template <typename T>
DMPC_HD T mlp_tanh(T x) {
  const T e = exp(T(-2) * fabs(x));
  const T r = (T(1) - e) / (T(1) + e);
  return x < T(0) ? -r : r;
}

// a_out[k] = mlp_tanh(b[k] + Σ_m W[k][m] a_in[m]) for k < rows, m < cols. Four rows at a time: each
// row's sum keeps its order (m ascending), but four independent chains hide the add latency that a
// single running sum would serialise on.
template <typename T>
DMPC_HD void mlp_tanh_layer(const T* W, const T* b, const T* a_in, int rows, int cols, T* a_out) {
  int k = 0;
  for (; k + 4 <= rows; k += 4) {
    const T* r0 = W + k * cols;
    const T* r1 = r0 + cols;
    const T* r2 = r1 + cols;
    const T* r3 = r2 + cols;
    T s0 = b[k], s1 = b[k + 1], s2 = b[k + 2], s3 = b[k + 3];
    for (int m = 0; m < cols; ++m) {
      const T am = a_in[m];
      s0 += r0[m] * am;
      s1 += r1[m] * am;
      s2 += r2[m] * am;
      s3 += r3[m] * am;
    }
    a_out[k] = mlp_tanh(s0);
    a_out[k + 1] = mlp_tanh(s1);
    a_out[k + 2] = mlp_tanh(s2);
    a_out[k + 3] = mlp_tanh(s3);
  }
  for (; k < rows; ++k) {
    const T* row = W + k * cols;
    T sum = b[k];
    for (int m = 0; m < cols; ++m) sum += row[m] * a_in[m];
    a_out[k] = mlp_tanh(sum);
  }
}

// Wall-clearance feature φ of segment w = (x0, y0, x1, y1, r) at (px, py); with grad given also
// ∇φ, with hess ∇²φ (formulas in the header comment).
template <typename T>
DMPC_HD T wall_clearance(const T* w, T px, T py, T* grad, T (*hess)[2]) {
  const T dx = w[2] - w[0], dy = w[3] - w[1];
  const T len2 = dx * dx + dy * dy;
  T t = len2 > T(0) ? ((px - w[0]) * dx + (py - w[1]) * dy) / len2 : T(0);
  const bool beside = t > T(0) && t < T(1);
  t = t < T(0) ? T(0) : (t > T(1) ? T(1) : t);
  const T ex = px - (w[0] + t * dx), ey = py - (w[1] + t * dy);
  const T eps = T(kWallFeatureSmoothing);
  const T s = sqrt(ex * ex + ey * ey + eps * eps);
  if (grad) {
    grad[0] = ex / s;
    grad[1] = ey / s;
  }
  if (hess) {
    // P: the directions in which p − c changes with p (both beyond the ends, the normal beside).
    T p00 = T(1), p01 = T(0), p11 = T(1);
    if (beside) {
      const T len = sqrt(len2), mx = -dy / len, my = dx / len;
      p00 = mx * mx;
      p01 = mx * my;
      p11 = my * my;
    }
    const T s3 = s * s * s;
    hess[0][0] = p00 / s - ex * ex / s3;
    hess[0][1] = hess[1][0] = p01 / s - ex * ey / s3;
    hess[1][1] = p11 / s - ey * ey / s3;
  }
  return s - w[4];
}

// 2 × cross(b − a, c − a): the orientation of the triangle a, b, c.
template <typename T>
DMPC_HD T orientation(T ax, T ay, T bx, T by, T cx, T cy) {
  return (bx - ax) * (cy - ay) - (by - ay) * (cx - ax);
}

// ψ(q, g) of the header comment over the wall blocks `walls` (5 numbers each) with margin m; with
// grad given also the gradient over (q, g) (grad[0..3]), with hess the Hessian over (q, g) (4 × 4).
template <typename T>
DMPC_HD T path_length(const T* walls, int nwalls, T margin, T qx, T qy, T gx, T gy, T* grad, T (*hess)[4]) {
  const T eps2 = T(kWallFeatureSmoothing) * T(kWallFeatureSmoothing);
  // The extended ends of every wall: the blocking segments and the waypoints.
  T ends[kMaxMlpFeatures][4];
  bool blocked = false;
  for (int j = 0; j < nwalls; ++j) {
    const T* w = walls + 5 * j;
    T ux = w[2] - w[0], uy = w[3] - w[1];
    const T len = sqrt(ux * ux + uy * uy);
    ux = len > T(0) ? ux / len : T(1);
    uy = len > T(0) ? uy / len : T(0);
    const T reach = w[4] + margin;
    ends[j][0] = w[0] - reach * ux;
    ends[j][1] = w[1] - reach * uy;
    ends[j][2] = w[2] + reach * ux;
    ends[j][3] = w[3] + reach * uy;
    const T* e = ends[j];
    const T o1 = orientation(qx, qy, gx, gy, e[0], e[1]), o2 = orientation(qx, qy, gx, gy, e[2], e[3]);
    const T o3 = orientation(e[0], e[1], e[2], e[3], qx, qy), o4 = orientation(e[0], e[1], e[2], e[3], gx, gy);
    if (o1 * o2 < T(0) && o3 * o4 < T(0)) blocked = true;
  }
  // The active anchor a (g, or the best waypoint) and the rest of the way from it.
  T ax = gx, ay = gy, rest = T(0);
  if (blocked) {
    T best = T(0);
    bool first = true;
    for (int j = 0; j < nwalls; ++j) {
      for (int k = 0; k < 2; ++k) {
        const T ex = ends[j][2 * k], ey = ends[j][2 * k + 1];
        const T tail = sqrt((ex - gx) * (ex - gx) + (ey - gy) * (ey - gy));
        const T total = sqrt((qx - ex) * (qx - ex) + (qy - ey) * (qy - ey) + eps2) + tail;
        if (first || total < best) {
          best = total;
          first = false;
          ax = ex;
          ay = ey;
          rest = tail;
        }
      }
    }
  }
  const T dx = qx - ax, dy = qy - ay;
  const T sq = sqrt(dx * dx + dy * dy + eps2);
  if (grad) {
    grad[0] = dx / sq;
    grad[1] = dy / sq;
    if (blocked) {
      const T tx = ax - gx, ty = ay - gy;
      grad[2] = rest > T(0) ? -tx / rest : T(0);
      grad[3] = rest > T(0) ? -ty / rest : T(0);
    } else {
      grad[2] = -dx / sq;
      grad[3] = -dy / sq;
    }
  }
  if (hess) {
    // ∇²_q s = I/s − d dᵀ/s³ =: C. Straight: ψ = s(q − g), so the (q, g) Hessian is [[C, −C], [−C, C]];
    // round an end: C in the q block and the tail's (I − u uᵀ)/‖e − g‖ (u its direction) in the g block.
    const T s3 = sq * sq * sq;
    const T c[2][2] = {{T(1) / sq - dx * dx / s3, -dx * dy / s3}, {-dx * dy / s3, T(1) / sq - dy * dy / s3}};
    for (int a = 0; a < 2; ++a)
      for (int b = 0; b < 2; ++b) {
        hess[a][b] = c[a][b];
        hess[a][2 + b] = hess[2 + a][b] = blocked ? T(0) : -c[a][b];
        hess[2 + a][2 + b] = blocked ? T(0) : c[a][b];
      }
    if (blocked && rest > T(0)) {
      const T ux = (gx - ax) / rest, uy = (gy - ay) / rest;  // ∂ψ/∂g round an end
      hess[2][2] = (T(1) - ux * ux) / rest;
      hess[2][3] = hess[3][2] = -ux * uy / rest;
      hess[3][3] = (T(1) - uy * uy) / rest;
    }
  }
  return sq + rest;
}

// The input indices of the coordinates the features depend on (see the header comment), ascending;
// returns their number: 6 (p, v, g; v's slots repeat p's when the network has no path features)
// or 11 with path_body (p, yaw, pitch, roll, v, pitch rate, roll rate, g).
template <typename T>
DMPC_HD int mlp_feature_slots(const MlpShape& s, const T* params, int* slot) {
  const int vi = s.path_features > 0 ? static_cast<int>(params[mlp_path_offset(s)]) : 0;
  slot[0] = 1;
  slot[1] = 2;
  if (s.path_body) {
    const int b = static_cast<int>(params[mlp_path_offset(s) + 2 + s.path_features]);
    slot[2] = 1 + b;  // yaw
    slot[3] = 2 + b;  // pitch
    slot[4] = 3 + b;  // roll
    slot[5] = 1 + vi;
    slot[6] = 2 + vi;
    slot[7] = 2 + b + vi;  // pitch rate
    slot[8] = 3 + b + vi;  // roll rate
    slot[9] = s.inputs - 2;
    slot[10] = s.inputs - 1;
    return 11;
  }
  slot[2] = 1 + vi;
  slot[3] = 2 + vi;
  slot[4] = s.inputs - 2;
  slot[5] = s.inputs - 1;
  return 6;
}

// The normalised network input z̃' (raw inputs, then the features) and 1/scale; with fgrad given
// also each feature's gradient over the slots of mlp_feature_slots, with fhess (which needs fgrad)
// its Hessian (one evaluation of each feature; entries beyond the slot count are left alone).
template <typename T>
DMPC_HD void mlp_normalise(const MlpShape& s, const T* params, const T* input, T* normalised,
                           T* inv_scale, T (*fgrad)[kFeatureSlots] = nullptr,
                           T (*fhess)[kFeatureSlots][kFeatureSlots] = nullptr) {
  const int n = mlp_network_inputs(s);
  int slot[kFeatureSlots] = {};
  const int ns = mlp_feature_slots(s, params, slot);
  const T* offset = params;
  const T* scale = params + n;
  for (int i = 0; i < n; ++i) inv_scale[i] = T(1) / scale[i];
  for (int i = 0; i < s.inputs; ++i) normalised[i] = (input[i] - offset[i]) * inv_scale[i];
  const T* walls = params + mlp_walls_offset(s);
  for (int j = 0; j < s.features; ++j) {
    const int i = s.inputs + j;
    T g2[2], h2[2][2];
    const T phi = wall_clearance<T>(walls + 5 * j, input[1], input[2], fgrad ? g2 : nullptr, fhess ? h2 : nullptr);
    if (fgrad) {  // φ depends on p only: its other slots are zero
      for (int a = 0; a < ns; ++a) {
        fgrad[j][a] = a < 2 ? g2[a] : T(0);
        if (fhess)
          for (int b = 0; b < ns; ++b) fhess[j][a][b] = a < 2 && b < 2 ? h2[a][b] : T(0);
      }
    }
    normalised[i] = (phi - offset[i]) * inv_scale[i];
  }
  if (s.path_features > 0) {
    const T* path = params + mlp_path_offset(s);
    const int vs = s.path_body ? 5 : 2;  // the velocity's first slot
    const T vx = input[slot[vs]], vy = input[slot[vs + 1]], gx = input[slot[ns - 2]], gy = input[slot[ns - 1]];
    // The lean (path_body): its gain and yaw's rotation, the same for every look-ahead time.
    const T h = s.path_body ? path[3 + s.path_features] : T(0);
    const T cy = s.path_body ? cos(input[slot[2]]) : T(0), sy = s.path_body ? sin(input[slot[2]]) : T(0);
    for (int k = 0; k < s.path_features; ++k) {
      const int j = s.features + k, i = s.inputs + j;
      const T kappa = path[2 + k];
      T qx = input[1] + kappa * vx, qy = input[2] + kappa * vy;
      // The lean's offset o = Rz(yaw) (A, B) (header comment), kept for the chain rule.
      T ox = T(0), oy = T(0);
      if (s.path_body) {
        const T A = h * (input[slot[3]] + kappa * input[slot[7]]);
        const T B = -h * (input[slot[4]] + kappa * input[slot[8]]);
        ox = cy * A - sy * B;
        oy = sy * A + cy * B;
        qx += ox;
        qy += oy;
      }
      T g4[4], h4[4][4];
      const T psi = path_length<T>(walls, s.features, path[1], qx, qy, gx, gy,
                                   fgrad ? g4 : nullptr, fhess ? h4 : nullptr);
      if (fgrad && s.path_body) {
        // J: ∂(q_x, q_y, g_x, g_y)/∂slot; Q_m: ∂²q_m/∂slot² (yaw's row and column only).
        T J[4][kFeatureSlots];
        for (int m = 0; m < 4; ++m)
          for (int a = 0; a < ns; ++a) J[m][a] = T(0);
        J[0][0] = J[1][1] = T(1);
        J[0][5] = J[1][6] = kappa;
        J[2][9] = J[3][10] = T(1);
        J[0][2] = -oy;  // yaw
        J[1][2] = ox;
        J[0][3] = h * cy;  // pitch, and κ times it for its rate
        J[1][3] = h * sy;
        J[0][4] = h * sy;  // roll
        J[1][4] = -h * cy;
        for (int m = 0; m < 2; ++m) {
          J[m][7] = kappa * J[m][3];
          J[m][8] = kappa * J[m][4];
        }
        // ∂²q/∂yaw∂(pitch, roll, rates): the yaw derivative of their Jacobian columns.
        T Qy[2][kFeatureSlots];
        for (int m = 0; m < 2; ++m)
          for (int a = 0; a < ns; ++a) Qy[m][a] = T(0);
        Qy[0][2] = -ox;
        Qy[1][2] = -oy;
        Qy[0][3] = -h * sy;
        Qy[1][3] = h * cy;
        Qy[0][4] = h * cy;
        Qy[1][4] = h * sy;
        for (int m = 0; m < 2; ++m) {
          Qy[m][7] = kappa * Qy[m][3];
          Qy[m][8] = kappa * Qy[m][4];
        }
        for (int a = 0; a < ns; ++a) {
          T ga = T(0);
          for (int m = 0; m < 4; ++m) ga += g4[m] * J[m][a];
          fgrad[j][a] = ga;
        }
        if (fhess) {
          T HJ[4][kFeatureSlots];  // ∇²ψ J
          for (int m = 0; m < 4; ++m)
            for (int b = 0; b < ns; ++b) {
              T acc = T(0);
              for (int r = 0; r < 4; ++r) acc += h4[m][r] * J[r][b];
              HJ[m][b] = acc;
            }
          for (int a = 0; a < ns; ++a)
            for (int b = 0; b < ns; ++b) {
              T acc = T(0);
              for (int m = 0; m < 4; ++m) acc += J[m][a] * HJ[m][b];
              fhess[j][a][b] = acc;
            }
          // Σ_m ∂ψ/∂q_m ∇²q_m: the yaw row and column (yaw's slot is 2).
          for (int a = 0; a < ns; ++a) {
            const T add = g4[0] * Qy[0][a] + g4[1] * Qy[1][a];
            fhess[j][2][a] += add;
            if (a != 2) fhess[j][a][2] += add;
          }
        }
      } else if (fgrad) {
        // Slot a (p, v, g; x and y each) moves (q, g) coordinate m[a] by factor c[a]: q = p + κ v.
        const int m[6] = {0, 1, 0, 1, 2, 3};
        const T c[6] = {T(1), T(1), kappa, kappa, T(1), T(1)};
        for (int a = 0; a < 6; ++a) {
          fgrad[j][a] = c[a] * g4[m[a]];
          if (fhess)
            for (int b = 0; b < 6; ++b) fhess[j][a][b] = c[a] * c[b] * h4[m[a]][m[b]];
        }
      }
      normalised[i] = (psi - offset[i]) * inv_scale[i];
    }
  }
}

}  // namespace detail

// V̂(input). `params` holds mlp_parameter_count(shape) numbers in the layout above; the shape must
// be valid (mlp_shape_valid) — host code checks it when a network is loaded.
template <typename T>
DMPC_HD T value_mlp(const MlpShape& s, const T* params, const T* input) {
  const int w = s.width;
  T inv_scale[kMaxMlpInputs];
  T buf[2][kMaxMlpWidth];
  detail::mlp_normalise(s, params, input, buf[0], inv_scale);
  int cur = 0;
  for (int l = 1; l <= s.depth; ++l) {
    const int fan_in = l == 1 ? mlp_network_inputs(s) : w;
    detail::mlp_tanh_layer(params + mlp_weight_offset(s, l), params + mlp_bias_offset(s, l),
                           buf[cur], w, fan_in, buf[1 - cur]);
    cur = 1 - cur;
  }
  const T* w_out = params + mlp_output_offset(s);
  T value = w_out[w];  // b_out
  for (int k = 0; k < w; ++k) value += w_out[k] * buf[cur][k];
  return value;
}

// V̂, ∂V̂/∂z for every input, and ∂²V̂/∂z² for the first ND inputs (formulas in the header comment).
// ND may exceed shape.inputs: V̂ does not depend on the missing inputs, and their rows and columns
// of the Hessian come out zero. ND = 0: no Hessian; the value and gradient are the same numbers.
template <typename T, int ND>
DMPC_HD void value_mlp_derivatives(const MlpShape& s, const T* params, const T* input,
                                   ValueDerivatives<T, ND>& out) {
  static_assert(ND >= 0 && ND <= kMaxMlpInputs, "Hessian block size out of range");
  const int n = mlp_network_inputs(s), raw = s.inputs, w = s.width, d = s.depth;

  // Forward: t_l = tanh(z_l) for every layer; the backward pass replaces it by σ'(z_l).
  T inv_scale[kMaxMlpInputs];
  T normalised[kMaxMlpInputs];
  T t[kMaxMlpDepth][kMaxMlpWidth];
  // The features' gradients and Hessians over their coordinate slots (p, v, g [and the lean]).
  T fgrad[kMaxNetFeatures][kFeatureSlots], fhess[kMaxNetFeatures][kFeatureSlots][kFeatureSlots];
  int slot[kFeatureSlots];
  detail::mlp_normalise(s, params, input, normalised, inv_scale, fgrad, ND > 0 ? fhess : nullptr);
  const int ns = detail::mlp_feature_slots(s, params, slot);
  const int nf = s.features + s.path_features;
  for (int l = 0; l < d; ++l) {
    detail::mlp_tanh_layer(params + mlp_weight_offset(s, l + 1), params + mlp_bias_offset(s, l + 1),
                           l == 0 ? normalised : t[l - 1], w, l == 0 ? n : w, t[l]);
  }
  const T* w_out = params + mlp_output_offset(s);
  T value = w_out[w];
  for (int k = 0; k < w; ++k) value += w_out[k] * t[d - 1][k];
  out.value = value;

  // Backward: g = ∂V̂/∂a_l, δ = g ⊙ σ'; keep σ'(z_l) (in t's place: dsig aliases t) for the
  // tangents, and the Hessian weights c_l = g_l ⊙ σ''(z_l) = −2 t_l ⊙ δ_l.
  T(&dsig)[kMaxMlpDepth][kMaxMlpWidth] = t;
  T c[kMaxMlpDepth][kMaxMlpWidth];
  T g[kMaxMlpWidth];
  T delta[kMaxMlpWidth];
  for (int k = 0; k < w; ++k) g[k] = w_out[k];
  for (int l = d - 1; l >= 0; --l) {
    for (int k = 0; k < w; ++k) {
      const T tk = t[l][k];
      const T sp = T(1) - tk * tk;
      dsig[l][k] = sp;
      delta[k] = g[k] * sp;
      c[l][k] = T(-2) * tk * delta[k];
    }
    // g_{l−1} = W_lᵀ δ_l, accumulated row by row (contiguous reads of W).
    const int fan_in = l == 0 ? n : w;
    const T* W = params + mlp_weight_offset(s, l + 1);
    for (int m = 0; m < fan_in; ++m) g[m] = T(0);
    for (int k = 0; k < w; ++k) {
      const T* row = W + k * fan_in;
      const T dk = delta[k];
      for (int m = 0; m < fan_in; ++m) g[m] += row[m] * dk;
    }
  }
  for (int i = 0; i < raw; ++i) out.grad[i] = g[i] * inv_scale[i];
  for (int i = raw; i < kMaxMlpInputs; ++i) out.grad[i] = T(0);
  // The features' chain rule: fg_j = ∂V̂/∂φ_j times their gradients and curvatures in the slots.
  T fg[kMaxNetFeatures];
  for (int j = 0; j < nf; ++j) {
    fg[j] = g[raw + j] * inv_scale[raw + j];
    for (int a = 0; a < ns; ++a) out.grad[slot[a]] += fg[j] * fgrad[j][a];
  }
  if constexpr (ND > 0) {  // (ND = 0 declares none of the arrays below)
    // Tangents Zx_l (ping-pong buffers) and the Hessian's upper triangle.
    T Z[2][kMaxMlpWidth][ND];
    T H[ND][ND];
    for (int i = 0; i < ND; ++i)
      for (int j = i; j < ND; ++j) H[i][j] = T(0);
    {
      const T* W1 = params + mlp_weight_offset(s, 1);
      for (int k = 0; k < w; ++k) {
        for (int j = 0; j < ND; ++j) Z[0][k][j] = j < raw ? W1[k * n + j] * inv_scale[j] : T(0);
        for (int f = 0; f < nf; ++f) {
          const T a = W1[k * n + raw + f] * inv_scale[raw + f];
          for (int q = 0; q < ns; ++q)
            if (slot[q] < ND) Z[0][k][slot[q]] += a * fgrad[f][q];
        }
      }
    }
    for (int l = 0; l < d; ++l) {
      T(*Zl)[ND] = Z[l & 1];
      if (l > 0) {
        // Zx_l = W_l · (diag(σ'(z_{l−1})) Zx_{l−1}); the previous buffer's rows are already scaled.
        const T(*Zp)[ND] = Z[(l - 1) & 1];
        const T* W = params + mlp_weight_offset(s, l + 1);
        for (int k = 0; k < w; ++k) {
          T row[ND];
          for (int j = 0; j < ND; ++j) row[j] = T(0);
          const T* wk = W + k * w;
          for (int m = 0; m < w; ++m) {
            const T wkm = wk[m];
            for (int j = 0; j < ND; ++j) row[j] += wkm * Zp[m][j];
          }
          for (int j = 0; j < ND; ++j) Zl[k][j] = row[j];
        }
      }
      // H += Zx_lᵀ diag(c_l) Zx_l on the upper triangle, four rows of Zx_l per pass over H so that
      // each entry of H is loaded and stored once per four rank-one terms.
      const T* cl = c[l];
      int k = 0;
      for (; k + 4 <= w; k += 4) {
        const T* z0 = Zl[k];
        const T* z1 = Zl[k + 1];
        const T* z2 = Zl[k + 2];
        const T* z3 = Zl[k + 3];
        for (int i = 0; i < ND; ++i) {
          const T a0 = cl[k] * z0[i], a1 = cl[k + 1] * z1[i];
          const T a2 = cl[k + 2] * z2[i], a3 = cl[k + 3] * z3[i];
          for (int j = i; j < ND; ++j) H[i][j] += a0 * z0[j] + a1 * z1[j] + a2 * z2[j] + a3 * z3[j];
        }
      }
      for (; k < w; ++k) {
        const T* zk = Zl[k];
        for (int i = 0; i < ND; ++i) {
          const T ai = cl[k] * zk[i];
          for (int j = i; j < ND; ++j) H[i][j] += ai * zk[j];
        }
      }
      // diag(σ'(z_l)) Zx_l, the right factor of the next layer's tangents.
      if (l + 1 < d) {
        for (int k2 = 0; k2 < w; ++k2) {
          const T sk = dsig[l][k2];
          for (int j = 0; j < ND; ++j) Zl[k2][j] *= sk;
        }
      }
    }
    // The features' own curvature; slots are ascending, so (slot a, slot b) with a ≤ b lies in the
    // upper triangle, and a repeated slot (v = p without path features) adds zeros.
    for (int f = 0; f < nf; ++f)
      for (int a = 0; a < ns; ++a)
        for (int b = 0; b < ns; ++b)
          if (slot[a] < ND && slot[b] < ND && slot[a] <= slot[b] && (a <= b || slot[a] < slot[b]))
            H[slot[a]][slot[b]] += fg[f] * fhess[f][a][b];
    for (int i = 0; i < ND; ++i) {
      out.hess[i][i] = H[i][i];
      for (int j = i + 1; j < ND; ++j) out.hess[i][j] = out.hess[j][i] = H[i][j];
    }
  }
}

}  // namespace dmpc
