"""A one-line progress bar for long fits (``verbose=1``).

When tqdm is installed, the bar is tqdm's (``tqdm.auto``: a widget in Jupyter, a redrawn line
in a terminal, sparse lines in a log file). tqdm is not among adesk's core dependencies, so
without it a small bar of the same shape is drawn here.
"""

import sys
import time


def _format_seconds(seconds):
    seconds = int(round(seconds))
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours:d}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes:02d}:{seconds:02d}"


class ProgressBar:
    """Redraw ``label  42%|#####     | 420/1000 [00:12<00:17, 35.2 it/s, loss=-0.31]``.

    Parameters
    ----------
    total : int
        Number of iterations of this fit call.
    label : str
        Shown at the start of the line (the estimator's class name).
    stream : file-like, default=sys.stderr
    min_interval : float or None, default=None
        Seconds between redraws: 0.2 on a terminal, 10 when the stream is a file or pipe (a
        log should not fill up with redraws). Redrawing every iteration would cost more than
        the iteration itself for small models.
    width : int, default=20
        Characters of the bar.
    """

    def __init__(self, total, label, stream=None, min_interval=None, width=20):
        self.total = max(int(total), 0)
        self.label = label
        self.stream = sys.stderr if stream is None else stream
        if min_interval is None:
            interactive = getattr(self.stream, "isatty", lambda: False)()
            min_interval = 0.2 if interactive else 10.0
        self.min_interval = min_interval
        self.last_length = 0
        self.width = width
        self.start = time.perf_counter()
        self.last_draw = -float("inf")
        self.done = 0
        # Iterations shown by the last draw (None before the first).
        self.drawn = None

    def update(self, done, logs):
        """Record ``done`` iterations finished and redraw if enough time has passed."""
        self.done = done
        now = time.perf_counter()
        if now - self.last_draw >= self.min_interval or done >= self.total:
            self.last_draw = now
            self._draw(now, logs)

    def close(self, logs=None):
        """Draw the final state (unless it is already on screen) and end the line."""
        if self.drawn != self.done:
            self._draw(time.perf_counter(), logs or {})
        self.stream.write("\n")
        self.stream.flush()

    def _draw(self, now, logs):
        elapsed = now - self.start
        fraction = self.done / self.total if self.total else 1.0
        filled = int(round(fraction * self.width))
        rate = self.done / elapsed if elapsed > 0 else 0.0
        remaining = (self.total - self.done) / rate if rate > 0 else 0.0
        shown = "".join(f", {name}={value:.4g}" for name, value in list(logs.items())[:3])
        line = (
            f"{self.label} {100 * fraction:3.0f}%|{'#' * filled}{' ' * (self.width - filled)}| "
            f"{self.done}/{self.total} [{_format_seconds(elapsed)}<{_format_seconds(remaining)}, "
            f"{rate:.3g} it/s{shown}]"
        )
        # Blank out the tail of a longer previous line.
        padding = " " * max(0, self.last_length - len(line))
        self.last_length = len(line)
        self.stream.write("\r" + line + padding)
        self.stream.flush()
        self.drawn = self.done


class TqdmProgressBar:
    """The same interface on top of ``tqdm.auto.tqdm`` (see :func:`make_progress_bar`)."""

    def __init__(self, total, label, tqdm):
        self.bar = tqdm(total=max(int(total), 0), desc=label, leave=True)

    def update(self, done, logs):
        self.bar.set_postfix(_shown(logs), refresh=False)
        self.bar.update(done - self.bar.n)

    def close(self, logs=None):
        if logs:
            self.bar.set_postfix(_shown(logs), refresh=False)
        self.bar.close()


def _shown(logs):
    return {name: f"{value:.4g}" for name, value in list(logs.items())[:3]}


def make_progress_bar(total, label):
    """tqdm's bar when tqdm is installed, else :class:`ProgressBar`."""
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return ProgressBar(total, label)
    return TqdmProgressBar(total, label, tqdm)
