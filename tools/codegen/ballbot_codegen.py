#!/usr/bin/python3
"""Derives the Ballbot's equations of motion from its Lagrangian and emits DMPC_HD C++.

The model is shared/spec/ballbot.md. From the kinetic energy T(q, q̇) and potential U(q):

    M(q)       = ∂²T/∂q̇²                                   (mass matrix)
    h(q, q̇)_i  = Σ_j ∂²T/∂q̇_i∂q_j q̇_j − ∂T/∂q_i + ∂U/∂q_i   (Coriolis/centrifugal + gravity)
    J(q)       = ∂ψ̇/∂q̇                                      (wheel spin rates, 3×5)

so that M q̈ + h = Jᵀ τ. Emitted with their partial derivatives (∂M/∂q_k, ∂h/∂q, ∂h/∂q̇, ∂J/∂q_k),
from which envs/ballbot/ballbot.hpp assembles f, g and the exact Jacobians of f + g u.

Usage:  /usr/bin/python3 tools/codegen/ballbot_codegen.py --out envs/ballbot/ballbot_generated.hpp
        /usr/bin/python3 tools/codegen/ballbot_codegen.py --check envs/ballbot/ballbot_generated.hpp

A second emitter writes the same M, h, J as a Python module for array libraries (numpy or
jax.numpy), for the peer benchmarks in tools/bench/peers/ (the identical model, not a transcription):

        /usr/bin/python3 tools/codegen/ballbot_codegen.py --py-out tools/bench/peers/generated/ballbot_model.py
        /usr/bin/python3 tools/codegen/ballbot_codegen.py --py-check tools/bench/peers/generated/ballbot_model.py
"""
import argparse
import os
import re
import sys

import sympy as sp
from sympy.printing.c import C99CodePrinter
from sympy.printing.pycode import PythonCodePrinter

NQ = 5
COORDS = ["px", "py", "yaw", "pitch", "roll"]


def derive():
    q = sp.symbols("q0:5", real=True)
    qd = sp.symbols("qd0:5", real=True)
    # Parameters stay symbolic: the C++ reads them from BallbotParams, so the numbers live in one
    # place (ballbot.hpp) and tests may perturb them.
    r_ball, r_wheel, m_ball, m_body, grav = sp.symbols("p.ball_radius p.wheel_radius p.ball_mass "
                                                       "p.body_mass p.gravity", positive=True)
    com = sp.Matrix(sp.symbols("p.com_x p.com_y p.com_z", real=True))
    inertia = sp.diag(*sp.symbols("p.inertia_xx p.inertia_yy p.inertia_zz", positive=True))
    sin_zenith, cos_zenith = sp.symbols("p.sin_wheel_zenith p.cos_wheel_zenith", positive=True)

    _, _, yaw, pitch, roll = q
    _, _, yaw_d, pitch_d, roll_d = qd

    def rot_z(a):
        return sp.Matrix([[sp.cos(a), -sp.sin(a), 0], [sp.sin(a), sp.cos(a), 0], [0, 0, 1]])

    def rot_y(a):
        return sp.Matrix([[sp.cos(a), 0, sp.sin(a)], [0, 1, 0], [-sp.sin(a), 0, sp.cos(a)]])

    def rot_x(a):
        return sp.Matrix([[1, 0, 0], [0, sp.cos(a), -sp.sin(a)], [0, sp.sin(a), sp.cos(a)]])

    rot = rot_z(yaw) * rot_y(pitch) * rot_x(roll)  # body → world
    # ω_B = E(q)·[ẏaw, ṗitch, ṙoll] (body frame)
    euler_map = sp.Matrix([[-sp.sin(pitch), 0, 1],
                           [sp.sin(roll) * sp.cos(pitch), sp.cos(roll), 0],
                           [sp.cos(roll) * sp.cos(pitch), -sp.sin(roll), 0]])
    omega = euler_map * sp.Matrix([yaw_d, pitch_d, roll_d])

    q_vec, qd_vec = sp.Matrix(q), sp.Matrix(qd)
    p_ball = sp.Matrix([q[0], q[1], r_ball])
    p_com = p_ball + rot * com
    v_com = p_com.jacobian(q_vec) * qd_vec

    kinetic = (sp.Rational(1, 2) * m_ball * (qd[0] ** 2 + qd[1] ** 2)
               + sp.Rational(1, 2) * m_body * (v_com.T * v_com)[0]
               + sp.Rational(1, 2) * (omega.T * inertia * omega)[0])
    potential = m_body * grav * (rot * com)[2]

    mass = sp.hessian(kinetic, qd_vec)
    mass = mass.applyfunc(sp.expand)
    d_mass = [mass.diff(q[k]) for k in range(NQ)]
    # Lagrange: d/dt ∂T/∂q̇ = M q̈ + Σ_j (∂M/∂q_j q̇) q̇_j, and ∂T/∂q_i = ½ q̇ᵀ ∂M/∂q_i q̇.
    bias = sp.zeros(NQ, 1)
    for i in range(NQ):
        coriolis = sum((d_mass[j][i, :] * qd_vec)[0] * qd[j] for j in range(NQ))
        centrifugal = sp.Rational(1, 2) * (qd_vec.T * d_mass[i] * qd_vec)[0]
        bias[i] = coriolis - centrifugal + sp.diff(potential, q[i])

    # Wheel spin rates: ψ̇_i = (r_B/r_w) d_iᵀ ω_B − (1/r_w)[(R d_i)_y ṗx − (R d_i)_x ṗy].
    wheel_rates = []
    for azimuth in (0, sp.Rational(2, 3) * sp.pi, sp.Rational(4, 3) * sp.pi):
        axis = sp.Matrix([sin_zenith * sp.cos(azimuth), sin_zenith * sp.sin(azimuth), -cos_zenith])
        axis_world = rot * axis
        wheel_rates.append(r_ball / r_wheel * (axis.T * omega)[0]
                           - (axis_world[1] * qd[0] - axis_world[0] * qd[1]) / r_wheel)
    wheel_jac = sp.Matrix(wheel_rates).jacobian(qd_vec)

    return {
        "q": q, "qd": qd, "mass": mass, "bias": bias, "wheel_jac": wheel_jac,
        "d_mass": d_mass,
        "d_bias_dq": bias.jacobian(q_vec),
        "d_bias_dqd": bias.jacobian(qd_vec),
        "d_wheel_jac": [wheel_jac.diff(q[k]) for k in range(NQ)],
    }


class ScalarPrinter(C99CodePrinter):
    """C code for a template scalar T: numbers as T(...), small powers as products."""

    def _print_Symbol(self, expr):
        return expr.name

    def _print_Integer(self, expr):
        return f"T({int(expr)})"

    def _print_Rational(self, expr):
        return f"T({float(expr)!r})"

    def _print_Float(self, expr):
        return f"T({float(expr)!r})"

    def _print_NumberSymbol(self, expr):
        return f"T({float(expr)!r})"

    def _print_Pow(self, expr):
        base, exp = expr.args
        if exp.is_Integer and 1 < int(exp) <= 4:
            b = self.parenthesize(base, 100)
            return "*".join([b] * int(exp))
        if exp.is_Integer and int(exp) < 0:
            return f"(T(1)/({self._print(sp.Pow(base, -exp))}))"
        if exp == sp.Rational(1, 2):
            if base.is_Number:
                return f"T({float(sp.sqrt(base))!r})"
            return f"sqrt({self._print(base)})"
        if exp == sp.Rational(-1, 2) and base.is_Number:
            return f"T({float(1 / sp.sqrt(base))!r})"
        raise ValueError(f"unexpected power {expr}")

    def _print_Function(self, expr):
        name = type(expr).__name__
        if name in ("sin", "cos"):
            return f"{name}({self._print(expr.args[0])})"
        raise ValueError(f"unexpected function {expr}")


def emit_function(printer, name, doc, inputs_used, outputs):
    """outputs: list of (c_lvalue, sympy expr). Common subexpressions become const locals."""
    lvalues = [lv for lv, _ in outputs]
    exprs = [e for _, e in outputs]
    replacements, reduced = sp.cse(exprs, symbols=sp.numbered_symbols("t"), order="canonical")
    lines = [f"// {doc}", "template <typename T>", f"DMPC_HD void {name}("]
    lines.append("    " + ",\n    ".join(inputs_used) + ") {")
    lines.append("  using dmpc::cos;")
    lines.append("  using dmpc::sin;")
    lines.append("  using dmpc::sqrt;")
    for sym, expr in replacements:
        lines.append(f"  const T {sym} = {printer.doprint(expr)};")
    for lv, expr in zip(lvalues, reduced):
        lines.append(f"  {lv} = {printer.doprint(expr)};")
    lines.append("}")
    return "\n".join(lines)


def substitute_state(expr, model):
    # q0..q4 / qd0..qd4 are printed as array reads.
    mapping = {s: sp.Symbol(f"q[{i}]") for i, s in enumerate(model["q"])}
    mapping.update({s: sp.Symbol(f"qd[{i}]") for i, s in enumerate(model["qd"])})
    return expr.xreplace(mapping)


def generate():
    model = derive()
    printer = ScalarPrinter()
    sub = lambda e: substitute_state(e, model)  # noqa: E731

    terms = []
    for i in range(NQ):
        for j in range(NQ):
            terms.append((f"M({i}, {j})", sub(model["mass"][i, j])))
    for i in range(NQ):
        terms.append((f"h[{i}]", sub(model["bias"][i])))
    for i in range(3):
        for j in range(NQ):
            terms.append((f"J({i}, {j})", sub(model["wheel_jac"][i, j])))

    derivs = []
    for k in range(NQ):
        for i in range(NQ):
            for j in range(NQ):
                derivs.append((f"dM_dq[{k}]({i}, {j})", sub(model["d_mass"][k][i, j])))
    for i in range(NQ):
        for j in range(NQ):
            derivs.append((f"dh_dq({i}, {j})", sub(model["d_bias_dq"][i, j])))
            derivs.append((f"dh_dqd({i}, {j})", sub(model["d_bias_dqd"][i, j])))
    for k in range(NQ):
        for i in range(3):
            for j in range(NQ):
                derivs.append((f"dJ_dq[{k}]({i}, {j})", sub(model["d_wheel_jac"][k][i, j])))

    header = f'''// GENERATED by tools/codegen/ballbot_codegen.py (sympy {sp.__version__}) — do not edit.
// Regenerate: /usr/bin/python3 tools/codegen/ballbot_codegen.py --out envs/ballbot/ballbot_generated.hpp
// A test fails when this file differs from the generator's output.
//
// Ballbot terms of M(q) q̈ + h(q, q̇) = Jᵀ(q) τ (shared/spec/ballbot.md), derived from the
// Lagrangian, and their partial derivatives. q = [px, py, yaw, pitch, roll].
#pragma once

#include "core/hd.hpp"
#include "core/linalg.hpp"
#include "envs/ballbot/ballbot_params.hpp"

namespace dmpc::ballbot_generated {{
'''
    body = [
        emit_function(printer, "dynamics_terms",
                      "Mass matrix M (5×5), bias forces h (5) and wheel-rate Jacobian J (3×5).",
                      ["const BallbotParams<T>& p", "const T* q", "const T* qd", "Mat<T, 5, 5>& M",
                       "Vec<T, 5>& h", "Mat<T, 3, 5>& J"], terms),
        emit_function(printer, "dynamics_term_derivatives",
                      "∂M/∂q_k, ∂h/∂q, ∂h/∂q̇ and ∂J/∂q_k (dM_dq[k](i, j) = ∂M_ij/∂q_k).",
                      ["const BallbotParams<T>& p", "const T* q", "const T* qd",
                       "Mat<T, 5, 5>* dM_dq", "Mat<T, 5, 5>& dh_dq", "Mat<T, 5, 5>& dh_dqd",
                       "Mat<T, 3, 5>* dJ_dq"], derivs),
    ]
    return header + "\n\n".join(body) + "\n\n}  // namespace dmpc::ballbot_generated\n"


# ---- Python emitter (peer benchmarks) -----------------------------------------------------------

PARAMS_HEADER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "envs",
                             "ballbot", "ballbot_params.hpp")


def read_params(path=PARAMS_HEADER):
    """The default parameter values of BallbotParams, read from the C++ header (one source)."""
    values = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            m = re.match(r"\s*T (\w+) = T\(([-+0-9.eE]+)\);", line)
            if m:
                values[m.group(1)] = m.group(2)
    return values


class ArrayPrinter(PythonCodePrinter):
    """Python for an array namespace `xp` (numpy or jax.numpy): sin/cos from xp, exact floats."""

    def _print_Symbol(self, expr):
        return expr.name.replace("p.", "P_") if expr.name.startswith("p.") else expr.name

    def _print_Integer(self, expr):
        return f"{float(int(expr))!r}"

    def _print_Rational(self, expr):
        return f"{float(expr)!r}"

    def _print_Float(self, expr):
        return f"{float(expr)!r}"

    def _print_NumberSymbol(self, expr):
        return f"{float(expr)!r}"

    def _print_Pow(self, expr, rational=False):
        base, exp = expr.args
        if exp.is_Integer and 1 < int(exp) <= 4:
            b = self.parenthesize(base, 100)
            return "*".join([b] * int(exp))
        if exp.is_Integer and int(exp) < 0:
            return f"(1.0/({self._print(sp.Pow(base, -exp))}))"
        if exp == sp.Rational(1, 2) and base.is_Number:
            return f"{float(sp.sqrt(base))!r}"
        if exp == sp.Rational(-1, 2) and base.is_Number:
            return f"{float(1 / sp.sqrt(base))!r}"
        raise ValueError(f"unexpected power {expr}")

    def _print_sin(self, expr):
        return f"xp.sin({self._print(expr.args[0])})"

    def _print_cos(self, expr):
        return f"xp.cos({self._print(expr.args[0])})"


def generate_python():
    model = derive()
    printer = ArrayPrinter()
    q, qd = model["q"], model["qd"]
    mapping = {s: sp.Symbol(f"q{i}") for i, s in enumerate(q)}
    mapping.update({s: sp.Symbol(f"qd{i}") for i, s in enumerate(qd)})
    exprs = ([model["mass"][i, j] for i in range(NQ) for j in range(NQ)]
             + [model["bias"][i] for i in range(NQ)]
             + [model["wheel_jac"][i, j] for i in range(3) for j in range(NQ)])
    exprs = [e.xreplace(mapping) for e in exprs]
    replacements, reduced = sp.cse(exprs, symbols=sp.numbered_symbols("t"), order="canonical")
    params = read_params()
    lines = [
        f"# GENERATED by tools/codegen/ballbot_codegen.py (sympy {sp.__version__}) — do not edit.",
        "# Regenerate: /usr/bin/python3 tools/codegen/ballbot_codegen.py --py-out "
        "tools/bench/peers/generated/ballbot_model.py",
        '"""The Ballbot of shared/spec/ballbot.md for array libraries: the terms of',
        "M(q) q'' + h(q, q') = J(q)^T tau from the same sympy derivation as",
        "envs/ballbot/ballbot_generated.hpp, with the parameters of envs/ballbot/ballbot_params.hpp.",
        "",
        "Every function takes the array namespace xp (numpy or jax.numpy); x = [q; q'] (10),",
        "u = three wheel torques.",
        '"""',
        "",
    ]
    for name in sorted(params):
        lines.append(f"P_{name} = {params[name]}")
    lines += [
        "",
        "",
        "def dynamics_terms(x, xp):",
        '    """Mass matrix M (5x5), bias forces h (5) and wheel-rate Jacobian J (3x5) at x."""',
        "    q0, q1, q2, q3, q4 = x[0], x[1], x[2], x[3], x[4]",
        "    qd0, qd1, qd2, qd3, qd4 = x[5], x[6], x[7], x[8], x[9]",
    ]
    for sym, expr in replacements:
        lines.append(f"    {sym} = {printer.doprint(expr)}")
    out = [printer.doprint(e) for e in reduced]
    zero = "0.0 * q0"  # an array zero of the right type and batch shape
    out = [zero if o == "0.0" else o for o in out]
    m_rows = [", ".join(out[5 * i: 5 * i + 5]) for i in range(5)]
    h_vals = ", ".join(out[25:30])
    j_rows = [", ".join(out[30 + 5 * i: 35 + 5 * i]) for i in range(3)]
    lines.append("    M = xp.stack([" + ",\n                  ".join(
        f"xp.stack([{r}])" for r in m_rows) + "])")
    lines.append(f"    h = xp.stack([{h_vals}])")
    lines.append("    J = xp.stack([" + ",\n                  ".join(
        f"xp.stack([{r}])" for r in j_rows) + "])")
    lines.append("    return M, h, J")
    lines += [
        "",
        "",
        "def flow(x, u, xp):",
        "    \"\"\"x' = f(x) + g(x) u = [q'; M^-1 (J^T u - h)].\"\"\"",
        "    M, h, J = dynamics_terms(x, xp)",
        "    qdd = xp.linalg.solve(M, J.T @ u - h)",
        "    return xp.concatenate([x[5:], qdd])",
        "",
    ]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--out", help="write the generated header here")
    group.add_argument("--check", help="exit 1 if this committed header differs from the output")
    group.add_argument("--py-out", help="write the Python (numpy / jax.numpy) module here")
    group.add_argument("--py-check", help="exit 1 if this committed Python module is stale")
    args = parser.parse_args()
    if args.py_out or args.py_check:
        return write_or_check(generate_python(), args.py_out, args.py_check, "--py-out")
    return write_or_check(generate(), args.out, args.check, "--out")


def write_or_check(text, out, check, out_flag):
    """Writes the generated text to `out`, or compares it with the committed file `check`."""
    if out:
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        with open(out, "w", encoding="utf-8") as f:
            f.write(text)
        print(f"wrote {out} ({len(text.splitlines())} lines)")
        return 0
    with open(check, encoding="utf-8") as f:
        committed = f.read()
    # Other sympy versions may order common subexpressions differently: the text comparison is
    # only meaningful with the version the file was made with (Debian 12's, as tools/setup.sh
    # installs). Exit 77 (CTest's "skipped") elsewhere rather than report a false difference.
    made_with = re.search(r"\(sympy ([^)]+)\)", committed.splitlines()[0])
    if made_with and made_with.group(1) != sp.__version__:
        print(f"skipped: {check} was generated with sympy {made_with.group(1)}, "
              f"this is sympy {sp.__version__}")
        return 77
    if committed != text:
        print(f"{check} is stale: rerun the generator with {out_flag} {check} "
              f"(sympy here is {sp.__version__}; the committed file names the one it was made with)",
              file=sys.stderr)
        return 1
    print(f"{check} matches the generator")
    return 0


if __name__ == "__main__":
    sys.exit(main())
