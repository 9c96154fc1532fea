"""Layer-wise post-training quantization: QuantEase coordinate descent, its outlier-aware variant, GPTQ, RTN."""

from dopt.quant import gptq, outlier, quantease, rtn  # noqa: F401  (register the methods)
from dopt.quant.grid import Grid, make_grid
from dopt.quant.problem import QuantProblem

__all__ = ["Grid", "QuantProblem", "make_grid"]
