"""Models: architecture strings, presets, summaries, saving and loading."""

from volnet.models.architecture import build_model, parse_architecture
from volnet.models.presets import PRESETS, Preset, get_preset, list_presets
from volnet.models.serialize import load_model, model_from_spec, model_to_spec, save_model
from volnet.models.summary import LayerRow, summary, summary_rows, summary_totals

__all__ = [
    "PRESETS", "LayerRow", "Preset", "build_model", "get_preset", "list_presets", "load_model", "model_from_spec",
    "model_to_spec", "parse_architecture", "save_model", "summary", "summary_rows", "summary_totals",
]
