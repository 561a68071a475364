"""Every built-in ``Module``, one file per family: ``core`` (Dense, Dropout, Flatten), ``activation``,
``normalization``, ``embedding`` (also learned positions), ``merge`` (layers joining several inputs,
and ``Select``), ``containers`` (Sequential, Residual, Concat), ``graph`` (the functional Graph),
``conv`` and ``pooling`` (images and signals), ``recurrent`` (RNN, GRU, LSTM) and ``attention``
(MultiheadAttention, TransformerEncoderLayer). The public names are flat: ``tinynet.Dense``,
``tinynet.GRU``."""
