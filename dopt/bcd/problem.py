"""The BCD problem: a smooth loss (least squares, logistic, multinomial, label propagation) plus L2 and L1 terms.

    F(x) = f(x) + (l2 / 2) ||x||^2 + l1 ||x||_1

with f(x) = 1/2 ||Ax - b||^2 (``least_squares``), sum_i log(1 + exp(-b_i a_i.x)) for
b_i in {-1, 1} (``logistic``), sum_i logsumexp(a_i X) - a_i X[:, b_i] for class
labels b_i in {0..K-1} and a p x K matrix X (``multinomial``), or the
graph-labelling quadratic 1/2 sum_ij w_ij (x_i - x_j)^2 + 1/2 sum_{i labelled}
label_weight (x_i - b_i)^2 on a symmetric sparse weight matrix W
(``label_propagation``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.special import log_expit, logsumexp

from dopt.core.errors import FormatError, ProblemError
from dopt.core.problem import Problem, check_keys, float_array, float_vector, require_finite
from dopt.core.registry import register_kind

LOSSES = ("least_squares", "logistic", "multinomial", "label_propagation")
DATA_KEYS = {"A", "b", "W", "labelled"}
PARAM_KEYS = {"loss", "l1", "l2", "label_weight"}
FILE_PARAM_KEYS = {"loss", "l1", "l2"}  # a LIBSVM file holds A and b; label propagation needs a graph
CURVATURE = {"least_squares": 1.0, "logistic": 0.25, "multinomial": 0.5}  # f'' of the loss in z is below this


@register_kind
@dataclass(frozen=True, eq=False, repr=False)
class BCDProblem(Problem):
    """min_x f(x) + l2/2 ||x||^2 + l1 ||x||_1 for a least-squares, logistic, multinomial or label-propagation f.

    ``A`` is an n x p dense array or scipy.sparse matrix (not used by
    label propagation, which takes the symmetric n x n weight matrix ``W`` and
    a 0/1 ``labelled`` mask instead); ``b`` holds the targets, the labels
    (-1/1 or 0..K-1) or the node labels.
    """

    kind = "bcd"
    loss: str = "least_squares"
    A: Any = None
    b: Any = None
    W: Any = None
    labelled: Any = None
    l1: float = 0.0
    l2: float = 0.0
    label_weight: float = 1.0

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise ProblemError(f"loss: {self.loss!r} is not one of {', '.join(LOSSES)}")
        for name in ("l1", "l2", "label_weight"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
                raise ProblemError(f"{name}: expected a number, got {value!r}")
            if not (np.isfinite(value) and value >= 0):
                raise ProblemError(f"{name}: must be finite and >= 0, got {value!r}")
            object.__setattr__(self, name, float(value))
        if self.loss == "label_propagation":
            self._init_graph()
        else:
            self._init_design()

    def _init_design(self) -> None:
        if self.A is None or self.b is None:
            raise ProblemError(f"A, b: loss {self.loss!r} needs a design matrix A and targets b")
        if self.W is not None or self.labelled is not None:
            raise ProblemError("W, labelled: only label_propagation takes a graph")
        A = _matrix(self.A, "A")
        b = float_vector(self.b, "b", A.shape[0])
        require_finite(b, "b")
        if self.loss == "logistic" and not np.isin(b, (-1.0, 1.0)).all():
            raise ProblemError("b: logistic labels must be -1 or 1")
        if self.loss == "multinomial":
            if not (np.all(b == np.round(b)) and b.min() >= 0):
                raise ProblemError("b: multinomial labels must be integers 0..K-1")
            if int(b.max()) < 1:
                raise ProblemError("b: multinomial needs at least two classes")
        object.__setattr__(self, "A", A)
        object.__setattr__(self, "b", b)

    def _init_graph(self) -> None:
        if self.W is None or self.b is None or self.labelled is None:
            raise ProblemError(
                "W, b, labelled: label_propagation needs a weight matrix W, labels b and a labelled mask"
            )
        if self.A is not None:
            raise ProblemError("A: label_propagation takes W, not A")
        W = sp.csr_array(_matrix(self.W, "W"))
        n = W.shape[0]
        if W.shape != (n, n):
            raise ProblemError(f"W: expected a square matrix, got shape {W.shape}")
        if (W.data < 0).any():
            raise ProblemError("W: weights must be >= 0")
        if abs(W - W.T).max() > 1e-12 * max(1.0, abs(W).max()):
            raise ProblemError("W: must be symmetric")
        W = sp.csr_array(W - sp.diags_array(W.diagonal()))  # self-loops do not change the objective
        W.eliminate_zeros()
        b = float_vector(self.b, "b", n)
        require_finite(b, "b")
        mask = float_vector(self.labelled, "labelled", n)
        if not np.isin(mask, (0.0, 1.0)).all():
            raise ProblemError("labelled: must hold 0 or 1 for every node")
        if mask.sum() == 0 or self.label_weight == 0:
            raise ProblemError("labelled: at least one labelled node and label_weight > 0 are needed")
        object.__setattr__(self, "W", W)
        object.__setattr__(self, "b", b)
        object.__setattr__(self, "labelled", mask)

    # ----- sizes -----
    @property
    def n_classes(self) -> int:
        """K for multinomial, else 1 (the number of columns of x)."""
        return int(self.b.max()) + 1 if self.loss == "multinomial" else 1

    @property
    def n_features(self) -> int:
        """p: the number of coordinates (rows of x)."""
        return self.W.shape[0] if self.loss == "label_propagation" else self.A.shape[1]

    @property
    def x_shape(self) -> tuple[int, ...]:
        """(p,) or (p, K) for multinomial."""
        p = self.n_features
        return (p, self.n_classes) if self.loss == "multinomial" else (p,)

    # ----- values -----
    def smooth_value(self, x: Any) -> float:
        """f(x) + l2/2 ||x||^2 (the differentiable part)."""
        x = self._point(x)
        if self.loss == "label_propagation":
            value = float(x @ (self.laplacian() @ x))
            value += 0.5 * self.label_weight * float(np.sum(self.labelled * (x - self.b) ** 2))
        else:
            value = self.loss_of_predictor(self.A @ x)
        return value + 0.5 * self.l2 * float(np.sum(x * x))

    def loss_of_predictor(self, z: np.ndarray) -> float:
        """f as a function of the linear predictor z = A x."""
        if self.loss == "least_squares":
            return 0.5 * float(np.sum((z - self.b) ** 2))
        if self.loss == "logistic":
            return -float(np.sum(log_expit(self.b * z)))
        rows = np.arange(z.shape[0])
        return float(np.sum(logsumexp(z, axis=1) - z[rows, self.b.astype(np.int64)]))

    def objective(self, x: Any) -> float:
        """F(x) = f(x) + l2/2 ||x||^2 + l1 ||x||_1."""
        x = self._point(x)
        return self.smooth_value(x) + self.l1 * float(np.abs(x).sum())

    def gradient(self, x: Any) -> np.ndarray:
        """The gradient of the smooth part at ``x`` (same shape as x)."""
        x = self._point(x)
        if self.loss == "label_propagation":
            g = 2.0 * (self.laplacian() @ x) + self.label_weight * self.labelled * (x - self.b)
        else:
            g = self.A.T @ self.predictor_gradient(self.A @ x)
        return g + self.l2 * x

    def predictor_gradient(self, z: np.ndarray) -> np.ndarray:
        """df/dz at the linear predictor z."""
        if self.loss == "least_squares":
            return z - self.b
        if self.loss == "logistic":
            return -self.b * np.exp(log_expit(-self.b * z))
        prob = np.exp(z - logsumexp(z, axis=1, keepdims=True))
        prob[np.arange(z.shape[0]), self.b.astype(np.int64)] -= 1.0
        return prob

    def laplacian(self) -> sp.csr_array:
        """L = D - W of the weight graph (label propagation)."""
        degree = np.asarray(self.W.sum(axis=1)).ravel()
        return sp.csr_array(sp.diags_array(degree) - self.W)

    def optimality(self, x: Any) -> float:
        """The largest distance of -grad f from l1 * d|x| over coordinates (0 exactly at a minimiser)."""
        x = self._point(x)
        return float(np.max(np.abs(subgradient_residual(self.gradient(x), x, self.l1))))

    def check(self, x: Any) -> None:
        """Raise ProblemError unless ``x`` has the shape of a solution and is finite."""
        self._point(x)

    def _point(self, x: Any) -> np.ndarray:
        x = float_array(x, "x")
        if x.shape != self.x_shape:
            raise ProblemError(f"x: expected shape {self.x_shape}, got {x.shape}")
        require_finite(x, "x")
        return x

    # ----- files -----
    @classmethod
    def from_data(cls, params: dict[str, Any], data: dict[str, Any], **info: Any) -> BCDProblem:
        check_keys("params", params, PARAM_KEYS, "bcd")
        check_keys("data", data, DATA_KEYS, "bcd")
        loss = params.get("loss", "least_squares")
        if not isinstance(loss, str):
            raise FormatError(f"params: loss must be a string, got {loss!r}")
        scalars = {key: params[key] for key in ("l1", "l2", "label_weight") if key in params}
        return cls(loss=loss, **{key: data.get(key) for key in DATA_KEYS}, **scalars, **info)

    @classmethod
    def from_file(cls, path: Any, **params: Any) -> BCDProblem:
        """A problem from a LIBSVM/svmlight data file and [params] entries: loss (default logistic), l1, l2.

        With l1 > 0 on least squares or logistic (without l2) the file's solve defaults to bcd.lasso.
        """
        from dopt.bcd.libsvm import load_libsvm

        check_keys("params", params, FILE_PARAM_KEYS, "bcd with a LIBSVM file")
        loss = params.pop("loss", "logistic")
        if loss not in LOSSES or loss == "label_propagation":
            valid = ", ".join(key for key in LOSSES if key != "label_propagation")
            raise FormatError(f"params: loss {loss!r} cannot be read from a LIBSVM file; use one of {valid}")
        problem = load_libsvm(path, loss, **params)
        if problem.l1 > 0 and (loss == "least_squares" or (loss == "logistic" and problem.l2 == 0)):
            problem.defaults["method"] = "bcd.lasso"  # as the bundled manifests choose for L1 problems
        return problem

    def to_data(self) -> tuple[dict[str, Any], dict[str, Any]]:
        params: dict[str, Any] = {"loss": self.loss, "l1": self.l1, "l2": self.l2}
        if self.loss == "label_propagation":
            params["label_weight"] = self.label_weight
            data = {"W": self.W, "b": self.b, "labelled": self.labelled}
        else:
            data = {"A": self.A, "b": self.b}
        return params, data

    def summary(self) -> dict[str, Any]:
        M = self.W if self.loss == "label_propagation" else self.A
        nnz = M.nnz if sp.issparse(M) else int(np.count_nonzero(M))
        out = {"kind": self.kind, "name": self.name, "loss": self.loss, "rows": M.shape[0]}
        out.update(
            {"coordinates": self.n_features, "nonzeros": nnz, "storage": "sparse" if sp.issparse(M) else "dense"}
        )
        out.update({"l1": self.l1, "l2": self.l2})
        if self.loss == "multinomial":
            out["classes"] = self.n_classes
        return out

    def __repr__(self) -> str:
        return f"BCDProblem(name={self.name!r}, loss={self.loss!r}, x_shape={self.x_shape}, l1={self.l1}, l2={self.l2})"


def subgradient_residual(g: np.ndarray, x: np.ndarray, l1: float) -> np.ndarray:
    """Per coordinate, the distance of -g to l1 * d|x_i| (the minimum-norm subgradient of F)."""
    if l1 == 0:
        return g
    return np.where(x != 0, g + l1 * np.sign(x), np.sign(g) * np.maximum(np.abs(g) - l1, 0.0))


def _matrix(M: Any, name: str) -> np.ndarray | sp.csc_array:
    """M as float64: C-order dense array or CSC sparse array, finite, 2-D and non-empty."""
    if sp.issparse(M):
        if M.dtype.kind not in "biuf":
            raise ProblemError(f"{name}: {M.dtype} entries; expected real numbers")
        M = sp.csc_array(M, dtype=np.float64)
        M.sum_duplicates()
        M.sort_indices()
    else:
        M = np.ascontiguousarray(float_array(M, name))
        if M.ndim != 2:
            raise ProblemError(f"{name}: expected a 2-D matrix, got shape {M.shape}")
    if M.shape[0] == 0 or M.shape[1] == 0:
        raise ProblemError(f"{name}: empty matrix of shape {M.shape}")
    require_finite(M, name)
    return M
