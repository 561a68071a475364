"""The contract every piece builds on: ``Parameter``, ``Module``, ``Container``, the registry of
classes model files may name, settings declared once, weight initializers, symbolic nodes, the
inspection hooks under ``summary()`` and the profiler, and the argument checks and file helpers
every public entry point uses."""
