"""Progress display for long steps."""

from __future__ import annotations

from contextlib import contextmanager

__all__ = ["Steps"]


class Steps:
    """Progress display for long steps (a spinner on a terminal, then one line per finished step)."""

    def __init__(self, quiet: bool = False):
        self.quiet = quiet

    @contextmanager
    def step(self, text: str):
        """Show ``text`` while the block runs and ``text ✓`` when it is done (nothing when quiet)."""
        if self.quiet:
            yield
            return
        from rich.console import Console

        console = Console(stderr=True)
        with console.status(f"[bold]{text}…"):
            yield
        console.print(f"{text} ✓", highlight=False)  # no time stamp or source-file location
