import pytest


@pytest.fixture(params=["compiled", "numpy"])
def passes(request, monkeypatch):
    # batch norm, ReLU and max pooling once through numba's loops and once through the NumPy
    # passes they fall back to without numba (volnet.ops.compiled)
    from volnet.ops import compiled
    if request.param == "numpy":
        monkeypatch.setattr(compiled, "stream_kernels", lambda: None)
    elif compiled.stream_kernels() is None:
        pytest.skip("the compiled loops need numba")
    return request.param
