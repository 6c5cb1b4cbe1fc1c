"""What travels from the lab's training thread to the browser tabs, and how compactly.

Arrays go as 8-bit pictures: `picture(a)` scales an array to 0..255 between its own min and
max and sends the bytes in base64 with the shape and the two numbers, so a 28×28 activation
map costs 784 bytes (+ a third for base64) instead of 3 KB of float32 or 10 KB of JSON.
Volumes are cut to at most MAX_SLICES depth slices and MAX_SIDE×MAX_SIDE pixels (every k-th
pixel) before they go.

Each open tab is a Client with two bounded stores: a queue of the small messages that make
the curves (the oldest dropped when full) and one slot per kind of big message (the layer
cards, the predictions feed, the confusion matrix), which a newer message of that kind
replaces. A tab that reads slowly, or has gone, therefore costs at most MAX_QUEUED small
messages and one big message of each kind: the server's memory never grows with it.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import json
import threading

import numpy as np

MAX_SLICES = 32  # depth slices of a volume that are sent
MAX_SIDE = 32  # pixels along each side of a depth slice that are sent
MAX_DRAWN = 4096  # numbers of a weight matrix that are sent (larger ones: min, max and mean only)
MAX_QUEUED = 256  # small messages waiting per tab
MAX_CLIENTS = 16  # tabs at once
LATEST_ONLY = frozenset({"layers", "predictions", "state", "probe"})


def numbers(array: np.ndarray) -> dict:
    """An array's shape, min, max and mean without its values (data None): for one too large to draw."""
    array = np.asarray(array, dtype=np.float64)
    return {"shape": [], "full": list(array.shape), "min": float(array.min()), "max": float(array.max()),
            "mean": float(array.mean()), "data": None}


def picture(array: np.ndarray, max_slices: int = MAX_SLICES, max_side: int = MAX_SIDE, whole=None) -> dict:
    """An array as 8-bit numbers scaled between its min and max (module doc).

    Args:
        array: (D, H, W) a volume, (H, W) a map or (D,) a vector.
        whole: the array that `array` is part of (e.g. a filter bank of which some filters are
            sent); its min and max scale the values, and numbers() describe it.

    Returns:
        numbers(whole or array) with "shape", the shape sent, and "data", base64 of its uint8
        values in C order: value = min + data/255·(max − min).
    """
    sent = numbers(array if whole is None else whole)
    array = np.asarray(array, dtype=np.float64)
    if array.ndim == 3:
        step = -(-max(array.shape[1:]) // max_side)
        array = array[:max_slices, ::step, ::step]
    span = sent["max"] - sent["min"]
    scaled = np.zeros(array.shape, np.uint8) if span == 0 else np.round((array - sent["min"]) / span * 255).astype(np.uint8)
    return {**sent, "shape": list(scaled.shape), "data": base64.b64encode(scaled.tobytes()).decode("ascii")}


def unpicture(sent: dict) -> np.ndarray:
    """The float values a picture stands for (to 1/255 of its range): the browser's decoding, for tests."""
    data = np.frombuffer(base64.b64decode(sent["data"]), np.uint8).reshape(sent["shape"])
    return sent["min"] + data / 255 * (sent["max"] - sent["min"])


class Client:
    """One tab's bounded stores (module doc), in the order of publication; filled from any
    thread, emptied by its WebSocket task."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop, self.ready = loop, asyncio.Event()
        self.pending: collections.OrderedDict[object, str] = collections.OrderedDict()  # kind or number -> text
        self.small = collections.deque()  # the numbers of the small messages waiting, oldest first
        self.count = 0
        self.lock = threading.Lock()

    def put(self, kind: str, text: str) -> None:
        with self.lock:
            if kind in LATEST_ONLY:
                self.pending.pop(kind, None)  # the older one of this kind goes; the newer one takes its turn
                self.pending[kind] = text
            else:
                self.count += 1
                self.pending[self.count] = text
                self.small.append(self.count)
                if len(self.small) > MAX_QUEUED:
                    del self.pending[self.small.popleft()]
        self.loop.call_soon_threadsafe(self.ready.set)

    def take(self) -> list[str]:
        """Everything waiting, in the order it was published; empties the stores."""
        with self.lock:
            texts = list(self.pending.values())
            self.pending.clear()
            self.small.clear()
            self.ready.clear()
        return texts

    def waiting(self) -> int:
        """How many messages are waiting (at most MAX_QUEUED + len(LATEST_ONLY))."""
        with self.lock:
            return len(self.pending)


class Broker:
    """The open tabs: publish() hands one message to every tab, from any thread."""

    def __init__(self):
        self.clients: set[Client] = set()
        self.lock = threading.Lock()

    def add(self, loop: asyncio.AbstractEventLoop) -> Client:
        """A new tab's Client.

        Raises:
            ValueError: MAX_CLIENTS tabs are open already.
        """
        with self.lock:
            if len(self.clients) >= MAX_CLIENTS:
                raise ValueError(f"{MAX_CLIENTS} tabs are open on this lab already; close one first")
            client = Client(loop)
            self.clients.add(client)
        return client

    def remove(self, client: Client) -> None:
        with self.lock:
            self.clients.discard(client)

    @property
    def listening(self) -> bool:
        return bool(self.clients)

    def publish(self, kind: str, payload: dict) -> None:
        """Send {"kind": kind, **payload} to every tab; encoded once, whatever the number of tabs."""
        with self.lock:
            clients = list(self.clients)
        if not clients:
            return
        text = json.dumps({"kind": kind, **payload}, allow_nan=False, default=_plain)
        for client in clients:
            client.put(kind, text)


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} cannot be sent to the page")
