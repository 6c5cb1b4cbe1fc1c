"""Animations from a list of frames: a GIF, and a self-contained HTML page with controls.

The page embeds every frame as a PNG data URI and its caption as text, with play/pause,
step back/forward, a slider, and the keyboard (space, ←, →). It references nothing outside
itself (no scripts, fonts or images from the web), so it works offline and as an e-mail
attachment.
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path

import numpy as np
from PIL import Image


COLOURS = 128  # the pictures' few colours and their anti-aliased edges


def _palette_frames(frames) -> list[Image.Image]:
    """Frames mapped onto one shared palette (built from all of them), so colours do not
    flicker from frame to frame and the files stay small."""
    frames = [np.asarray(frame, dtype=np.uint8) for frame in frames]
    if not frames:
        raise ValueError("an animation needs at least one frame")
    if any(frame.shape != frames[0].shape for frame in frames):
        raise ValueError(f"all frames must have one size, got {sorted({frame.shape for frame in frames})}")
    # the octree keeps rare but important colours (an orange outline among greys) exact
    strip = Image.fromarray(np.concatenate(frames, axis=0))
    palette = strip.quantize(colors=COLOURS, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
    return [Image.fromarray(frame).quantize(palette=palette, dither=Image.Dither.NONE) for frame in frames]


def _write_gif(images: list[Image.Image], path: Path, seconds_per_frame: float) -> Path:
    # Pillow merges a frame identical to the one before it into that one; the pictures'
    # frames always differ, so the GIF has one frame per picture frame
    images[0].save(path, save_all=True, append_images=images[1:], duration=int(seconds_per_frame * 1000), loop=0)
    return path


def _png_data_uri(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>
  body {{ font-family: "DejaVu Sans", Arial, sans-serif; margin: 1.5em; color: #222; }}
  h1 {{ font-size: 1.3em; margin: 0 0 0.3em 0; }}
  p.about {{ margin: 0 0 0.8em 0; max-width: 60em; }}
  .controls {{ display: flex; gap: 0.5em; align-items: center; margin-bottom: 0.6em; }}
  button {{ font-size: 1em; padding: 0.3em 0.9em; }}
  input[type=range] {{ width: 20em; }}
  #caption {{ font-family: "DejaVu Sans Mono", monospace; white-space: pre; background: #f6f6f6;
             padding: 0.6em; margin: 0.6em 0; max-width: 100%; overflow-x: auto; }}
  img {{ max-width: 100%; border: 1px solid #ddd; }}
</style>
</head>
<body>
<h1>{title}</h1>
<p class="about">{description}</p>
<div class="controls">
  <button id="back" title="previous frame (←)">◀ step</button>
  <button id="play" title="play / pause (space)">pause</button>
  <button id="forward" title="next frame (→)">step ▶</button>
  <input id="slider" type="range" min="0" max="{last}" value="0">
  <span id="counter"></span>
</div>
<div id="caption"></div>
<img id="frame" alt="animation frame">
<script>
const frames = {frames};
const captions = {captions};
let current = 0, timer = null;
const image = document.getElementById("frame"), caption = document.getElementById("caption"),
      slider = document.getElementById("slider"), counter = document.getElementById("counter"),
      play = document.getElementById("play");
function show(index) {{
  current = (index + frames.length) % frames.length;
  image.src = frames[current];
  caption.textContent = captions[current];
  slider.value = current;
  counter.textContent = "frame " + (current + 1) + " / " + frames.length;
}}
function pause() {{ clearInterval(timer); timer = null; play.textContent = "play"; }}
function start() {{ timer = setInterval(() => show(current + 1), {milliseconds}); play.textContent = "pause"; }}
play.onclick = () => timer ? pause() : start();
document.getElementById("back").onclick = () => {{ pause(); show(current - 1); }};
document.getElementById("forward").onclick = () => {{ pause(); show(current + 1); }};
slider.oninput = () => {{ pause(); show(Number(slider.value)); }};
document.addEventListener("keydown", (event) => {{
  if (event.key === "ArrowLeft") {{ pause(); show(current - 1); }}
  else if (event.key === "ArrowRight") {{ pause(); show(current + 1); }}
  else if (event.key === " ") {{ event.preventDefault(); timer ? pause() : start(); }}
}});
show(0);
start();
</script>
</body>
</html>
"""


def _write_html(images: list[Image.Image], captions: list[str], path: Path, title: str, description: str,
                seconds_per_frame: float) -> Path:
    # "</" inside a <script> would end it early; JSON allows the escaped form
    def script_json(values):
        return json.dumps(values).replace("</", "<\\/")

    page = _PAGE.format(
        title=html.escape(title), description=html.escape(description), last=len(images) - 1,
        frames=script_json([_png_data_uri(image) for image in images]), captions=script_json(captions),
        milliseconds=int(seconds_per_frame * 1000))
    path.write_text(page, encoding="utf-8")
    return path


def save_animation(frames, captions, folder, name: str, title: str, description: str = "",
                   seconds_per_frame: float = 1.0) -> list[Path]:
    """Write `name`.gif and `name`.html (the self-contained player) into folder.

    Args:
        frames: (H, W, 3) uint8 arrays of one size.
        captions: one text per frame, shown above it on the page (e.g. the sum being computed).
        folder: created if missing. name: the files' name without suffix.
        title, description: shown at the top of the page (plain text).
        seconds_per_frame: how long each frame stays when playing.

    Returns:
        [the GIF's path, the page's path].

    Raises:
        ValueError: no frames, frames of different sizes, or not one caption per frame.
    """
    images = _palette_frames(frames)
    captions = [str(caption) for caption in captions]
    if len(images) != len(captions):
        raise ValueError(f"an animation needs one caption per frame, got {len(images)} frames and "
                         f"{len(captions)} captions")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return [_write_gif(images, folder / f"{name}.gif", seconds_per_frame),
            _write_html(images, captions, folder / f"{name}.html", title, description, seconds_per_frame)]
