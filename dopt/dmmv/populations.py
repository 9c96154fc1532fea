"""Running several independent ``dmmv.local`` searches (populations) in lockstep.

Each search is a coroutine: it does its cheap state operations (loads, kicks,
objective reads) itself and yields the two expensive ones, a full pass and a
recheck of candidates, as requests. ``run_lockstep`` gathers the pending
request of every live search and answers them together, so a GPU state can
serve all populations' passes in one launch and all their rechecks in another
(``CudaPopulations.answer``); on the CPU each request is answered in turn
(``answer_each``). One search gives exactly the sequential run.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class PassRequest:
    """Score the best move of every variable on the search's state."""

    t_obj: float
    squarings: int
    tol: float


@dataclass(frozen=True)
class ApplyRequest:
    """Recheck ``cands`` in order on the search's state, applying those that still improve."""

    cands: np.ndarray
    t_scale: float
    squarings: int
    tol: float
    ds_tol: float


Request = PassRequest | ApplyRequest
Search = Generator[Request, Any, str]
Answerer = Callable[[dict[int, Request]], dict[int, Any]]


def answer_each(states: Sequence[Any]) -> Answerer:
    """An answerer that serves each population's request on its own state, one after another."""

    def answer(pending: dict[int, Request]) -> dict[int, Any]:
        out: dict[int, Any] = {}
        for pop, req in pending.items():
            state = states[pop]
            if isinstance(req, PassRequest):
                out[pop] = state.full_pass(req.t_obj, req.squarings, req.tol)
            else:
                out[pop] = state.apply(req.cands, req.t_scale, req.squarings, req.tol, req.ds_tol)
        return out

    return answer


def run_lockstep(searches: Sequence[Search], answer: Answerer) -> list[str]:
    """Drive every search to its end, answering the pending requests of all live ones together each step;
    the final status of each."""
    statuses = [""] * len(searches)
    pending: dict[int, Request] = {}

    def advance(pop: int, reply: Any) -> None:
        try:
            pending[pop] = searches[pop].send(reply)
        except StopIteration as stop:
            statuses[pop] = stop.value

    for pop in range(len(searches)):
        advance(pop, None)
    while pending:
        replies = answer(pending)
        pending.clear()
        for pop, reply in replies.items():
            advance(pop, reply)
    return statuses
