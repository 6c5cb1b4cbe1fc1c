# The benchmark's header says which BLAS kernel ran, and how to run the CPU's own one.
import pytest

from volnet.bench import machine


def test_the_blas_numpy_loaded_is_named_with_its_kernel_and_threads():
    pytest.importorskip("threadpoolctl")
    info = machine.blas()
    assert info["library"] in ("openblas", "mkl", "blis", "accelerate")
    assert info["threads"] >= 1 and info["path"]
    line = machine.describe_blas(info, cpu_has_avx512=False)[0]
    assert info["library"] in line and f"{info['threads']} threads" in line


@pytest.mark.parametrize("environment, forced", [
    ({}, False),
    ({"OPENBLAS_L2_SIZE": "1048576"}, False),
    ({"OPENBLAS_CORETYPE": "Haswell", "OPENBLAS_L2_SIZE": "1048576"}, True),
])
def test_an_environment_that_forces_the_kernel_is_named_with_the_way_out(monkeypatch, environment, forced):
    for name in machine.KERNEL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    info = machine.blas()
    assert info["environment"] == environment
    lines = machine.describe_blas(info, cpu_has_avx512=True)
    if not environment:
        assert len(lines) == 1
        return
    advice = lines[1]
    assert all(f"{name}={value}" in advice for name, value in environment.items())
    assert "env " + " ".join(f"-u {name}" for name in environment) + " volnet bench" in advice
    assert ("not the CPU's own" in advice) is forced


def test_without_threadpoolctl_the_kernel_is_unknown_and_says_how_to_see_it(monkeypatch):
    import builtins
    real_import = builtins.__import__

    def no_threadpoolctl(name, *args, **kwargs):
        if name == "threadpoolctl":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_threadpoolctl)
    info = machine.blas()
    assert info["library"] is None
    assert "pip install threadpoolctl" in machine.describe_blas(info, cpu_has_avx512=False)[0]
