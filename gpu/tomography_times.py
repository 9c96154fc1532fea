"""Discrete tomography on the CPU against the GPU: the DMMV steps of docs/dmmv-applications.md, timed on each.

On each phantom (the paper's 64-angle setting and the sparse 8-angle one) SART runs once on the CPU
and is rounded to the grey levels; from that image ``smooth_and_repair`` (median filter, then
``dmmv.local`` on the boundary pixels until every ray is within the noise bound) and ``dmmv.local``
on every pixel run on each device with the same time limit and seed. Part of gpu/check.py's report.
"""

from __future__ import annotations

import time
from typing import Any

_STEPS = {"repair": "smooth_and_repair", "local": "dmmv.local, every pixel"}


def tomography_row(
    size: int, angles: int, levels: int, seconds: float, cycles: int, sart_iterations: int, seed: int = 0
) -> dict[str, Any]:
    """One Shepp-Logan instance (uniform noise ±1000 on the sinogram): SART + rounding, then each DMMV step on
    each device, scored by mean absolute error, SSIM and max residual, with wall times."""
    import dopt
    from dopt.dmmv import tomography

    noise = 1000.0
    spec = tomography.TomographySpec(size, angles, levels, "shepp-logan", noise, seed=seed)
    instance = tomography.make_instance(spec)
    start = time.perf_counter()
    base = tomography.round_to_levels(tomography.sart_image(instance, sart_iterations, seed=seed), instance.grey)
    row: dict[str, Any] = {
        "name": spec.name,
        "sart": {**tomography.metrics(instance, base), "time": time.perf_counter() - start},
    }
    for device in ("cpu", "gpu"):
        start = time.perf_counter()
        image = tomography.smooth_and_repair(
            instance, base, cycles=cycles, time_limit=seconds, seed=seed, tolerance=noise, device=device
        )
        row[f"repair {device}"] = {**tomography.metrics(instance, image), "time": time.perf_counter() - start}
        result = dopt.solve(
            instance.problem(), "dmmv.local", device=device, time_limit=seconds, seed=seed, x0=base.ravel()
        )
        row[f"local {device}"] = {**tomography.metrics(instance, result.x), "time": result.wall_time, "result": result}
        print(f"tomography {spec.name} {device}: repair MAE {row[f'repair {device}']['mae']:.3f}", flush=True)
    target = max(row[f"local {device}"]["result"].objective for device in ("cpu", "gpu"))
    for device in ("cpu", "gpu"):
        row[f"local {device}"]["to target"] = row[f"local {device}"]["result"].time_to(target)
    return row


def tomography_table(rows: list[dict[str, Any]]) -> list[str]:
    """Markdown table: per instance and step, error, SSIM, max residual and time on each device."""
    lines = [
        "| instance | step | device | MAE | SSIM | max residual | time (s) | time to the common objective (s) |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(_line(row["name"], "SART + rounding", "cpu", row["sart"]))
        for step in ("repair", "local"):
            for device in ("cpu", "gpu"):
                lines.append(_line(row["name"], _STEPS[step], device, row[f"{step} {device}"]))
    return lines


def _line(name: str, step: str, device: str, m: dict[str, Any]) -> str:
    ssim = "" if m.get("ssim") is None else f"{m['ssim']:.4f}"
    reached = m.get("to target")
    return (
        f"| {name} | {step} | {device} | {m['mae']:.3f} | {ssim} | {m['max_residual']:.4g} | {m['time']:.2f} "
        f"| {'' if reached is None else f'{reached:.2f}'} |"
    )
