"""What trains a model: losses, optimizers, schedules, clippers, regularizers, metrics, callbacks
and the loop itself (``fit``, ``predict``, ``evaluate``)."""
