"""`python experiments/make_figures.py SWEEP` that pauses inside the third file it saves, with
half of that file's bytes written, until it is stopped: the moment a Ctrl-C used to leave a
truncated PNG or a PDF without its end. Writes the file MARKER when it pauses.

    python tests/scripts/paused_figures.py SWEEP MARKER
"""

from __future__ import annotations

import io
import signal
import sys
import time
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "experiments"))
import make_figures  # noqa: E402

SAVEFIG = Figure.savefig
calls = 0


def savefig_then_pause(fig: Figure, target: Any, *args: Any, **kwargs: Any) -> None:
    global calls
    calls += 1
    if calls < 3:
        SAVEFIG(fig, target, *args, **kwargs)
        return
    whole = io.BytesIO()
    SAVEFIG(fig, whole, *args, **kwargs)
    target.write(whole.getvalue()[: len(whole.getvalue()) // 2])
    target.flush()
    Path(sys.argv[2]).write_text(str(calls))
    while True:
        time.sleep(0.01)


Figure.savefig = savefig_then_pause
# a process started in the background by a non-interactive shell (`make test &`) inherits
# SIGINT ignored, and Python then installs no KeyboardInterrupt for it; a Ctrl-C reaches a
# foreground make_figures with the default, which this test is about
signal.signal(signal.SIGINT, signal.default_int_handler)
sys.exit(make_figures.main([sys.argv[1]]))
