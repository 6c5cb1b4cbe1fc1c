"""Models: architecture strings, presets, summaries, saving and loading."""

from volnet.models.architecture import build_model, parse_architecture
from volnet.models.presets import PRESETS, Preset, get_preset, list_presets
from volnet.models.serialize import (load_model, model_from_spec, model_to_spec, read_npz_checked, save_model,
                                     write_npz_atomic)
from volnet.models.summary import LayerRow, summary, summary_rows, summary_totals

__all__ = [
    "PRESETS", "LayerRow", "Preset", "build_model", "get_preset", "list_presets", "load_model", "model_from_spec",
    "model_to_spec", "parse_architecture", "read_npz_checked", "save_model", "summary", "summary_rows",
    "summary_totals", "write_npz_atomic",
]
