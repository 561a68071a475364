"""The package version and distribution name, in a module of its own so that anything may import
them without a cycle."""

__version__ = "0.3.0"

# The name pip knows this project by (the import name stays ``tinynet``: the index's ``tinynet``
# is an unrelated 2020 project). Installed from a path or a wheel, ``pip install
# 'tinynet-nn[extra]'`` adds an extra's libraries to it.
DISTRIBUTION = "tinynet-nn"


def install_hint(extras: str) -> str:
    """The command that adds ``extras`` (e.g. ``"plot"`` or ``"dask,sklearn"``) to this install."""
    return f"pip install '{DISTRIBUTION}[{extras}]'"


# How the ``tinynet`` command chose the BLAS thread count (``--threads``, its own choice for table
# networks), in an environment variable that ``tinynet bench`` reports.
BLAS_THREADS_SOURCE = "TINYNET_BLAS_THREADS"
# the variables the BLAS libraries NumPy ships with (OpenBLAS, MKL, and OpenMP builds) read at load
BLAS_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
