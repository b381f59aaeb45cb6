"""Architecture search: one search space per model family (`space.py`, `spaces/`), the
hardware-aware evolution scored by the Final Score (`evolution.py`), latency measurement and
the per-op latency table (`latency.py`), and what a search writes (`report.py`)."""
