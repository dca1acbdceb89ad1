"""rismodel: LGFormer and LQMFormer referring image segmentation.

Importing this package is cheap (no torch); import :mod:`rismodel.predictor` for inference.
"""

__version__ = "0.1.0"
