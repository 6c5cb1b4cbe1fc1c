"""docs/notes.md runs: every ```python and ```bash block, in order, prints exactly the ```text
block under it, and every picture the page shows is one its commands write.

To refresh the page after a change of volnet's output, run from the repository root
`python tests/test_notes_walkthrough.py`: it runs the blocks there (writing the pictures into
docs/images/notes/) and writes what they print under them.
"""

import contextlib
import io
import os
import re
import shlex
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTES = ROOT / "docs" / "notes.md"
# a code block and the ```text block right after it (blank lines between them allowed)
BLOCK = re.compile(r"```(python|bash)\n(.*?)```\n\s*```text\n(.*?)```", re.DOTALL)


def blocks(text: str):
    """(kind, code, printed, span of the printed text) for every runnable block, in order."""
    return [(m.group(1), m.group(2), m.group(3), m.span(3)) for m in BLOCK.finditer(text)]


def run_block(kind: str, code: str, namespace: dict) -> str:
    """What the block prints: Python run in the page's one namespace, each bash line as `volnet ...`."""
    from volnet.cli.main import main

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        if kind == "python":
            exec(compile(code, str(NOTES), "exec"), namespace)
        else:
            for line in code.splitlines():
                if line.strip():
                    words = shlex.split(line)
                    assert words[0] == "volnet", f"a bash block of notes.md runs volnet commands only: {line}"
                    code_returned = main(words[1:])
                    assert code_returned == 0, f"{line} exited with {code_returned}"
    return printed.getvalue()


def run_page(folder: Path) -> list[tuple[str, str, str, tuple[int, int], str]]:
    """Run every block of the page with `folder` as the working directory; return each block with what it printed."""
    text = NOTES.read_text(encoding="utf-8")
    namespace: dict = {"__name__": "notes"}
    results = []
    previous = Path.cwd()
    os.chdir(folder)
    try:
        (folder / "docs" / "images" / "notes").mkdir(parents=True, exist_ok=True)
        for kind, code, printed, span in blocks(text):
            results.append((kind, code, printed, span, run_block(kind, code, namespace)))
    finally:
        os.chdir(previous)
    return results


@pytest.mark.slow
def test_every_block_prints_what_the_page_says(tmp_path):
    results = run_page(tmp_path)
    assert len(results) >= 20  # every section of the notes has its block
    for kind, code, printed, _, got in results:
        assert got == printed, f"this {kind} block of docs/notes.md now prints something else:\n{code}"
    # every picture the page shows exists in the repository and is written by one of its commands
    text = NOTES.read_text(encoding="utf-8")
    for image in re.findall(r"!\[[^\]]*\]\((images/notes/[^)]+)\)", text):
        assert (ROOT / "docs" / image).is_file(), image
        assert (tmp_path / "docs" / image).is_file(), f"no block of the page writes {image}"


def test_the_page_follows_the_notes_section_by_section():
    headings = re.findall(r"^## (.+)$", NOTES.read_text(encoding="utf-8"), re.MULTILINE)
    for section in ("Motivation", "mental model", "parameters", "Convolution in action", "Hyperparameters",
                    "Know your dimensions", "Matrix implementation", "Backpropagation", "Pooling", "Fully-connected",
                    "filters learn"):
        assert any(section.lower() in heading.lower() for heading in headings), section
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert readme.index("docs/notes.md") < readme.index("## Speed")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    page = NOTES.read_text(encoding="utf-8")
    # replace the printed text from the last block back, so the earlier spans stay valid
    for _, _, _, (start, end), got in reversed(run_page(ROOT)):
        page = page[:start] + got + page[end:]
    NOTES.write_text(page, encoding="utf-8")
