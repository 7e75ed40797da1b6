"""Settings for every test suite in the workspace (pytest loads this before any package's tests)."""

import os

# The `fake` language-model backend is a test double, refused outside tests unless this is set;
# subprocesses the tests start (e.g. `biosynth run`) inherit it.
os.environ["BIOSYNTH_ALLOW_TEST_DOUBLES"] = "1"
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# One cache folder for the session (a GGUF converted by core's gguf_as_folder is reused by every worker and every
# subprocess), removed at the end by the process that made it; never the user's own ~/.cache/biosynth.
if "BIOSYNTH_CACHE_DIR" not in os.environ:
    import atexit
    import shutil
    import tempfile

    os.environ["BIOSYNTH_CACHE_DIR"] = tempfile.mkdtemp(prefix="biosynth-test-cache-")
    atexit.register(shutil.rmtree, os.environ["BIOSYNTH_CACHE_DIR"], ignore_errors=True)
# Under pytest-xdist (`hatch run test` runs two workers on two cores) each worker, and each subprocess it starts, runs
# torch and BLAS on one thread: two workers with a thread per core each would oversubscribe the cores.
if os.environ.get("PYTEST_XDIST_WORKER"):
    for _threads in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(_threads, "1")


def pytest_collection_modifyitems(config, items) -> None:
    """The tests marked `slow` first (otherwise in collection order): the workers take files in this order, so the
    longest start early instead of leaving one worker busy at the end while the other idles."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


# A skipped test proves nothing. In the workspace suite (`hatch run test` sets BIOSYNTH_SKIPS_FAIL=1) every extra is
# installed, so a skip is a failure unless it is for absent hardware (its reason names the GPU). A package's own
# tests, run in an isolated install without its extras (tests/test_isolated_install*.py), may skip what needs them.
_SKIPS_FAIL = os.environ.get("BIOSYNTH_SKIPS_FAIL") == "1"


def _hardware(reason: str) -> bool:
    return "GPU" in reason or "CUDA" in reason


def _as_failure(report) -> None:  # a pytest TestReport or CollectReport whose outcome is "skipped"
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    if not _hardware(reason):
        report.outcome = "failed"
        report.longrepr = (f"skipped in the workspace suite, where every extra is installed: {reason} "
                           "(only absent hardware may skip; BIOSYNTH_SKIPS_FAIL=1)")


if _SKIPS_FAIL:
    import pytest

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(item, call):
        outcome = yield
        report = outcome.get_result()
        if report.skipped and not hasattr(report, "wasxfail"):
            _as_failure(report)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_make_collect_report(collector):
        outcome = yield
        report = outcome.get_result()
        if report.skipped:
            _as_failure(report)
