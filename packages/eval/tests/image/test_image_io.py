"""Reading real image folders (class sub-folders, DICOM) and the errors for wrong ones."""

from __future__ import annotations

import numpy as np
import pytest

from biosynth.core import InputDataError
from biosynth.eval._image.io import read_real_images


def test_class_sub_folders_give_labels(tmp_path, splits, write_folder) -> None:
    folder = write_folder(splits["holdout"], tmp_path / "real")
    found = read_real_images(folder)
    assert len(found) == 24 and sorted(set(found.labels)) == ["cell", "ihc", "retina"]
    assert found.names[0] == "cell/012.png" and found.images[0].shape == (32, 32, 3)
    k = splits["holdout"].names.index("cell/012.png")
    assert np.array_equal(found.images[0], splits["holdout"].images[k])


def test_dicom_pixels_are_read(tmp_path) -> None:
    from pydicom.data import get_testdata_file

    (tmp_path / "dicom").mkdir()
    (tmp_path / "dicom" / "ct.dcm").write_bytes(open(get_testdata_file("CT_small.dcm"), "rb").read())
    found = read_real_images(tmp_path / "dicom")
    assert found.images[0].shape == (128, 128, 3) and found.images[0].max() == 255 and found.labels == [None]


def test_synthetic_images_come_from_records_checked_against_their_sha256(tmp_path, tile_generator) -> None:
    from biosynth.core import DatasetError, Group, Registry, SyntheticDataset, parse_recipe, run_recipe
    from biosynth.eval._image.io import holds_images, synthetic_images

    registry = Registry()
    registry.register(Group.GENERATORS, "test_tiles", tile_generator)
    recipe = parse_recipe({"name": "tiles", "seed": 1, "steps": [
        {"name": "png", "generator": "test_tiles", "count": 3},
        {"name": "dicom", "generator": "test_tiles", "count": 2, "params": {"dicom": True}}]})
    run_recipe(recipe, tmp_path / "ds", registry=registry)
    dataset = SyntheticDataset(tmp_path / "ds")
    assert holds_images(dataset) and holds_images(dataset, "dicom")
    dicom = synthetic_images(dataset, "dicom", label="tissue")
    assert [image.shape for image in dicom.images] == [(128, 128, 3)] * 2 and dicom.labels == ["retina", "ihc"]
    png = synthetic_images(dataset, "png")
    assert png.labels == [None] * 3 and png.names[0] == "media/png/png-000000.png"
    (tmp_path / "ds" / png.names[1]).write_bytes((tmp_path / "ds" / png.names[0]).read_bytes())
    with pytest.raises(DatasetError, match="does not match its sha256"):
        synthetic_images(dataset, "png")


@pytest.mark.parametrize("case", ["missing", "file", "empty", "mixed", "deep", "damaged"])
def test_wrong_folders_are_named_with_what_was_expected(tmp_path, splits, write_folder, case: str) -> None:
    folder = tmp_path / "real"
    expected = {"missing": "does not exist", "file": "is a file", "empty": "holds no images",
                "mixed": "both directly", "deep": "two folders deep", "damaged": "not a readable image"}[case]
    if case == "file":
        folder.write_text("x")
    elif case != "missing":
        folder.mkdir()
    if case in ("mixed", "deep", "damaged"):
        write_folder(splits["holdout"], folder)
    if case == "mixed":
        (folder / "loose.png").write_bytes((folder / "cell" / "012.png").read_bytes())
    if case == "deep":
        (folder / "cell" / "sub").mkdir()
        (folder / "cell" / "sub" / "x.png").write_bytes((folder / "cell" / "012.png").read_bytes())
    if case == "damaged":
        (folder / "cell" / "012.png").write_bytes(b"\x89PNG\r\n\x1a\n cut short")
    with pytest.raises(InputDataError, match=expected) as error:
        read_real_images(folder, "--holdout")
    assert "--holdout" in str(error.value)
