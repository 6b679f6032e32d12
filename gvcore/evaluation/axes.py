"""The verdict's axes: what a person sees in samples, each judged on one metric (no torch here).

`gv report`'s verdict, `gv compare --axis` and `gv study --axis` read this table and nothing else.
An axis is judged on the first of its metrics the sweeps recorded (older leaderboards may lack a
newer metric: the next one stands in, and the output names the metric it used).

    realism     could each sample pass for a real image: blur, speckle, haze, blobs and broken strokes
                all count (realism.py: texture statistics of the evaluator's first two convolution layers)
    legibility  a complete object of the right class: distances and k-NN precision in the features
                of a classifier trained to name the classes (label smoothing and weight decay pull
                every image of a class together, so a soft but well-shaped digit counts as legible)
    diversity   the data's variety reproduced: k-NN recall, then coverage
    overall     one number for people who want one: ``combined``, realism's texture statistics and the
                class features in one Frechet distance, the distance that agreed best with the independent
                judges on trained models (docs/studies/realism.md); fid on leaderboards older than it
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import GVError


@dataclass(frozen=True)
class Axis:
    name: str
    question: str  # what it asks of a sample set, in words
    metrics: tuple[str, ...]  # eval/ keys in order of preference: the first the sweeps recorded is judged


AXES: dict[str, Axis] = {
    axis.name: axis
    for axis in (
        Axis("overall", "which family is best, in one number", ("eval/combined", "eval/fid")),
        Axis("realism", "could each sample pass for a real image", ("eval/realism",)),
        Axis("legibility", "is each sample a complete object of a class", ("eval/precision",)),
        Axis("diversity", "do the samples cover the data's variety", ("eval/recall", "eval/coverage")),
    )
}


def get_axis(name: str, flag: str = "--axis") -> Axis:
    if name not in AXES:
        raise GVError(f"unknown {flag} '{name}': choose one of {', '.join(AXES)}")
    return AXES[name]
