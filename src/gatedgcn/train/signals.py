"""Stop cleanly on SIGINT/SIGTERM: the first signal asks the trainer to stop after its current step
(it writes a checkpoint and says how to resume); a second Ctrl-C abandons the step at once."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator

__all__ = ["stop_on_signals"]


@contextlib.contextmanager
def stop_on_signals(signals: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM)) -> Iterator[Callable[[], int]]:
    """Yields ``should_stop()``: the number of the first signal received, or 0.  The previous handlers
    are restored on exit; off the main thread (where Python cannot handle signals) nothing is installed."""
    received: list[int] = []

    def handler(signum: int, frame: object) -> None:
        if received and signum == signal.SIGINT:
            raise KeyboardInterrupt
        received.append(signum)

    if threading.current_thread() is not threading.main_thread():
        yield lambda: 0
        return
    previous = {s: signal.signal(s, handler) for s in signals}
    try:
        yield lambda: received[0] if received else 0
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
