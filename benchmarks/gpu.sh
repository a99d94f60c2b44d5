#!/usr/bin/env bash
# Every GPU figure in one command: inference, serving (batch 1 and 8), memory, NUFFT, XLA per method and training
# throughput, on whatever accelerator TensorFlow sees, in under 8 minutes on an H100-class GPU. Writes one JSON file
# with, per benchmark, the command, its exit status, wall seconds and printed table, plus the device and versions.
#
#   bash benchmarks/gpu.sh [OUT.json]          # default gpu-benchmarks.json
#   QUICK=1 bash benchmarks/gpu.sh OUT.json    # tiny sizes (a smoke test, also on a CPU)
#   ONLY="nufft xla" bash benchmarks/gpu.sh    # a subset, by name
#
# Needs tfmri_zoo importable (pip install -e .); optional peers (torch + fastmri, finufft) are used where installed.
# Each benchmark gets at most LIMIT seconds (default 150) so that one slow step cannot eat the whole budget.
set -u
cd "$(dirname "$0")/.."
out="${1:-gpu-benchmarks.json}"
limit="${LIMIT:-150}"
log_dir="$(mktemp -d)"
trap 'rm -rf "$log_dir"' EXIT
if [ -n "${QUICK:-}" ]; then
  runs=(
    "inference|benchmarks/inference.py --quick --no-torch"
    "serving|benchmarks/serving.py --quick"
    "memory|benchmarks/memory.py --size 32 --coils 4 --filters 8 --layers 3 --cg-iterations 2 --iterations 1 2"
    "nufft|benchmarks/nufft.py --quick"
    "xla|benchmarks/xla.py --quick"
    "training|benchmarks/training.py --quick"
  )
else
  runs=(
    "inference|benchmarks/inference.py --jit"
    "serving|benchmarks/serving.py --size 320 --coils 15"
    "memory|benchmarks/memory.py"
    "nufft|benchmarks/nufft.py"
    "xla|benchmarks/xla.py"
    "training|benchmarks/training.py --size 320 --batch 8"
  )
fi
for run in "${runs[@]}"; do
  name="${run%%|*}"
  command="${run#*|}"
  if [ -n "${ONLY:-}" ] && [[ " $ONLY " != *" $name "* ]]; then continue; fi
  echo "== $name: python3 $command" >&2
  start=$(date +%s%N)
  # shellcheck disable=SC2086
  timeout "$limit" python3 $command > "$log_dir/$name.out" 2>&1
  echo $? > "$log_dir/$name.rc"
  echo "$command" > "$log_dir/$name.cmd"
  echo $(( ($(date +%s%N) - start) / 1000000 )) > "$log_dir/$name.ms"
  tail -n 25 "$log_dir/$name.out" >&2
done
python3 - "$log_dir" "$out" <<'PY'
import json, os, platform, sys, tempfile
import tensorflow as tf
log_dir, out = sys.argv[1:]
names = sorted({f.split(".")[0] for f in os.listdir(log_dir)})
read = lambda name, ext: open(os.path.join(log_dir, f"{name}.{ext}")).read()
report = {
    "device": [d.name for d in tf.config.list_physical_devices("GPU")] or ["CPU"],
    "gpu": [tf.config.experimental.get_device_details(d).get("device_name") for d in tf.config.list_physical_devices("GPU")],
    "tensorflow": tf.__version__, "python": platform.python_version(),
    "benchmarks": {n: {"command": "python3 " + read(n, "cmd").strip(), "returncode": int(read(n, "rc")),
                       "seconds": int(read(n, "ms")) / 1000,
                       "output": [l for l in read(n, "out").splitlines()
                                  if not l.startswith(("I0000", "W0000", "E0000", "WARNING: All log"))]}
                   for n in names},
}
folder = os.path.dirname(os.path.abspath(out))
with tempfile.NamedTemporaryFile("w", dir=folder, suffix=".tmp", delete=False) as f:
    json.dump(report, f, indent=1)
os.replace(f.name, out)  # atomic: a reader never sees a half-written report
failed = [n for n, b in report["benchmarks"].items() if b["returncode"]]
print(f"wrote {out}" + (f"; failed: {', '.join(failed)}" if failed else ""), file=sys.stderr)
sys.exit(1 if failed else 0)
PY
