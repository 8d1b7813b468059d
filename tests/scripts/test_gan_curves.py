"""scripts/gan_curves.py: several gan_fd.py reports merged into one figure and the tables RESULTS quotes."""
from __future__ import annotations

import json

from scripts import gan_curves
from tests.engine.test_cli import assert_user_error, in_process

FID = {"split": "test", "seed": 0, "n": 10000, "fid_n": 2000, "fid_ref_n": 10000,
       "fid_protocol": {"n_generated": 2000, "reference": "first 10000 of cifar10_test"}}


def report(tmp_path, name, rows, **protocol):
    """A report in gan_fd.py's layout: one run, rows of (iteration, cpu hours, fid)."""
    n_critic = 5
    body = {**FID, **protocol, "runs": {name: [
        {"checkpoint": f"step{it * (n_critic + 1):07d}.pt", "step": it * (n_critic + 1), "iteration": it,
         "wall_s": cpu_h * 3600 * 1.1, "cpu_s": cpu_h * 3600, "fid": fid, "kid": 0.1, "kid_std": 0.01}
        for it, cpu_h, fid in rows]}}
    path = tmp_path / f"gan_fid2k_{name}.json"
    path.write_text(json.dumps(body))
    return path


def test_merges_reports_into_tables_and_a_figure(tmp_path, capsys):
    sn = report(tmp_path, "sn", [(1000, 1.0, 80.0), (2000, 2.0, 70.0), (3000, 3.0, 65.0)])
    gp = report(tmp_path, "gp", [(1000, 1.5, 75.0), (2000, 3.0, 72.5)])
    out = tmp_path / "figs" / "both"
    result = in_process(gan_curves.main, [str(sn), str(gp), "--out", str(out), "--budget-of", "gp@2000"], capsys)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "| FID-2000 (vs 10000 of the test split) | it. 1000 | it. 2000 | it. 3000 | wall h | CPU h |"
    # the lowest of each column in bold; a run without that iteration leaves the cell empty; last row's hours
    assert "| sn | 80.0 | **70.0** | **65.0** | 3.30 | 3.00 |" in lines
    assert "| gp | **75.0** | 72.5 |  | 3.30 | 3.00 |" in lines
    # the budget: GP's 3.00 CPU h at iteration 2000; SN's last checkpoint inside it is iteration 3000 (3.00 h)
    budget = [line for line in lines if line.startswith("| within 3.00 CPU h (gp at iteration 2000), fid")]
    assert budget, result.stdout
    assert "| sn | 3000 | 3.00 | 65.0 | 3000 | 65.0 |" in lines and "| gp | 2000 | 3.00 | 72.5 | 2000 | 72.5 |" in lines
    merged = json.loads(out.with_suffix(".json").read_text())
    assert list(merged["runs"]) == ["sn", "gp"] and merged["fid_n"] == 2000
    assert merged["merged_from"] == [str(sn), str(gp)] and out.with_suffix(".png").stat().st_size > 0


def test_a_tighter_budget_keeps_only_the_checkpoints_inside(tmp_path, capsys):
    sn = report(tmp_path, "sn", [(1000, 1.0, 80.0), (2000, 2.0, 70.0), (3000, 3.0, 65.0)])
    gp = report(tmp_path, "gp", [(1000, 1.5, 75.0), (2000, 3.0, 72.5)])
    result = in_process(gan_curves.main, [str(sn), str(gp), "--out", str(tmp_path / "m"), "--budget-of", "gp@1000"],
                        capsys)
    assert result.returncode == 0, result.stderr
    assert "| sn | 1000 | 1.00 | 80.0 | 1000 | 80.0 |" in result.stdout.splitlines()


def test_reports_that_measured_differently_are_refused(tmp_path, capsys):
    sn = report(tmp_path, "sn", [(1000, 1.0, 80.0)])
    gp = report(tmp_path, "gp", [(1000, 1.5, 75.0)], fid_n=10000)
    assert_user_error(in_process(gan_curves.main, [str(sn), str(gp), "--out", str(tmp_path / "m")], capsys),
                      "measured fid with fid_n = 10000")
    assert not (tmp_path / "m.json").exists()


def test_bad_inputs_are_one_line(tmp_path, capsys):
    sn = report(tmp_path, "sn", [(1000, 1.0, 80.0)])
    out = ["--out", str(tmp_path / "m")]
    assert_user_error(in_process(gan_curves.main, [str(sn), str(sn), *out], capsys), "run sn is in two reports")
    assert_user_error(in_process(gan_curves.main, [str(tmp_path / "none.json"), *out], capsys), "cannot read")
    (tmp_path / "bad.json").write_text("{")
    assert_user_error(in_process(gan_curves.main, [str(tmp_path / "bad.json"), *out], capsys), "is not JSON")
    (tmp_path / "other.json").write_text("[1]")
    assert_user_error(in_process(gan_curves.main, [str(tmp_path / "other.json"), *out], capsys), "no 'runs'")
    for spec, text in (("sn", "write RUN@ITERATION"), ("gp@1000", "no run 'gp'"), ("sn@500", "it has [1000]")):
        assert_user_error(in_process(gan_curves.main, [str(sn), *out, "--budget-of", spec], capsys), text)


def fd_report(tmp_path, name, digest):
    """A classifier-FD report of one run; digest None: written by code older than the weights' digest."""
    body = {"split": "test", "seed": 0, "n": 5000, "fd_metric": "classifier FD (runs/fd_classifier_cifar10/best.pt)",
            "runs": {name: [{"checkpoint": "step0006000.pt", "step": 6000, "iteration": 1000, "wall_s": 10.0,
                             "cpu_s": 9.0, "fd": 90.0}]}}
    if digest is not None:
        body["fd_classifier_sha256"] = digest
    path = tmp_path / f"fd_{name}.json"
    path.write_text(json.dumps(body))
    return path


def test_classifier_fds_of_other_weights_are_refused_and_unchecked_ones_noted(tmp_path, capsys):
    out = ["--out", str(tmp_path / "m")]
    a, b = fd_report(tmp_path, "sn", "0123456789abcdef"), fd_report(tmp_path, "gp", "fedcba9876543210")
    assert_user_error(in_process(gan_curves.main, [str(a), str(b), *out], capsys),
                      "measured fd with fd_classifier_sha256 = 'fedcba9876543210'")
    older = fd_report(tmp_path, "gp", None)
    result = in_process(gan_curves.main, [str(a), str(older), *out], capsys)
    assert result.returncode == 0, result.stderr
    assert "predates the classifier weights' digest" in result.stderr
    assert json.loads((tmp_path / "m.json").read_text())["fd_classifier_sha256"] == "0123456789abcdef"
