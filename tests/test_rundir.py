"""The run directory module: one atomic writer used everywhere, and a metrics.jsonl that survives a
writer killed mid-line (resume, the live view and the report all read it through gvcore.rundir)."""

from __future__ import annotations

import ast
import json
import logging
from pathlib import Path

import pytest
from helpers import loss_lines, run_cli

from gvcore import rundir

GVCORE = Path(__file__).resolve().parent.parent / "gvcore"
TORN = '{"step": 11, "epoch": 0.0391, "loss/discrimin'  # a record cut off by a killed writer


def test_atomic_path_replaces_whole_files_and_keeps_the_old_one_when_writing_fails(tmp_path):
    target = tmp_path / "deep" / "result.json"
    rundir.write_json(target, {"status": "done"})
    assert json.loads(target.read_text()) == {"status": "done"}
    with pytest.raises(RuntimeError, match="disk on fire"):
        with rundir.atomic_path(target) as tmp:
            tmp.write_text('{"status": "half')
            raise RuntimeError("disk on fire")
    assert json.loads(target.read_text()) == {"status": "done"}
    assert sorted(p.name for p in target.parent.iterdir()) == ["result.json"]  # no temporary file left behind


def test_no_module_writes_files_around_the_atomic_writer():
    """Temp-file-and-rename is written once, in gvcore/rundir.py; every other module calls it."""
    offenders = []
    for path in GVCORE.rglob("*.py"):
        if path.name == "rundir.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("replace", "rename")
            ):
                if isinstance(node.func.value, ast.Name) and node.func.value.id == "os":
                    offenders.append(f"{path.relative_to(GVCORE)}:{node.lineno}")
    assert offenders == []


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_readers_skip_a_torn_line_with_a_warning(tmp_path):
    records = [
        {"step": 5, "images_per_s": 10.0, "loss/total": 1.0},
        {"step": 5, "eval/fid": 3.0},
        {"step": 10, "images_per_s": 11.0, "loss/total": 0.5},
    ]
    rundir.metrics_path(tmp_path).write_text("".join(json.dumps(r) + "\n" for r in records) + "[1, 2]\n" + TORN)
    collected = _Collect()
    rundir.log.addHandler(collected)
    try:
        assert rundir.read_metrics(tmp_path) == records
    finally:
        rundir.log.removeHandler(collected)
    assert collected.messages == [
        f"skipped line 4 of {rundir.metrics_path(tmp_path)}: not a complete JSON record (a writer killed mid-line?)",
        f"skipped line 5 of {rundir.metrics_path(tmp_path)}: not a complete JSON record (a writer killed mid-line?)",
    ]
    assert rundir.last_logged(tmp_path) == records[2]  # the live view: newest complete loss record
    assert rundir.read_metrics(tmp_path / "nowhere") == [] and rundir.last_logged(tmp_path / "nowhere") == {}


def test_the_writer_cuts_a_torn_tail_instead_of_gluing_the_next_record_to_it(tmp_path):
    rundir.metrics_path(tmp_path).write_text(json.dumps({"step": 1}) + "\n" + TORN)
    with rundir.MetricsWriter(tmp_path) as writer:
        writer.append({"step": 2})
    lines = rundir.metrics_path(tmp_path).read_text().splitlines()
    assert [json.loads(line) for line in lines] == [{"step": 1}, {"step": 2}]


def test_truncate_keeps_complete_records_up_to_the_checkpoint(tmp_path):
    rundir.metrics_path(tmp_path).write_text("".join(json.dumps({"step": s}) + "\n" for s in (1, 2, 3)) + TORN)
    rundir.truncate_metrics(tmp_path, 2)
    assert rundir.metrics_path(tmp_path).read_text() == '{"step": 1}\n{"step": 2}\n'


@pytest.mark.slow
def test_gv_resume_survives_a_torn_metrics_line_and_repeats_the_uninterrupted_run(tmp_path):
    common = [
        "--dataset",
        "mnist-5k",
        "--batch-size",
        "16",
        "--seed",
        "1",
        "--set",
        "train.log_every=2",
        "--set",
        "train.eval_every=6",
        "--set",
        "eval.metrics=",
    ]
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    assert run_cli("train", "gan", "--steps", "12", "--out", straight, *common).exit_code == 0
    assert run_cli("train", "gan", "--steps", "6", "--out", resumed, *common).exit_code == 0
    # killed mid-write after step 6: a torn last line (the checkpoint is at step 6)
    with rundir.metrics_path(resumed).open("a") as fh:
        fh.write(TORN)
    result = run_cli("resume", resumed, "--steps", "12")
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    assert "warning: skipped line" in result.stderr and "not a complete JSON record" in result.stderr
    lines = rundir.metrics_path(resumed).read_text().splitlines()
    assert all(isinstance(json.loads(line), dict) for line in lines)  # the torn line is gone
    assert loss_lines(resumed) == loss_lines(straight)  # and the run continued exactly


@pytest.mark.parametrize("where", ["under-a-file", "pseudo-filesystem"])
def test_an_output_folder_that_cant_be_made_is_a_one_line_error_before_any_work(tmp_path, where):
    from helpers import assert_one_line_error

    blocker = tmp_path / "notes.txt"
    blocker.write_text("a file, not a folder")
    out = blocker / "run" if where == "under-a-file" else Path("/proc/gv-run")  # /proc takes no new folders
    if where == "pseudo-filesystem" and not Path("/proc").is_dir():
        pytest.skip("no /proc on this system")
    result = run_cli("train", "gan", "--steps", "2", "--out", out)
    assert_one_line_error(result, f"bad --out '{out}'")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"] and not out.exists()
