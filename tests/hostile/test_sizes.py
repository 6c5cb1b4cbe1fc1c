# Class 1 of issue 18: sizes from untrusted places. Every hostile file or string of
# tests/hostile/cases.py ("sizes") runs in one child process under a 3 GiB address-space cap
# and a time limit; each must end in volnet's own one-line refusal that names the file (or the
# word, or the layer) and the numbers — never a MemoryError, a RecursionError, a hang.

import re

import pytest

from volnet.cli._shared import names_a_path
from volnet.limits import (MAX_JSON_DEPTH, BudgetError, check_declared, check_memory, json_depth, load_json,
                           memory_budget)

TRUNCATED = r"DIR/{file} is truncated or damaged: {what} promises {promised} bytes, but only {present} are present"
BUDGET = r"would need [\d,.]+ GiB, over volnet's memory budget of [\d.]+ GiB \(half of this machine's [\d.]+ GiB\); " \
         r"if this machine really has the memory, raise it, e.g. VOLNET_MEMORY_BUDGET=\d+GiB"

EXPECTED = {
    "idx_raw_promising_2_gib": ("ValueError", TRUNCATED.format(
        file="images", what=r"its header \(2147483647 × 28 × 28\)", promised="1,683,627,179,248", present="100")),
    "idx_gz_promising_600_mib": ("ValueError", TRUNCATED.format(
        file="images.gz", what=r"its header \(800000 × 28 × 28\)", promised="627,200,000", present="1,000")),
    "idx_gz_promising_more_than_the_budget": ("BudgetError", r"DIR/labels.gz: its header \(4294967295 × 4294967295 × "
                                                             r"4294967295\) " + BUDGET),
    "model_with_50_million_filters": ("BudgetError", r"DIR/m.npz: its architecture \(largest: layer 1, "
                                                     r"Conv2D\(filters=50000000, pad='same'\), 300 GiB\) " + BUDGET),
    "model_with_a_billion_units": ("BudgetError", r"DIR/m.npz: its architecture \(largest: layer 2, "
                                                  r"Linear\(units=1000000000\), 11,705 GiB\) " + BUDGET),
    "model_with_a_billion_units_and_their_inputs_declared": ("BudgetError", r"DIR/m.npz: its architecture \(largest: "
                                                                            r"layer 3, Linear\(units=1000000000\), "
                                                                            r"584,125,518,821 GiB\) " + BUDGET),
    "model_with_20000_layers": ("ValueError", r"DIR/m.npz: the saved model cannot be rebuilt \(the file is damaged or "
                                              r"from another version of volnet\): the architecture has more than "
                                              r"10,000 layers, beyond volnet's limit \(MAX_LAYERS in volnet.limits\)"),
    "model_json_nested_100000_deep": ("ValueError", r"DIR/m.npz is truncated or corrupt \(its __volnet__.json entry "
                                                    r"is not valid JSON: nested 100000 levels deep, beyond volnet's "
                                                    r"limit of 64 \(MAX_JSON_DEPTH\)\)"),
    "npy_header_promising_40_gb": ("ValueError", TRUNCATED.format(
        file="m.npz", what=r"entry '0.weight' \(shape \(10000000000,\), float32\)", promised="40,000,000,000",
        present="16")),
    "npz_entry_compressed_200_times": ("ValueError", r"DIR/m.npz is truncated or corrupt \(entry '.*' is compressed, and volnet reads only uncompressed entries"),
    "cifar_pickle_bytes_promising_a_tebibyte": ("ValueError", r"DIR/test_batch is truncated or damaged: expected "
                                                              r"1099511627776 bytes in a bytes8, but only 3 remain"),
    "cifar_labels_sharing_lists_10_to_the_30": ("ValueError", r"DIR/test_batch: b'labels' must be a list of 10 "
                                                              r"integers, one per image; found a list of 10 whose "
                                                              r"items are not all integers"),
    "cifar_array_claiming_3_tb": ("ValueError", r"DIR/test_batch: cannot read as a CIFAR-10 Python batch: buffer size "
                                                r"does not match array size"),
    "png_declaring_10_gigapixels": ("ValueError", r"DIR/images/cat/1.png: refused, the image declares more pixels "
                                                  r"than Pillow's limit \(.*10000000000 pixels.*\)\. Resize it, or "
                                                  r"raise PIL.Image.MAX_IMAGE_PIXELS"),
    "architecture_repeated_a_billion_times": ("ValueError", r"'\*1000000000' at position 15: a repetition count is at "
                                                            r"most 10,000 \(MAX_REPETITIONS in volnet.limits\)"),
    "architecture_nested_5000_deep": ("ValueError", r"brackets nested more than 32 deep at position 33, beyond "
                                                    r"volnet's limit \(MAX_NESTING in volnet.limits\)"),
    "architecture_of_20000_words": ("ValueError", r"the architecture string makes 20,001 layers once its repetitions "
                                                  r"are expanded, beyond volnet's limit of 10,000 \(MAX_LAYERS"),
    "architecture_fc_a_trillion": ("ValueError", r"'fc1000000000000…' at position 1 has a number of 13 digits; "
                                                 r"numbers in a word have at most 12 \(MAX_NUMBER_DIGITS"),
    "architecture_conv_100_million_filters": ("BudgetError", r"the architecture 'conv3-100000000 fc10' \(largest: "
                                                             r"layer 2, Linear\(units=10\), [\d,]+ GiB\) " + BUDGET),
    "architecture_number_of_5000_digits": ("ValueError", r"has a number of 5000 digits; numbers in a word have at "
                                                         r"most 12"),
}


def test_every_hostile_size_is_refused_by_name_within_bounds(cases_run):
    # one child process for all the cases (each import of volnet costs seconds); 3 GiB, 120 s
    found = cases_run("sizes", seconds=120)
    assert set(found) == set(EXPECTED)
    for name, (kind, pattern) in EXPECTED.items():
        assert found[name][0] == kind, (name, found[name])
        assert re.search(pattern, found[name][1]), (name, found[name][1])
        assert len(found[name][1]) < 1000, (name, "a message is a few lines, however long the input")


def test_declared_against_present_is_one_rule():
    check_declared("f", "its header", 10, 10)  # exactly what is promised: fine
    with pytest.raises(ValueError, match=r"^f is truncated or damaged: its header promises 11 bytes, but only 10 are "):
        check_declared("f", "its header", 11, 10)


def test_the_budget_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("VOLNET_MEMORY_BUDGET", "2GiB")
    assert memory_budget() == (2 * 2**30, "VOLNET_MEMORY_BUDGET=2GiB")
    check_memory(2 * 2**30, "exactly the budget")
    with pytest.raises(BudgetError, match=r"^x would need 2 GiB, over volnet's memory budget of 2 GiB "
                                          r"\(VOLNET_MEMORY_BUDGET=2GiB\); .* VOLNET_MEMORY_BUDGET=3GiB$"):
        check_memory(2 * 2**30 + 1, "x")
    monkeypatch.setenv("VOLNET_MEMORY_BUDGET", "none")
    check_memory(10**30, "anything")  # switched off
    for text, size in (("512MiB", 2**29), ("1.5g", 3 * 2**29), ("1000", 1000), ("3 TiB", 3 * 2**40)):
        monkeypatch.setenv("VOLNET_MEMORY_BUDGET", text)
        assert memory_budget()[0] == size
    monkeypatch.setenv("VOLNET_MEMORY_BUDGET", "lots")
    with pytest.raises(ValueError, match=r"VOLNET_MEMORY_BUDGET='lots' is not a size; write e.g. 64GiB"):
        memory_budget()
    monkeypatch.delenv("VOLNET_MEMORY_BUDGET")
    assert memory_budget()[1].startswith("half of this machine's")


def test_a_model_just_over_a_small_budget_is_refused_and_just_under_is_built(monkeypatch):
    from volnet.models import build_model
    from volnet.models.budget import memory_estimate

    model = build_model("conv3-8 relu pool fc10", input_shape=(1, 8, 8))
    need, _ = memory_estimate(model, (1, 8, 8))
    monkeypatch.setenv("VOLNET_MEMORY_BUDGET", str(need))
    build_model("conv3-8 relu pool fc10", input_shape=(1, 8, 8))
    monkeypatch.setenv("VOLNET_MEMORY_BUDGET", str(need - 1))
    with pytest.raises(BudgetError, match=r"the architecture 'conv3-8 relu pool fc10' \(largest: layer \d"):
        build_model("conv3-8 relu pool fc10", input_shape=(1, 8, 8))


@pytest.mark.parametrize("text, depth", [("{}", 1), ("[[1], {\"a\": [2]}]", 3), ('["[[[[", "\\"[["]', 1), ("3", 0)])
def test_json_depth_skips_strings(text, depth):
    assert json_depth(text) == depth


def test_json_deeper_than_the_limit_is_refused_naming_the_source():
    load_json("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH, "x")
    with pytest.raises(ValueError, match=rf"^history.json is not valid JSON: nested {MAX_JSON_DEPTH + 1} levels deep"):
        load_json("[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1), "history.json")
    with pytest.raises(ValueError, match=r"^m.npz: meta is not valid JSON: .*utf-8"):
        load_json(b"\xff", "m.npz: meta")


def test_a_long_architecture_string_is_never_looked_up_as_a_path(tmp_path, capsys):
    from volnet.cli.main import main

    long = " ".join(["conv3-8 relu"] * 30) + " pool fc10"  # 399 characters, a valid architecture
    assert not names_a_path(long) and not names_a_path("a\0b") and names_a_path(str(tmp_path))
    for command in (["summary", long], ["show", "model", long, "--out", str(tmp_path)]):
        assert main(command) == 0
    assert "File name too long" not in capsys.readouterr().err
