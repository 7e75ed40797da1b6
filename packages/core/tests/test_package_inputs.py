"""`package:` input paths name files that ship inside installed Python packages."""

from __future__ import annotations

from pathlib import Path

import pytest

from biosynth.core import InputDataError, InputFile, InputFingerprint, resolve_package_path, sha256_file


def test_a_package_path_resolves_to_the_installed_file_with_its_distribution() -> None:
    file = InputFile.model_validate({"path": "package:pydantic/py.typed", "real": False})
    import pydantic

    assert file.path == Path(pydantic.__file__).parent / "py.typed"
    assert file.package == f"pydantic=={pydantic.VERSION}"
    fingerprint = InputFingerprint.of("s", "data", file)
    assert fingerprint.package == file.package and fingerprint.sha256 == sha256_file(file.path)


def test_a_package_path_is_not_resolved_against_the_recipe_folder(tmp_path: Path) -> None:
    file = InputFile.model_validate("package:pydantic/py.typed", context={"base_dir": tmp_path})
    assert tmp_path not in file.path.parents and file.path.exists()


@pytest.mark.parametrize(("spec", "message"), [
    ("package:no_such_package_xyz/data.csv", "'no_such_package_xyz' is not installed"),
    ("package:pydantic/no/such/file.csv", "has no file 'no/such/file.csv'"),
    ("package:pydantic", "expected `package:<import name>/<path inside the package>`"),
])
def test_bad_package_paths_say_what_is_wrong(spec: str, message: str) -> None:
    with pytest.raises(InputDataError, match=message.replace("(", r"\(").replace(")", r"\)")):
        resolve_package_path(spec)
    with pytest.raises(ValueError, match=r"not installed|has no file|expected"):
        InputFile.model_validate(spec)
