"""What every command group shares: consoles, one-line errors, --set parsing."""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from typing import Any

import click
import typer
from rich.console import Console
from typer.core import TyperGroup

from ..errors import GVError

console = Console()
err_console = Console(stderr=True)


def table_console() -> Console:
    """Tables go to the terminal at its width; into a pipe or a log file (CI, `ray job logs`) at a
    width that keeps a table row on one line instead of rich's default 80 columns."""
    return console if console.is_terminal else Console(width=max(console.width, 180))


class _WarningLine(logging.Handler):
    """gv's library warnings (loggers under "gv", e.g. a torn metrics.jsonl line skipped) as one
    `warning:` line on the stderr console of the moment -- not through whatever handlers Ray or
    wandb may have given the root logger."""

    def emit(self, record: logging.LogRecord) -> None:
        err_console.print(f"warning: {_one_line(record.getMessage())}", markup=False, highlight=False, soft_wrap=True)


def _route_library_warnings() -> None:
    library = logging.getLogger("gv")
    if not any(isinstance(h, _WarningLine) for h in library.handlers):
        library.addHandler(_WarningLine(logging.WARNING))
        library.propagate = False


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


class GVGroup(TyperGroup):
    """Typer group whose errors are one line on stderr with exit code 2 -- bad flags included.

    Click's usage errors normally print a usage block and a boxed message; gv's rule is one line
    naming the bad value, so parsing is run in non-standalone mode and every error is reported here.
    """

    def main(  # type: ignore[override]  # click's and Typer's vendored click differ by one keyword
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        _route_library_warnings()
        try:
            rv = super().main(args=args, prog_name=prog_name, complete_var=complete_var, standalone_mode=False, **extra)
        except GVError as exc:
            click.echo(f"error: {exc}", err=True)
            code = exc.exit_code
        except (typer.TyperException, click.ClickException) as exc:
            # Typer >= 0.25 vendors click, so its exceptions are not click's; both are handled.
            code = getattr(exc, "exit_code", 2)
            if type(exc).__name__ == "NoArgsIsHelpError" and hasattr(exc, "show"):
                exc.show()  # `gv` alone prints the help, as usual
            else:
                ctx = getattr(exc, "ctx", None)
                hint = f" (see `{ctx.command_path} --help`)" if ctx is not None and code == 2 else ""
                message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
                click.echo(f"error: {_one_line(message)}{hint}", err=True)
        except (typer.Abort, click.exceptions.Abort):
            click.echo("aborted", err=True)
            code = 130
        else:
            code = rv if isinstance(rv, int) else 0
        if standalone_mode:
            sys.exit(code)
        return code


def new_app(help_text: str) -> typer.Typer:
    return typer.Typer(
        cls=GVGroup,
        help=help_text,
        add_completion=False,
        no_args_is_help=True,
        rich_markup_mode="rich",
        pretty_exceptions_show_locals=False,
    )
