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
