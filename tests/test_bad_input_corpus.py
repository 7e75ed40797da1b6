"""The bad-input corpus: every `biosynth` command, run as a user runs it, against the cases in bad_inputs.yaml.

Each case runs in its own folder and must
1. exit with status 2 and an error on stderr that contains every `expect` substring (the field or file at fault),
2. print no Python traceback,
3. leave every file in its folder byte-identical, delete nothing, and leave nothing new behind except the paths
   its `allow_new` globs name.

A case is one YAML entry (see the head of bad_inputs.yaml for the fields). Shared assets (a finished dataset, a
small table, a fitted row model, a fitted HALO model, an empty DuckDB file) are built once per session; the cases'
subprocesses run concurrently on a small thread pool, and each test asserts on its own case's result (`-k` runs
only the selected cases; each case's wall time is written to timings.json in the session's `cases` folder).
As root, every case runs under setpriv without the capabilities that override file permissions, so that a
`mode: "000"` file is unreadable as it is for a user.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import http.server
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

HERE = Path(__file__).parent
CORPUS = HERE / "bad_inputs.yaml"
BIOSYNTH = [sys.executable, "-c", "from biosynth.core.cli import main; main()"]
SETPRIV = "/usr/bin/setpriv"
WORKERS = 3
TIMEOUT_S = 180
CASE_FIELDS = {"id", "argv", "files", "expect", "allow_new", "env", "why"}
FILE_SOURCES = {"text", "hex", "base64", "copy", "dir"}
FILE_FIELDS = FILE_SOURCES | {"truncate_to", "mode", "replace"}
_PLACEHOLDER = re.compile(r"\{(tmp|port_closed|port_garbage|asset:[\w.-]+|repeat:[^:{}]*:\d+)\}")


def _load_cases() -> list[dict[str, Any]]:
    cases = yaml.safe_load(CORPUS.read_text(encoding="utf-8"))["cases"]
    seen: set[str] = set()
    for case in cases:  # a malformed entry fails collection loudly instead of passing quietly
        unknown = set(case) - CASE_FIELDS
        assert not unknown, f"case {case.get('id')!r}: unknown field(s) {sorted(unknown)}"
        assert case["id"] not in seen, f"duplicate case id {case['id']!r}"
        seen.add(case["id"])
        assert isinstance(case["argv"], list) and case["argv"], f"case {case['id']!r}: argv must be a non-empty list"
        assert case.get("expect"), f"case {case['id']!r}: expect must list what the error names"
        assert not case.get("allow_new") or case.get("why"), f"case {case['id']!r}: say `why` it may leave files"
        for name, spec in (case.get("files") or {}).items():
            if isinstance(spec, dict):
                assert len(FILE_SOURCES & set(spec)) == 1 and set(spec) <= FILE_FIELDS, (case["id"], name, spec)
    return cases


CASES = _load_cases()


# -- shared assets, built once ------------------------------------------------------------------------------------

TINY_RECIPE = """\
name: corpus-tiny
seed: 7
steps:
  - name: patients
    generator: attributes
    count: 6
    params:
      table: patients
      attributes:
        age: {type: integer, low: 18, high: 95}
        sex: [female, male]
        systolic_bp: {type: normal, mean: 132, sd: 18, low: 80, high: 220, decimals: 0}
        diagnosis: [heart failure, COPD, asthma]
      label_columns: [diagnosis]
  - name: notes
    generator: template
    from: patients
    params:
      template: "${age}-year-old ${sex} with ${diagnosis}."
"""


def _table_csv() -> str:
    """40 patients with the columns of TINY_RECIPE's `patients` step, so `evaluate` can align the two."""
    sexes, diagnoses = ("female", "male"), ("heart failure", "COPD", "asthma")
    rows = [f"{20 + (i * 7) % 70},{sexes[i % 2]},{95 + (i * 13) % 100},{diagnoses[i % 3]}" for i in range(40)]
    return "age,sex,systolic_bp,diagnosis\n" + "\n".join(rows) + "\n"


def _cli(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*BIOSYNTH, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def _base_env() -> dict[str, str]:
    """The environment a user has: the workspace conftest's permission for test doubles is taken away."""
    env = dict(os.environ)
    env.pop("BIOSYNTH_ALLOW_TEST_DOUBLES", None)
    env.update({"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "CI": "1", "PYTHONUTF8": "0",
                "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1"})
    return env


def _build_assets(root: Path) -> dict[str, Path]:
    env = _base_env()
    (root / "tiny.yaml").write_text(TINY_RECIPE)
    (root / "table.csv").write_text(_table_csv())
    jobs: dict[str, list[str]] = {
        "dataset": ["run", "tiny.yaml", "--out", "dataset"],
        "model": ["tabular", "fit-table", "table.csv", "--out", "model", "--epochs", "1", "--max-steps", "1",
                  "--threads", "1"],
        "halo": ["tabular", "fit-halo", "--omop-eunomia", "--limit-persons", "8", "--max-steps", "1", "--epochs", "1",
                 "--no-calibrate", "--n-embd", "8", "--n-layer", "1", "--n-head", "1", "--threads", "1",
                 "--out", "halo"],
    }
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        done = dict(zip(jobs, pool.map(lambda args: _cli(args, root, env), jobs.values()), strict=True))
    for name, result in done.items():
        assert result.returncode == 0, f"asset {name}: {result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    import duckdb  # an OMOP file with no tables: opens fine, holds nothing fit-halo needs
    import pandas as pd

    duckdb.connect(str(root / "empty.duckdb")).close()
    table = pd.read_csv(root / "table.csv")
    table.to_parquet(root / "table.parquet", index=False)
    (root / "notes.jsonl").write_text("".join(json.dumps({"text": f"Patient {i} is stable.", "label": "a"}) + "\n"
                                              for i in range(8)))
    return {name: root / name for name in
            ("dataset", "model", "halo", "tiny.yaml", "table.csv", "table.parquet", "empty.duckdb", "notes.jsonl")}


# -- local servers: a port with nothing listening, and one that answers garbage -------------------------------------

class _GarbageHandler(http.server.BaseHTTPRequestHandler):
    """`/bad-json/...`: a body that is not JSON; `/wrong-shape/...`: JSON that is no chat completion; else HTML."""

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        if self.path.startswith("/bad-json/"):
            body, kind = b'{"choices": [{"message": {"content": "trunc', "application/json"
        elif self.path.startswith("/wrong-shape/"):
            body, kind = b'{"hello": "world", "choices": 7}', "application/json"
        else:
            body, kind = b"<html><body>not an API</body></html>", "text/html"
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed on exit: nothing listens there


# -- one case -------------------------------------------------------------------------------------------------------

@dataclass
class Outcome:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str
    before: dict[str, str]
    after: dict[str, str]
    seconds: float


def _substitute(text: str, values: dict[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        key = match.group(1)
        if key.startswith("repeat:"):
            _, piece, times = key.split(":")
            return piece * int(times)
        return values[key]

    return _PLACEHOLDER.sub(one, text)


def _make_files(folder: Path, files: dict[str, Any], values: dict[str, str], assets: dict[str, Path]) -> None:
    modes: list[tuple[Path, int]] = []
    for name, spec in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        spec = {"text": spec} if isinstance(spec, str) else spec
        if "dir" in spec:
            path.mkdir(exist_ok=True)
        elif "copy" in spec:
            source = assets[spec["copy"]] if spec["copy"] in assets else _asset_file(spec["copy"], assets)
            if source.is_dir():
                shutil.copytree(source, path)
            else:
                shutil.copyfile(source, path)
        elif "text" in spec:
            path.write_bytes(_substitute(spec["text"], values).encode("utf-8"))
        elif "hex" in spec:
            path.write_bytes(bytes.fromhex(spec["hex"]))
        else:
            path.write_bytes(base64.b64decode(spec["base64"]))
        for old, new in (spec.get("replace") or {}).items():
            data = path.read_bytes()  # characters up to U+00FF are single bytes: "\xff" makes a file not UTF-8
            assert old.encode("latin-1") in data, f"{name}: {old!r} not found to replace"
            path.write_bytes(data.replace(old.encode("latin-1"), new.encode("latin-1")))
        if "truncate_to" in spec:
            path.write_bytes(path.read_bytes()[:int(spec["truncate_to"])])  # negative: drop that many bytes
        if "mode" in spec:
            modes.append((path, int(str(spec["mode"]), 8)))
    for path, mode in modes:  # last, so a folder can be filled before it is locked
        path.chmod(mode)


def _asset_file(name: str, assets: dict[str, Path]) -> Path:
    """`dataset/records.parquet`: a file inside a folder asset."""
    head, _, rest = name.partition("/")
    assert head in assets and rest, f"unknown asset {name!r} (assets: {sorted(assets)})"
    return assets[head] / rest


def _snapshot(folder: Path) -> dict[str, str]:
    """Every file's sha256 and every folder, by relative path (read as root when the case locked them)."""
    found: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        base = Path(dirpath)
        for name in dirnames:
            found[(base / name).relative_to(folder).as_posix() + "/"] = "dir"
        for name in filenames:
            path = base / name
            key = path.relative_to(folder).as_posix()
            if path.is_symlink():
                found[key] = "link:" + os.readlink(path)
                continue
            try:
                found[key] = hashlib.sha256(path.read_bytes()).hexdigest()
            except PermissionError:  # not root and the case locked it: compare its metadata instead
                stat = path.stat()
                found[key] = f"unreadable:{stat.st_size}:{stat.st_mtime_ns}"
    return found


def _wrapper() -> list[str]:
    """As root, permissions do not stop reading or writing; drop the capabilities that override them."""
    if os.geteuid() != 0:
        return []
    assert os.access(SETPRIV, os.X_OK), (
        f"the tests run as root, so they need {SETPRIV} (util-linux) to make file permissions bite; install util-linux")
    return [SETPRIV, "--inh-caps=-all", "--bounding-set=-dac_override,-dac_read_search", "--"]


def _run_case(case: dict[str, Any], folder: Path, values: dict[str, str], assets: dict[str, Path]) -> Outcome:
    folder.mkdir(parents=True)
    values = {**values, "tmp": str(folder)}
    _make_files(folder, case.get("files") or {}, values, assets)
    argv = [_substitute(str(arg), values) for arg in case["argv"]]
    env = _base_env()
    env.update({k: _substitute(str(v), values) for k, v in (case.get("env") or {}).items()})
    before = _snapshot(folder)
    started = time.perf_counter()
    try:
        result = subprocess.run([*_wrapper(), *BIOSYNTH, *argv], cwd=folder, env=env, capture_output=True, text=True,
                                errors="replace", timeout=TIMEOUT_S)
        code, stdout, stderr = result.returncode, result.stdout, result.stderr
    except subprocess.TimeoutExpired as err:
        code, stdout, stderr = -1, _text(err.stdout), f"(timed out after {TIMEOUT_S} s)\n{_text(err.stderr)}"
    seconds = time.perf_counter() - started
    return Outcome(argv, code, stdout, stderr, before, _snapshot(folder), seconds)


def _text(output: str | bytes | None) -> str:
    return output.decode(errors="replace") if isinstance(output, bytes) else (output or "")


@pytest.fixture(scope="session")
def corpus(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Outcome]]:
    """Run the selected cases (all of them unless -k picked some), WORKERS at a time; their outcomes by id."""
    selected = {item.callspec.params["case"]["id"] for item in request.session.items
                if getattr(item, "originalname", None) == "test_bad_input" and hasattr(item, "callspec")}
    cases = [case for case in CASES if case["id"] in selected]
    assets = _build_assets(tmp_path_factory.mktemp("assets"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _GarbageHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    values = {"port_closed": str(_closed_port()), "port_garbage": str(server.server_address[1]),
              **{f"asset:{name}": str(path) for name, path in assets.items()}}
    root = tmp_path_factory.mktemp("cases")
    try:
        def run(case: dict[str, Any]) -> Outcome:
            return _run_case(case, root / case["id"], values, assets)

        with ThreadPoolExecutor(max_workers=WORKERS) as pool:
            outcomes = dict(zip([c["id"] for c in cases], pool.map(run, cases), strict=True))
        (root / "timings.json").write_text(json.dumps({k: round(o.seconds, 2) for k, o in outcomes.items()}, indent=1))
        yield outcomes
    finally:
        server.shutdown()
        server.server_close()
        for path in root.rglob("*"):  # unlock what the cases locked, so the folders can be removed
            if not path.is_symlink():
                path.chmod(0o700 if path.is_dir() else 0o600)


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_bad_input(case: dict[str, Any], corpus: dict[str, Outcome]) -> None:
    outcome = corpus[case["id"]]
    shown = f"argv: {outcome.argv}\n--- stdout ---\n{outcome.stdout[-3000:]}\n--- stderr ---\n{outcome.stderr[-4000:]}"
    assert "Traceback" not in outcome.stdout + outcome.stderr, f"a traceback reached the user\n{shown}"
    assert outcome.returncode == 2, f"exit status {outcome.returncode}, expected 2\n{shown}"
    missing = [text for text in case["expect"] if text not in outcome.stderr]
    assert not missing, f"the error does not name {missing}\n{shown}"
    changed = sorted(k for k, v in outcome.before.items() if k in outcome.after and outcome.after[k] != v)
    deleted = sorted(k for k in outcome.before if k not in outcome.after)
    allowed = case.get("allow_new") or []
    new = sorted(k for k in outcome.after if k not in outcome.before
                 and not any(fnmatch.fnmatch(k.rstrip("/"), pattern) for pattern in allowed))
    assert not changed, f"files changed by a failed command: {changed}\n{shown}"
    assert not deleted, f"files deleted by a failed command: {deleted}\n{shown}"
    assert not new, f"a failed command left new files behind: {new}\n{shown}"


def test_the_corpus_covers_every_command() -> None:
    commands = {"run", "validate", "inspect", "plugins", "evaluate", "tabular split", "tabular detect-metadata",
                "tabular fit-table", "tabular sample-table", "tabular fit-halo", "tabular sample-halo", "text finetune"}
    counts = dict.fromkeys(sorted(commands), 0)
    for case in CASES:
        argv = [str(a) for a in case["argv"]]
        name = " ".join(argv[:2]) if argv[0] in ("tabular", "text") else argv[0]
        assert name in commands, f"case {case['id']!r} runs an unknown command {name!r}"
        counts[name] += 1
    assert all(counts.values()), f"commands without a bad-input case: {[c for c, n in counts.items() if not n]}"
    assert len(CASES) >= 60, f"only {len(CASES)} cases"
