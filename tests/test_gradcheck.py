"""The report behind `volnet gradcheck` (each case itself is tested in tests/layers/test_gradients.py)."""

from volnet.gradients.every_layer import GradientResult, format_results, gradient_name


def test_gradient_names_follow_the_notes():
    assert [gradient_name(name) for name in ("x", "weight", "body.0.bias", "gamma")] == ["dx", "dw", "body.0.db",
                                                                                           "dgamma"]


def test_the_table_shows_failures():
    table = format_results([GradientResult("tanh", "dx", 3e-2), GradientResult("relu", "dx", 1e-11)])
    assert "FAIL" in table and "1 of 2 gradients pass; 1 FAIL" in table
