"""``benchmarks/reliability.py --quick`` runs to the end and every check holds: concurrent serving is bit-exact,
bad requests are refused with the argument named, corrupted files are caught by the integrity checks, a NaN loss
stops training with the last good checkpoint kept, and a killed run resumes to the uninterrupted weights."""
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_reliability_benchmark_quick(tmp_path):
    summary_path = tmp_path / "reliability.json"
    result = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "reliability.py"), "--quick",
                             "--json", str(summary_path)], capture_output=True, text=True, cwd=str(tmp_path),
                            timeout=900, env={**os.environ, "PYTHONPATH": ROOT})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    checks = {r["check"]: r for r in json.load(open(summary_path))["results"]}
    assert checks["load"]["mismatches"] == 0 and checks["load"]["requests"] == 40 and not checks["load"]["errors"]
    assert set(checks["bad_requests"]["results"].values()) == {"refused"}
    assert len(checks["bad_requests"]["results"]) == 6
    assert all(v.startswith("ValueError") for v in checks["corrupted_files"]["integrity_checks"].values())
    assert checks["nan_training"]["epochs_run"] == 3 and checks["nan_training"]["best_checkpoint_finite"]
    assert not checks["nan_training"]["final_written"]
    assert checks["kill_and_resume"]["killed_exit"] == -9 and checks["kill_and_resume"]["max_weight_difference"] == 0
