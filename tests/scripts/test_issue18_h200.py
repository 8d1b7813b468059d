"""scripts/campaign/issue18_h200.sh's pack: what comes back from the GPU lease, within the device tool's limits."""
from __future__ import annotations

import os
import subprocess
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MIB = 1024 * 1024


def fake_run(runs: Path, name: str, finished: bool, weights: bytes) -> None:
    run = runs / name
    (run / "samples").mkdir(parents=True)
    for f in ("config.yaml", "metrics.jsonl", "summary.csv", "segments.jsonl"):
        (run / f).write_text("{}\n")
    if finished:
        (run / "results.json").write_text('{"finished": true}\n')
    for i in range(1, 24):
        (run / "samples" / f"step{i * 600:07d}.png").write_bytes(b"png")
    (run / "last.pt").write_bytes(weights)
    (runs / f"{name}.out").write_text("rc 0\n")


def test_pack_brings_back_the_records_and_the_weights_of_an_unfinished_main_run(tmp_path):
    w, out = tmp_path / "w", tmp_path / "out"
    out.mkdir()
    weights = os.urandom(17 * MIB)  # two 15 MiB parts
    fake_run(w / "runs", "gan_cifar10_sn_h200", finished=True, weights=b"done")
    fake_run(w / "runs", "gan_cifar10_gp_h200", finished=False, weights=weights)
    (w / "runs" / "fd_classifier_cifar10").mkdir()
    (w / "runs" / "fd_classifier_cifar10" / "results.json").write_text("{}\n")
    (w / "out").mkdir()
    (w / "out" / "gan_fid2k_h200.json").write_text("{}\n")
    for log in ("h200.log", "score.log"):
        (w / log).write_text("\n")
    subprocess.run(["bash", "-c", "source scripts/campaign/issue18_h200.sh && pack"], cwd=ROOT, check=True,
                   env={**os.environ, "W": str(w), "OUT": str(out)}, capture_output=True)
    assert sorted(p.name for p in out.iterdir()) == [
        "gan_cifar10_gp_h200.last.pt.00", "gan_cifar10_gp_h200.last.pt.01", "h200.log", "h200.tar.xz"]
    assert all(p.stat().st_size <= 16 * MIB for p in out.iterdir())
    assert (out / "gan_cifar10_gp_h200.last.pt.00").read_bytes() + (out / "gan_cifar10_gp_h200.last.pt.01").read_bytes() \
        == weights  # a finished run's weights stay behind
    with tarfile.open(out / "h200.tar.xz") as tar:
        names = tar.getnames()
    assert "out/gan_fid2k_h200.json" in names and "runs/gan_cifar10_gp_h200/metrics.jsonl" in names
    assert "runs/gan_cifar10_sn_h200/results.json" in names and not any(n.endswith(".pt") for n in names)
    # every 10th sample grid and the last, each once
    assert sorted(n for n in names if n.startswith("runs/gan_cifar10_gp_h200/samples/")) == [
        f"runs/gan_cifar10_gp_h200/samples/step{s:07d}.png" for s in (6000, 12000, 13800)]
