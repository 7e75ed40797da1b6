from __future__ import annotations

from pathlib import Path

import pytest

from biosynth.core import RecipeError, load_recipe, parse_recipe


def steps(*items: dict) -> dict:
    return {"name": "r", "seed": 3, "steps": list(items)}


def test_valid_recipe_orders_steps_by_dependency() -> None:
    recipe = parse_recipe(steps(
        {"name": "notes", "generator": "template", "from": "patients", "params": {"template": "x"}},
        {"name": "patients", "generator": "attributes", "count": 3},
    ))
    assert [s.name for s in recipe.order()] == ["patients", "notes"]


def test_step_seeds_derive_from_recipe_seed_unless_given() -> None:
    recipe = parse_recipe(steps({"name": "a", "generator": "g", "count": 1},
                                {"name": "b", "generator": "g", "count": 1, "seed": 42}))
    resolved = recipe.resolved()
    assert resolved["steps"][1]["seed"] == 42
    assert resolved["steps"][0]["seed"] == recipe.step_seed(recipe.steps[0])
    assert recipe.with_seed(4).step_seed(recipe.steps[0]) != recipe.step_seed(recipe.steps[0])
    assert recipe.fingerprint() == parse_recipe(steps({"name": "a", "generator": "g", "count": 1},
                                                      {"name": "b", "generator": "g", "count": 1, "seed": 42})).fingerprint()


@pytest.mark.parametrize(("data", "message"), [
    (steps({"name": "a", "generator": "g", "count": -5}),
     r"steps\[0\] \(a\)\.count: Input should be greater than or equal to 1 \(got -5\)"),
    (steps({"name": "a", "generator": "g", "from": "zzz"}), "reads `from: zzz`, but no step has that name"),
    (steps({"name": "a", "generator": "g", "from": "b"}, {"name": "b", "generator": "g", "from": "a"}), "cycle"),
    (steps({"name": "a", "generator": "g", "count": 1}, {"name": "a", "generator": "g", "count": 1}), "unique"),
    (steps({"name": "a", "generator": "g"}), "exactly one of `count`"),
    (steps({"name": "a", "generator": "g", "count": 1, "colour": 1}), r"colour: Extra inputs are not permitted"),
    (steps({"name": "Bad Name", "generator": "g", "count": 1}), "lower-case"),
    ({"name": "r", "steps": []}, "steps: Tuple should have at least 1 item"),
    ({"name": "r", "steps": [{"name": "a", "generator": "g", "count": 1}],
      "policy": {"allow_real_data_to_remote": ["a"]}}, "needs a justification"),
    (["not", "a", "mapping"], "expected a mapping"),
])
def test_invalid_recipes_name_the_field(data: object, message: str) -> None:
    with pytest.raises(RecipeError, match=message):
        parse_recipe(data)


def test_malformed_yaml_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: r\nsteps:\n  - name: a\n    count: [1, 2\n")
    with pytest.raises(RecipeError, match=r"bad.yaml' is not valid YAML at line \d+, column \d+"):
        load_recipe(path)


def test_json_recipes_and_missing_files(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_text('{"name": "r", "steps": [{"name": "a", "generator": "g", "count": 2}]}')
    assert load_recipe(path).steps[0].count == 2
    path.write_text('{"name": "r", ')
    with pytest.raises(RecipeError, match="not valid JSON at line 1"):
        load_recipe(path)
    with pytest.raises(RecipeError, match="does not exist"):
        load_recipe(tmp_path / "nope.yaml")
