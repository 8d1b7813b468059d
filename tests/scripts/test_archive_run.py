"""scripts/archive_run.py (a run's text records into the repository) and its use by cluster_table and lib.sh."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from scripts import archive_run, cluster_table
from tests.engine.test_cli import in_process

ROOT = Path(__file__).resolve().parents[2]


def make_run(folder: Path, acc: float = 0.8, finished: bool = True) -> Path:
    (folder / "snapshots").mkdir(parents=True)
    (folder / "config.yaml").write_text("model: {name: cluster_vae}\n")
    (folder / "summary.csv").write_text("epoch,step\n1,600\n")
    (folder / "results.json").write_text(json.dumps(
        {"finished": finished, **{f"val/clustering_{m}": acc for m in ("acc", "purity", "nmi", "ari")}}))
    (folder / "last.pt").write_bytes(b"weights")
    (folder / "snapshots" / "step600.pt").write_bytes(b"weights")
    (folder / "snapshots" / "probe_step600.json").write_text("{}")
    return folder


def test_copies_the_records_with_their_hashes_and_never_the_weights(tmp_path, capsys):
    run = make_run(tmp_path / "runs" / "cluster_vae_mnist_seed0")
    result = in_process(archive_run.main, [str(run), "--to", str(tmp_path / "archive")], capsys)
    assert result.returncode == 0, result.stderr
    dest = tmp_path / "archive" / run.name
    copied = sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file())
    assert copied == ["archive.json", "config.yaml", "results.json", "snapshots/probe_step600.json", "summary.csv"]
    manifest = json.loads((dest / "archive.json").read_text())
    assert manifest["finished"] is True and manifest["source"] == str(run.resolve())
    assert manifest["files"]["summary.csv"]["sha256"] == hashlib.sha256(b"epoch,step\n1,600\n").hexdigest()
    assert "5 records (finished)" not in result.stdout and "4 records (finished)" in result.stdout


def test_an_unfinished_run_is_archived_as_unfinished_and_updated_later(tmp_path, capsys):
    run = make_run(tmp_path / "cluster_vae_mnist_seed1", finished=False)
    in_process(archive_run.main, [str(run), "--to", str(tmp_path / "a")], capsys)
    assert json.loads((tmp_path / "a" / run.name / "archive.json").read_text())["finished"] is False
    (run / "results.json").write_text(json.dumps({"finished": True}))
    (run / "kmeans_baseline.json").write_text("{}")
    in_process(archive_run.main, [str(run), "--to", str(tmp_path / "a")], capsys)
    manifest = json.loads((tmp_path / "a" / run.name / "archive.json").read_text())
    assert manifest["finished"] is True and "kmeans_baseline.json" in manifest["files"]


def test_bad_inputs_are_one_line(tmp_path, capsys):
    missing = in_process(archive_run.main, [str(tmp_path / "nope"), "--to", str(tmp_path / "a")], capsys)
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    (tmp_path / "notarun").mkdir()
    not_run = in_process(archive_run.main, [str(tmp_path / "notarun"), "--to", str(tmp_path / "a")], capsys)
    assert not_run.returncode == 2 and "no config.yaml" in not_run.stderr
    run = make_run(tmp_path / "big")
    (run / "metrics.jsonl").write_bytes(b"x" * (archive_run.MAX_BYTES + 1))
    big = in_process(archive_run.main, [str(run), "--to", str(tmp_path / "a")], capsys)
    assert big.returncode == 2 and "metrics.jsonl" in big.stderr and "2 MB" in big.stderr
    assert not (tmp_path / "a" / "big").exists()  # nothing half-copied


def test_cluster_table_reads_the_first_folder_holding_a_finished_run(tmp_path, capsys):
    live, archive = tmp_path / "runs", tmp_path / "archive"
    make_run(live / "cluster_vae_mnist_seed0", acc=0.9)
    make_run(archive / "cluster_vae_mnist_seed0", acc=0.1)        # shadowed by the live folder
    make_run(live / "cluster_vae_mnist_seed1", acc=0.5, finished=False)
    make_run(archive / "cluster_vae_mnist_seed1", acc=0.7)        # the live one is unfinished: the archive counts
    make_run(archive / "cluster_vae_mnist_seed2", acc=0.8)        # only archived (its folder lost)
    result = in_process(cluster_table.main, ["--runs-dir", str(live), str(archive), "--datasets", "mnist",
                                             "--out", str(tmp_path / "t")], capsys)
    assert result.returncode == 0, result.stderr
    vae = json.loads((tmp_path / "t.json").read_text())["rows"][0]
    assert {int(k): v["acc"] for k, v in vae["per_seed"].items()} == {0: 0.9, 1: 0.7, 2: 0.8}
    assert vae["files"]["1"].startswith(str(archive)) and vae["missing"] == []
    assert "not counted" not in result.stderr.replace("autoencoder", "")


def lane(tmp_path: Path, script: str) -> subprocess.CompletedProcess:
    """Run ``script`` after sourcing lib.sh, with a fake python that records its calls and fakes a finished run."""
    fake = tmp_path / "fakepy"
    fake.write_text(f"""#!/bin/bash
echo "$@" >> {tmp_path}/calls
if [ "$1" = train.py ]; then
  for a in "$@"; do case $a in train.run_name=*) name=${{a#train.run_name=}};; esac; done
  mkdir -p {tmp_path}/runs/$name && echo 'model: {{}}' > {tmp_path}/runs/$name/config.yaml
  echo '{{"finished": true}}' > {tmp_path}/runs/$name/results.json
else
  exec {sys.executable} "$@"
fi
""")
    fake.chmod(0o755)
    env = {**os.environ, "RUNS": str(tmp_path / "runs"), "PY": str(fake), "ARCHIVE": str(tmp_path / "archive"),
           "LOG": str(tmp_path / "log"), "PYTHONPATH": str(ROOT), "CARRY": str(tmp_path / "carry"),
           "FIGS": str(tmp_path / "figs")}
    return subprocess.run(["bash", "-c", f"source {ROOT}/scripts/campaign/lib.sh && {script}"], env=env,
                          capture_output=True, text=True, timeout=120)


def test_lib_archives_a_finished_run_and_skips_it_when_its_folder_is_lost(tmp_path):
    assert lane(tmp_path, "train_run r1 cluster_vae_mnist train.seed=0").returncode == 0
    assert json.loads((tmp_path / "archive" / "r1" / "archive.json").read_text())["finished"] is True
    calls = (tmp_path / "calls").read_text().count("train.py")
    subprocess.run(["rm", "-r", str(tmp_path / "runs" / "r1")], check=True)      # the machine is not handed on
    assert lane(tmp_path, "train_run r1 cluster_vae_mnist").returncode == 0
    assert (tmp_path / "calls").read_text().count("train.py") == calls           # not trained again
    assert "skip r1 (finished, archived" in (tmp_path / "log").read_text()
    assert lane(tmp_path, "REDO=1 train_run r1 cluster_vae_mnist").returncode == 0
    assert (tmp_path / "calls").read_text().count("train.py") == calls + 1       # REDO=1 trains it again


def test_a_run_carried_through_the_checkout_is_restored_and_resumed_with_its_scores(tmp_path):
    """A machine that is not handed on loses $RUNS: carry_save keeps last.pt, the text records and the finished
    snapshots in $CARRY, and train_run copies them back before ``--resume auto``, with the run's banked scores."""
    run = tmp_path / "runs" / "r1"
    (run / "snapshots").mkdir(parents=True)
    (run / "last.pt").write_bytes(b"weights")
    (run / "metrics.jsonl").write_text('{"step": 250}\n')
    (run / "snapshots" / "step3000.pt").write_bytes(b"snapshot")
    (run / "snapshots" / ".step6000.pt.tmp77").write_bytes(b"half")                   # a save in progress
    (tmp_path / "figs").mkdir()
    (tmp_path / "figs" / "gan_fid2k_r1.json").write_text('{"runs": {}}')
    assert lane(tmp_path, "carry_save r1").returncode == 0
    carried = tmp_path / "carry" / "r1"
    assert sorted(p.name for p in carried.iterdir()) == ["last.pt", "metrics.jsonl", "snapshots"]   # no .part
    assert [p.name for p in (carried / "snapshots").iterdir()] == ["step3000.pt"]      # not the one in progress
    subprocess.run(["rm", "-r", str(tmp_path / "runs")], check=True)                   # the machine is not handed on
    (tmp_path / "runs").mkdir()
    assert lane(tmp_path, "train_run r1 gan_cifar10_sn train.seed=0").returncode == 0
    assert (tmp_path / "runs" / "r1" / "last.pt").read_bytes() == b"weights"
    assert (tmp_path / "runs" / "r1" / "snapshots" / "step3000.pt").read_bytes() == b"snapshot"
    assert (tmp_path / "runs" / "gan_fid2k_r1.json").read_text() == '{"runs": {}}'
    assert "--resume auto" in (tmp_path / "calls").read_text()
    assert "restored r1 from" in (tmp_path / "log").read_text()
    before = (carried / "last.pt").stat().st_mtime_ns
    assert lane(tmp_path, "carry_save r1").returncode == 0                                 # current: not copied again
    assert (carried / "last.pt").stat().st_mtime_ns == before


def test_the_carry_folder_is_neither_tracked_nor_ignored_by_git():
    """runs-carry/ passes to the next session only while git does not ignore it (ignored paths, like .venv, are
    not kept), and it must never be committed: its checkpoints are tens of MB."""
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    probe = ROOT / "runs-carry" / "r" / "last.pt"
    assert subprocess.run(["git", "check-ignore", "-q", str(probe)], cwd=ROOT).returncode == 1
    tracked = subprocess.run(["git", "ls-files", "runs-carry"], cwd=ROOT, capture_output=True, text=True).stdout
    assert tracked == "", f"runs-carry/ holds committed files: {tracked.split()[:3]}"


def test_the_default_archive_folder_is_not_ignored_by_git():
    """docs/runs was once swallowed by a bare ``runs/`` ignore pattern, so no archive could be committed."""
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    probe = ROOT / "docs" / "runs" / "cluster_vae_mnist_seed0" / "results.json"
    ignored = subprocess.run(["git", "check-ignore", "-q", str(probe)], cwd=ROOT)
    assert ignored.returncode == 1, f"{probe.relative_to(ROOT)} is git-ignored: fix .gitignore"


RECORDED = ["nice_mnist_blog", "nice_mnist_blog_nonoise", "infomax_cifar10"] + [
    f"cluster_vae_mnist_seed{s}" for s in range(5)]


def test_issue22_skips_every_recorded_run_whose_folder_is_gone(tmp_path):
    """issue22.sh's ``recorded``: a name at a line break of its list once failed to match, and a recorded
    50-epoch run (cluster_vae_mnist_seed1) was trained again."""
    script = (ROOT / "scripts" / "campaign" / "issue22.sh").read_text()
    start = script.index("\nrecorded() {") + 1
    body = script[start:script.index("\n}\n", start) + 3]
    names = " ".join(RECORDED + ["cluster_ae_mnist_seed1", "cluster_vae_fashion_seed0"])
    check = f'{body}\nfor n in {names}; do recorded $n && echo "$n yes" || echo "$n no"; done'
    out = lane(tmp_path, check)
    assert out.returncode == 0, out.stderr
    answers = dict(line.split() for line in out.stdout.split("\n") if line)
    assert answers == {**{n: "yes" for n in RECORDED}, "cluster_ae_mnist_seed1": "no",
                       "cluster_vae_fashion_seed0": "no"}
    assert (tmp_path / "log").read_text().count("recorded in docs/RESULTS.md") == len(RECORDED)
    redo = lane(tmp_path, f"{body}\nREDO=1 recorded cluster_vae_mnist_seed1 && echo yes || echo no")
    assert redo.stdout.strip() == "no"


def test_a_continued_copy_takes_over_the_scores_of_its_source(tmp_path):
    """issue18.sh's inherit_scores: gan_cifar10_gp continues a copy of gan_cifar10_gp_2k (the same snapshots), so
    the 2k run's scores become its first rows and are not computed again; a report the copy has is left alone."""
    runs = tmp_path / "runs"
    runs.mkdir()
    scored = {"fid_n": 2000, "runs": {"a": [{"step": 6000, "fid": 185.0}]}}
    (runs / "gan_fid2k_a.json").write_text(json.dumps(scored))
    take = f"source {ROOT}/scripts/campaign/issue18.sh && inherit_scores a b"
    assert lane(tmp_path, take).returncode == 0
    assert json.loads((runs / "gan_fid2k_b.json").read_text()) == {"fid_n": 2000, "runs": {"b": scored["runs"]["a"]}}
    (runs / "gan_fid2k_a.json").write_text(json.dumps({"fid_n": 2000, "runs": {"a": []}}))
    assert lane(tmp_path, take).returncode == 0                                          # b has one: kept
    assert json.loads((runs / "gan_fid2k_b.json").read_text())["runs"]["b"] == scored["runs"]["a"]
    assert "scores of a taken over by b" in (runs / "issue18.log").read_text()            # issue18.sh's log
