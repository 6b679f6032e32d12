"""Sharing a report through W&B: a run holding the report's figures and metrics table
(``gv report --wandb``) and, online, a W&B Report built on it (``--wandb-report``).

Trials log through Ray's W&B integration (gvcore/tune/); a report is not a trial, so it
is one plain wandb run of job type "report" in the sweep's group.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

METRIC_TABLE_KEY = "report/metrics"


def _table_rows(data: dict[str, Any]) -> tuple[list[str | int], list[list[Any]]]:
    keys: list[str] = []
    for fam in data["families"].values():
        for key in fam["metrics"]:
            if key not in keys:
                keys.append(key)
    columns: list[str | int] = ["family", "sweep", "trial_id", *keys]  # (wandb.Table's declared type)
    rows = []
    for family, fam in data["families"].items():
        values = [fam["metrics"].get(k) for k in keys]
        values = [None if isinstance(v, float) and not math.isfinite(v) else v for v in values]
        rows.append([family, fam["sweep"], fam["trial_id"], *values])
    return columns, rows


def log_report(
    data: dict[str, Any], out: Path, *, project: str, entity: str | None, mode: str, group: str
) -> dict[str, Any]:
    """Log the report's images and a wandb.Table of its metrics to one W&B run; returns the run's
    id, url (online) and local folder (offline: what `wandb sync` takes)."""
    import wandb

    run = wandb.init(
        project=project,
        entity=entity,
        group=group,
        job_type="report",
        mode=mode,  # type: ignore[arg-type]  # one of online / offline / disabled (gvcore.commands.wandb_mode)
        name=f"report-{group}",
        dir=str(out),
        reinit="finish_previous",
        config={"metric": data["metric"], "mode": data["mode"], "sweeps": data["sweeps"]},
        settings=wandb.Settings(init_timeout=60, silent=True, console="off"),
    )
    try:
        payload: dict[str, Any] = {}
        for family, fam in data["families"].items():
            for kind, rel in fam["figures"].items():
                payload[f"report/{kind}/{family}"] = wandb.Image(str(out / rel), caption=f"{family} {kind}")
        for kind, rel in data["figures"].items():
            payload[f"report/{kind}"] = wandb.Image(str(out / rel), caption=kind)
        columns, rows = _table_rows(data)
        payload[METRIC_TABLE_KEY] = wandb.Table(columns=columns, data=rows)
        run.log(payload)
        run.summary["report/best_family"] = next(
            iter(
                sorted(
                    data["families"],
                    key=lambda f: (
                        data["families"][f]["value"] if data["mode"] == "min" else -data["families"][f]["value"]
                    ),
                )
            ),
            None,
        )
        # The verdict in words, per axis a person sees (realism, legibility, diversity, overall).
        verdict = data.get("verdict") or {}
        for axis, judged in (verdict.get("axes") or {}).items():
            run.summary[f"report/verdict/{axis}"] = judged["sentence"]
        if verdict.get("tradeoff"):
            run.summary["report/tradeoff"] = verdict["tradeoff"]
        info = {
            "id": run.id,
            "url": getattr(run, "url", None) if mode == "online" else None,
            "dir": str(Path(run.dir).parent),
            "project": project,
            "entity": entity,
        }
    finally:
        run.finish()
        # Stop the wandb service this process started, and forget its token: left in os.environ it
        # would be inherited by processes started later (a Ray cluster started by the same host).
        wandb.teardown()
    return info


def create_wandb_report(data: dict[str, Any], *, project: str, entity: str | None, group: str) -> str:
    """A W&B Report (wandb-workspaces) over the report run and the sweep's trials; returns its URL."""
    import wandb_workspaces.reports.v2 as wr

    families = list(data["families"])
    blocks: list[Any] = [
        wr.H1(text=data["title"]),
        wr.P(
            text=f"Best checkpoint of each family by {data['metric']} "
            f"({'lower' if data['mode'] == 'min' else 'higher'} is better), made by gv report."
        ),
        wr.PanelGrid(
            runsets=[wr.Runset(entity=entity or "", project=project, name="report", filters=f"Group = '{group}'")],
            panels=[
                wr.WeavePanelSummaryTable(table_name=METRIC_TABLE_KEY),
                wr.MediaBrowser(title="samples", media_keys=[f"report/samples/{f}" for f in families]),
                wr.MediaBrowser(title="real-image interpolations", media_keys=[f"report/real/{f}" for f in families]),
                wr.MediaBrowser(title="sensitivity", media_keys=["report/sensitivity"]),
            ],
        ),
    ]
    report = wr.Report(
        project=project,
        entity=entity or "",
        title=data["title"],
        description="gv: GAN and VAE families side by side",
        blocks=blocks,
    )
    report.save()
    return str(report.url)
