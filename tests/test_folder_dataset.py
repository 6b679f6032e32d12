"""Any folder of images is a dataset (issue 22): layouts, formats, colour, sizes, the decode cache,
storage URIs, damaged input, label-free evaluation, and the families a folder without labels allows.

Real images throughout: mnist-5k's digits written out as PNG files (flat, in class folders, split
as gv splits them) and colour digits made from them; each damaged-input case is a real damaged
file, refused with one line naming it, before anything is written.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from folder_helpers import mnist_splits, write_colour, write_flat, write_mnist_classes, write_pngs
from helpers import assert_one_line_error, run_cli
from PIL import Image

from gvcore import data as datamod
from gvcore.cache import cache_root
from gvcore.data import get_spec, load_dataset, resolve_name
from gvcore.datasets import folder
from gvcore.datasets.folder import entry_dir
from gvcore.errors import GVError


@pytest.fixture(autouse=True)
def fresh_process_caches():
    """Each test sees its folders as a new process would (the on-disk caches stay)."""
    _forget()
    yield
    _forget()


def _forget() -> None:
    """What a new process knows of the folders: nothing but the on-disk cache."""
    for cache in (datamod._CACHE, datamod._FOLDERS, folder._DECODED):
        cache.clear()


def _multiset(images: np.ndarray, labels: np.ndarray) -> list[bytes]:
    return sorted(image.tobytes() + bytes([int(label) % 256]) for image, label in zip(images, labels))


def _grey_pngs(folder: Path, count: int, side: int = 28, start: int = 0) -> list[Path]:
    images = mnist_splits()["train"][0][start : start + count]
    if side != 28:
        images = np.stack([np.asarray(Image.fromarray(i[0]).resize((side, side)))[None] for i in images])
    return write_pngs(folder, images, start=start)


# --- layouts ------------------------------------------------------------------------------------


def test_mnist_5k_as_class_folders_loads_as_the_same_images_and_labels(tmp_path):
    root = write_mnist_classes(tmp_path / "digits")
    spec = get_spec(str(root))
    assert (spec.channels, spec.image_size, spec.class_names) == (1, 28, tuple(str(d) for d in range(10)))
    for split, (images, labels) in mnist_splits().items():
        loaded = load_dataset(str(root), split)
        assert tuple(loaded.images.shape) == images.shape and loaded.labels.numpy().dtype == labels.dtype
        assert _multiset(loaded.images.numpy(), loaded.labels.numpy()) == _multiset(images, labels), split


def test_a_flat_folder_is_unlabelled_with_a_seeded_stratified_holdout_recorded(tmp_path):
    root = write_flat(tmp_path / "flat", count=200)
    spec = get_spec(str(root))
    assert spec.num_classes == 0 and spec.class_names == ()
    train, test = load_dataset(str(root), "train"), load_dataset(str(root), "test")
    assert (len(train), len(test)) == (180, 20)
    assert bool((train.labels == -1).all()) and bool((test.labels == -1).all())
    manifest = json.loads((entry_dir(datamod.folder_info(str(root)).scan.key) / "manifest.json").read_text())
    assert manifest["split_by"] == "holdout" and manifest["holdout_share"] == 0.1
    assert len(manifest["train"]) == 180 and len(manifest["test"]) == 20
    assert not set(manifest["train"]) & set(manifest["test"])
    # The same folder elsewhere (another node's mount, a copy) splits the same way.
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in sorted(os.listdir(root)):
        (copy / name).write_bytes((root / name).read_bytes())
    _forget()
    again = json.loads((entry_dir(datamod.folder_info(str(copy)).scan.key) / "manifest.json").read_text())
    assert again["test"] == manifest["test"]


def test_class_folders_without_test_folder_hold_out_a_share_of_each_class(tmp_path):
    images, labels = mnist_splits()["train"]
    pick = np.concatenate([np.flatnonzero(labels == c)[:40] for c in (3, 7)])
    write_pngs(tmp_path / "two" / "train", images[pick], labels[pick])
    test = load_dataset(str(tmp_path / "two"), "test")
    assert get_spec(str(tmp_path / "two")).class_names == ("3", "7")
    assert np.bincount(test.labels.numpy()).tolist() == [4, 4]


def test_one_class_folder_is_no_classes(tmp_path):
    write_flat(tmp_path / "photos" / "all", count=30)
    spec = get_spec(str(tmp_path / "photos"))
    assert spec.num_classes == 0 and bool((load_dataset(str(tmp_path / "photos"), "train").labels == -1).all())
    result = run_cli("train", "cgan", "--dataset", tmp_path / "photos", "--steps", "1")
    assert_one_line_error(result, "cgan needs labelled images")


def test_report_figures_name_only_classes_a_folder_has():
    from gvcore.report.figures import CLASS_PAIRS, class_pairs

    assert class_pairs(10) == CLASS_PAIRS
    assert class_pairs(2) == ((0, 1),) and class_pairs(3) == ((0, 1), (1, 2))
    assert all(max(pair) < 8 for pair in class_pairs(8))


def test_relative_paths_are_stored_absolute_and_built_in_names_stay_built_in(tmp_path, monkeypatch):
    write_flat(tmp_path / "mnist", count=30)
    monkeypatch.chdir(tmp_path)
    assert resolve_name("./mnist") == str(tmp_path / "mnist")
    assert resolve_name("mnist") == "mnist"  # the built-in, though a folder of that name is here
    from gvcore.commands.train import build_config
    from gvcore.sweep import apply_overrides, load_sweep

    flags = dict.fromkeys(("epochs", "steps", "batch_size", "lr", "latent_dim", "seed", "device", "data_dir"))
    assert build_config("gan", "./mnist", **flags, overrides=[]).data.name == str(tmp_path / "mnist")
    assert apply_overrides(load_sweep("quick"), dataset="./mnist").dataset == str(tmp_path / "mnist")


# --- formats, colour, sizes ---------------------------------------------------------------------


def test_every_listed_format_reads_and_alpha_lands_on_white(tmp_path):
    root = tmp_path / "formats"
    root.mkdir()
    digit = mnist_splits()["train"][0][0, 0]
    for name, fmt in (("a.png", "PNG"), ("b.jpg", "JPEG"), ("c.bmp", "BMP"), ("d.webp", "WEBP"), ("e.tiff", "TIFF")):
        Image.fromarray(digit).save(root / name, format=fmt)
    frames = [Image.fromarray(digit), Image.fromarray(255 - digit)]
    frames[0].save(root / "f.gif", save_all=True, append_images=frames[1:])  # animated: the first frame
    clear = np.zeros((28, 28, 4), dtype=np.uint8)  # transparent black everywhere
    Image.fromarray(clear, "RGBA").save(root / "g.png")
    wide = (digit.astype(np.uint16) * 257).astype(np.uint16)  # 16-bit grey: 0..65535
    Image.fromarray(wide).save(root / "h.png")
    images = {}
    info = datamod.folder_info(str(root))
    pixels = info.images(28, datamod.default_max_pixels())
    assert info.channels == 1
    for name, image in zip(info.scan.files, pixels):
        images[name] = image[0].astype(int)
    for lossless in ("a.png", "c.bmp", "e.tiff", "f.gif", "h.png"):
        assert np.array_equal(images[lossless], digit), lossless
    for lossy in ("b.jpg", "d.webp"):
        assert np.abs(images[lossy] - digit).mean() < 8, lossy
    assert (images["g.png"] == 255).all()  # no alpha: composited onto white


def test_grey_when_every_image_is_grey_else_rgb_and_channels_override(tmp_path):
    grey_rgb = tmp_path / "grey"
    digits = mnist_splits()["train"][0][:12]
    write_pngs(grey_rgb, np.repeat(digits, 3, axis=1))  # grey content saved as RGB files
    assert get_spec(str(grey_rgb)).channels == 1
    colour = write_colour(tmp_path / "colour", count=30, labelled=False)
    assert get_spec(str(colour)).channels == 3
    rgb = load_dataset(str(colour), "train").images.numpy()
    as_grey = load_dataset(str(colour), "train", channels=1).images.numpy()
    expected = [np.asarray(Image.fromarray(i.transpose(1, 2, 0)).convert("L")) for i in rgb[:5]]
    assert np.abs(as_grey[:5, 0].astype(int) - np.stack(expected)).max() <= 1  # Pillow's own "L"
    grey3 = load_dataset(str(grey_rgb), "train", channels=3).images
    assert grey3.shape[1] == 3 and bool((grey3[:, 0] == grey3[:, 2]).all())
    result = run_cli("train", "gan", "--dataset", str(colour), "--steps", "1", "--set", "data.channels=2")
    assert_one_line_error(result, "data.channels 2")


@pytest.mark.parametrize(
    ("sizes", "side"),
    [
        ([(40, 40)] * 3, 40),  # all square, one supported side: their own
        ([(30, 30)] * 3, 32),  # square but no net builds 30: most are small -> 32
        ([(20, 30), (40, 20), (200, 100)], 32),  # mostly smaller than 48 px
        ([(100, 60), (90, 200), (30, 30)], 64),
        ([(130, 130)] * 3, 64),  # over the side the default ever picks
    ],
)
def test_default_side(tmp_path, sizes, side):
    for i, (w, h) in enumerate(sizes):
        Image.fromarray(np.full((h, w), 40 * i, dtype=np.uint8)).save(tmp_path / f"{i}.png")
    spec = get_spec(str(tmp_path))
    assert spec.image_size == side
    assert load_dataset(str(tmp_path), "train").images.shape[2:] == (side, side)


def test_image_size_must_build_for_every_architecture(tmp_path):
    write_flat(tmp_path / "flat", count=20)
    result = run_cli("train", "dcgan", "--dataset", tmp_path / "flat", "--steps", "1", "--set", "data.image_size=68")
    assert_one_line_error(result, "data.image_size 68")
    resized = load_dataset(str(tmp_path / "flat"), "train", image_size=48)
    assert resized.images.shape[1:] == (1, 48, 48)


# --- the cache ----------------------------------------------------------------------------------


def test_a_second_load_reads_the_cache_not_the_files(tmp_path):
    root = write_flat(tmp_path / "flat", count=40)
    first = load_dataset(str(root), "train").images.clone()
    # Same bytes count, same modification time, garbage inside: only a decode would notice.
    victim = sorted(root.iterdir())[0]
    stat = victim.stat()
    victim.write_bytes(b"\0" * stat.st_size)
    os.utime(victim, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    _forget()
    assert bool((load_dataset(str(root), "train").images == first).all())
    # A changed file (its time) is a changed folder: decoded again, and the damage is named.
    os.utime(victim, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    _forget()
    with pytest.raises(GVError, match=victim.name):
        load_dataset(str(root), "train")


def test_a_torn_or_foreign_cache_file_is_rebuilt(tmp_path):
    root = write_flat(tmp_path / "flat", count=40)
    first = load_dataset(str(root), "train").images.clone()
    folder = entry_dir(datamod.folder_info(str(root)).scan.key)
    (folder / "images-28px.npz").write_bytes(b"PK\x03\x04 torn")
    (folder / "manifest.json").write_text('{"format": "gv-folder/1", "files": "not a list"')
    _forget()
    assert bool((load_dataset(str(root), "train").images == first).all())
    assert json.loads((folder / "manifest.json").read_text())["format"] == "gv-folder/1"


def test_a_storage_uri_is_copied_once_into_the_cache(tmp_path):
    root = write_mnist_classes(tmp_path / "bucket", count=30)
    uri = f"file://{root}"
    remote = load_dataset(uri, "train")
    local = load_dataset(str(root), "train")
    assert _multiset(remote.images.numpy(), remote.labels.numpy()) == _multiset(
        local.images.numpy(), local.labels.numpy()
    )
    copies = list((cache_root() / "remote").glob("*/.gv-copied.json"))
    assert any(json.loads(p.read_text())["uri"] == uri for p in copies)
    assert get_spec(uri).name == uri  # configs keep the URI: each node makes its own copy
    # The remote changes: the copy follows (a file gone, a file new), the rest is not copied again.
    gone = sorted((root / "train" / "0").iterdir())[0]
    gone.rename(tmp_path / gone.name)
    _forget()
    assert len(load_dataset(uri, "train")) + len(load_dataset(uri, "test")) == len(local) + 30 - 1


# --- damaged input: one line naming the file or folder, nothing written -----------------------


def _png_bomb(path: Path, side: int = 100_000) -> None:
    """A PNG whose header declares side x side pixels (10^10) in a file of a few hundred bytes."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    body = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 4096)) + chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body)


def _damage(kind: str, root: Path) -> tuple[Path, str]:
    """A folder damaged one way; returns (what the error must name, a phrase it must say)."""
    if kind == "no images":
        root.mkdir()
        (root / "notes.txt").write_text("not a picture")
        return root, "holds no images"
    if kind == "one image":
        _grey_pngs(root, 1)
        return root, "only one image"
    _grey_pngs(root, 5)
    if kind == "not an image":
        victim = root / "fake.jpg"
        victim.write_text("hello, I am a text file")
        return victim, "not a PNG/JPEG"
    if kind == "corrupt":
        victim = root / "00001.png"
        data = bytearray(victim.read_bytes())
        data[60:80] = b"\xff" * 20  # inside the compressed pixels
        victim.write_bytes(bytes(data))
        return victim, "damaged or truncated"
    if kind == "truncated":
        victim = root / "00002.png"
        victim.write_bytes(victim.read_bytes()[:-40])
        return victim, "damaged or truncated"
    if kind == "empty class folder":
        for path in list(root.iterdir()):
            (root / "cats").mkdir(exist_ok=True)
            path.rename(root / "cats" / path.name)
        (root / "dogs").mkdir()
        (root / "dogs" / "README.txt").write_text("dogs go here")
        return root / "dogs", "class folder with no images"
    if kind == "symlink loop (files)":
        os.symlink(root / "b.png", root / "a.png")
        os.symlink(root / "a.png", root / "b.png")
        return root / "a.png", "symlink loop"
    if kind == "symlink loop (folders)":
        for path in list(root.iterdir()):
            (root / "cats").mkdir(exist_ok=True)
            path.rename(root / "cats" / path.name)
        os.symlink(root / "cats", root / "cats" / "again")
        return root / "cats" / "again", "symlink loop"
    if kind == "decompression bomb":
        victim = root / "bomb.png"
        _png_bomb(victim)
        return victim, "more than data.max_pixels"
    if kind == "pipe named as an image":
        victim = root / "pipe.png"
        os.mkfifo(victim)  # opening it would block for ever
        return victim, "not a regular file"
    if kind == "images beside sub-folders":
        (root / "more").mkdir()
        _grey_pngs(root / "more", 2)
        return root, "both images and sub-folders"
    raise AssertionError(kind)


DAMAGE = (
    "no images",
    "one image",
    "not an image",
    "corrupt",
    "truncated",
    "empty class folder",
    "symlink loop (files)",
    "symlink loop (folders)",
    "decompression bomb",
    "pipe named as an image",
    "images beside sub-folders",
)


@pytest.mark.parametrize("kind", DAMAGE)
def test_damaged_input_is_one_line_naming_it(tmp_path, kind):
    named, phrase = _damage(kind, tmp_path / "data")
    out = tmp_path / "run"
    result = run_cli("train", "gan", "--dataset", tmp_path / "data", "--steps", "1", "--out", out)
    line = assert_one_line_error(result, str(named), phrase)
    assert "Traceback" not in line and not out.exists()
    assert not list((cache_root() / "datasets").glob("*/images-*.npz.*.tmp"))  # nothing half-written


def test_max_pixels_guards_every_decode_and_a_cached_one_decompresses_nothing(tmp_path):
    root = write_flat(tmp_path / "flat", count=20)
    result = run_cli("train", "gan", "--dataset", root, "--steps", "1", "--set", "data.max_pixels=700")
    assert_one_line_error(result, "28x28 = 784 pixels", "data.max_pixels 700")
    assert get_spec(str(root)).image_size == 28  # under the default limit: probed, decoded, cached
    _forget()
    assert len(load_dataset(str(root), "train", max_pixels=700)) == 18  # from the cache: nothing decoded
    _forget()
    result = run_cli(
        "train", "gan", "--dataset", root, "--steps", "1", "--set", "data.max_pixels=700", "--set", "data.image_size=32"
    )
    assert_one_line_error(result, "28x28 = 784 pixels", "data.max_pixels 700")  # a new side: a new decode
    # Over twice the limit Pillow itself refuses the file as a decompression bomb when it opens it:
    # still the same one line, not "damaged".
    result = run_cli(
        "train", "gan", "--dataset", root, "--steps", "1", "--set", "data.max_pixels=300", "--set", "data.image_size=32"
    )
    assert_one_line_error(result, "28x28 = 784 pixels", "data.max_pixels 300")


def test_commands_without_set_take_the_pixel_limit_from_the_environment(tmp_path, monkeypatch):
    # gv eval and gv evaluator have no --set: GV_MAX_PIXELS sets data.max_pixels' default for them.
    root = write_flat(tmp_path / "flat", count=20)
    monkeypatch.setenv("GV_MAX_PIXELS", "700")
    result = run_cli("evaluator", "train", "--dataset", root)
    assert_one_line_error(result, "28x28 = 784 pixels", "GV_MAX_PIXELS=N")
    monkeypatch.setenv("GV_MAX_PIXELS", "lots")
    result = run_cli("evaluator", "train", "--dataset", root)
    assert_one_line_error(result, "bad GV_MAX_PIXELS 'lots'")


def test_missing_folders_and_unknown_names(tmp_path):
    result = run_cli("train", "gan", "--dataset", tmp_path / "nowhere", "--steps", "1")
    assert_one_line_error(result, str(tmp_path / "nowhere"), "does not exist")
    result = run_cli("train", "gan", "--dataset", "mnist5k", "--steps", "1")
    assert_one_line_error(result, "unknown dataset 'mnist5k'", "folder of images")
    (tmp_path / "a-file.png").write_bytes(b"x")
    result = run_cli("train", "gan", "--dataset", tmp_path / "a-file.png", "--steps", "1")
    assert_one_line_error(result, "is a file, not a folder")


def test_other_files_are_skipped_and_counted(tmp_path):
    root = write_flat(tmp_path / "flat", count=20)
    (root / "notes.txt").write_text("x")
    (root / ".DS_Store").write_bytes(b"\0\0")
    (root / ".hidden").mkdir()
    (root / ".hidden" / "x.png").write_bytes(b"not even looked at")
    spec = get_spec(str(root))
    assert "2 non-image files skipped" in spec.description
    assert len(load_dataset(str(root), "train")) + len(load_dataset(str(root), "test")) == 20


# --- families and metrics without labels --------------------------------------------------------


def test_conditional_families_are_refused_on_a_flat_folder_before_ray(tmp_path):
    root = write_flat(tmp_path / "flat", count=20)
    result = run_cli("train", "cvae", "--dataset", root, "--steps", "1")
    assert_one_line_error(result, "cvae needs labelled images", "sub-folder")
    result = run_cli("sweep", "quick-mnist", "--dataset", root, "--storage", tmp_path / "store")
    assert_one_line_error(result, "cgan needs labelled images", "families: all")
    assert not (tmp_path / "store").exists()


def test_the_quick_sweep_runs_every_family_the_data_allows(tmp_path):
    from gvcore.sweep import apply_overrides, load_sweep

    flat = write_flat(tmp_path / "flat", count=20)
    classes = write_mnist_classes(tmp_path / "classes", count=20)
    assert apply_overrides(load_sweep("quick"), dataset=str(flat)).families == ["gan", "lsgan", "dcgan", "vae"]
    labelled = apply_overrides(load_sweep("quick"), dataset=str(classes))
    assert sorted(labelled.families) == sorted(["gan", "lsgan", "dcgan", "cgan", "vae", "cvae"])
    assert labelled.dataset == str(classes)


def test_label_metrics_say_no_labels_on_a_flat_folder(tmp_path):
    from gvcore.evaluation.catalog import CATALOG, resolve_metrics

    root = write_flat(tmp_path / "flat", count=200)
    samples = tmp_path / "samples.npz"
    np.savez(samples, images=mnist_splits()["test"][0][:50].transpose(0, 2, 3, 1))
    for asked, metric in (("modes", "modes"), ("classifier_score", "classifier_score"), ("mode_collapse", "modes")):
        result = run_cli("eval", "--samples", samples, "--dataset", root, "--metrics", asked)
        assert_one_line_error(result, f"'{metric}'", "no labels")  # named before any network is trained
    labelled = tmp_path / "labelled.npz"
    np.savez(labelled, images=mnist_splits()["test"][0][:50].transpose(0, 2, 3, 1), labels=np.zeros(50, int))
    result = run_cli("eval", "--samples", labelled, "--dataset", root)
    assert_one_line_error(result, "has no labels")
    chosen = resolve_metrics("all", has_labels=False, is_vae=True, labelled=False)
    assert {"fid", "kid", "fid2", "precision", "memorization", "nelbo"} <= set(chosen)
    assert not [name for name in chosen if CATALOG[name].needs in ("classes", "labels")]


@pytest.mark.slow
def test_a_flat_folder_is_scored_in_label_free_features(tmp_path):
    root = write_flat(tmp_path / "flat", count=300)
    samples = tmp_path / "samples.npz"
    np.savez(samples, images=mnist_splits()["test"][0][:100].transpose(0, 2, 3, 1))
    result = run_cli("eval", "--samples", samples, "--dataset", root, "--json")
    assert result.exit_code == 0, result.output
    scores = json.loads(result.stdout.strip().splitlines()[-1])["metrics"]
    assert {"fid", "kid", "precision", "recall", "coverage", "memorization", "fid2"} <= scores.keys()
    assert not {"classes_covered", "classifier_score", "label_acc", "cas", "intra_fid"} & scores.keys()
    result = run_cli("evaluator", "train", "--dataset", root)
    assert result.exit_code == 0, result.output
    assert "classifier (autoencoder" in result.stdout and "reader" not in result.stdout


def test_rayignore_keeps_images_out_of_a_job_upload(tmp_path):
    """What `ray job submit --working-dir` uploads, decided by Ray's own packaging code with the
    repository's .gitignore and .rayignore: code yes, images (in any folder, any case) no."""
    import zipfile

    from ray._private.runtime_env.packaging import _zip_files

    repo = Path(__file__).resolve().parents[1]
    work = tmp_path / "clone"
    (work / "gvcore").mkdir(parents=True)
    for name in (".gitignore", ".rayignore"):
        (work / name).write_text((repo / name).read_text())
    (work / "gvcore" / "x.py").write_text("")
    pictures = ["photos/cat.JPG", "data/train/dog/1.png", "a.jpeg", "b.webp", "c.GIF", "d.tiff", "e.bmp", "f.tif"]
    for name in pictures:
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        (work / name).write_bytes(b"\0")
    package = tmp_path / "upload.zip"
    _zip_files(str(work), [], str(package), include_gitignore=True)  # what working_dir uploads
    uploaded = set(zipfile.ZipFile(package).namelist())
    assert "gvcore/x.py" in uploaded
    assert not [name for name in uploaded if name in pictures], uploaded


# --- end to end ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_flat_folder_trains_the_four_unconditional_families(tmp_path):
    root = write_flat(tmp_path / "flat", count=400)
    for family in ("gan", "lsgan", "dcgan", "vae"):
        out = tmp_path / family
        result = run_cli(
            "train", family, "--dataset", root, "--steps", "12", "--batch-size", "32", "--out", out,
            "--set", "train.eval_every=6", "--set", "eval.num_samples=100",
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        evals = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if "eval/fid" in line]
        assert [e["step"] for e in evals] == [6, 12] and all(np.isfinite(e["eval/fid"]) for e in evals), family
        assert "unlabelled" in result.output.replace("\n", "")  # the dataset line says what gv made of it


@pytest.mark.slow
@pytest.mark.timeout(1800)  # two to three minutes on 2 idle cores; many more on busy ones
@pytest.mark.parametrize("kind", ["grey, unlabelled", "colour, labelled"])
def test_the_evaluator_of_a_folder_passes_every_ladder(tmp_path, kind):
    # All of mnist-5k, so 500 held-out images as for mnist-5k itself: with 200 the mode-dropping
    # ladder's distances stop rising past 4 dropped classes (too few distinct images remain).
    root = write_flat(tmp_path / "flat") if kind == "grey, unlabelled" else write_colour(tmp_path / "colour")
    out = tmp_path / "check"
    result = run_cli("evaluator", "check", "--dataset", root, "--out", out, "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout.strip().splitlines()[-1])
    assert doc["passed"], {name: r["failures"] for name, r in doc["results"].items()}
    if kind == "grey, unlabelled":  # the label-free networks: no reader, no accuracy
        assert set(doc["networks"]) == {"classifier", "classifier2"}
        assert all(net["accuracy"] is None and "reconstruction" in net["quality"] for net in doc["networks"].values())
    else:
        assert set(doc["networks"]) == {"classifier", "reader", "classifier2"}
        assert all(net["accuracy"] > 0.9 for net in doc["networks"].values())


@pytest.mark.slow
@pytest.mark.ray
@pytest.mark.browser
@pytest.mark.timeout(1800)  # four minutes on 2 busy cores: Ray, six trials and their final evaluations
def test_a_colour_folder_runs_quick_then_compare_then_report(tmp_path):
    from test_report import ARTIFACTS, _render

    # RGB, 32 px, and three classes: fewer than the ten the report's MNIST defaults name
    root = write_colour(tmp_path / "colour", count=400, classes=(2, 5, 7))
    store = tmp_path / "store"
    result = run_cli(
        "sweep", "quick", "--dataset", root, "--storage", store, "--name", "quick", "--wandb-mode", "disabled",
        "--set", "train.flops=3e11", "--set", "eval.num_samples=100",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = json.loads((store / "quick" / "leaderboard.json").read_text())["rows"]
    assert sorted(r["family"] for r in rows) == ["cgan", "cvae", "dcgan", "gan", "lsgan", "vae"]
    assert get_spec(str(root)).class_names == ("2", "5", "7")
    assert all(r["status"] == "done" and r["config"]["data.name"] == str(root) for r in rows)
    assert get_spec(str(root)).channels == 3  # colour: the families' convolutional variants
    result = run_cli("compare", store / "quick", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["families"]
    out = tmp_path / "report"
    result = run_cli("report", store / "quick", "--out", out, "--eval-samples", "200")
    assert result.exit_code == 0, result.output
    events = _render(out / "report.html", ARTIFACTS / "folder-report-screenshot.png")
    assert events["images"] and all(i["complete"] and i["w"] > 0 for i in events["images"])
    assert events["console_errors"] == [] and events["page_errors"] == []
    for family in ("gan", "lsgan", "dcgan", "cgan", "vae", "cvae"):
        assert family in events["text"]
