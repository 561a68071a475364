"""Files a model leaves as: safe model files (``save``/``load``) and ONNX export."""
