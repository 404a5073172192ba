"""Writing benchmark results: every file goes to a temporary name in its directory and
is renamed into place, so an interrupted benchmark never leaves a half-written table
or picture."""

import os
import tempfile
from pathlib import Path


def _replace_atomically(path, write):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=str(path.parent), prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_atomic(path, text):
    """Writes `text` to `path` (parent directories created)."""
    def write(tmp):
        with open(tmp, "w") as f:
            f.write(text)

    _replace_atomically(path, write)


def save_figure(figure, path, dpi=110):
    """Saves a matplotlib figure as a PNG at `path` and closes it."""
    import matplotlib.pyplot as plt

    try:
        _replace_atomically(path, lambda tmp: figure.savefig(tmp, dpi=dpi, format="png"))
    finally:
        plt.close(figure)


def write_report(output, text, figure):
    """Writes a benchmark's markdown `text` to `output` and its `figure` (laid out
    tightly) beside it as `<output>.png`; returns `text`."""
    figure.tight_layout()
    save_figure(figure, Path(output).with_suffix(".png"))
    write_atomic(output, text)
    return text


def readme_block(readme, name, body):
    """Replaces the text between `<!-- NAME:start -->` and `<!-- NAME:end -->` in the file
    `readme` by `body` (written atomically); returns whether the file changed. A README
    without the markers is an error: the block's place is chosen by hand, once."""
    import re

    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    with open(readme, encoding="utf-8") as f:
        text = f.read()
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    if not pattern.search(text):
        raise ValueError(f"{readme} has no {start} ... {end} block to write the table into.")
    updated = pattern.sub(lambda _: f"{start}\n{body}\n{end}", text, count=1)
    if updated != text:
        write_atomic(readme, updated)
    return updated != text
