"""Tar-archived ImageFolder trees, the seeded stratified split, class-balanced subsets and the DataSpec that
every command reads images through."""

import argparse
import io
import tarfile
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from hub.data import (
    DataSpec,
    TarImageFolder,
    add_data_arguments,
    class_balanced_subset,
    data_spec_from_args,
    stratified_split,
)

CIFAR10_TAR = Path(__file__).resolve().parents[3] / "shared" / "data" / "cifar10-train-jpeg.tar.gz"


def make_tar(path: Path, layout: dict[str, int], prefix: str = "train") -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for cls, count in layout.items():
            for i in range(count):
                buffer = io.BytesIO()
                Image.new("RGB", (8, 6), (10 * i, 0, 0)).save(buffer, format="PNG")
                info = tarfile.TarInfo(f"{prefix}/{cls}/{i:04d}.png")
                info.size = buffer.tell()
                buffer.seek(0)
                archive.addfile(info, buffer)
        readme = tarfile.TarInfo(f"{prefix}/README.txt")
        archive.addfile(readme, io.BytesIO(b""))
    return path


def test_tar_image_folder_reads_classes_and_images(tmp_path):
    data = TarImageFolder(make_tar(tmp_path / "d.tar.gz", {"dog": 3, "cat": 2}))
    assert data.classes == ["cat", "dog"] and len(data) == 5
    assert Counter(data.targets) == {0: 2, 1: 3}
    image, label = data[0]
    assert image.size == (8, 6) and image.mode == "RGB" and label in (0, 1)
    subdir = TarImageFolder(tmp_path / "d.tar.gz", subdir="train", transform=lambda im: im.size)
    assert subdir[0][0] == (8, 6)
    with pytest.raises(ValueError, match="no images under test/"):
        TarImageFolder(tmp_path / "d.tar.gz", subdir="test")


def test_stratified_split_is_seeded_disjoint_and_balanced():
    targets = [i % 4 for i in range(400)]
    train, val = stratified_split(targets, 40, seed=3)
    assert len(val) == 40 and len(train) == 360 and not set(train) & set(val)
    assert Counter(targets[i] for i in val) == {0: 10, 1: 10, 2: 10, 3: 10}
    assert stratified_split(targets, 40, seed=3) == (train, val)
    assert stratified_split(targets, 40, seed=4)[1] != val
    assert stratified_split(targets, 0.1, seed=3) == (train, val)


def test_class_balanced_subset():
    targets = [0] * 50 + [1] * 100
    keep = class_balanced_subset(targets, 0.1, seed=0)
    assert Counter(targets[i] for i in keep) == {0: 5, 1: 10}
    assert class_balanced_subset([0, 0, 1], 0.01) == sorted(class_balanced_subset([0, 0, 1], 0.01))
    assert len(class_balanced_subset([0, 0, 1], 0.01)) == 2  # at least one per class
    with pytest.raises(ValueError):
        class_balanced_subset(targets, 0.0)


@pytest.mark.skipif(not CIFAR10_TAR.exists(), reason="the shared CIFAR-10 archive is not beside this checkout")
def test_real_cifar10_archive_splits_into_45000_and_5000():
    data = TarImageFolder(CIFAR10_TAR)
    assert len(data) == 50_000 and data.classes[:3] == ["airplane", "automobile", "bird"]
    train, val = stratified_split(data.targets, 5000, seed=0)
    assert len(train) == 45_000 and Counter(data.targets[i] for i in val) == dict.fromkeys(range(10), 500)
    assert data[val[0]][0].size == (32, 32)


def test_data_spec_picks_the_split_part_then_a_balanced_subset(tmp_path):
    path = make_tar(tmp_path / "d.tar.gz", {"a": 20, "b": 20, "c": 20})
    spec = DataSpec(str(path), val_size=12, seed=1)
    base, val = spec.base_and_indices()
    _, train = DataSpec(str(path), val_size=12, split="train", seed=1).base_and_indices()
    assert len(val) == 12 and len(train) == 48 and not set(val) & set(train)
    assert (train, val) == stratified_split(base.targets, 12, seed=1)
    subset = DataSpec(str(path), val_size=12, split="train", num_images=9, seed=1).indices(base.targets)
    assert len(subset) == 9 and set(subset) <= set(train)
    assert Counter(base.targets[i] for i in subset) == {0: 3, 1: 3, 2: 3}
    assert DataSpec(str(path), val_size=0).indices(base.targets) == list(range(60))  # 0: all of the data
    assert "val part of the 12 split (seed 1)" in spec.describe()
    with pytest.raises(ValueError, match="not cifar10"):
        DataSpec(str(tmp_path / "nothing")).open()


def test_data_flags_are_generated_with_per_command_defaults():
    parser = argparse.ArgumentParser()
    add_data_arguments(parser, defaults={"split": "train", "batch_size": 16}, flag="--dataset")
    spec = data_spec_from_args(parser.parse_args(["--dataset", "x.tar", "--val-size", "none", "--num-images", "7"]))
    assert spec == DataSpec("x.tar", val_size=None, split="train", num_images=7, batch_size=16)
    assert "seed of the split" in parser.format_help()
    with pytest.raises(SystemExit):
        parser.parse_args(["--dataset", "x.tar", "--split", "test"])


def test_a_classes_file_keeps_the_full_label_indices():
    from tests.releases import CIFAR100

    data = DataSpec(str(CIFAR100), val_size=0).open()
    assert len(data) == 20 and len(data.classes) == 100 and data.classes[:2] == ["apple", "aquarium_fish"]
    for path, label in data.samples:  # the file names carry the CIFAR-100 fine label
        assert label == int(Path(path).stem.rsplit("_", 1)[1])
