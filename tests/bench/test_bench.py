# The benchmark must keep running: it is run here in its quick mode, and its JSON checked
# for the expected rows. Speed is never asserted (that is what the benchmark reports).
import json

import numpy as np
import pytest

import volnet.bench
from volnet.bench.cases import CONV_SHAPES
from volnet.bench.steps import NETS
from volnet.cli.main import main
from volnet.ops import compiled


@pytest.mark.slow
def test_quick_benchmark_writes_every_row(tmp_path, capsys):
    path = tmp_path / "bench.json"
    assert main(["bench", "--quick", "--json", str(path)]) == 0
    results = json.loads(path.read_text())
    names = [row["name"] for row in results["rows"]]
    for name, *_ in CONV_SHAPES:
        assert f"Conv2D {name} forward" in names and f"Conv2D {name} forward+backward" in names
    for name in ("MaxPool 2×2 S2 32×28×28 forward+backward", "Linear 3136→128 forward+backward",
                 "BatchNorm 64×16×16 forward+backward"):
        assert name in names
    assert [f"train step {name}" for name, *_ in NETS] == names[-3:]
    assert results["threads"] >= 1 and results["matmul_peak_gflops"] > 0
    for row in results["rows"]:
        assert row["volnet_ms"] > 0
        if results["torch"]:
            assert row["torch_ms"] > 0 and row["ratio"] > 0
            assert row["agreement"] < 1e-4  # same weights, same inputs: float32 rounding only
    assert results["memory"][0]["volnet_mib"] > 0
    out = capsys.readouterr().out
    assert "| case | volnet ms |" in out
    # the header names NumPy's BLAS, its kernel and both frameworks' thread counts
    assert f"kernel {results['blas']['kernel']}" in out and f"volnet {results['threads']}" in out
    assert f"PyTorch {results['torch_threads']}" in out
    # the header says which algorithm the 3×3 layers used; numba's one-time memory is named apart
    assert ("Winograd F(2×2, 3×3), numba" in out) is results["winograd"]
    assert (results["memory"][0]["volnet_kernels_mib"] > 0) is compiled.numba_installed()


def test_without_torch_volnet_is_still_timed(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(volnet.bench, "import_torch", lambda threads: None)
    path = tmp_path / "bench.json"
    assert main(["bench", "--quick", "--no-memory", "--only", "Linear", "--json", str(path)]) == 0
    results = json.loads(path.read_text())
    assert not results["torch"] and [row["torch_ms"] for row in results["rows"]] == [None]
    captured = capsys.readouterr()
    assert "PyTorch is not installed" in captured.out and "PyTorch is not installed" in captured.err


def test_torch_copy_of_a_residual_net_computes_the_same_scores():
    torch = pytest.importorskip("torch")
    from volnet.bench.mirror import to_torch
    from volnet.models import build_model

    model = build_model("resnet-small", seed=0)
    x = np.random.default_rng(0).standard_normal((4, 3, 32, 32), dtype=np.float32)
    net = to_torch(model).eval()
    with torch.no_grad():
        theirs = net(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(model.eval().forward(x), theirs, rtol=1e-4, atol=1e-4)


def test_python_m_volnet_bench_does_not_import_the_command_line():
    # the library's own entry point: the options of `volnet bench`, without volnet.cli
    import subprocess
    import sys

    code = ("import runpy, sys; sys.argv = ['volnet.bench', '--help']\n"
            "try:\n    runpy.run_module('volnet.bench', run_name='__main__')\nexcept SystemExit as done:\n"
            "    assert done.code == 0\n"
            "print(sorted(name for name in sys.modules if name.startswith('volnet.cli')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "usage: python -m volnet.bench [-h] [--quick] [--json FILE] [--no-memory]" in done.stdout
    assert done.stdout.splitlines()[-1] == "[]"


def test_python_m_volnet_bench_says_a_user_error_in_one_line(monkeypatch, tmp_path, capsys):
    from volnet.bench.__main__ import main as bench_main

    monkeypatch.setattr(volnet.bench, "run_benchmark", lambda **options: {"torch": True})
    monkeypatch.setattr(volnet.bench, "table", lambda results: "| case |")
    assert bench_main(["--json", str(tmp_path / "no" / "such" / "folder.json")]) == 2  # as a full disk would
    missing = tmp_path / "no" / "such" / "folder.json"
    assert capsys.readouterr().err == (f"python -m volnet.bench: error: {missing} does not exist (or the folder it "
                                       "should be in does not)\n")
