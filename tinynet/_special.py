"""A vectorized error function for NumPy arrays (NumPy has none; ``math.erf`` is per element).

erf(x) = sign(x) (1 - exp(-a^2) erfcx(a)),  a = min(|x|, 6),  erfcx(a) = exp(a^2) erfc(a).

erfcx is smooth and slowly varying on [0, 6], and after the change of variable
t = (a - 2) / (a + 2) it is interpolated by a Chebyshev series of degree 18. The coefficients are
computed once, at import, by interpolating ``math.erfc`` itself at the Chebyshev points, so there
are no magic constants to trust. Past |x| = 6, erfc(x) < 2.2e-17 and erf(x) is +-1 in float64.
The absolute error against ``math.erf`` is below 3e-15 everywhere (tested below 1e-14).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.polynomial import chebyshev

from tinynet._checks import Array

_LIMIT = 6.0
_K = 2.0
_T_MAX = (_LIMIT - _K) / (_LIMIT + _K)  # t at a = _LIMIT; t = -1 at a = 0


def _erfcx_of_u(u: Array) -> Array:
    t = (u + 1.0) * 0.5 * (_T_MAX + 1.0) - 1.0
    a = _K * (1.0 + t) / (1.0 - t)
    return np.array([math.exp(v * v) * math.erfc(v) for v in a])


_COEFFICIENTS = [float(c) for c in chebyshev.chebinterpolate(_erfcx_of_u, 18)]  # type: ignore[type-var]


def erf(x: Array) -> Array:
    """erf of every element of a float array, in the array's dtype (see the module docstring)."""
    a = np.minimum(np.abs(x), _LIMIT)
    # u in [-1, 1]: the Chebyshev variable of t = (a - k) / (a + k)
    u = a - _K
    u /= a + _K
    u += 1.0
    u *= 2.0 / (_T_MAX + 1.0)
    u -= 1.0
    # Clenshaw's recurrence b_k = 2u b_{k+1} - b_{k+2} + c_k, in place
    two_u = u + u
    b1, b2, product = np.zeros_like(u), np.zeros_like(u), np.empty_like(u)
    for c in _COEFFICIENTS[:0:-1]:
        np.multiply(two_u, b1, out=product)
        np.subtract(product, b2, out=b2)
        b2 += c
        b1, b2 = b2, b1
    series = np.multiply(u, b1, out=u)
    series -= b2
    series += _COEFFICIENTS[0]
    with np.errstate(under="ignore"):  # a tiny |x| squares to 0: exp(-0) = 1 is the right answer
        decay = np.multiply(a, a, out=a)
    np.negative(decay, out=decay)
    np.exp(decay, out=decay)  # >= exp(-36): no underflow
    decay *= series
    np.subtract(1.0, decay, out=decay)
    decay *= np.sign(x)
    return decay
