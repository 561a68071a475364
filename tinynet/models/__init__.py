"""Ready-made networks: ``MLP``, the builder of the usual multi-layer perceptron."""
