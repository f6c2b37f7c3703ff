"""Runs the extension's TypeScript unit tests (node --test) so pytest reports them too."""

import re
import shutil
import subprocess

import pytest

from tests.conftest import REPO

LABEXT = REPO / "labextension"


def test_typescript_unit_tests_pass():
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("npm is not installed: ./dev.sh install sets it up")
    if not (LABEXT / "node_modules" / "typescript").is_dir():
        pytest.fail("labextension/node_modules is missing: `pip install -e .` (./dev.sh install) runs npm install")
    proc = subprocess.run(
        [npm, "test", "--silent"], cwd=LABEXT, capture_output=True, text=True, timeout=180
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    passed = re.search(r"^# pass (\d+)$", out, re.M)
    failed = re.search(r"^# fail (\d+)$", out, re.M)
    assert passed and failed, out
    assert int(failed.group(1)) == 0, out
    assert int(passed.group(1)) >= 20, out
