"""The worker's entry point stands on its own: `python -m worker` never imports the web's `app`."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_importing_the_worker_entry_point_does_not_import_the_web_app():
    code = "import sys, worker.__main__, worker.engine; assert 'app' not in sys.modules, 'app was imported'"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
