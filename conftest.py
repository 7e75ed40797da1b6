"""Settings for every test suite in the workspace (pytest loads this before any package's tests)."""

import os

# The `fake` language-model backend is a test double, refused outside tests unless this is set;
# subprocesses the tests start (e.g. `biosynth run`) inherit it.
os.environ["BIOSYNTH_ALLOW_TEST_DOUBLES"] = "1"
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


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
