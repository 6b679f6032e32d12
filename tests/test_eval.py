"""Evaluation: the domain classifier, the metric registry, in-training evaluation and `gv eval`.

Real mnist-5k digits, real models, real torchmetrics / prdc; no mocks. The classifier is trained
once into a temp cache dir shared by the whole module (about 15-30 s on 2 cores).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision.transforms.functional as TF
from helpers import assert_one_line_error, read_jsonl, run_cli, tiny_config
from torch import nn

from gvcore.config import Config
from gvcore.data import load_dataset, to_uint8, to_unit_range
from gvcore.errors import GVError
from gvcore.evaluation import classifier as clfmod
from gvcore.evaluation.api import Scorer, evaluate_checkpoint, evaluate_images, evaluate_model, make_evaluator
from gvcore.evaluation.catalog import (
    CATALOG,
    DIRECTION,
    KeyInfo,
    MetricInfo,
    direction,
    display_order,
    key_info,
    resolve_metrics,
    spread,
    spread_key,
    unit,
)
from gvcore.evaluation.classifier import get_classifier
from gvcore.evaluation.features import reference_from_images
from gvcore.evaluation.registry import COVERED_SHARE, METRICS
from gvcore.families import resolve_config
from gvcore.models import build_model
from gvcore.trainer import train

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module", autouse=True)
def eval_cache(one_torch_thread):
    """The session's evaluator cache (tests/conftest.py points GV_CACHE_DIR at a temp dir): the
    classifier is trained once per test session (with one torch thread, as every test here)."""
    get_classifier("mnist-5k")
    return Path(os.environ["GV_CACHE_DIR"])


@pytest.fixture(scope="module")
def train_set():
    return load_dataset("mnist-5k", "train")


@pytest.fixture(scope="module")
def shuffled(train_set):
    """The training digits in a fixed random order (the split itself is sorted by class)."""
    perm = torch.randperm(len(train_set), generator=torch.Generator().manual_seed(0))
    return train_set.images[perm], train_set.labels[perm]


def keys_of(*metrics: str, bootstrap: bool = True) -> list[str]:
    """The keys these metrics return on mnist-5k (10 classes), in order, as the catalog declares them."""
    return [key for name in metrics for key in CATALOG[name].returns(10, bootstrap)]


def every_key(*, has_labels: bool = False, is_vae: bool = False) -> list[str]:
    """The keys of --metrics all."""
    return keys_of(*resolve_metrics("all", has_labels=has_labels, is_vae=is_vae))


def uniform_noise(n: int, seed: int = 1) -> torch.Tensor:
    return torch.randint(0, 256, (n, 1, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


# --- the domain classifier ----------------------------------------------------------------------


def test_classifier_meets_the_accuracy_target_on_held_out_digits(eval_cache):
    clf = get_classifier("mnist-5k")
    test = load_dataset("mnist-5k", "test")
    # Measured here, not read from the cache: the stored number must be the real one.
    measured = clfmod.accuracy_on(clf, test.images, test.labels)
    assert measured >= 0.96, measured
    assert clf.accuracy == pytest.approx(measured)
    # The cache file holds the weights and the accuracy, and loads under weights_only=True.
    path = Path(clf.meta["path"])
    assert path.is_relative_to(eval_cache)
    payload = torch.load(path, weights_only=True)
    assert payload["meta"]["accuracy"] == pytest.approx(measured)
    assert payload["meta"]["dataset"] == "mnist-5k" and payload["meta"]["test_images"] == 500
    assert clf.embed(test.images[:4])[0].shape == (4, clf.num_features)


def test_reader_reads_soft_digits_as_the_digits_they_are():
    # A VAE's samples are soft means, not sharp strokes; read as '8' they would make every VAE
    # look mode-collapsed. Blurred held-out digits must keep their labels under the label reader.
    clf = get_classifier("mnist-5k", network="reader")
    test = load_dataset("mnist-5k", "test")
    # (Trained on sharp digits only: 84% here, a quarter of them read as '8'. With the blur: 97%.)
    soft = to_uint8(TF.gaussian_blur(to_unit_range(test.images), [7, 7], [1.0, 1.0]))
    assert clfmod.accuracy_on(clf, soft, test.labels) >= 0.94
    predicted = clf.embed(soft)[1].argmax(1)
    assert (predicted == 8).float().mean() < 0.15


def test_cached_classifier_is_reused_not_retrained(eval_cache):
    first = get_classifier("mnist-5k")
    cached = Path(first.meta["path"])
    before = cached.stat()
    clfmod._LOADED.clear()  # as in a new process: from disk
    again = get_classifier("mnist-5k", log=lambda text: pytest.fail(f"retrained or rebuilt: {text}"))
    after = cached.stat()
    # Not written again (a retrained classifier replaces the file: a new inode), the same training.
    assert (after.st_ino, after.st_mtime_ns, after.st_size) == (before.st_ino, before.st_mtime_ns, before.st_size)
    assert again is not first and again.meta["id"] == first.meta["id"]
    test = load_dataset("mnist-5k", "test")
    assert torch.equal(again.embed(test.images[:50])[1], first.embed(test.images[:50])[1])


def test_a_waiting_process_loads_what_the_lock_holder_wrote(eval_cache, tmp_path):
    """Two askers at once: the second blocks on the lock, then loads the first one's file."""
    trained = Path(get_classifier("mnist-5k").meta["path"])
    folder = clfmod.entry_dir("mnist-5k", cache_dir=tmp_path)
    lock = clfmod.acquire_lock(folder, "test")
    # filelock logs each failed attempt ("Lock ... not acquired on PATH, waiting ..."): the child
    # shows it on stderr, and the parent reads that as the sign the child is waiting for the lock.
    code = (
        "import logging, sys; logging.basicConfig(stream=sys.stderr, format='%(name)s: %(message)s'); "
        "logging.getLogger('filelock').setLevel(logging.DEBUG); "
        "from gvcore.evaluation.classifier import get_classifier; "
        "c = get_classifier('mnist-5k', cache_dir=sys.argv[1]); print(c.meta['id'])"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code, str(tmp_path)], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        waiting = f"not acquired on {folder / 'lock'}"
        seen = []
        for line in child.stderr:  # each read blocks until the child writes a line or exits
            seen.append(line)
            if waiting in line:
                break
        else:
            pytest.fail(f"the child ended without waiting for the lock: {''.join(seen)}")
        clfmod.atomic_save(torch.load(trained, weights_only=True), folder / "classifier.pt")
    finally:
        lock.release()
    out, err = child.communicate(timeout=120)
    assert child.returncode == 0, err
    assert out.strip() == get_classifier("mnist-5k").meta["id"]
    assert "training the mnist-5k evaluator" not in "".join(seen) + err, err
    assert not list(folder.glob("*.tmp")), "a temp file was left behind"


def test_an_unreadable_cache_file_is_rebuilt_not_trusted(tmp_path):
    folder = clfmod.entry_dir("mnist-5k", cache_dir=tmp_path)
    folder.mkdir(parents=True)
    (folder / "classifier.pt").write_bytes(b"not a checkpoint")
    messages = []
    assert clfmod.safe_load(folder / "classifier.pt", clfmod.FORMAT, messages.append) is None
    assert "unreadable" in messages[0]


# --- distribution distances ---------------------------------------------------------------------


def test_fid_and_kid_small_between_real_halves_large_against_noise(shuffled):
    images, labels = shuffled
    half = reference_from_images(images[:1000], labels[:1000], Scorer.for_dataset("mnist-5k").evaluator, "first half")
    real = evaluate_images(images[1000:2000], dataset="mnist-5k", reference=half, metrics="fid,kid")
    noise = evaluate_images(uniform_noise(1000), dataset="mnist-5k", reference=half, metrics="fid,kid")
    assert real["fid"] < 10, real
    assert noise["fid"] > 30 * real["fid"], (real, noise)
    assert abs(real["kid"]) < 0.1 and noise["kid"] > 1, (real, noise)


def test_fid_rises_monotonically_with_noise_and_blur(shuffled):
    images = shuffled[0][:1000]
    scorer = Scorer.for_dataset("mnist-5k")
    x = to_unit_range(images)
    g = torch.Generator().manual_seed(0)
    noisy = [
        scorer.score(to_uint8((x + s * torch.randn(x.shape, generator=g)).clamp(-1, 1)), metrics="fid")["fid"]
        for s in (0.0, 0.1, 0.2, 0.4, 0.8)
    ]
    blurred = [
        scorer.score(images if s == 0 else to_uint8(TF.gaussian_blur(x, [9, 9], [s, s])), metrics="fid")["fid"]
        for s in (0.0, 0.6, 1.0, 1.5, 2.5)
    ]
    assert all(a < b for a, b in zip(noisy, noisy[1:])), noisy
    assert all(a < b for a, b in zip(blurred, blurred[1:])), blurred


# --- k-NN manifolds -----------------------------------------------------------------------------


def test_precision_recall_density_coverage_at_the_extremes(shuffled, train_set):
    images, labels = shuffled
    ref = reference_from_images(images[:800], labels[:800], Scorer.for_dataset("mnist-5k").evaluator, "800 digits")
    knn = "precision,recall,density,coverage"
    same = evaluate_images(images[:800], dataset="mnist-5k", reference=ref, metrics=knn)
    assert same["precision"] == 1.0 and same["recall"] == 1.0 and same["coverage"] == 1.0, same
    assert same["density"] == pytest.approx(1.0, abs=0.15), same
    disjoint = evaluate_images(uniform_noise(800), dataset="mnist-5k", reference=ref, metrics=knn)
    assert {k: v for k, v in disjoint.items() if not k.endswith("_se")} == {
        "precision": 0.0,
        "recall": 0.0,
        "density": 0.0,
        "coverage": 0.0,
    }
    assert all(disjoint[f"{k}_se"] == 0.0 for k in knn.split(","))  # nothing varies: no noise
    # In between: one digit class is faithful (high precision) but covers little of the data.
    threes = train_set.images[train_set.labels == 3][:300]
    one = evaluate_images(threes, dataset="mnist-5k", reference=ref, metrics=knn)
    assert one["precision"] > 0.7 and one["recall"] < 0.35 and one["coverage"] < 0.35, one


# --- the classifier's view ----------------------------------------------------------------------


def test_one_class_set_is_flagged_as_mode_collapse(train_set, shuffled):
    threes = train_set.images[train_set.labels == 3]
    collapsed = evaluate_images(threes, dataset="mnist-5k", metrics="modes,classifier_score")
    assert collapsed["classes_covered"] == 1 and collapsed["mode_collapse"] == 1.0, collapsed
    assert collapsed["class_frac/3"] > 0.9
    assert collapsed["class_kl"] == pytest.approx(math.log(10), abs=0.3)  # ~KL(one class || uniform)
    full = evaluate_images(shuffled[0][:1000], dataset="mnist-5k", metrics="modes,classifier_score")
    assert full["classes_covered"] == 10 and full["mode_collapse"] == 0.0 and full["class_kl"] < 0.05, full
    assert sum(full[f"class_frac/{c}"] for c in range(10)) == pytest.approx(1.0)
    # The Inception-Score analogue: near 1 for one class, several times higher for all ten.
    assert collapsed["classifier_score"] < 1.5 < 4 < full["classifier_score"], (collapsed, full)


def test_a_class_counts_as_covered_from_a_quarter_of_its_share(train_set):
    # Digits 0-8 in full, and 9 at just above / below a quarter of its fair share.
    per_class = 100
    parts = [train_set.images[train_set.labels == c][:per_class] for c in range(9)]
    for nines, covered in ((40, 10), (12, 9)):
        images = torch.cat(parts + [train_set.images[train_set.labels == 9][:nines]])
        out = evaluate_images(images, dataset="mnist-5k", metrics="modes")
        share = out["class_frac/9"]
        assert (share >= COVERED_SHARE * 0.1) == (covered == 10), out
        assert out["classes_covered"] == covered, out


def test_label_acc_checks_the_drawn_class(shuffled):
    images, labels = shuffled[0][:1000], shuffled[1][:1000]
    right = evaluate_images(images, labels, dataset="mnist-5k", metrics="label_acc")["label_acc"]
    wrong = evaluate_images(images, (labels + 1) % 10, dataset="mnist-5k", metrics="label_acc")["label_acc"]
    assert right > 0.96 and wrong < 0.05, (right, wrong)


# --- likelihood ---------------------------------------------------------------------------------


def _last_linear(net: nn.Module) -> nn.Linear:
    return [m for m in net.modules() if isinstance(m, nn.Linear)][-1]


def _constant_vae(mu: torch.Tensor, logvar: torch.Tensor, decoder_logits: torch.Tensor):
    """A tiny VAE whose encoder outputs (mu, logvar) and decoder outputs the same logits for any
    input: its ELBO can be written down by hand."""
    cfg = Config(family="vae")
    cfg.model.latent_dim = mu.numel()
    cfg.train.ema_decay = 0.0  # the nets set below are the ones scored, not an average of them
    cfg = resolve_config(cfg)
    model = build_model(cfg)
    with torch.no_grad():
        enc, dec = _last_linear(model.encoder), _last_linear(model.decoder)
        enc.weight.zero_()
        enc.bias.copy_(torch.cat([mu, logvar]))
        dec.weight.zero_()
        dec.bias.copy_(decoder_logits)
    return model, cfg


def test_nelbo_and_iw_nll_match_hand_computed_values():
    g = torch.Generator().manual_seed(0)
    mu, logvar = torch.tensor([0.5, -1.0, 2.0]), torch.tensor([0.0, -0.5, 0.3])
    b = torch.randn(784, generator=g)
    model, cfg = _constant_vae(mu, logvar, b)
    x = load_dataset("mnist-5k", "test").images.double().div(255).flatten(1).numpy()  # (500, 784)
    bb = b.double().numpy()
    # Bernoulli NLL of a logit b at x: softplus(b) - x b, summed over pixels; averaged over images.
    recon = float((np.logaddexp(0, bb)[None, :] - x * bb[None, :]).sum(1).mean())
    m, lv = mu.double().numpy(), logvar.double().numpy()
    kl = float(0.5 * (m**2 + np.exp(lv) - 1 - lv).sum())
    out = evaluate_model(model, cfg, num_samples=20, metrics="nelbo")
    assert out["nelbo_recon"] == pytest.approx(recon, rel=1e-5)
    assert out["nelbo_kl"] == pytest.approx(kl, rel=1e-5)
    assert out["nelbo"] == pytest.approx(recon + kl, rel=1e-5)
    # With q(z|x) = p(z) every importance weight is p(x|z) exactly, so the bound is the NLL itself.
    prior_model, cfg2 = _constant_vae(torch.zeros(3), torch.zeros(3), b)
    iw = evaluate_model(prior_model, cfg2, num_samples=20, metrics="iw_nll,nelbo")
    assert list(iw) == keys_of("iw_nll", "nelbo")
    assert iw["iw_nll"] == pytest.approx(recon, rel=1e-5)
    assert iw["nelbo"] == pytest.approx(recon, rel=1e-5)


# --- in-training evaluation ---------------------------------------------------------------------


def test_auto_metrics_per_family_and_bad_names():
    def names(family: str, metrics: str = "auto"):
        cfg = tiny_config(family)
        cfg.eval.metrics = metrics
        cfg.eval.num_samples = 50
        evaluator = make_evaluator(resolve_config(cfg))
        if evaluator is None:
            return None
        model = build_model(resolve_config(cfg))
        return sorted(evaluator(model, 0))

    def eval_keys(*metrics: str):  # in training: no standard errors (they cost more than the rest)
        return sorted(f"eval/{key}" for key in keys_of(*metrics, bootstrap=False))

    assert names("dcgan") == eval_keys("fid", "realism", "combined")
    assert names("cgan") == eval_keys("fid", "realism", "combined", "label_acc")
    assert names("cvae") == eval_keys("fid", "realism", "combined", "label_acc", "nelbo")
    assert names("gan", "") is None
    assert names("gan", "fid") == eval_keys("fid")
    # What a sweep's metric adds to eval.metrics:
    assert names("gan", "auto,fid") == eval_keys("fid", "realism", "combined")
    with pytest.raises(GVError, match="nelbo.*VAE"):
        names("gan", "nelbo")
    with pytest.raises(GVError, match="label_acc.*conditional"):
        names("vae", "label_acc")
    with pytest.raises(GVError, match="unknown metric 'fdi'"):
        names("gan", "fid,fdi")
    assert Config().eval.metrics == "auto"


def test_in_training_eval_reports_eval_keys_and_leaves_the_rng_and_mode_alone(tmp_path):
    cfg = tiny_config("cvae", steps=6, eval_every=3)
    cfg.eval.num_samples = 200
    cfg = resolve_config(cfg)
    evaluator = make_evaluator(cfg)
    model = build_model(cfg)
    model.train()
    state = torch.get_rng_state()
    first = evaluator(model, 3)
    assert torch.equal(torch.get_rng_state(), state), "evaluation consumed the global RNG"
    assert model.training, "evaluation left the model in eval mode"
    assert evaluator(model, 3) == first  # fixed noise: the same model scores the same
    # Through the trainer: eval/ keys in metrics.jsonl at each eval, losses as without evaluation.
    with_eval = train(cfg, tmp_path / "with", evaluator_for=lambda _: evaluator)
    train(cfg, tmp_path / "without")
    lines = read_jsonl(tmp_path / "with" / "metrics.jsonl")
    evals = [line for line in lines if "eval/fid" in line]
    assert [line["step"] for line in evals] == [3, 6]
    assert all(math.isfinite(line["eval/nelbo"]) and 0 <= line["eval/label_acc"] <= 1 for line in evals)
    assert with_eval.metrics["eval/fid"] == evals[-1]["eval/fid"]

    def strip(rows):
        return [{k: v for k, v in r.items() if k not in ("time", "images_per_s")} for r in rows if "loss/total" in r]

    assert strip(lines) == strip(read_jsonl(tmp_path / "without" / "metrics.jsonl"))


# --- full evaluation and the CLI ----------------------------------------------------------------


@pytest.fixture(scope="module")
def gan_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "gan"
    cfg = tiny_config("gan", steps=6, eval_every=6)
    cfg.eval.metrics = ""
    assert train(cfg, out).status == "done"
    return out


@pytest.fixture(scope="module")
def cvae_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "cvae"
    cfg = tiny_config("cvae", steps=6, eval_every=6)
    assert train(cfg, out).status == "done"
    return out


@pytest.mark.slow
def test_evaluate_checkpoint_gives_every_metric_deterministically(gan_run):
    out = evaluate_checkpoint(gan_run, num_samples=300)
    assert list(out) == every_key()  # exactly the declared keys, in the declared order
    assert all(math.isfinite(v) for v in out.values())
    assert evaluate_checkpoint(gan_run / "checkpoints" / "checkpoint.pt", num_samples=300) == out


def test_gv_eval_json_has_every_key_for_a_conditional_vae(cvae_run):
    result = run_cli("eval", cvae_run, "--n", "300", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)  # exactly one JSON object on stdout
    assert list(doc) == ["metrics", "better", "units"]
    scores = doc["metrics"]
    assert list(scores) == every_key(has_labels=True, is_vae=True)
    assert all(isinstance(v, float) for v in scores.values())
    # Each key's better side and unit, as declared (null where it has none).
    assert doc["better"] == {key: direction(key) for key in scores}
    assert doc["units"] == {key: unit(key) for key in scores}
    assert doc["better"]["fid"] == "min" and doc["better"]["density"] is None and doc["units"]["nelbo"] == "nats/image"
    table = run_cli("eval", cvae_run, "--n", "300", "--metrics", "fid,kid,mode_collapse,iw_nll", "--iw-samples", "4")
    assert table.exit_code == 0, table.output
    text = " ".join(table.stdout.split())  # rich wraps to the terminal width
    for word in ("fid", "mode_collapse", "iw_nll", "class_frac", "held-out accuracy", "nats/image", "lower"):
        assert word in text
    assert "kid_std" not in text and "±" in text  # the spread is shown in kid's cell


def test_scoring_a_model_and_its_npz_agree(gan_run, tmp_path):
    npz = tmp_path / "s.npz"
    assert run_cli("sample", gan_run, "--n", "300", "--seed", "5", "--out", npz).exit_code == 0
    from_file = run_cli("eval", "--samples", npz, "--dataset", "mnist-5k", "--json", "--seed", "5")
    from_model = run_cli("eval", gan_run, "--n", "300", "--json", "--seed", "5")
    assert from_file.exit_code == 0 and from_model.exit_code == 0, (from_file.output, from_model.output)
    file_scores, model_scores = json.loads(from_file.stdout)["metrics"], json.loads(from_model.stdout)["metrics"]
    assert file_scores["fid"] == model_scores["fid"]  # the very same images
    assert file_scores == pytest.approx(model_scores, rel=1e-5, abs=1e-6)  # float rounding


def test_gv_eval_scores_an_npz_with_labels(tmp_path, shuffled):
    images, labels = shuffled[0][:300], shuffled[1][:300]
    npz = tmp_path / "real.npz"
    np.savez(npz, images=images.permute(0, 2, 3, 1).numpy(), labels=labels.numpy())
    result = run_cli("eval", "--samples", npz, "--dataset", "mnist-5k", "--json")
    assert result.exit_code == 0, result.output
    scores = json.loads(result.stdout)["metrics"]
    assert list(scores) == every_key(has_labels=True)
    assert scores["label_acc"] > 0.95 and scores["mode_collapse"] == 0.0 and scores["fid"] < 15


def _npz(path: Path, **arrays) -> Path:
    np.savez(path, **arrays)
    return path


def test_gv_eval_bad_files_are_one_line_errors(tmp_path):
    ok = np.zeros((20, 28, 28, 1), np.uint8)
    text = tmp_path / "notes.npz"
    text.write_text("hello")
    cases = [
        (_npz(tmp_path / "f.npz", images=ok.astype(np.float32)), ["float32", "uint8"]),
        (_npz(tmp_path / "s.npz", images=ok[..., 0]), ["(20, 28, 28)", "(N, 28, 28, 1)"]),
        (_npz(tmp_path / "c.npz", images=np.zeros((20, 32, 32, 3), np.uint8)), ["(20, 32, 32, 3)", "mnist-5k"]),
        (_npz(tmp_path / "k.npz", pictures=ok), ["no 'images' array", "pictures"]),
        (_npz(tmp_path / "l.npz", images=ok, labels=np.full(20, 10)), ["labels", "0..9"]),
        (_npz(tmp_path / "few.npz", images=ok[:3]), ["3 images", "at least"]),
        (text, ["not a readable .npz"]),
        (tmp_path / "missing.npz", ["does not exist"]),
    ]
    for path, needles in cases:
        result = run_cli("eval", "--samples", path, "--dataset", "mnist-5k", "--json")
        assert_one_line_error(result, str(path.name), *needles)
        assert result.stdout == ""


def test_gv_eval_bad_arguments_are_one_line_errors(gan_run, tmp_path, monkeypatch):
    npz = _npz(tmp_path / "ok.npz", images=np.zeros((20, 28, 28, 1), np.uint8))
    assert_one_line_error(run_cli("eval"), "RUN_DIR", "--samples")
    assert_one_line_error(run_cli("eval", gan_run, "--samples", npz, "--dataset", "mnist-5k"), "not both")
    assert_one_line_error(run_cli("eval", "--samples", npz), "--dataset")
    assert_one_line_error(run_cli("eval", gan_run, "--metrics", "fid,nelbo"), "nelbo", "VAE")
    assert_one_line_error(run_cli("eval", gan_run, "--metrics", "sharpness"), "sharpness")
    assert_one_line_error(run_cli("eval", tmp_path / "nope"), "nope")
    assert_one_line_error(run_cli("eval", gan_run, "--n", "3"), "--n 3")
    assert_one_line_error(run_cli("eval", "--samples", npz, "--dataset", "svhn"), "svhn")
    # Inception features only from a local weights file: absent, a clear message, not a download.
    monkeypatch.setenv("GV_INCEPTION_WEIGHTS", str(tmp_path / "no-such-weights.pth"))
    assert_one_line_error(
        run_cli("eval", "--samples", npz, "--dataset", "mnist-5k", "--features", "inception"), "inception"
    )
    assert_one_line_error(run_cli("eval", "--samples", npz, "--dataset", "mnist-5k", "--features", "clip"), "clip")


def test_gv_evaluator_train_prints_the_cached_accuracy():
    result = run_cli("evaluator", "train", "--dataset", "mnist-5k")
    assert result.exit_code == 0, result.output
    accuracy = get_classifier("mnist-5k").accuracy
    assert f"{accuracy:.1%}" in result.stdout and "cached" in result.stdout


def test_every_registered_metric_is_covered_here():
    # A metric added to the registry without a test here fails this one.
    assert sorted(METRICS) == sorted(
        [
            "fid",
            "kid",
            "precision",
            "recall",
            "density",
            "coverage",
            "classifier_score",
            "modes",
            "label_acc",
            "nelbo",
            "iw_nll",
            "memorization",
            "fid2",
            "intra_fid",
            "cas",
            "realism",
            "combined",
        ]
    )  # memorization, fid2, intra_fid, cas: test_trust.py; realism, combined: test_realism.py


def test_every_key_has_its_facts_declared():
    # Every key any metric returns is declared with a better side (or an explicit None), help and a
    # unit (or None); the tests above check that the metrics return exactly the declared keys.
    for metric in CATALOG.values():
        assert metric.about and metric.keys, metric.name
        for info in metric.keys:
            assert info.better in ("min", "max", None) and info.help, info
            assert info.unit is None or (isinstance(info.unit, str) and info.unit), info
            if info.spread_of is not None:
                assert info.better is None and info.unit == key_info(info.spread_of).unit, info
    for key in every_key(has_labels=True, is_vae=True) + keys_of("iw_nll"):
        assert key_info(key) is not None, key
    assert key_info("class_frac/7").per_class and key_info("eval/fid") is None and direction("sharpness") is None
    # The table order: every key with a column of its own, spreads and per-class shares left out.
    order = display_order()
    assert len(order) == len(set(order)) and "fid" in order and "density" in order
    assert not any(key_info(k).spread_of or key_info(k).per_class or key_info(k).beside for k in order)
    assert spread_key("kid") == "kid_se" and spread_key("fid") == "fid_se" and "kid_std" not in order
    assert "fid_images" not in order and key_info("fid_images").beside == "fid"
    assert DIRECTION == {k: direction(k) for k in order if direction(k) is not None} and "density" not in DIRECTION


def test_a_declaration_must_say_every_fact():
    with pytest.raises(TypeError, match="better"):
        KeyInfo("sharpness", unit=None, help="edge energy")  # no better side given, not even None
    with pytest.raises(TypeError, match="unit"):
        KeyInfo("sharpness", better="max", help="edge energy")
    with pytest.raises(ValueError, match="lower"):
        MetricInfo("sharpness", "edges", keys=(KeyInfo("sharpness", better="lower", unit=None, help="edge energy"),))
    with pytest.raises(ValueError, match="follow"):
        MetricInfo("sharpness", "edges", keys=(spread("sharpness_std", of="sharpness", help="its std"),))
    with pytest.raises(ValueError, match="per_class"):
        MetricInfo("sharpness", "edges", keys=(KeyInfo("edge/0", better=None, unit=None, help="class 0"),))
    with_spread = MetricInfo(
        "sharpness",
        "edges",
        keys=(
            KeyInfo("sharpness", better="max", unit="dB", help="edge energy"),
            spread("sharpness_std", of="sharpness", help="its std"),
        ),
    )
    assert with_spread.keys[1].unit == "dB" and with_spread.keys[1].better is None  # a spread takes its value's unit


def test_gv_eval_help_describes_every_metric_and_key():
    result = run_cli("eval", "--help")
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.replace("│", " ").split())  # rich boxes and wraps the help
    for metric in CATALOG.values():
        assert f"{metric.name} -- " in text, metric.name
        for info in metric.keys:
            assert (f"{info.name}/<c>" if info.per_class else info.name) in text, info.name
    assert "(lower is better, nats/image)" in text
