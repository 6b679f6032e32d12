"""The docs say what the code declares: every metric of the evaluation catalog has its row in the metric table of
docs/metrics.md (and that table names no key the catalog lacks), every `gv` command named in a bash block of the
README or of docs/ exists (a group's subcommand too), every shipped sweep they run exists, and their relative
links point at files that exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gvcore.evaluation.catalog import CATALOG

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
METRICS = ROOT / "docs" / "metrics.md"
# The user's documents: the README, docs/ (studies included) and the benchmarks' README.
DOCUMENTS = [README, *sorted((ROOT / "docs").rglob("*.md")), ROOT / "bench" / "README.md"]
# `gv NAME` at the start of a line, after `&&`, or after a `ray job submit ... --`.
GV_COMMAND = re.compile(r"(?:^|&&|\s--)\s*(?:\.venv/bin/)?gv ([a-z][a-z-]*)(?: +([a-z][a-z0-9-]*))?", re.M)


def _bash_blocks(path: Path) -> str:
    return "\n".join(re.findall(r"```bash\n(.*?)```", path.read_text(), flags=re.S))


def _metric_table() -> list[str]:
    """The rows of docs/metrics.md's metric table (its section "## The metric table")."""
    text = METRICS.read_text()
    section = text[text.index("## The metric table") :]
    section = section[: section.index("\n## ")]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    assert rows, "docs/metrics.md's metric table has no rows"
    return rows


def _declared_keys() -> set[str]:
    return {key.name for metric in CATALOG.values() for key in metric.keys}


def test_every_declared_metric_key_is_in_the_metric_table():
    table = "\n".join(_metric_table())
    for metric in CATALOG.values():
        for key in metric.keys:
            if key.spread_of is None and not key.per_class:
                assert f"`{key.name}`" in table, (
                    f"docs/metrics.md's metric table does not name `{key.name}` ({metric.name})"
                )


def test_the_metric_table_names_only_declared_keys():
    declared = _declared_keys()
    for row in _metric_table():
        first_column = row.split("|")[1]
        for name in re.findall(r"`([^`]+)`", first_column):
            assert name in declared, f"docs/metrics.md's metric table names `{name}`, which no metric declares"


@pytest.fixture(scope="module")
def gv_group():
    from typer.main import get_command

    from gvcore import cli

    return get_command(cli.app)


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_gv_command_in_the_docs_exists(path, gv_group):
    missing = []
    for command, sub in GV_COMMAND.findall(_bash_blocks(path)):
        found = gv_group.commands.get(command)
        # A group (`gv evaluator`) has subcommands; typer's groups are its own click's, so ask by attribute.
        subcommands = getattr(found, "commands", None)
        if found is None:
            missing.append(command)
        elif subcommands is not None and sub and sub not in subcommands:
            missing.append(f"{command} {sub}")
    assert not missing, f"{path.relative_to(ROOT)} names gv commands that do not exist: {missing}"


def test_the_readme_names_gv_commands():
    # The pattern above must keep finding the README's commands (an empty match would pass everything).
    named = {command for command, _ in GV_COMMAND.findall(_bash_blocks(README))}
    assert {"sweep", "compare", "report", "eval"} <= named, named


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_shipped_sweep_the_docs_run_exists(path):
    from gvcore.sweep import shipped_sweeps

    shipped = shipped_sweeps()
    named = re.findall(r"gv sweep ([a-z0-9][a-z0-9-]*)(?=\s|$)", _bash_blocks(path), flags=re.M)
    missing = sorted({name for name in named if name not in shipped})
    assert not missing, f"{path.relative_to(ROOT)} runs sweeps that are not shipped: {missing}"


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_point_at_files(path):
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.S)
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue  # a URL or an anchor on the same page
        if not (path.parent / target.split("#")[0]).exists():
            broken.append(target)
    assert not broken, f"{path.relative_to(ROOT)} links to missing files: {broken}"


def test_the_readme_has_two_setup_commands_and_ci_runs_the_test_one():
    # A fresh clone has exactly two set-up commands: one runs the main job, one the checks and tests;
    # .ci/run must run the README's test command word for word (so CI checks what a user is told to run).
    setup = [line for line in _bash_blocks(README).splitlines() if line.startswith("python3 -m venv .venv")]
    assert len(setup) == 2, setup
    main_job, tests = setup
    assert "gv sweep" in main_job and "pytest" in tests and "ruff check" in tests and "mypy" in tests
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert tests in ci, "the last command of .ci/run must be the README's test command"
