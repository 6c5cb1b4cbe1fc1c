"""What volnet refuses: every size that comes from a file, a header, a JSON text or a string
is checked here before anything that large is allocated or looped over.

Three mechanisms, each used by every reader:

1. Declared against present (`check_declared`, `read_declared`). A header that promises
   more bytes than the file holds (an IDX header, an .npy header inside a model file) is
   "truncated or damaged", with the file's name and both numbers, before any array of the
   promised size exists. Readers that cannot know the size ahead (a gzip stream) read in
   chunks and stop at the promised size.
2. A memory budget (`memory_budget`, `check_memory`). An allocation whose size comes from
   somewhere untrusted — a dataset's images, a model's parameters and activations,
   estimated from its architecture before it is built (volnet.models.budget) — is refused
   when it exceeds the budget: half of this machine's physical memory by default, or
   $VOLNET_MEMORY_BUDGET, e.g. VOLNET_MEMORY_BUDGET=200GiB (units B, KiB, MiB, GiB, TiB; a
   plain number is bytes; "none" switches the check off).
3. Parser limits: MAX_NESTING levels of brackets in an architecture string,
   MAX_REPETITIONS for one `*N`, MAX_LAYERS layers in a model once repetitions are
   expanded, MAX_NUMBER_DIGITS digits in a number of an architecture word, and
   MAX_JSON_DEPTH levels of nesting in a JSON text volnet reads (`load_json`). These are
   far beyond any real ConvNet (ResNet-152 has 152 weight layers); a message that hits one
   names it.

Every refusal is a ValueError (BudgetError for the memory budget, a subclass) with one line
that names the file, flag or layer, so the CLI reports it as `volnet CMD: error: ...`.
"""

from __future__ import annotations

import json
import os
import re

MAX_NESTING = 32
MAX_REPETITIONS = 10_000
MAX_LAYERS = 10_000
MAX_NUMBER_DIGITS = 12
MAX_JSON_DEPTH = 64
BUDGET_VARIABLE = "VOLNET_MEMORY_BUDGET"
_UNITS = {"": 1, "b": 1, "k": 2**10, "kb": 2**10, "kib": 2**10, "m": 2**20, "mb": 2**20, "mib": 2**20,
          "g": 2**30, "gb": 2**30, "gib": 2**30, "t": 2**40, "tb": 2**40, "tib": 2**40}
_CHUNK = 1 << 20


class BudgetError(ValueError):
    """Something would need more memory than volnet's budget (see memory_budget)."""


def gib(count: int) -> str:
    """Bytes in GiB for messages: 1.5 GiB, 0.002 GiB, 3,100 GiB."""
    amount = count / 2**30
    return f"{amount:,.0f} GiB" if amount >= 100 else f"{amount:.3g} GiB"


def physical_memory() -> int | None:
    """This machine's physical memory in bytes, or None where the OS does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def memory_budget() -> tuple[int | None, str]:
    """(bytes, where the number comes from): $VOLNET_MEMORY_BUDGET, else half the physical
    memory; (None, ...) when the check is off or the memory cannot be found.

    Raises:
        ValueError: $VOLNET_MEMORY_BUDGET is not a size such as 64GiB.
    """
    text = os.environ.get(BUDGET_VARIABLE, "").strip()
    if text:
        if text.lower() == "none":
            return None, f"{BUDGET_VARIABLE}=none"
        match = re.fullmatch(r"(\d+(?:\.\d*)?)\s*([a-z]*)", text.lower())
        if match is None or match.group(2) not in _UNITS:
            raise ValueError(f"{BUDGET_VARIABLE}={text!r} is not a size; write e.g. 64GiB, 500MiB, a number of bytes, "
                             f"or none to switch the memory check off")
        return int(float(match.group(1)) * _UNITS[match.group(2)]), f"{BUDGET_VARIABLE}={text}"
    memory = physical_memory()
    if memory is None:
        return None, "no known physical memory"
    return memory // 2, f"half of this machine's {gib(memory)}"


def check_memory(nbytes: int, what: str) -> None:
    """Refuse `what` (a phrase naming the file, flag or layer) if it needs more than the budget.

    Raises:
        BudgetError: e.g. "model.npz: the images would need 812 GiB, over volnet's memory budget of
            11.7 GiB (half of this machine's 23.4 GiB); ... raise it with VOLNET_MEMORY_BUDGET=...".
    """
    budget, source = memory_budget()
    if budget is not None and nbytes > budget:
        raise BudgetError(f"{what} would need {gib(nbytes)}, over volnet's memory budget of {gib(budget)} ({source}); "
                          f"if this machine really has the memory, raise it, e.g. "
                          f"{BUDGET_VARIABLE}={max(1, -(-nbytes // 2**30))}GiB")


def check_declared(path, what: str, declared: int, present: int) -> None:
    """Refuse a file whose header (`what`) promises more bytes than it holds.

    Raises:
        ValueError: "<path> is truncated or damaged: <what> promises D bytes, but P are present".
    """
    if declared > present:
        raise ValueError(f"{path} is truncated or damaged: {what} promises {declared:,} bytes, but only {present:,} "
                         f"are present. Fetch or save the file again.")


def read_declared(stream, path, what: str, declared: int) -> bytearray:
    """Read the `declared` bytes that a header promises from a stream whose length is not known
    ahead (a gzip stream), in chunks, so that no more than what is present is ever held.

    Raises:
        ValueError: the stream ends first (check_declared).
    """
    chunks, present = [], 0
    while present < declared:
        chunk = stream.read(min(_CHUNK, declared - present))
        if not chunk:
            break
        chunks.append(chunk)
        present += len(chunk)
    check_declared(path, what, declared, present)
    return bytearray().join(chunks)  # writable, so arrays made on it are too


def json_depth(text: str) -> int:
    """The deepest nesting of [ and { in a JSON text, strings skipped; linear in its length."""
    # strings (with their escapes) can hold brackets; drop them first
    skeleton = re.sub(r'"(?:[^"\\]|\\.)*"', "", text)
    depth = deepest = 0
    for character in re.sub(r"[^\[\]{}]", "", skeleton):
        depth += 1 if character in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


def load_json(text: str | bytes, source: str):
    """json.loads, after refusing texts nested deeper than MAX_JSON_DEPTH (json itself would
    recurse, and every reader of the result after it).

    Args:
        text: the JSON text (bytes are decoded as UTF-8).
        source: how messages name it, e.g. "model.npz: its __volnet__.json entry".

    Raises:
        ValueError: not UTF-8, not JSON, or nested too deeply; the message names the source.
    """
    try:
        text = text.decode("utf-8") if isinstance(text, bytes) else text
        depth = json_depth(text)
        if depth > MAX_JSON_DEPTH:
            raise ValueError(f"nested {depth} levels deep, beyond volnet's limit of {MAX_JSON_DEPTH} (MAX_JSON_DEPTH)")
        return json.loads(text)
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise ValueError(f"{source} is not valid JSON: {error}") from None
