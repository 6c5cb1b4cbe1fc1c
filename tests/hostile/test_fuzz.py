# The hypothesis fuzzers of fuzz_parsers.py (IDX, CIFAR-10 binary and Python, .npz models,
# architecture strings; a few hundred examples each), run in a child pytest under the memory
# cap and a time limit of conftest.run_capped: a parser that starts allocating what a header
# promises, or looping over what a string declares, fails here within minutes at worst.

from pathlib import Path


def test_parsers_survive_fuzzing(capped):
    fuzzers = Path(__file__).with_name("fuzz_parsers.py")
    done = capped(["-m", "pytest", "-q", "-p", "no:cacheprovider", fuzzers], seconds=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "7 passed" in done.stdout
