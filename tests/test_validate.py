"""`gv evaluator validate` (issue 21): rank agreement of gv's metrics with independent judges on a pool of
real gv models, the judges themselves, and the defect ladders. Real digits and real training, no mocks."""

from __future__ import annotations

import json

import pytest
import torch
from helpers import assert_one_line_error, run_cli

from gvcore.data import load_dataset
from gvcore.errors import GVError
from gvcore.evaluation.defects import DISTURB, LEVELS
from gvcore.evaluation.references import JUDGES, Judges
from gvcore.evaluation.validate import spearman, validate
from gvcore.evaluation.validate_pool import POOLS, get_pool, set_name


def _pool(values: dict[str, list[float]]) -> dict[str, dict[str, float]]:
    names = [f"set{i}" for i in range(len(next(iter(values.values()))))]
    return {n: {k: v[i] for k, v in values.items()} for i, n in enumerate(names)}


def test_a_metric_ordering_the_pool_like_its_judges_passes_and_a_reversed_one_fails():
    quality = [float(i) for i in range(12)]  # larger = worse, as the judges say
    noise = [0.3, -0.2, 0.1, 0.0, -0.3, 0.2, 0.1, -0.1, 0.0, 0.2, -0.2, 0.1]
    judges = _pool({"c2st": quality, "contrastive": [q + n for q, n in zip(quality, noise)]})
    well_trained = {f"set{i}" for i in range(6)}
    scores = _pool({"realism": [q * 2 for q in quality], "fid": quality[:6] + quality[6:][::-1]})
    good = validate(scores, judges, well_trained, {"realism": "realism"})
    assert good.passed and good.whole["realism"]["c2st"].rho == pytest.approx(1.0)
    bad = validate(scores, judges, well_trained, {"overall": "fid"})
    assert not bad.passed and any("overall (fid) agrees with c2st" in f for f in bad.failures)
    # A role is held to its own judges only.
    judges_with_other = _pool({"c2st": quality, "contrastive": quality, "shape": quality[::-1]})
    held = validate(
        scores, judges_with_other, well_trained, {"realism": "realism"}, {"realism": ["c2st", "contrastive"]}
    )
    assert held.passed and held.judges_of("realism") == ["c2st", "contrastive"]
    doc = held.to_dict()
    assert doc["goals"]["realism"]["judges"] == ["c2st", "contrastive"] and "shape" in doc["whole_pool"]["realism"]
    missing = validate(scores, judges, well_trained, {"overall": "combined"})
    assert missing.failures == ["overall metric 'combined' was not scored on the pool"]


def test_spearman_comes_with_a_bootstrap_interval_around_it():
    x = [float(i) for i in range(20)]
    y = [v + (3.0 if i % 3 == 0 else -2.0) for i, v in enumerate(x)]
    agreement = spearman(x, y)
    assert agreement.low <= agreement.rho <= agreement.high < 1.0 and agreement.sets == 20
    assert agreement.low > 0.5 and agreement.text().startswith("+0.9")


def test_pool_recipes_and_names():
    standard = get_pool("standard")
    assert len(standard.families) == 6 and len(standard.budgets) >= 3 and len(standard.seeds) >= 2
    assert len(standard.families) * len(standard.budgets) * len(standard.seeds) >= 36
    assert set(POOLS) == {"standard", "small"} and set_name("gan", 1, 3.5e12) == "gan-s1-3.5e12flops"
    with pytest.raises(GVError, match="unknown --pool 'huge'"):
        get_pool("huge")


def test_gv_evaluator_validate_refuses_an_unknown_pool_before_any_work(tmp_path):
    result = run_cli("evaluator", "validate", "--pool", "huge", "--workdir", str(tmp_path / "pool"))
    assert_one_line_error(result, "--pool 'huge'", "standard")
    assert not (tmp_path / "pool").exists()


def test_each_defect_ladder_damages_more_at_every_level():
    test = load_dataset("mnist-5k", "test")
    images = test.images[:200]
    for name, levels in LEVELS.items():
        changed = []
        for level in levels:
            out = DISTURB[name](images, level, torch.Generator().manual_seed(0), test.labels[:200])
            assert out.dtype == torch.uint8 and out.shape == images.shape, name
            changed.append(float((out.float() - images.float()).abs().mean()))
        assert all(b > a for a, b in zip(changed, changed[1:])) and changed[0] > 0, (name, changed)


@pytest.mark.slow
def test_independent_judges_tell_real_digits_from_damaged_ones(tmp_path):
    train, test = load_dataset("mnist-5k", "train"), load_dataset("mnist-5k", "test")
    judges = Judges.prepare(train.images[:1000], test.images, tmp_path / "references.pt", log=lambda _: None)
    assert (tmp_path / "references.pt").is_file()
    real = judges.score(train.images[1000:2000])
    blurred = judges.score(DISTURB["softness"](train.images[1000:2000], 8, torch.Generator().manual_seed(0), None))
    assert set(real) == set(JUDGES)
    for judge in JUDGES:
        assert blurred[judge] > real[judge], (judge, real, blurred)
    # Cached: the same networks come back (no retraining), so the same scores.
    again = Judges.prepare(train.images[:1000], test.images, tmp_path / "references.pt", log=pytest.fail)
    assert again.score(train.images[1000:2000])["autoencoder"] == pytest.approx(real["autoencoder"])


@pytest.mark.slow
@pytest.mark.timeout(1800)  # trains the small pool's models and judges: minutes on 2 idle cores, many more on busy ones
def test_gv_evaluator_validate_builds_scores_and_judges_a_small_pool(tmp_path):
    result = run_cli("evaluator", "validate", "--dataset", "mnist-5k", "--pool", "small", "--workdir", str(tmp_path))
    doc = json.loads((tmp_path / "validate.json").read_text())
    assert result.exit_code == (0 if doc["passed"] else 1), result.output
    recipe = get_pool("small")
    assert len(doc["sets"]) == len(recipe.families) * len(recipe.budgets) * len(recipe.seeds)
    assert {"realism", "combined", "fid", "c2st"} <= set(doc["whole_pool"]) and doc["judged"]["realism"] == "realism"
    assert (
        "whole pool" in result.stdout
        and "well-trained" in result.stdout
        and "realism (realism): goals" in result.stdout
    )
    # A rerun builds and scores nothing again: the sets, judges and scores are kept.
    again = run_cli(
        "evaluator", "validate", "--dataset", "mnist-5k", "--pool", "small", "--workdir", str(tmp_path), "--json"
    )
    assert "trained to step" not in again.stderr and "scored" not in again.stderr
    assert json.loads(again.stdout)["whole_pool"] == doc["whole_pool"]
