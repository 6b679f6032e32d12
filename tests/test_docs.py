"""The README says what the code declares: every metric of the evaluation catalog has its row in the
README's metric table, and every shipped sweep and `gv` command the README names exists."""

from __future__ import annotations

import re
from pathlib import Path

from gvcore.evaluation.catalog import CATALOG

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def _metric_table() -> str:
    evaluation = README[README.index("## Evaluation") :]
    return evaluation[: evaluation.index("\n## ")]


def test_every_declared_metric_key_is_in_the_readme_metric_table():
    table = _metric_table()
    for metric in CATALOG.values():
        for key in metric.keys:
            if key.spread_of is None and not key.per_class:
                assert f"`{key.name}`" in table, f"README's metric table does not name `{key.name}` ({metric.name})"


def test_every_gv_command_in_the_readme_exists():
    from typer.main import get_command

    from gvcore import cli

    group = get_command(cli.app)
    code = "\n".join(re.findall(r"```bash\n(.*?)```", README, flags=re.S))
    named = set(re.findall(r"^\s*(?:\.venv/bin/)?gv ([a-z]+)", code, flags=re.M))
    assert named and named <= set(group.commands), named - set(group.commands)
