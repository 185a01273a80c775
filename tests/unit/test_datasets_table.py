"""The torchvision size table: well-formed, and the headline numbers as documented."""

from __future__ import annotations

import pytest
from gpulens.analysis.datasets import count_images, dataset_table


def test_table_is_well_formed() -> None:
    table = dataset_table()
    assert len(table) >= 25
    for name, entry in table.items():
        assert entry["select"] in {"train", "split", "none", "emnist", "qmnist", "background"}
        assert entry["doc"].strip(), name
        assert entry["splits"], name
        for split, n in entry["splits"].items():
            assert isinstance(n, int) and n > 0, (name, split)
        if entry["select"] != "emnist":
            assert entry["default"] in entry["splits"], name


@pytest.mark.parametrize(
    ("name", "split", "n"),
    [
        ("MNIST", "train", 60000),
        ("MNIST", "test", 10000),
        ("FashionMNIST", "train", 60000),
        ("KMNIST", "test", 10000),
        ("CIFAR10", "train", 50000),
        ("CIFAR100", "test", 10000),
        ("SVHN", "train", 73257),
        ("SVHN", "test", 26032),
        ("SVHN", "extra", 531131),
        ("STL10", "train", 5000),
        ("STL10", "test", 8000),
        ("STL10", "unlabeled", 100000),
        ("ImageNet", "train", 1281167),
        ("ImageNet", "val", 50000),
        ("Food101", "train", 75750),
        ("Food101", "test", 25250),
        ("Flowers102", "train", 1020),
        ("Flowers102", "val", 1020),
        ("Flowers102", "test", 6149),
        ("CelebA", "train", 162770),
        ("CelebA", "valid", 19867),
        ("CelebA", "test", 19962),
        ("Caltech101", "all", 8677),
        ("OxfordIIITPet", "trainval", 3680),
        ("OxfordIIITPet", "test", 3669),
        ("GTSRB", "train", 26640),
        ("GTSRB", "test", 12630),
        ("EuroSAT", "all", 27000),
        ("USPS", "train", 7291),
        ("USPS", "test", 2007),
        ("EMNIST", "balanced/train", 112800),
        ("EMNIST", "byclass/test", 116323),
    ],
)
def test_documented_sizes(name: str, split: str, n: int) -> None:
    assert dataset_table()[name]["splits"][split] == n


def test_count_images(tmp_path: object) -> None:
    from pathlib import Path

    root = Path(str(tmp_path))
    (root / "a").mkdir()
    (root / "b" / "nested").mkdir(parents=True)
    for p in ("a/1.PNG", "a/2.jpg", "a/readme.md", "b/nested/3.webp", "top.jpg"):
        (root / p).write_bytes(b"")
    n, how = count_images(str(root))
    assert n == 3  # files directly in root are not samples: ImageFolder needs class folders
    assert "2 class folders" in how
    assert count_images(str(root / "missing"))[0] is None
    empty = root / "a"
    assert count_images(str(empty))[0] is None  # no class sub-folders
