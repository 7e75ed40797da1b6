"""Settings for every test suite in the workspace (pytest loads this before any package's tests)."""

import os

# The `fake` language-model backend is a test double, refused outside tests unless this is set;
# subprocesses the tests start (e.g. `biosynth run`) inherit it.
os.environ["BIOSYNTH_ALLOW_TEST_DOUBLES"] = "1"
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
