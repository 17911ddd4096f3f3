"""An installed minigan leaves nothing behind: Numba's cache lives in a user cache folder, never in
site-packages, so `pip uninstall` removes minigan/ whole and a later editable install is not shadowed
by an empty namespace package (Note [Numba cache] in minigan/cpu_kernels.py).

The end-to-end test builds a throw-away virtual environment whose dependencies (numpy, numba, pillow,
click, pip, setuptools) are links to the running Python's, so nothing is downloaded for them; the
build itself runs without isolation when setuptools here can build a wheel (setuptools >= 70.1, or an
older wheel package), else pip fetches setuptools and wheel for an isolated build.
"""

import importlib.metadata
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from minigan import __version__, cpu_kernels

ROOT = Path(__file__).resolve().parent.parent
DEPENDENCIES = ("numpy", "numba", "llvmlite", "pillow", "click", "pip", "setuptools", "wheel")


def test_numba_cache_folder_follows_minigan_cache_then_xdg_then_home(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.delenv("MINIGAN_CACHE", raising=False)
    assert cpu_kernels.numba_cache_dir() == str(tmp_path / "home" / ".cache" / "minigan" / "numba")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cpu_kernels.numba_cache_dir() == str(tmp_path / "xdg" / "minigan" / "numba")
    monkeypatch.setenv("MINIGAN_CACHE", str(tmp_path / "mine"))
    assert cpu_kernels.numba_cache_dir() == str(tmp_path / "mine" / "numba")


# -- a throw-away environment ----------------------------------------------------------------------
def link_dependencies(folder):
    """Link the top-level entries (packages, their .libs, dist-info) of each installed dependency into
    ``folder``; returns the names of those that are installed."""
    folder.mkdir()
    found = []
    for name in DEPENDENCIES:
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        found.append(name)
        tops = {Path(f).parts[0] for f in dist.files or ()}  # RECORD: packages, *.libs, the dist-info
        for top in tops - {"..", "__pycache__"}:
            source = Path(dist.locate_file(top))
            if source.exists() and not (folder / top).exists() and not top.endswith(".pth"):
                (folder / top).symlink_to(source)
    return found


def has_wheel_builder(installed):
    """Whether setuptools here can build a wheel offline: its own bdist_wheel (setuptools >= 70.1) or an
    older wheel package's. (wheel >= 0.45 only re-exports setuptools' own, so it does not count alone.)"""
    for module in ("setuptools.command.bdist_wheel", "wheel.bdist_wheel"):
        try:
            importlib.import_module(module)
            return True
        except Exception:  # missing, or a wheel that needs a newer setuptools or packaging
            continue
    return False


def run(args, cwd, env, timeout=300):
    result = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, f"{' '.join(map(str, args))} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def copy_checkout(target):
    """The files setup.py builds from, so that building never writes into the checkout."""
    target.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in ("setup.py", "README.md"):
        shutil.copy(ROOT / name, target / name)
    for name in ("minigan", "kernels"):
        shutil.copytree(ROOT / name, target / name, ignore=ignore)


def unknown_to_pip(site):
    """Files under site/minigan that the installed RECORD does not list."""
    (record,) = site.glob("minigan-*.dist-info/RECORD")
    listed = {line.rsplit(",", 2)[0] for line in record.read_text().splitlines() if line}
    on_disk = {p.relative_to(site).as_posix() for p in (site / "minigan").rglob("*") if p.is_file()}
    return sorted(on_disk - listed)


@pytest.mark.slow
def test_install_train_uninstall_leaves_nothing_and_editable_install_works(tmp_path):
    src, venv, elsewhere, cache = tmp_path / "src", tmp_path / "venv", tmp_path / "elsewhere", tmp_path / "cache"
    copy_checkout(src)
    elsewhere.mkdir()
    installed = link_dependencies(tmp_path / "deps")
    assert {"numpy", "numba", "pip"} <= set(installed)
    run([sys.executable, "-m", "venv", "--without-pip", venv], tmp_path, os.environ)
    bin_dir = venv / ("Scripts" if os.name == "nt" else "bin")
    python = bin_dir / "python"
    site = Path(run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp_path,
                    os.environ).strip())
    (site / "dependencies.pth").write_text(str(tmp_path / "deps") + "\n")

    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "PYTHONPATH", "VIRTUAL_ENV")}
    env.update(MINIGAN_CACHE=str(cache), PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1",
               PATH=str(bin_dir) + os.pathsep + env.get("PATH", ""))
    pip = [python, "-m", "pip", "install", "--no-deps"] + ["--no-build-isolation"] * has_wheel_builder(installed)

    run(pip + [src], elsewhere, env)
    assert (site / "minigan" / "cpu_kernels.py").is_file()
    run([bin_dir / "minigan", "train", "synthetic", "--model", "gan", "--epochs", "1", "--limit", "64",
         "--batch-size", "32", "--nz", "8", "--out", tmp_path / "run"], elsewhere, env)
    assert (tmp_path / "run" / "checkpoints" / "last.npz").is_file()
    compiled = list((cache / "numba").rglob("*.nbi"))
    assert compiled, f"Numba wrote no cache files into $MINIGAN_CACHE/numba ({cache / 'numba'})"
    assert unknown_to_pip(site) == []

    run([python, "-m", "pip", "uninstall", "-y", "minigan"], elsewhere, env)
    assert not (site / "minigan").exists(), f"left behind: {sorted(map(str, (site / 'minigan').rglob('*')))}"

    run(pip + ["-e", src], elsewhere, env)
    assert run([bin_dir / "minigan", "--version"], elsewhere, env).split()[-1] == __version__
    where = run([python, "-c", "import minigan; print(minigan.__file__)"], elsewhere, env).strip()
    assert Path(where) == src / "minigan" / "__init__.py"
