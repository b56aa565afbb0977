"""examples/python/service_discovery.py runs its in-process demo to the end."""

import os
import subprocess
import sys

import pytest

SCRIPT = os.path.join(os.path.dirname(__file__), "..", "..", "..", "examples", "python",
                      "service_discovery.py")


@pytest.mark.skipif(not os.path.isfile(SCRIPT), reason="not run from a checkout")
def test_service_discovery_demo():
    r = subprocess.run([sys.executable, SCRIPT], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "web-1 finds api: [('api-1', '127.0.0.1:8001'), ('api-2', '127.0.0.1:8002')]" in r.stdout
    assert "saw api-2 leave" in r.stdout
    assert r.stdout.rstrip().endswith("web-1 finds api: [('api-1', '127.0.0.1:8001')]")
