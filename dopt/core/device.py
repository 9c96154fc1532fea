"""Choosing the device a solve runs on.

``auto`` takes the GPU when a real CUDA device is visible (through CuPy, or
Numba-CUDA when CuPy is absent) and the method has a GPU path, else the CPU.
``gpu`` also accepts the Numba CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``),
which is how CI exercises the GPU kernels.
"""

from __future__ import annotations

import functools
import os

from dopt.core.errors import MethodError

DEVICES = ("auto", "cpu", "gpu")


def cuda_simulator_enabled() -> bool:
    """True when Numba is set to simulate CUDA on the CPU."""
    return os.environ.get("NUMBA_ENABLE_CUDASIM", "") == "1"


@functools.cache
def real_gpu_available() -> bool:
    """True when a physical CUDA device is visible."""
    if cuda_simulator_enabled():
        return False
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # noqa: BLE001 - CuPy missing or no driver: no GPU
        pass
    try:
        from numba import cuda

        return bool(cuda.is_available())
    except Exception:  # noqa: BLE001 - numba-cuda missing or no driver
        return False


def gpu_usable() -> bool:
    """True when GPU kernels can run: a real device or the CUDA simulator."""
    if cuda_simulator_enabled():
        try:
            from numba import cuda  # noqa: F401
        except ImportError:
            return False
        return True
    return real_gpu_available()


def resolve_device(requested: str, supported: tuple[str, ...], method: str) -> str:
    """The concrete device (``cpu`` or ``gpu``) for ``method`` given the user's request."""
    if requested not in DEVICES:
        raise MethodError(f"unknown device {requested!r}; use one of {', '.join(DEVICES)}")
    if requested == "cpu":
        if "cpu" not in supported:
            raise MethodError(f"method {method} has no CPU path")
        return "cpu"
    if requested == "gpu":
        if "gpu" not in supported:
            raise MethodError(f"method {method} has no GPU path; use --device cpu")
        if not gpu_usable():
            raise MethodError(
                "device 'gpu' requested but no CUDA device is visible "
                "(install dopt[gpu] on a machine with an NVIDIA GPU, or use --device cpu)"
            )
        return "gpu"
    if "gpu" in supported and real_gpu_available():
        return "gpu"
    if "cpu" in supported:
        return "cpu"
    raise MethodError(f"method {method} runs only on the GPU and none is visible")
