"""The realism metric (issue 21): texture statistics of the evaluator's first two convolution layers.

Real mnist-5k digits, the real evaluator networks (trained once per test session into the session's
cache), no mocks: a real digit passes for one, and every defect a generative model makes costs realism.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from gvcore.data import load_dataset
from gvcore.evaluation import realism as texture
from gvcore.evaluation.catalog import CATALOG, DISTANCES, direction, spread_key
from gvcore.evaluation.features import reference_from_images
from gvcore.evaluation.label_free import LabelFreeNet
from gvcore.evaluation.ladders import DISTURB


def _disturb(name: str, images: torch.Tensor, level: float, labels: torch.Tensor) -> torch.Tensor:
    return DISTURB[name](images, level, torch.Generator().manual_seed(0), labels)


def test_realism_is_declared_as_a_cheap_distance_lower_is_better():
    info = CATALOG["realism"]
    assert info.cheap and "realism" in DISTANCES and direction("realism") == "min"
    assert spread_key("realism") == "realism_se" and [k.name for k in info.keys] == ["realism", "realism_se"]


def test_texture_statistics_are_mean_and_std_of_the_first_two_conv_layers(scorer):
    images = scorer.test_set.images[:50]
    stats = texture.texture_statistics(scorer.classifier, images)
    assert stats.shape == (50, 2 * (16 + 32)) and stats.dtype == torch.float32
    # By hand: conv, BatchNorm, ReLU twice (the strided body), then each channel's mean and std.
    body = scorer.classifier.body
    with torch.no_grad():
        x = images.float() / 127.5 - 1
        h1 = body[2](body[1](body[0](x)))
        h2 = body[5](body[4](body[3](h1)))
    expected = torch.cat([h1.mean((2, 3)), h1.std((2, 3)), h2.mean((2, 3)), h2.std((2, 3))], 1)
    torch.testing.assert_close(stats, expected, rtol=1e-4, atol=1e-5)


def test_a_folders_label_free_network_gives_the_same_statistics_of_its_own_layers():
    net = LabelFreeNet((3, 20, 20))  # untrained is enough to read its layers: colour images, no labels
    images = torch.randint(0, 256, (30, 3, 20, 20), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    assert texture.texture_statistics(net, images).shape == (30, 2 * (16 + 32))


def test_real_digits_pass_and_every_defect_costs_realism(scorer):
    train = load_dataset("mnist-5k", "train")  # 4,500 unseen real digits against the 500 of the test split
    real = scorer.score(train.images, None, "realism")
    assert set(real) == {"realism", "realism_se"} and 0 < real["realism_se"] < real["realism"] < 0.05
    defects = (("blur", 1.2), ("noise", 40), ("softness", 2), ("speckle", 0.1), ("haze", 0.1), ("blobs", 2))
    for name, level in (*defects, ("broken_strokes", 0.75)):
        damaged = scorer.score(_disturb(name, train.images, level, train.labels), None, "realism", bootstrap=False)
        assert damaged["realism"] > 3 * real["realism"], (name, damaged, real)


def test_the_real_statistics_are_cached_beside_the_network_and_tied_to_the_images(scorer):
    path = Path(scorer.classifier.meta["path"]).with_name(texture.CACHE_FILE)
    scorer.score(scorer.test_set.images[:100], None, "realism", bootstrap=False)
    assert path.is_file()
    cached = torch.load(path, weights_only=True)
    assert cached["format"] == texture.REFERENCE_FORMAT
    torch.testing.assert_close(cached["statistics"], scorer.reference.other_spaces[texture.SPACE])
    # Another reference (other real images) gets its own statistics, not the test split's.
    other = reference_from_images(scorer.test_set.images[:200], None, scorer.evaluator, "200 digits")
    mine = texture.reference_statistics(other, scorer.evaluator)
    assert mine.shape[0] == 200
    assert torch.load(path, weights_only=True)["key"]["images"] != cached["key"]["images"]


def test_combined_weighs_texture_and_class_features_by_their_weights(scorer):
    test = scorer.test_set
    real = texture.reference_statistics(scorer.reference, scorer.evaluator)
    blocks, _ = texture.combine((real, scorer.reference.features), (real, scorer.reference.features))
    # Each block's trace on the real set is its weight, whatever its raw scale: the 128 class features'
    # raw trace is ~55x the 96 texture numbers', and neither dominates by size alone.
    w_texture, w_classes = texture.COMBINED_WEIGHTS
    trace = lambda block: block.double().var(0).sum()  # noqa: E731
    torch.testing.assert_close(trace(blocks[:, :96]), torch.tensor(w_texture, dtype=torch.float64))
    torch.testing.assert_close(trace(blocks[:, 96:]), torch.tensor(w_classes, dtype=torch.float64))
    with pytest.raises(ValueError, match="2 real and 2 generated blocks need as many weights"):
        texture.combine((real, scorer.reference.features), (real, scorer.reference.features), (1.0,))
    clean = scorer.score(test.images, None, "combined,realism,fid")
    assert clean["combined"] < 1e-6 and clean["combined_se"] > 0  # the reference against itself
    blurred = scorer.score(_disturb("blur", test.images, 1.2, test.labels), None, "combined,realism,fid")
    # Between its parts: each block's distance, scaled by its trace and weighted, adds up to about the combined one.
    parts = w_texture * blurred["realism"] / float(trace(real)) + w_classes * blurred["fid"] / float(
        trace(scorer.reference.features)
    )
    assert blurred["combined"] == pytest.approx(parts, rel=0.25)
