"""The one progress format of training, for every family.

    iteration 1,240/3,000 | epoch 2/4 | 512.3 images/s | ETA 0:03:26 | loss 101.2 | reconstruction 80.4 | kl 20.8

A line after the first step of an invocation and every ``--log_frequency`` steps: the iteration (steps completed,
the number of TensorBoard and the checkpoints) out of the target (``--max_iterations`` or ``--epochs``, the nearer),
the epoch, the speed since the previous line (images per second), the time left at that speed, and the loss terms
of the step. Where standard output is a terminal the line is a progress bar redrawn in place (at most ten times a
second); in a log file (or a pipe) each line stands on its own. Text printed through :meth:`Progress.print` (the
families' validation lines) ends the bar's line first, so the two never share a line.
"""

from __future__ import annotations

import math
import sys
import time

BAR_WIDTH = 20
REDRAW_SECONDS = 0.1


def format_duration(seconds: float) -> str:
    """``3723.4`` -> ``'1:02:03'`` (hours:minutes:seconds; days as ``'2 days, 1:02:03'``)."""
    seconds = int(round(max(seconds, 0.0)))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{days} day{'s' if days > 1 else ''}, {text}" if days else text


class Progress:
    """Prints training progress (see the module docstring).

    Args:
        batch_size: images per step (for images/s).
        steps_per_epoch: steps of one epoch (for the epoch shown).
        total: the target iteration (None: no target, no ETA).
        epochs: the target in epochs, if given (shown as ``epoch e/E``).
        stream: where to write (default ``sys.stdout``).
        bar: draw a bar redrawn in place (default: whether ``stream`` is a terminal).
    """

    def __init__(self, batch_size: int, steps_per_epoch: int, total: int | None = None, epochs: int | None = None,
                 stream=None, bar: bool | None = None):
        self.batch_size = int(batch_size)
        self.steps_per_epoch = max(int(steps_per_epoch), 1)
        self.total = total
        self.epochs = epochs if epochs else (math.ceil(total / self.steps_per_epoch) if total else None)
        self.stream = stream if stream is not None else sys.stdout
        self.bar = bool(self.stream.isatty()) if bar is None else bool(bar)
        self._drawn = False          # a bar line is on the screen, not ended
        self._last_draw = 0.0
        self._mark = None            # (time, iteration) of the previous speed measurement
        self.rate = None             # images/s at the last measurement

    def start(self, iteration: int) -> None:
        """Training starts (or resumes) after ``iteration`` steps: the speed is measured from the first step on."""
        self._mark = None
        self.rate = None
        self._first = iteration + 1

    def line(self, iteration: int, values: dict) -> str:
        """The progress line after ``iteration`` steps with the step's loss terms ``values`` (gradient norm left
        out)."""
        parts = [f"iteration {iteration:,}" + (f"/{self.total:,}" if self.total else "")]
        epoch = (iteration - 1) // self.steps_per_epoch + 1 if iteration > 0 else 1
        parts.append(f"epoch {epoch}" + (f"/{self.epochs}" if self.epochs else ""))
        parts.append("- images/s" if self.rate is None else f"{self.rate:.1f} images/s")
        if self.total:
            if self.rate:
                left = (self.total - iteration) * self.batch_size / self.rate
                parts.append(f"ETA {format_duration(left)}")
            else:
                parts.append("ETA -")
        parts += [f"{k} {v:.4g}" for k, v in values.items() if k != "gradient_norm"]
        return " | ".join(parts)

    def update(self, iteration: int, values: dict, log: bool) -> None:
        """After every step: ``log`` marks a logging step (a plain line; the speed is measured over the steps since
        the previous one). On a terminal the bar is redrawn at most every 0.1 s."""
        now = time.time()
        if log:
            if self._mark is not None and iteration > self._mark[1]:
                self.rate = (iteration - self._mark[1]) * self.batch_size / max(now - self._mark[0], 1e-9)
            # the first step of an invocation includes tracing: its time is not a speed
            self._mark = (now, iteration)
        if not self.bar:
            if log:
                print(self.line(iteration, values), file=self.stream, flush=True)
            return
        if log or now - self._last_draw >= REDRAW_SECONDS:
            self._last_draw = now
            text = self.line(iteration, values)
            if self.total:
                done = min(iteration / self.total, 1.0)
                filled = int(round(done * BAR_WIDTH))
                text = f"[{'=' * filled}{'.' * (BAR_WIDTH - filled)}] {100 * done:3.0f}% " + text
            self.stream.write("\r" + text + "\x1b[K")
            self.stream.flush()
            self._drawn = True

    def print(self, text: str = "", **kwargs) -> None:
        """Print ``text`` on a line of its own (ending the bar's line first on a terminal)."""
        self.end_line()
        print(text, file=self.stream, flush=True, **kwargs)

    def end_line(self) -> None:
        """End the bar's line, if one is drawn."""
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False
