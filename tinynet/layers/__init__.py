"""Every built-in ``Module``, one file per family: ``core`` (Dense, Dropout, Flatten), ``activation``,
``normalization``, ``embedding``, ``merge`` (layers joining several inputs), ``containers``
(Sequential, Residual, Concat) and ``graph`` (the functional Graph). The public names are flat:
``tinynet.Dense``, ``tinynet.GRU``."""
