"""The Ballbot problem of the peer benchmarks in JAX, for diffilqrax (a JAX iLQR batched with vmap).

The dynamics are the generated module generated/ballbot_model.py (tools/codegen/ballbot_codegen.py,
the same sympy derivation as our C++), stepped with explicit Euler at the knot spacing; the cost is
our actor's `quadratic` mode (core/actor_costs.hpp):

    l_k = h [ 1/2 (x - x_g)' Q (x - x_g) + 1/2 u' R u + 1/2 sum_i w_i (x_i - rest_i)^2 ]
    phi = 1/2 (x - x_g)' Q_f (x - x_g)

with x_g the goal's rest state and the "stay upright" weights w on pitch, roll, their rates and the
yaw rate about the balancing tilt. Derivatives are JAX's (diffilqrax differentiates what it is
given), as a JAX user would write it.
"""
import os
import sys

import jax
import jax.numpy as jnp

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "generated"))
import ballbot_model  # noqa: E402  (generated)

from diffilqrax import ilqr  # noqa: E402
from diffilqrax.typs import ModelDims, System, iLQRParams  # noqa: E402

jax.config.update("jax_enable_x64", True)


def make_system(weights, knots, knot_dt):
    """weights: dict with q, qf (10), r (3), upright (5), rest (10: the balancing rest state)."""
    q = jnp.asarray(weights["q"])
    qf = jnp.asarray(weights["qf"])
    r = jnp.asarray(weights["r"])
    upright = jnp.zeros(10).at[jnp.array([3, 4, 8, 9, 7])].set(jnp.asarray(weights["upright"]))
    rest = jnp.asarray(weights["rest"])
    h = knot_dt

    def dynamics(t, x, u, goal):
        return x + h * ballbot_model.flow(x, u, jnp)

    def cost(t, x, u, goal):
        e = x - goal
        s = x - rest
        return h * (0.5 * jnp.dot(e, q * e) + 0.5 * jnp.dot(u, r * u) + 0.5 * jnp.dot(s, upright * s))

    def costf(x, goal):
        e = x - goal
        return 0.5 * jnp.dot(e, qf * e)

    return System(cost, costf, dynamics, ModelDims(horizon=knots, n=10, m=3, dt=knot_dt))


def make_solver(system, knots, iters):
    """solve(x0, goal_state) -> (u0, cost): `iters` iterations from the zero guess, no early stop."""

    def solve(x0, goal):
        params = iLQRParams(x0=x0, theta=goal)
        us0 = jnp.zeros((knots, 3))
        (xs, us, _), total, _ = ilqr.ilqr_solver(
            system, params, us0, max_iter=iters, kkt_tol=0.0, alpha_init=2.0)  # first trial alpha = 1
        return us[0], total

    return solve
