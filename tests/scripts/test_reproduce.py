"""scripts/reproduce.py: the target table, --list, --dry-run, unknown targets, skipping finished runs, --run, and
failing steps. Nothing here trains: the executed steps are scripts/run_report.py on fake run folders."""
from __future__ import annotations

import importlib
import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from engine.config import dump, load_config
from scripts import reproduce as rp

importlib.import_module("engine.build")  # registers the callbacks the configs name

REPO = rp.REPO
QUICK_FIGURES = REPO / "docs" / "figures" / "quick"


def command_lines(out: str) -> list[list[str]]:
    """The commands of a dry run (lines that are not comments nor the cd/export/mkdir preamble), as argv."""
    lines = [ln for ln in out.splitlines() if ln.strip() and not ln.startswith("#")]
    return [shlex.split(ln) for ln in lines if not ln.startswith(("cd ", "export ", "mkdir "))]


def under(path: str, folder: Path) -> bool:
    return (REPO / path).resolve().is_relative_to(folder)


# ------------------------------------------------------------------------------------------- the table
def test_table_is_consistent_and_quick_all_fits_the_budget():
    rp.check_table()
    assert "all" not in rp.TARGETS
    assert rp.total_budget(list(rp.TARGETS), quick=True) <= rp.QUICK_BUDGET_LIMIT
    for target in rp.TARGETS.values():
        for step in target["steps"]:
            if "script" in step:
                assert (REPO / step["script"]).is_file(), step["script"]
                assert step.get("budget", 0) > 0 and step.get("full_budget", 0) > 0, step
    for name, run in rp.RUNS.items():
        assert run["budget"] > 0 and run["full_budget"] > 0, name


@pytest.mark.parametrize("name", sorted(rp.RUNS))
def test_every_run_config_exists_and_validates(name):
    run = rp.RUNS[name]
    path = REPO / run["config"]
    assert path.is_file(), path
    full = load_config(path, run["args"])
    quick = load_config(path, rp.merge_overrides(run["args"], run["quick"]))
    assert quick["model"] == full["model"]  # quick runs change the budget, never the model
    assert quick["train"]["epochs"] <= full["train"]["epochs"]


def test_script_train_overrides_validate():
    checked = 0
    for target in rp.TARGETS.values():
        for step in target["steps"]:
            if "train_overrides" in step:
                config = REPO / step["args"][step["args"].index("--config") + 1]
                load_config(config, step["train_overrides"])
                load_config(config, rp.merge_overrides(step["train_overrides"], step.get("quick_train_overrides", [])))
                checked += 1
    assert checked  # the seed sweep


def test_merge_helpers():
    assert rp.merge_overrides(["train.epochs=14", "model.x=1"], ["train.epochs=1", "data.limit_train=5"]) == \
        ["train.epochs=1", "model.x=1", "data.limit_train=5"]
    assert rp.merge_options(["RUN", "--seeds", "0", "1", "2", "--out", "X"], ["--seeds", "0", "--n", "5"]) == \
        ["RUN", "--seeds", "0", "--out", "X", "--n", "5"]


# ------------------------------------------------------------------------------------ command line
def test_list(capsys):
    assert rp.main(["--list"]) == 0
    out = capsys.readouterr().out
    listed = [line.split()[0] for line in out.splitlines()[1:]]
    assert listed == [*rp.TARGETS, "all"]


def test_unknown_target_exits_2_with_one_line():
    result = subprocess.run([sys.executable, "scripts/reproduce.py", "no_such_target"], cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "no_such_target" in lines[0] and "valid targets" in lines[0]
    assert all(name in lines[0] for name in rp.TARGETS)


def test_quick_never_writes_the_real_figures(capsys):
    assert rp.main(["dynamics", "--quick", "--out", str(REPO / "docs" / "figures"), "--dry-run"]) == 2
    assert "never writes" in capsys.readouterr().err


def test_dry_run_all_quick(tmp_path, capsys):
    quick_existed = QUICK_FIGURES.exists()
    runs = tmp_path / "runs"
    assert rp.main(["all", "--quick", "--dry-run", "--runs-dir", str(runs)]) == 0
    out = capsys.readouterr().out
    assert "QUICK" in out.splitlines()[0]
    for name in rp.TARGETS:
        assert f"# == {name}:" in out
    commands = command_lines(out)
    assert commands
    scripts = set()
    for argv in commands:
        if argv[0] == "cp":
            assert under(argv[2], QUICK_FIGURES), argv
            continue
        assert argv[0] == sys.executable
        assert (REPO / argv[1]).is_file(), argv[1]
        scripts.add(argv[1])
        if "--config" in argv:
            assert (REPO / argv[argv.index("--config") + 1]).is_file(), argv
        if argv[1] == "train.py":
            assert f"train.out_dir={runs.resolve()}" in argv
        if "--out" in argv:
            assert under(argv[argv.index("--out") + 1], QUICK_FIGURES), argv
        if "|" in argv:
            assert argv[argv.index("|") + 1] == "tee" and under(argv[-1], QUICK_FIGURES), argv
    assert {"train.py", "scripts/nice_figures.py", "scripts/gan_fd.py", "scripts/title_eval.py"} <= scripts
    # each run is trained once, even when several targets need it
    trained = [a[a.index("--config") + 1:] for a in commands if a[1] == "train.py"]
    names = [next(x for x in t if x.startswith("train.run_name=")) for t in trained]
    assert len(names) == len(set(names)) == len(rp.RUNS)
    # a dry run writes nothing
    assert not runs.exists()
    assert QUICK_FIGURES.exists() == quick_existed


# ------------------------------------------------------------------------------- runs and execution
@pytest.fixture
def fake_table(monkeypatch):
    """One run of configs/quickstart.yaml (quick: 2 epochs) and a target that tabulates it and copies its results.
    Training is refused: these tests only run scripts/run_report.py."""
    real_execute = rp.execute

    def execute(step):
        assert step.kind != "train", f"a test tried to train: {step.argv}"
        return real_execute(step)

    monkeypatch.setattr(rp, "execute", execute)
    monkeypatch.setattr(rp, "RUNS", {"fake": {"config": "configs/quickstart.yaml", "args": [],
                                              "quick": ["train.epochs=2"], "budget": 1, "full_budget": 1}})
    monkeypatch.setattr(rp, "TARGETS", {
        "table": {"about": "a table of the fake run", "steps": [
            {"train": "fake"},
            {"script": "scripts/run_report.py", "args": ["{run:fake}"], "stdout": "{fig}/fake_runs.md",
             "budget": 1, "full_budget": 1},
            {"copy": "{run:fake}/results.json", "to": "{fig}/fake_results.json"},
        ]},
        "broken": {"about": "a report on a run folder that is not there", "steps": [
            {"script": "scripts/run_report.py", "args": ["{runs}/missing"], "budget": 1, "full_budget": 1},
        ]},
    })


def fake_run(folder: Path, epoch: int = 2, finished: bool = True) -> Path:
    """A run folder as train.py leaves it, without the checkpoints (nothing here reads them)."""
    folder.mkdir(parents=True)
    config = load_config(REPO / "configs/quickstart.yaml", ["train.epochs=2", f"train.run_name={folder.name}"])
    (folder / "config.yaml").write_text(dump(config))
    rows = ["epoch,step,wall_s,train/loss,train/nll,val/loss"] + [f"{e},{4 * e},{e}.5,1.0,1.0,-{e}0.0"
                                                                  for e in range(1, epoch + 1)]
    (folder / "summary.csv").write_text("\n".join(rows) + "\n")
    if finished:
        (folder / "results.json").write_text(json.dumps({"step": 4 * epoch, "epoch": epoch, "val/loss": -20.0}))
    return folder


def test_finished_run_is_skipped(fake_table, tmp_path, capsys):
    runs, fig = tmp_path / "runs", tmp_path / "fig"
    fake_run(runs / "fake")
    assert rp.main(["table", "--quick", "--runs-dir", str(runs), "--out", str(fig)]) == 0
    out = capsys.readouterr().out
    assert "skipped, finished run" in out and "NOTE" not in out
    assert not (runs / "fake" / "train.log").exists()  # train.py never ran
    assert "**fake**" in (fig / "fake_runs.md").read_text()
    assert json.loads((fig / "fake_results.json").read_text())["epoch"] == 2
    assert "run_report.py" in (runs / "_logs" / "table" / "02_run_report.log").read_text()
    for folder in (fig, runs):
        assert "not for the numbers" in (folder / "QUICK.md").read_text()


def test_run_option_points_a_step_at_a_finished_folder(fake_table, tmp_path, capsys):
    runs, fig = tmp_path / "runs", tmp_path / "fig"
    given = fake_run(tmp_path / "elsewhere" / "my_run")
    assert rp.main(["table", "--quick", "--runs-dir", str(runs), "--out", str(fig), "--run", f"fake={given}"]) == 0
    assert "--run fake=" in capsys.readouterr().out
    assert "**my_run**" in (fig / "fake_runs.md").read_text()
    assert not (runs / "fake").exists()
    # a folder without results.json, or a name that no chosen target trains: exit 2
    assert rp.main(["table", "--dry-run", "--run", f"fake={tmp_path}"]) == 2
    assert rp.main(["table", "--dry-run", "--run", f"other={given}"]) == 2
    assert "their runs: fake" in capsys.readouterr().err


def test_unfinished_runs_resume_and_missing_runs_train(fake_table, tmp_path, capsys):
    runs = tmp_path / "runs"
    fake_run(runs / "fake", epoch=1)  # results.json of a run stopped after epoch 1 of 2 (Ctrl-C writes it)
    (runs / "fake" / "last.pt").write_bytes(b"")
    assert rp.main(["table", "--quick", "--dry-run", "--runs-dir", str(runs)]) == 0
    train = [a for a in command_lines(capsys.readouterr().out) if a[1] == "train.py"]
    assert len(train) == 1 and train[0][-2:] == ["--resume", "auto"]
    assert "train.epochs=2" in train[0]
    assert rp.main(["table", "--quick", "--dry-run", "--runs-dir", str(tmp_path / "empty")]) == 0
    train = [a for a in command_lines(capsys.readouterr().out) if a[1] == "train.py"]
    assert len(train) == 1 and "--resume" not in train[0]


def test_failing_step_names_the_step_and_its_log(fake_table, tmp_path, capsys):
    runs, fig = tmp_path / "runs", tmp_path / "fig"
    assert rp.main(["broken", "--quick", "--runs-dir", str(runs), "--out", str(fig)]) == 2  # run_report's exit code
    err = capsys.readouterr().err
    log = runs / "_logs" / "broken" / "01_run_report.log"
    assert "step 1/1 of target broken (scripts/run_report.py) failed with exit code 2" in err
    assert str(log.resolve()) in err and "summary.csv not found" in err
    assert "summary.csv not found" in log.read_text()


def test_keep_going_runs_the_other_targets(fake_table, tmp_path, capsys):
    runs, fig = tmp_path / "runs", tmp_path / "fig"
    fake_run(runs / "fake")
    common = ["--quick", "--runs-dir", str(runs), "--out", str(fig)]
    assert rp.main(["broken", "table", *common]) == 2
    assert not (fig / "fake_runs.md").exists()  # stopped at the first failure
    assert rp.main(["broken", "table", "--keep-going", *common]) == 2
    assert (fig / "fake_runs.md").is_file()
    assert "failed targets: broken" in capsys.readouterr().err
