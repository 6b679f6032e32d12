"""W&B for trials: one run per trial through Ray's own integration (``setup_wandb``).

Its own module because W&B is the one part of a trial that talks to the network: every failure mode
(an unreachable server, a bad key, a stalled upload) is handled here, so that W&B trouble never fails
a trial. Named ``wandb_logger`` and not ``wandb`` so it never shadows the real package.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..families import resolve_config

# Bounds every W&B call that may wait on the network: wandb.init and run.finish.
WANDB_INIT_TIMEOUT_S = 20.0
# An offline init waits on nothing but the local wandb service starting, which on a loaded 2-core
# machine (every trial starting at once) can take longer than a network timeout: give it room.
WANDB_OFFLINE_INIT_TIMEOUT_S = 120.0
WANDB_FINISH_TIMEOUT_S = 30.0
# The key a trial's reports carry once its online init failed and it logs offline instead.
WANDB_FLAG_KEY = "gv/wandb"


@dataclass
class WandbSettings:
    mode: str  # online | offline | disabled
    project: str
    entity: str | None
    group: str
    # Where the trials' W&B run folders go: None = each trial's own directory (next to its run/
    # folder), so `wandb sync` finds them all under the sweep dir; else this directory ($WANDB_DIR).
    dir: str | None = None
    # Only for cluster workers, whose environment is not the driver's: carried in memory (Ray's
    # object store via tune.with_parameters), never in a config, a log or a file; never printed.
    api_key: str | None = field(default=None, repr=False)


class WandbLogger:
    """One W&B run per trial through Ray's setup_wandb. W&B trouble never fails a trial: an
    unreachable server makes the run offline (kept for `wandb sync`), any later error turns
    logging off for the rest of the trial."""

    def __init__(self, settings: WandbSettings, cfg, trial_dir: Path, gpu: float, tags: list[str]):
        self.run = None
        self.fell_back = False
        if settings.mode == "disabled":
            return
        # Imported here, in the trial: the driver never needs wandb (and the import costs ~1 s).
        import wandb  # for Image, Settings and teardown; the run itself comes from Ray's setup_wandb
        from ray.air.integrations.wandb import setup_wandb

        self._wandb = wandb
        init_timeout = float(os.environ.get("WANDB_INIT_TIMEOUT", WANDB_INIT_TIMEOUT_S))
        kwargs: dict[str, Any] = dict(
            config=resolve_config(cfg).to_dict(),
            project=settings.project,
            group=settings.group,
            tags=tags,
            resume="allow",
            reinit="finish_previous",
        )
        if settings.entity:
            kwargs["entity"] = settings.entity
        directory = Path(settings.dir) if settings.dir else trial_dir
        directory.mkdir(parents=True, exist_ok=True)
        kwargs["dir"] = str(directory)
        if settings.api_key:
            kwargs["api_key"] = settings.api_key
        # A wandb service token inherited from whatever started Ray (a driver that used wandb in
        # process, a job's environment) points at a service this worker doesn't own and that may be
        # gone: connecting to it hangs init. Each trial starts (and tears down) its own.
        os.environ.pop("WANDB_SERVICE", None)
        modes = [settings.mode] + (["offline"] if settings.mode == "online" else [])
        for mode in modes:
            # Ray's integration reads WANDB_MODE to decide whether it needs an API key at all.
            os.environ["WANDB_MODE"] = mode
            timeout = init_timeout if mode == "online" else max(init_timeout, WANDB_OFFLINE_INIT_TIMEOUT_S)
            # No console capture (the worker's stdout is not the user's) and no system-stats
            # sampler on CPU-only trials, where it would compete with training for the cores.
            kwargs["settings"] = wandb.Settings(
                console="off", silent=True, x_disable_stats=gpu == 0, init_timeout=timeout
            )
            try:
                self.run = setup_wandb(mode=mode, **kwargs)
                break
            except Exception as exc:  # network errors, auth errors, timeouts: all the same here
                print(f"gv: W&B {mode} init failed ({type(exc).__name__}: {str(exc)[:200]})", flush=True)
                # The failed attempt keeps its run id registered with the wandb service.
                wandb.teardown()
        self.fell_back = self.run is not None and mode != settings.mode
        if self.run is not None:
            self.run.define_metric("*", step_metric="step")

    def log(self, values: dict[str, Any], image: Path | None = None, step: int | None = None) -> None:
        if self.run is None:
            return
        try:
            payload = dict(values)
            if image is not None:
                payload["samples"] = self._wandb.Image(str(image), caption=f"step {step}")
            self.run.log(payload)
        except Exception as exc:
            print(f"gv: W&B logging turned off for this trial ({type(exc).__name__}: {exc})", flush=True)
            self.run = None

    def finish(self, exit_code: int = 0) -> None:
        if self.run is None:
            return
        run, self.run = self.run, None

        def close() -> None:
            run.finish(exit_code=exit_code)
            # Stop the wandb service now: its exit hook would otherwise run while Ray tears the
            # worker down and print a lost-connection traceback.
            self._wandb.teardown()

        # finish() waits for uploads; an unreachable server must not hold the trial open.
        closer = threading.Thread(target=close, daemon=True)
        closer.start()
        closer.join(WANDB_FINISH_TIMEOUT_S)
