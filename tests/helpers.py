"""Small helpers shared by test modules."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from gvcore.cli import app
from gvcore.config import Config


def tiny_config(family: str, steps: int = 6, **train) -> Config:
    """A config that trains in well under a second on mnist-5k."""
    cfg = Config(family=family)
    cfg.train.steps = steps
    cfg.train.batch_size = train.pop("batch_size", 16)
    cfg.train.log_every = train.pop("log_every", 1)
    cfg.train.eval_every = train.pop("eval_every", 3)
    for key, value in train.items():
        setattr(cfg.train, key, value)
    return cfg


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def loss_lines(run_dir: Path) -> list[dict]:
    """The loss lines of metrics.jsonl without wall-clock fields (which differ run to run)."""
    return [
        {k: v for k, v in line.items() if k not in ("time", "images_per_s")}
        for line in read_jsonl(Path(run_dir) / "metrics.jsonl")
        if any(k.startswith("loss/") for k in line)
    ]


def run_cli(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


def assert_one_line_error(result, *needles: str) -> str:
    """Exit code 2, exactly one line on stderr (starting "error: ") naming the bad value, no traceback
    anywhere. Returns that line."""
    err = result.stderr if hasattr(result, "stderr") else result.output
    assert result.exit_code == 2, (result.exit_code, result.output, err)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("error: "), err
    assert "Traceback" not in result.output + err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]
