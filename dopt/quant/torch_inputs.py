"""Calibration inputs of any torch model's linear layers, for :func:`dopt.quant.model.quantize_layers`.

Forward pre-hooks on every ``torch.nn.Linear`` accumulate Σ = Σ_tokens x xᵀ
(float64) of the layer's inputs while the model runs on the caller's
batches; padding rows can be dropped with a mask. Needs torch (imported
here only).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from dopt.quant.model import QuantizedModel


def linear_grams(
    model: Any,
    batches: Iterable[Any],
    *,
    names: Iterable[str] | None = None,
    run: Callable[[Any, Any], Any] | None = None,
    token_mask: Callable[[Any], Any] | None = None,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{name: (W, Σ)}`` for the model's linear layers (all, or ``names``) over ``batches``.

    ``run(model, batch)`` runs the model on one batch (default ``model(**batch)``
    for a dict, else ``model(batch)``); ``token_mask(batch)`` gives a boolean
    (batch × tokens) mask of the real tokens, whose rows alone are counted.
    """
    import torch

    wanted = None if names is None else set(names)
    layers = {
        n: m for n, m in model.named_modules() if isinstance(m, torch.nn.Linear) and (wanted is None or n in wanted)
    }
    grams: dict[str, Any] = {}
    current: dict[str, Any] = {}

    def hook(name: str) -> Callable[..., None]:
        def pre(module: Any, args: tuple) -> None:
            x = args[0].detach()
            if current.get("mask") is not None and x.dim() == 3:
                x = x[current["mask"]]
            x = x.reshape(-1, x.shape[-1]).double()
            grams[name] = grams.get(name, 0) + x.T @ x

        return pre

    handles = [m.register_forward_pre_hook(hook(n)) for n, m in layers.items()]
    call = run or (lambda mdl, b: mdl(**b) if isinstance(b, dict) else mdl(b))
    try:
        with torch.no_grad():
            for batch in batches:
                current["mask"] = None if token_mask is None else token_mask(batch).bool()
                call(model, batch)
    finally:
        for handle in handles:
            handle.remove()
    return {n: (layers[n].weight.detach().double().cpu().numpy(), grams[n].cpu().numpy()) for n in layers if n in grams}


def load_into(model: Any, quantized: QuantizedModel) -> None:
    """Copy the quantized weights (``<name>.weight``) into the torch model's linear layers, in place."""
    import torch

    modules = dict(model.named_modules())
    with torch.no_grad():
        for key, value in quantized.weights.items():
            module = modules[key.removesuffix(".weight")]
            module.weight.copy_(torch.as_tensor(value, dtype=module.weight.dtype))
