"""Every script of scripts/ and bench/ runs as ``python scripts/x.py`` after ``pip install -e .`` without
touching ``sys.path``: its imports resolve through what setup.cfg installs, not through the repository root.

One child process emulates the editable install: the repository root is not on its ``sys.path``, and an
import finder maps exactly the names setup.cfg lists (py_modules, packages) to the checkout, as setuptools'
editable finder does. Each script then runs with ``--help`` as ``python <script> --help`` would run it
(``sys.path[0]`` its own folder, ``__name__ == "__main__"``).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = sorted(p for folder in ("scripts", "bench") for p in (ROOT / folder).glob("*.py")
                 if p.name != "__init__.py")

CHILD = r'''
import configparser, contextlib, importlib.abc, importlib.util, io, json, runpy, sys
from pathlib import Path

root, scripts = Path(sys.argv[1]), sys.argv[2:]
options = configparser.ConfigParser()
options.read(root / "setup.cfg")
names = lambda key: [n.strip() for n in options["options"][key].replace("\n", ",").split(",") if n.strip()]
modules, packages = names("py_modules"), names("packages")


class Installed(importlib.abc.MetaPathFinder):
    """The top-level names setup.cfg installs, found in the checkout (what the editable install maps)."""

    def find_spec(self, name, path=None, target=None):
        if name in modules:
            return importlib.util.spec_from_file_location(name, root / f"{name}.py")
        if name in packages:
            return importlib.util.spec_from_file_location(name, root / name / "__init__.py",
                                                          submodule_search_locations=[str(root / name)])
        return None


sys.meta_path.insert(0, Installed())
sys.path[:] = [p for p in sys.path if p not in ("", ".") and Path(p).resolve() != root]
results = {}
for script in scripts:
    sys.argv, sys.path[0:0] = [script, "--help"], [str(Path(script).parent)]
    out, code = io.StringIO(), None
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            runpy.run_path(script, run_name="__main__")
    except SystemExit as e:
        code = e.code
    except BaseException as e:  # an import that the install does not provide, or any other failure
        code = f"{type(e).__name__}: {e}"
    del sys.path[0]
    results[script] = [code, out.getvalue()[:300]]
print(json.dumps(results))
'''


def test_no_script_patches_sys_path():
    patched = [str(p.relative_to(ROOT)) for p in SCRIPTS if "sys.path" in p.read_text(encoding="utf-8")]
    assert patched == []


@pytest.mark.slow
def test_every_script_shows_help_with_only_the_installed_modules(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(MPLBACKEND="Agg", OMP_NUM_THREADS="1")
    result = subprocess.run([sys.executable, "-c", CHILD, str(ROOT), *map(str, SCRIPTS)], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    results = {Path(s).relative_to(ROOT).as_posix(): r for s, r in
               json.loads(result.stdout.strip().splitlines()[-1]).items()}
    assert len(results) == len(SCRIPTS) >= 20
    entries = {p.relative_to(ROOT).as_posix() for p in SCRIPTS if '__name__ == "__main__"' in p.read_text("utf-8")}
    assert {"scripts/reproduce.py", "bench/speed.py"} <= entries and "scripts/targets.py" not in entries

    def as_expected(name: str, code, out: str) -> bool:
        """An entry point prints its usage and exits 0; a shared module (targets, steps) imports silently."""
        return code == 0 and out.startswith("usage:") if name in entries else code is None and out == ""

    bad = {name: r for name, r in results.items() if not as_expected(name, *r)}
    assert not bad, bad
