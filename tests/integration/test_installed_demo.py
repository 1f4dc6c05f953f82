"""``run --demo`` from a plain (non-editable) install: the example ward ships inside the package.

The wheel is built offline from a copy of the sources and installed with --no-deps into a fresh
venv; the dependencies come from the test's own environment through a .pth line (a directory
added that way is not a site directory, so the development install of ``monitor`` in it stays
invisible and ``monitor`` is imported from the wheel). ``run --demo`` then runs in a directory
with no examples/ folder near it.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

from tests.integration.harness import ROOT, wait_for

EXAMPLE = (ROOT / "examples" / "ward.ndjson").read_bytes()


def test_the_packaged_example_is_the_examples_file() -> None:
    assert (ROOT / "monitor" / "data" / "ward.ndjson").read_bytes() == EXAMPLE


def build_wheel(tmp: Path) -> Path:
    src = tmp / "src"
    shutil.copytree(ROOT / "monitor", src / "monitor",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))  # fmt: skip
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "--no-index", "-w", str(tmp / "dist"), str(src)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    return next((tmp / "dist").glob("nms_monitor-*.whl"))


def test_run_demo_from_a_wheel_in_a_fresh_venv(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path)
    with zipfile.ZipFile(wheel) as z:
        assert z.read("monitor/data/ward.ndjson") == EXAMPLE
        names = set(z.namelist())  # the data every command reads at start
        assert {"monitor/knowledge/data/drugs.toml", "monitor/interop/data/codes.toml"} <= names
        assert any(n.startswith("monitor/web/templates/") for n in names)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=120)  # fmt: skip
    python = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
                    "--no-deps", "--no-index", str(wheel)], check=True, capture_output=True,
                   timeout=300)  # fmt: skip
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()"
                                "['purelib'])"], check=True, capture_output=True, text=True)
                .stdout.strip())  # fmt: skip
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.startswith("NMS_")}
    elsewhere = tmp_path / "elsewhere"  # not the repository: its monitor/ must not be seen
    elsewhere.mkdir()
    where = subprocess.run([str(python), "-c", "import monitor; print(monitor.__file__)"],
                           check=True, capture_output=True, text=True, env=env,
                           cwd=elsewhere)  # fmt: skip
    assert where.stdout.startswith(str(venv)), where.stdout
    out = elsewhere / "run.log"
    with open(out, "wb") as log:
        run = subprocess.Popen(
            [str(venv / "bin" / "nms-monitor"), "run", "--demo"], stdout=log,
            stderr=subprocess.STDOUT, cwd=elsewhere,
            env={**env, "NMS_WORKER_DATA_DIR": str(elsewhere), "NMS_WORKER_METRICS_PORT": "0",
                 "NMS_WEB_PORT": "0"},
        )  # fmt: skip
        try:
            wait_for(lambda: b" opened " in out.read_bytes(), 120, "the demo's first alert")
            run.send_signal(signal.SIGINT)
            run.wait(60)
        finally:
            if run.poll() is None:
                run.kill()
                run.wait(10)
    text = out.read_text(errors="replace")
    # The banner, then one line per transition: time, priority, transition, location, score.
    assert "  dashboard:  http://127.0.0.1:" in text, text[-2000:]
    assert re.search(
        r"^2026-03-0\d \d\d:\d\d  (LOW|MEDIUM|HIGH) +opened +ICU-2 bed 14  score \d+/74 .* nms-",
        text,
        re.M,
    ), text[-2000:]
    assert "cannot read" not in text and "Traceback" not in text
