"""The built wheel installs only ``mndt_envs`` and works beside a user's own ``agents/`` and ``baselines/``.

Builds the wheel from this checkout (no build isolation: hatchling comes from the dev extra, so
nothing is downloaded), installs it with ``--no-deps`` into a fresh venv whose ``.pth`` file points
at the current environment's site-packages for the dependencies, and runs ``mndt compare`` from a
directory holding its own ``agents/`` and ``baselines/`` packages that would shadow the suite's if
the suite imported them by their top-level names.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow

# the user's own packages: importing any of them from inside the suite breaks it loudly
USER_INIT = 'WHO = "user"\n'
USER_TRAP = 'raise ImportError("the user\'s own {name} was imported by the suite")\n'


def _user_project(tmp: Path) -> Path:
    proj = tmp / "user_project"
    for name in ("agents", "baselines"):
        pkg = proj / name
        pkg.mkdir(parents=True)
        (pkg / "__init__.py").write_text(USER_INIT)
        for mod in ("load_balancing", "cell_sleep", "resource_allocation", "ppo_lagrangian", "vec_env"):
            (pkg / f"{mod}.py").write_text(USER_TRAP.format(name=f"{name}.{mod}"))
    return proj


def _run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    res = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert res.returncode == 0, f"{cmd} failed ({res.returncode}):\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    return res


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("hatchling", reason="hatchling (dev extra) builds the wheel without network")
    out = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
          "-w", str(out), str(ROOT)], cwd=ROOT, env=dict(os.environ))
    (whl,) = out.glob("mndt_envs-*.whl")
    return whl


def test_wheel_holds_only_mndt_envs(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/", 1)[0] for n in names}
    dist_info = {t for t in top if t.endswith(".dist-info")}
    assert top - dist_info == {"mndt_envs"}, f"top-level entries besides mndt_envs: {sorted(top - dist_info)}"
    # agents/ and baselines/ are mapped into the package, with their files (not dangling links)
    for path in ("mndt_envs/agents/__init__.py", "mndt_envs/agents/ppo_lagrangian.py",
                 "mndt_envs/baselines/__init__.py", "mndt_envs/baselines/load_balancing.py",
                 "mndt_envs/data/weights/ra_ppo_lagrangian.zip", "mndt_envs/data/helsinki.osm"):
        assert path in names, f"{path} missing from {wheel.name}"
    assert not any(n.startswith(("tests/", "benchmarks/", "examples/")) for n in names)


@pytest.fixture(scope="module")
def wheel_venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel installed (no deps); the dependencies come from this environment."""
    home = tmp_path_factory.mktemp("venv") / "v"
    venv.EnvBuilder(with_pip=False, symlinks=True).create(home)
    py = home / "bin" / "python"
    site = Path(subprocess.check_output([str(py), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                                        text=True).strip())
    # dependencies: this environment's site-packages, appended after the venv's own (so the wheel's mndt_envs
    # wins over the editable install here, whose import hook lives in a .pth file that this line does not run)
    (site / "_deps_from_dev_env.pth").write_text(sysconfig.get_path("purelib") + "\n")
    _run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "--no-index", "-q", str(wheel)],
         cwd=home, env=dict(os.environ))
    return home


def _env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MNDT_CACHE=str(tmp / "cache"), COLUMNS="80")
    return env


def test_compare_from_wheel_beside_user_packages(wheel_venv: Path, tmp_path: Path) -> None:
    proj = _user_project(tmp_path)
    env = _env(tmp_path)
    py = str(wheel_venv / "bin" / "python")
    # `python -m` puts the working directory first on sys.path: the harshest case for shadowing
    res = _run([py, "-c", "import agents, baselines, mndt_envs, mndt_envs.baselines.load_balancing as lb, "
                          "mndt_envs.agents.ppo_lagrangian; "
                          "print(agents.__file__, baselines.__file__, mndt_envs.__file__, lb.__file__, sep='\\n')"],
               cwd=proj, env=env)
    user_agents, user_baselines, suite, suite_lb = res.stdout.split()
    assert Path(user_agents) == proj / "agents" / "__init__.py"
    assert Path(user_baselines) == proj / "baselines" / "__init__.py"
    assert Path(suite).is_relative_to(wheel_venv), f"mndt_envs imported from {suite}, not the wheel"
    assert Path(suite_lb).is_relative_to(wheel_venv)
    cfg = '{"users": {"n_users": 50}, "task": {"episode_steps": 3}}'
    out = tmp_path / "cmp"
    res = _run([py, "-m", "mndt_envs.cli", "compare", "--tasks", "load_balancing", "--episodes", "1",
                "--config", cfg, "--out", str(out), "--format", "csv"], cwd=proj, env=env)
    assert "bdba" in res.stdout and "static" in res.stdout, res.stdout
    assert (out / "compare.csv").stat().st_size > 0 and (out / "compare.png").stat().st_size > 0
    # the console script installed by the wheel, with the reproductions, and the shipped models
    res = _run([str(wheel_venv / "bin" / "mndt"), "reproduce", "--help"], cwd=proj, env=env)
    assert "table2" in res.stdout and "breathing" in res.stdout and "lstm" in res.stdout
    res = _run([py, "-c", "from mndt_envs import pretrained; print(*pretrained.available(), pretrained.WEIGHTS_DIR)"],
               cwd=proj, env=env)
    *names, weights_dir = res.stdout.split()
    assert names == ["ra_ppo_lagrangian", "traffic_generator", "traffic_forecaster", "user_count_lstm"]
    assert Path(weights_dir).is_relative_to(wheel_venv)


def test_editable_install_ignores_user_packages(tmp_path: Path) -> None:
    """The development install (editable, exact) imports the same names and nothing from the cwd."""
    proj = _user_project(tmp_path)
    code = ("import importlib.util as u, agents, mndt_envs.baselines.load_balancing as lb; "
            "print(agents.WHO, lb.__file__, u.find_spec('mndt_envs.agents.vec_env').origin)")
    res = _run([sys.executable, "-c", code], cwd=proj, env=_env(tmp_path))
    who, lb_file, vec_file = res.stdout.split()
    assert who == "user"
    assert Path(lb_file).resolve() == (ROOT / "baselines" / "load_balancing.py").resolve()
    assert Path(vec_file).resolve() == (ROOT / "agents" / "vec_env.py").resolve()
