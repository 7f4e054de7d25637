#!/usr/bin/env bash
# The GPU checks of issues 3-5, 15 and 16 as one prepared run, for a task that is lent a
# GPU machine (torch with CUDA installed, no package registry).
#
# Here, first (wheels the GPU image lacks; .whl/ is git-ignored):
#   pip download --no-deps -d .whl pymanopt autograd munkres platformdirs tqdm hypothesis
# then call the device tool with carry [".whl"] and the command
#   bash bench/device_check.sh
# Everything it measures is written under $OUT (default: device_output/).
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-device_output}"
mkdir -p "$out"
python3 -m pip install -q --no-index --find-links .whl pymanopt autograd munkres platformdirs tqdm hypothesis 2>&1 | tail -3
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"   # the project from the working tree, not installed
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')" | tee "$out/machine.txt"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv >> "$out/machine.txt" 2>&1

step() {  # step NAME SECONDS COMMAND...: run with a time limit, keep its output, go on after a failure
    local name=$1 limit=$2; shift 2
    echo "== $name (limit ${limit}s)"
    timeout "$limit" "$@" > "$out/$name.log" 2>&1
    echo "   exit $? ; $(tail -n 1 "$out/$name.log")"
}
# Issue 16 first (the one open): the iterative solver from the box-matching start, >= 300x at n = 4096 and
# n = 16384 converged in 60 s, then the 65536 stretch (the exact-locality start needs no GPU: 31 s on one CPU core)
# (float32: P alone is 65536 x 16384, 8.6 GB in float64, and trust regions keeps about ten such arrays).
step prolong_large 200 python3 bench/prolong_speed.py --large --device cuda --ref-max-time 60 --ours-max-time 60 --out "$out"
step prolong_stretch 80 python3 bench/prolong_large.py --device cuda --dtype float32 --sides 128 --s 1 --max-time 60 --repeats 1 --json "$out/prolong_stretch.json"
step cuda_tests 90 python3 -m pytest -q -p no:cacheprovider tests -k "cuda or CUDA"
step fas_speed 70 python3 bench/fas_speed.py --device cuda --cycles 10
step msann_throughput 80 python3 bench/msann_throughput.py --device cuda --json "$out/msann_throughput.json"
# Issue 15: one GPU with and without the torchrun wrapper (its overhead); the limits above sum to 580 s.
step distributed_overhead 60 python3 bench/distributed_overhead.py --device cuda --ranks 1 --json "$out/distributed_overhead.json"
