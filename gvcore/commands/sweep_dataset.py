"""`gv sweep`'s dataset, made ready while Ray starts: its training split loaded once (downloaded, or
a folder decoded into the cache) and its evaluator trained, in a background thread. A missing or
damaged dataset stops the sweep before any trial, and costs no start-up time."""

from __future__ import annotations

import threading
from collections.abc import Callable

from ..sweep import SweepSpec, trial_config


class DatasetCheck:
    """Load the sweep's training split in a background thread; result() re-raises its error."""

    def __init__(self, spec: SweepSpec):
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._load, args=(spec,), daemon=True)
        self.thread.start()

    def _load(self, spec: SweepSpec) -> None:
        from ..data import load_split

        data = trial_config({**spec.base, "data.name": spec.dataset}).data  # what every trial reads
        try:
            load_split(data, "train")
            if spec.metric.startswith("eval/") or spec.final_eval_samples:
                # The evaluation classifier and the real statistics, trained / computed once here
                # rather than by the first trials all at once (they'd queue on its lock anyway).
                from ..evaluation.api import Scorer

                Scorer.for_dataset(data.name, data.data_dir or None, data.image_size, channels=data.channels)
        except BaseException as exc:  # handed to the main thread
            self.error = exc

    def result(self) -> None:
        self.thread.join()
        if self.error is not None:
            raise self.error


def dataset_ready(spec: SweepSpec, resume: bool, on_cluster: bool, console) -> Callable[[], None]:
    """What `gv sweep` and `gv study` check once Ray is up, before any trial: on this machine the
    dataset loaded (started now, in the background); on a cluster every node able to read a folder,
    which trials read where they run. Nothing on a resume: the first start checked it."""
    local = DatasetCheck(spec) if not resume and not on_cluster else None

    def check() -> None:
        if local is not None:
            local.result()
        if on_cluster and not resume:
            from ..tune import check_dataset_on_nodes

            check_dataset_on_nodes(spec.dataset, console)

    return check
