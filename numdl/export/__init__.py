"""Export numdl models (ONNX) and import weights from PyTorch.

``to_onnx(model, path)`` writes an ONNX file (optional extra:
``pip install "numdl[onnx]"``); ``load_torch_state_dict(model, state_dict)``
copies the weights of an equivalent PyTorch model into a numdl model.
Keras weights need no converter: ``layer.set_weights`` takes Keras's layouts.
"""

from numdl.export.onnx import DEFAULT_OPSET, SUPPORTED_OPSETS, supported_layers, to_onnx
from numdl.export.torch import load_torch_state_dict

__all__ = [
    "DEFAULT_OPSET",
    "SUPPORTED_OPSETS",
    "load_torch_state_dict",
    "supported_layers",
    "to_onnx",
]
