#!/usr/bin/python3
"""Independent reference for the Ballbot dynamics of /work/shared/spec/ballbot.md.

Derived with projected Newton-Euler (Kane's method) instead of Lagrange's equations:
every body's momentum balance is projected onto its partial velocities,

    sum_bodies  J_v^T m a  +  J_w^T (I_b w_dot + w x I_b w)  =  Q_gravity + J^T tau,

where J_v = dp/dq (partial linear velocities) and J_w = E_full (partial angular velocities, body
frame). Splitting the accelerations into a q_ddot part and a velocity-product part gives
M q_ddot + h = J^T tau. All derivatives of R are analytic (products of derivatives of the three
elementary rotations), so the result is exact to round-off.

Coordinates q = [px, py, yaw, pitch, roll], state x = [q; q_dot], input u = 3 wheel torques.
Run directly for the self-check against the spec's check values (exit status 1 on failure).
"""
import sys

import numpy as np

# ---- Parameters (spec table) -------------------------------------------------------------------
R_BALL = 0.125                                  # r_B [m]
R_WHEEL = 0.064                                 # r_w [m]
M_BALL = 2.65                                   # m_B [kg], translation only
M_BODY = 18.66                                  # m_b [kg]
COM = np.array([0.003, 0.0033, 0.1956])         # c, body frame, from the ball centre [m]
INERTIA = np.diag([1.80, 1.8037, 0.166703])     # I_b about the CoM, body frame [kg m^2]
GRAVITY = 9.81                                  # [m/s^2], along -z world
WHEEL_AZIMUTHS = np.deg2rad([0.0, 120.0, 240.0])
# Wheel spin axes d_i (rows), zenith angle 45 deg: (cos b, sin b, -1)/sqrt(2).
WHEEL_AXES = np.column_stack([np.cos(WHEEL_AZIMUTHS), np.sin(WHEEL_AZIMUTHS),
                              -np.ones(3)]) / np.sqrt(2.0)

NQ = 5
E_Z = np.array([0.0, 0.0, 1.0])


# ---- Elementary rotations and their first/second derivatives w.r.t. their angle ---------------
def _rot_z(a, order=0):
    c, s = np.cos(a), np.sin(a)
    # d/da of (c, s) cycles (c, s) -> (-s, c) -> (-c, -s); the constant 1 on the axis drops out.
    if order == 0:
        return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    if order == 1:
        return np.array([[-s, -c, 0.0], [c, -s, 0.0], [0.0, 0.0, 0.0]])
    return np.array([[-c, s, 0.0], [-s, -c, 0.0], [0.0, 0.0, 0.0]])


def _rot_y(a, order=0):
    c, s = np.cos(a), np.sin(a)
    if order == 0:
        return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])
    if order == 1:
        return np.array([[-s, 0.0, c], [0.0, 0.0, 0.0], [-c, 0.0, -s]])
    return np.array([[-c, 0.0, -s], [0.0, 0.0, 0.0], [s, 0.0, -c]])


def _rot_x(a, order=0):
    c, s = np.cos(a), np.sin(a)
    if order == 0:
        return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])
    if order == 1:
        return np.array([[0.0, 0.0, 0.0], [0.0, -s, -c], [0.0, c, -s]])
    return np.array([[0.0, 0.0, 0.0], [0.0, -c, s], [0.0, -s, -c]])


def _rotation_derivative(q, orders):
    """d^n R / (d yaw^a d pitch^b d roll^c) for orders = (a, b, c), each 0..2.

    R = Rz(yaw) Ry(pitch) Rx(roll) is a product of single-angle factors, so every mixed partial
    is the product of the correspondingly differentiated factors.
    """
    yaw, pitch, roll = q[2], q[3], q[4]
    return _rot_z(yaw, orders[0]) @ _rot_y(pitch, orders[1]) @ _rot_x(roll, orders[2])


def rotation(q):
    return _rotation_derivative(q, (0, 0, 0))


def _rotation_first(q):
    """[dR/dyaw, dR/dpitch, dR/droll]."""
    return [_rotation_derivative(q, tuple(int(k == j) for k in range(3))) for j in range(3)]


def _rotation_second(q):
    """3x3 nested list: d^2 R / (d a_j d a_k) over the angles (yaw, pitch, roll)."""
    out = [[None] * 3 for _ in range(3)]
    for j in range(3):
        for k in range(3):
            orders = [0, 0, 0]
            orders[j] += 1
            orders[k] += 1
            out[j][k] = _rotation_derivative(q, tuple(orders))
    return out


# ---- Angular velocity map ------------------------------------------------------------------------
def _euler_rate_map(q):
    """E(q): [yaw_dot, pitch_dot, roll_dot] -> omega_B (body frame), as given in the spec."""
    sp, cp = np.sin(q[3]), np.cos(q[3])
    sr, cr = np.sin(q[4]), np.cos(q[4])
    return np.array([[-sp, 0.0, 1.0],
                     [sr * cp, cr, 0.0],
                     [cr * cp, -sr, 0.0]])


def _euler_rate_map_dot(q, qdot):
    """dE/dt = dE/dpitch * pitch_dot + dE/droll * roll_dot (E does not depend on yaw)."""
    sp, cp = np.sin(q[3]), np.cos(q[3])
    sr, cr = np.sin(q[4]), np.cos(q[4])
    d_pitch = np.array([[-cp, 0.0, 0.0],
                        [-sr * sp, 0.0, 0.0],
                        [-cr * sp, 0.0, 0.0]])
    d_roll = np.array([[0.0, 0.0, 0.0],
                       [cr * cp, -sr, 0.0],
                       [-sr * cp, -cr, 0.0]])
    return d_pitch * qdot[3] + d_roll * qdot[4]


def _angular_jacobian(q):
    """E_full (3x5): q_dot -> omega_B; the ball position rates do not rotate the body."""
    e_full = np.zeros((3, NQ))
    e_full[:, 2:] = _euler_rate_map(q)
    return e_full


# ---- Translational Jacobians ---------------------------------------------------------------------
def _ball_jacobian():
    """J_B = d p_B / d q for p_B = (px, py, r_B)."""
    j_ball = np.zeros((3, NQ))
    j_ball[0, 0] = 1.0
    j_ball[1, 1] = 1.0
    return j_ball


def _com_jacobian(q):
    """J_c = d p_c / d q for p_c = p_B + R c: columns e_x, e_y, then dR/d(angle) c."""
    j_com = _ball_jacobian()
    for j, d_rot in enumerate(_rotation_first(q)):
        j_com[:, 2 + j] = d_rot @ COM
    return j_com


def _com_velocity_product_acceleration(q, qdot):
    """Part of p_c_ddot not proportional to q_ddot: sum_jk d^2(R c)/(da_j da_k) a_j_dot a_k_dot."""
    rates = qdot[2:]
    second = _rotation_second(q)
    acc = np.zeros(3)
    for j in range(3):
        for k in range(3):
            acc += (second[j][k] @ COM) * (rates[j] * rates[k])
    return acc


# ---- Equations of motion -------------------------------------------------------------------------
def mass_matrix(q):
    """M = m_B J_B^T J_B + m_b J_c^T J_c + E_full^T I_b E_full (generalized inertia, Kane)."""
    q = np.asarray(q, dtype=float)
    j_ball = _ball_jacobian()
    j_com = _com_jacobian(q)
    e_full = _angular_jacobian(q)
    return (M_BALL * j_ball.T @ j_ball
            + M_BODY * j_com.T @ j_com
            + e_full.T @ INERTIA @ e_full)


def bias_forces(q, qdot):
    """h(q, q_dot) with M q_ddot + h = J^T tau.

    Body translation: m_b J_c^T (velocity-product acceleration of p_c); the ball's acceleration
    is J_B q_ddot exactly (J_B constant), so it adds nothing. Body rotation: Euler's equation
    in the body frame, I_b w_dot + w x I_b w with w_dot = E_full q_ddot + E_full_dot q_dot,
    projected by E_full^T. Gravity -m_b g e_z acts at p_c; moved to the left-hand side it gives
    + m_b g J_c^T e_z.
    """
    q = np.asarray(q, dtype=float)
    qdot = np.asarray(qdot, dtype=float)
    j_com = _com_jacobian(q)
    e_full = _angular_jacobian(q)
    e_full_dot = np.zeros((3, NQ))
    e_full_dot[:, 2:] = _euler_rate_map_dot(q, qdot)
    omega = e_full @ qdot
    translational = M_BODY * j_com.T @ _com_velocity_product_acceleration(q, qdot)
    rotational = e_full.T @ (INERTIA @ (e_full_dot @ qdot) + np.cross(omega, INERTIA @ omega))
    return translational + rotational + gravity_forces(q)


def gravity_forces(q):
    """Gravity part of h: m_b g J_c^T e_z (= dU/dq)."""
    return M_BODY * GRAVITY * _com_jacobian(np.asarray(q, dtype=float)).T @ E_Z


def input_jacobian(q):
    """J = d psi_dot / d q_dot (3x5).

    psi_dot_i = (r_B/r_w) d_i^T omega_B - (1/r_w)[(R d_i)_y px_dot - (R d_i)_x py_dot]
    is linear in q_dot, so each row is read off directly.
    """
    q = np.asarray(q, dtype=float)
    world_axes = WHEEL_AXES @ rotation(q).T          # row i = (R d_i)^T
    jac = (R_BALL / R_WHEEL) * WHEEL_AXES @ _angular_jacobian(q)
    jac[:, 0] -= world_axes[:, 1] / R_WHEEL
    jac[:, 1] += world_axes[:, 0] / R_WHEEL
    return jac


def xdot(x, u):
    """Control-affine dynamics f(x) + g(x) u = [q_dot; M^-1 (J^T u - h)]."""
    x = np.asarray(x, dtype=float)
    u = np.asarray(u, dtype=float)
    q, qdot = x[:NQ], x[NQ:]
    rhs = input_jacobian(q).T @ u - bias_forces(q, qdot)
    return np.concatenate([qdot, np.linalg.solve(mass_matrix(q), rhs)])


def energy(x):
    """T + U from the spec's definition (used only for the conservation check)."""
    x = np.asarray(x, dtype=float)
    q, qdot = x[:NQ], x[NQ:]
    v_ball = _ball_jacobian() @ qdot
    v_com = _com_jacobian(q) @ qdot
    omega = _angular_jacobian(q) @ qdot
    kinetic = 0.5 * (M_BALL * v_ball @ v_ball + M_BODY * v_com @ v_com
                     + omega @ INERTIA @ omega)
    return kinetic + M_BODY * GRAVITY * (rotation(q) @ COM)[2]


# ---- Self-check against the spec -----------------------------------------------------------------
SPEC_PITCH_EQ = -0.0153340390
SPEC_ROLL_EQ = 0.0168695652
SPEC_GRAVITY_UPRIGHT = np.array([0.0, 0.0, 0.0, -0.549, 0.604])
SPEC_UNSTABLE = np.array([4.3631168, 4.3521191])
SPEC_WHEEL_GAIN = 1.381067932


def _wheel_speeds(q, qdot):
    return input_jacobian(q) @ qdot


def _rk4_step(x, dt):
    u = np.zeros(3)
    k1 = xdot(x, u)
    k2 = xdot(x + 0.5 * dt * k1, u)
    k3 = xdot(x + 0.5 * dt * k2, u)
    k4 = xdot(x + dt * k3, u)
    return x + dt / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)


def _self_check():
    failures = []

    def check(name, ok, detail):
        print(f"[{'PASS' if ok else 'FAIL'}] {name}: {detail}")
        if not ok:
            failures.append(name)

    rng = np.random.default_rng(0)

    # M symmetric positive definite (random poses with |pitch|, |roll| < pi/2).
    worst_asym, min_eig = 0.0, np.inf
    for _ in range(200):
        q = np.concatenate([rng.uniform(-2, 2, 2), rng.uniform(-np.pi, np.pi, 1),
                            rng.uniform(-1.5, 1.5, 2)])
        m = mass_matrix(q)
        worst_asym = max(worst_asym, np.max(np.abs(m - m.T)))
        min_eig = min(min_eig, np.min(np.linalg.eigvalsh(0.5 * (m + m.T))))
    check("M symmetric positive definite", worst_asym < 1e-12 and min_eig > 0,
          f"max |M-M^T| = {worst_asym:.3e}, min eigenvalue = {min_eig:.6e} over 200 poses")

    # Balancing equilibrium: R c vertical. Closed form from Ry(p) Rx(r) c having zero x, y:
    # tan(roll) = c_y / c_z, tan(pitch) = -c_x / sqrt(c_y^2 + c_z^2).
    roll_eq = np.arctan2(COM[1], COM[2])
    pitch_eq = -np.arctan2(COM[0], np.hypot(COM[1], COM[2]))
    check("equilibrium angles (closed form)",
          abs(pitch_eq - SPEC_PITCH_EQ) < 1e-9 and abs(roll_eq - SPEC_ROLL_EQ) < 1e-9,
          f"pitch = {pitch_eq:.10f}, roll = {roll_eq:.10f} "
          f"(spec {SPEC_PITCH_EQ:.10f}, {SPEC_ROLL_EQ:.10f})")
    q_spec_eq = np.array([0.0, 0.0, 0.0, SPEC_PITCH_EQ, SPEC_ROLL_EQ])
    rc = rotation(q_spec_eq) @ COM
    check("R c vertical at spec equilibrium", np.hypot(rc[0], rc[1]) < 1e-10,
          f"R c = ({rc[0]:.3e}, {rc[1]:.3e}, {rc[2]:.10f})")
    # The spec's angles are rounded to 1e-10 rad, so q_ddot there is ~1e-9, not round-off.
    qdd_spec = xdot(np.concatenate([q_spec_eq, np.zeros(NQ)]), np.zeros(3))[NQ:]
    x_eq = np.concatenate([[0.0, 0.0, 0.0, pitch_eq, roll_eq], np.zeros(NQ)])
    qdd_exact = xdot(x_eq, np.zeros(3))[NQ:]
    check("q_ddot = 0 at equilibrium, tau = 0",
          np.max(np.abs(qdd_spec)) < 1e-8 and np.max(np.abs(qdd_exact)) < 1e-13,
          f"max |q_ddot| = {np.max(np.abs(qdd_spec)):.3e} at spec angles, "
          f"{np.max(np.abs(qdd_exact)):.3e} at closed-form angles")

    grav = gravity_forces(np.zeros(NQ))
    check("gravity part of h at upright", np.all(np.abs(grav - SPEC_GRAVITY_UPRIGHT) < 5e-4),
          f"h_g = {np.array2string(grav, precision=6)} (spec {SPEC_GRAVITY_UPRIGHT})")

    # Linearization of f at the equilibrium by central differences.
    step = 1e-6
    a_mat = np.zeros((2 * NQ, 2 * NQ))
    for k in range(2 * NQ):
        dx = np.zeros(2 * NQ)
        dx[k] = step
        a_mat[:, k] = (xdot(x_eq + dx, np.zeros(3)) - xdot(x_eq - dx, np.zeros(3))) / (2 * step)
    eigs = np.linalg.eigvals(a_mat)
    order = np.argsort(-np.abs(eigs))
    big, small = eigs[order[:4]], eigs[order[4:]]
    big_real = np.sort(np.abs(big.real))[::-1]
    pairs_ok = (np.max(np.abs(big.imag)) < 1e-6
                and np.sum(big.real > 0) == 2
                and np.allclose(big_real[[0, 2]], SPEC_UNSTABLE, atol=1e-6)
                and np.allclose(big_real[[1, 3]], SPEC_UNSTABLE, atol=1e-6))
    check("eigenvalues of df/dx at equilibrium",
          pairs_ok and np.max(np.abs(small)) < 1e-3,
          f"nonzero = {np.array2string(np.sort(big.real), precision=7)}, "
          f"max |other six| = {np.max(np.abs(small)):.2e} (spec +-{SPEC_UNSTABLE})")

    # Wheel speeds for a pure roll rate (any pose) and a pure yaw rate (upright).
    worst_roll = 0.0
    for _ in range(50):
        q = np.concatenate([rng.uniform(-2, 2, 2), rng.uniform(-np.pi, np.pi, 1),
                            rng.uniform(-1.2, 1.2, 2)])
        psi = _wheel_speeds(q, np.array([0.0, 0.0, 0.0, 0.0, 1.0]))
        worst_roll = max(worst_roll,
                         np.max(np.abs(psi - SPEC_WHEEL_GAIN * np.array([1.0, -0.5, -0.5]))))
    psi_roll_up = _wheel_speeds(np.zeros(NQ), np.array([0.0, 0.0, 0.0, 0.0, 1.0]))
    check("wheel speeds, pure roll rate", worst_roll < 1e-9,
          f"psi_dot(upright) = {np.array2string(psi_roll_up, precision=10)}, "
          f"max deviation over 50 poses = {worst_roll:.2e}")
    psi_yaw = _wheel_speeds(np.array([0.7, -0.3, 1.1, 0.0, 0.0]),
                            np.array([0.0, 0.0, 1.0, 0.0, 0.0]))
    check("wheel speeds, pure yaw rate", np.max(np.abs(psi_yaw + SPEC_WHEEL_GAIN)) < 1e-9,
          f"psi_dot = {np.array2string(psi_yaw, precision=10)}")

    # Energy conservation, tau = 0, RK4 at 1 ms for 0.5 s.
    worst_drift = 0.0
    starts = [np.array([0.1, -0.2, 0.3, 0.05, -0.04, 0.3, -0.2, 0.5, -0.4, 0.6]),
              np.array([0.0, 0.0, -1.0, -0.03, 0.05, -0.5, 0.4, -0.8, 0.7, -0.3])]
    for x in starts:
        e0 = energy(x)
        for _ in range(500):
            x = _rk4_step(x, 1e-3)
            worst_drift = max(worst_drift, abs(energy(x) - e0) / abs(e0))
    check("energy conservation (RK4, 1 ms, 0.5 s)", worst_drift < 1e-7,
          f"max relative drift of T+U = {worst_drift:.3e} over {len(starts)} runs")

    if failures:
        print(f"{len(failures)} check(s) failed: {', '.join(failures)}")
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(_self_check())
