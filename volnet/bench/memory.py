"""Peak memory of one training step, each framework measured in a fresh process of its own.

What is measured: the peak resident set size (Linux VmHWM) during three training steps,
minus the resident size just before the first step, when the model, its optimizer and the
batch already exist. The peak is reset right before the steps (writing 5 to
/proc/self/clear_refs), so what importing NumPy or PyTorch touched does not count. The
difference is the memory the step itself needs: activations kept for the backward pass,
gradients, work buffers — and, for PyTorch only, Adam's two moment arrays, which torch
creates at the first step while volnet creates them with the optimizer (2 × 4 bytes per
parameter; the benchmark reports the parameter count so this can be taken into account).
Like PyTorch's libraries, what volnet loads once per process is not counted either: with
numba installed, a fresh build of the model takes one step on two examples before the
measured model is built, and is dropped, which loads every compiled loop the step uses
(numba, and the Winograd, direct, batch norm, ReLU and pooling loops); what stays resident
after it is reported apart ("kernels_mib").

measure_in_subprocess runs measure() in a fresh interpreter, which prints it as JSON.
"""

from __future__ import annotations

import ctypes
import json
import resource
import subprocess
import sys


def _status_kib(field: str) -> int | None:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return None


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
        return True
    except OSError:
        return False


def _load_compiled_loops(spec: str, input_shape, x, labels) -> None:
    """One training step of a fresh build of spec on two examples, dropped afterwards: it loads
    every compiled loop a step of spec uses. Then the C allocator hands back what it can."""
    from volnet.bench.steps import volnet_step

    volnet_step(spec, input_shape, x[:2], labels[:2])[0]()
    try:
        ctypes.CDLL(None).malloc_trim(0)  # glibc keeps freed heap memory resident otherwise
    except (OSError, AttributeError):
        pass


def measure(framework: str, spec: str, input_shape, steps: int = 3) -> dict:
    """Peak extra memory (MiB) of `steps` training steps of `spec` in this process."""
    from volnet.bench.steps import batch, torch_step, volnet_step
    from volnet.ops import compiled

    x, labels = batch(input_shape)
    kernels_kib = 0
    if framework == "volnet" and compiled.numba_installed():
        before = _status_kib("VmRSS")
        _load_compiled_loops(spec, input_shape, x, labels)
        kernels_kib = max(_status_kib("VmRSS") - before, 0)
    step, model = volnet_step(spec, input_shape, x, labels)
    parameters = sum(p.data.size for p in model.parameters().values())
    if framework == "torch":
        import torch

        from volnet.ops.parallel import blas_threads

        torch.set_num_threads(blas_threads())
        step, _ = torch_step(model, x, labels)
        del model
    baseline = _status_kib("VmRSS")
    reset = _reset_peak()
    for _ in range(steps):
        step()
    peak = _status_kib("VmHWM") if reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"framework": framework, "peak_mib": (peak - baseline) / 1024, "parameters": parameters,
            "kernels_mib": kernels_kib / 1024,
            "method": "VmHWM − VmRSS" if reset else "ru_maxrss − VmRSS (peak not reset: may include imports)"}


def measure_in_subprocess(framework: str, spec: str, input_shape, timeout: float = 300) -> dict:
    """measure() in a fresh Python process, so that the two frameworks never share a heap."""
    program = ("import json, sys; from volnet.bench.memory import measure; "
               "print(json.dumps(measure(sys.argv[1], sys.argv[2], tuple(map(int, sys.argv[3:])))))")
    command = [sys.executable, "-c", program, framework, spec, *map(str, input_shape)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"memory measurement of {framework} failed:\n{done.stderr.strip()}")
    return json.loads(done.stdout.strip().splitlines()[-1])

