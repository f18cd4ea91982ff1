"""The Textual app. Nothing here imports torch at module level: the app paints first.

Textual paints at most ``TEXTUAL_FPS`` frames a second (60 by default), so a change waits
up to a frame, two if one was just drawn: a keystroke's echo and then its suggestions
(a few ms later) cost two frames. 240 shortens that wait to about 4 ms a frame (the
measured effect: docs/BENCHMARKS.md, bench/tui_latency.py); frames are only drawn when
something changed, so an idle app costs nothing more. Set before Textual is imported; a
value in the environment wins.
"""

import os

os.environ.setdefault("TEXTUAL_FPS", "240")
