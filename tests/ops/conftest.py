import pytest

from volnet.ops import winograd


@pytest.fixture(params=["im2col", "winograd"])
def conv_algorithm(request, monkeypatch):
    """Run a conv test twice: with every layer as im2col, and with every 3×3 stride-1 layer
    (at any depth) as Winograd F(2×2, 3×3), which needs numba."""
    if request.param == "winograd":
        pytest.importorskip("numba")
        monkeypatch.setattr(winograd, "MIN_DEPTH", 1)
    monkeypatch.setattr(winograd, "ENABLED", request.param == "winograd")
    return request.param
