// Physical parameters of the Ballbot (shared/spec/ballbot.md, "Parameters").
#pragma once

#include "core/hd.hpp"

namespace dmpc {

template <typename T>
struct BallbotParams {
  T ball_radius = T(0.125);   // r_B [m]
  T wheel_radius = T(0.064);  // r_w [m]
  T ball_mass = T(2.65);      // m_B [kg]; the ball translates only (no spin inertia)
  T body_mass = T(18.66);     // m_b [kg]
  T com_x = T(0.003);         // c: body centre of mass from the ball centre, body frame [m]
  T com_y = T(0.0033);
  T com_z = T(0.1956);
  T inertia_xx = T(1.80);  // I_b: body inertia about its CoM, body frame [kg m²]
  T inertia_yy = T(1.8037);
  T inertia_zz = T(0.166703);
  T gravity = T(9.81);  // g [m/s²], along −z world
  // Wheel zenith angle α = 45°; azimuths β_i = 0°, 120°, 240° are fixed by the generated code.
  T sin_wheel_zenith = T(0.70710678118654752);
  T cos_wheel_zenith = T(0.70710678118654752);

  template <typename U>
  DMPC_HD BallbotParams<U> cast() const {
    BallbotParams<U> r;
    r.ball_radius = U(ball_radius);
    r.wheel_radius = U(wheel_radius);
    r.ball_mass = U(ball_mass);
    r.body_mass = U(body_mass);
    r.com_x = U(com_x);
    r.com_y = U(com_y);
    r.com_z = U(com_z);
    r.inertia_xx = U(inertia_xx);
    r.inertia_yy = U(inertia_yy);
    r.inertia_zz = U(inertia_zz);
    r.gravity = U(gravity);
    r.sin_wheel_zenith = U(sin_wheel_zenith);
    r.cos_wheel_zenith = U(cos_wheel_zenith);
    return r;
  }
};

}  // namespace dmpc
