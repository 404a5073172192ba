"""Progress bars that redraw on a terminal and stay short in a log file or pipe."""

import sys

# Seconds between two lines of a bar when the output is not a terminal.
LOG_INTERVAL = 30.0


def is_interactive(stream=None):
    """Whether `stream` (default stdout) is a terminal."""
    stream = sys.stdout if stream is None else stream
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def bar(target, verbose=1, **kwargs):
    """A `keras.utils.Progbar` that redraws up to 20 times a second on a terminal and
    writes a line at most every `LOG_INTERVAL` seconds (and at the end) elsewhere."""
    import keras

    kwargs.setdefault("interval", 0.05 if is_interactive() else LOG_INTERVAL)
    return keras.utils.Progbar(target, verbose=verbose, **kwargs)


def fit_verbose(verbose=None):
    """`model.fit`'s `verbose` for a command: a bar on a terminal, else one line per
    epoch; an explicit value wins."""
    if verbose is not None:
        return verbose
    return 1 if is_interactive() else 2
