"""User-facing errors: each names the file, the field or key, and the fix."""

from __future__ import annotations

import warnings


class InputError(Exception):
    """A mistake in the user's input. The CLI prints it as one paragraph and exits with code 2."""

    def __init__(self, problem: str, *, file: object = None, field: str | None = None, fix: str | None = None):
        self.problem = problem
        self.file = None if file is None else str(file)
        self.field = field
        self.fix = fix
        super().__init__(self.paragraph())

    def paragraph(self) -> str:
        """The message as one paragraph: where, what, and how to fix it."""
        where = []
        if self.file:
            where.append(f"file {self.file}")
        if self.field:
            where.append(f"field/key '{self.field}'")
        head = f"[{', '.join(where)}] " if where else ""
        tail = f" Fix: {self.fix}" if self.fix else ""
        return f"{head}{self.problem}{tail}"


class InputErrors(InputError):
    """Several input problems found at once (scenario validation reports all of them)."""

    def __init__(self, errors: list[InputError]):
        self.errors = errors
        super().__init__(" | ".join(e.paragraph() for e in errors))

    def paragraph(self) -> str:
        return f"{len(self.errors)} problem(s) found:\n" + "\n".join(f"  - {e.paragraph()}" for e in self.errors)


def raise_all(errors: list[InputError]) -> None:
    """Raise the one problem found, or all of them together; nothing when there are none."""
    if errors:
        raise errors[0] if len(errors) == 1 else InputErrors(errors)


def is_number(value: object) -> bool:
    """A TOML/JSON number: int or float, but not a boolean."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class PlannerWarning(UserWarning):
    """A warning about the data that does not stop the run (cut-off network parts, suspicious offsets)."""


def warn(message: str) -> None:
    """Emit a PlannerWarning (shown by the CLI, capturable in tests)."""
    warnings.warn(message, PlannerWarning, stacklevel=2)
