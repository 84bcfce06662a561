"""The one error type: a message for the user and a hint saying what to do next."""

from __future__ import annotations


class MigrateError(Exception):
    """A failure the user can act on. The CLI prints `message` and `hint` and exits non-zero."""

    exit_code = 2

    def __init__(self, message: str, hint: str | None = None, *, exit_code: int | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        if exit_code is not None:
            self.exit_code = exit_code

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\nhint: {self.hint}"


def validation_message(exc, source: str, what: str) -> str:
    """One line naming the file and every offending key of a pydantic `ValidationError`."""
    problems = []
    for error in exc.errors()[:5]:
        key = ".".join(str(part) for part in error["loc"]) or "(top level)"
        kind = "unknown key" if error["type"] == "extra_forbidden" else error["msg"]
        problems.append(f"{key!r}: {kind}")
    more = f" (and {len(exc.errors()) - 5} more)" if len(exc.errors()) > 5 else ""
    return f"{source}: bad {what}: " + "; ".join(problems) + more
