#!/usr/bin/env bash
# The GPU checks, for a machine with an NVIDIA GPU (run from anywhere; the results go to one JSON file):
#   1. the model contract tests on CUDA (every card trains two epochs and beats a constant; stored
#      weights reload and predict the same), then again under bf16 autocast;
#   2. the GPU-resident-data lifecycle: a tiny study through the real CLI with two local workers
#      spread over the GPUs (`crossboard tune --workers 2`), each worker's device recorded;
#   3. DeepFM throughput with GPU-resident data at batch 8,192 and 65,536, fp32 and bf16 (against a
#      bare PyTorch loop and DeepCTR-Torch when installed), and the zoo benchmark on the GPU;
#   4. DeepFM at batch 65,536 in bf16 with dense and with sparse-row updates of its embedding tables
#      (`--updates`), and with its rows streamed from host memory (a 100 MB data budget forces it)
#      beside the resident run of step 3: both throughputs under "streaming" in the JSON.
#
#     bash benchmarks/gpu_check.sh [OUT.json]        # default: benchmarks/results/gpu_check.json
#
# Nothing here runs in CI: the project and its tests never need a GPU.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-benchmarks/results/gpu_check.json}
WORK=$(mktemp -d)
if ! command -v nvidia-smi >/dev/null; then
    echo "gpu_check: no NVIDIA GPU here (nvidia-smi not found); run it on a machine with one" >&2
    exit 2
fi
[ -x .venv/bin/python ] || bash scripts/setup.sh >/dev/null
PY=.venv/bin/python
$PY -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'torch sees no CUDA device: install the CUDA build (pip picks it for torch>=2.4,<2.14 on a GPU machine)')" || exit 2
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader > "$WORK/gpus.txt"

run() {   # run NAME COMMAND...: time it, keep its output tail and exit code
    local name=$1; shift
    local tick=$SECONDS
    "$@" > "$WORK/$name.log" 2>&1
    echo $? > "$WORK/$name.rc"
    echo $((SECONDS - tick)) > "$WORK/$name.seconds"
}

run contract_fp32 env CROSSBOARD_TEST_DEVICE=cuda $PY -m pytest -q -p no:cacheprovider tests/test_registry_contract.py \
    -k "trains_two_epochs or stored_weights"
run contract_bf16 env CROSSBOARD_TEST_DEVICE=cuda CROSSBOARD_TEST_PRECISION=bf16 $PY -m pytest -q -p no:cacheprovider \
    tests/test_registry_contract.py -k "trains_two_epochs"
run gpu_path $PY -m pytest -q -p no:cacheprovider tests/test_gpu_path.py
HOME_DIR="$WORK/home"
$PY -c "from automl.data.demo import demo_frame; demo_frame(20000).to_csv('$WORK/demo.csv', index=False)"
run study bash -c "$PY -m automl.cli --home $HOME_DIR ingest $WORK/demo.csv --name gpu_demo && \
    $PY -m automl.cli --home $HOME_DIR tune gpu_demo --models lr,deepfm,xdeepfm,din --trials 8 --epochs 3 \
        --seeds 0 --workers 2 --name gpu && \
    $PY -m automl.cli --home $HOME_DIR leaderboard gpu --format json | $PY -c \
        'import json, sys; print(json.dumps(sorted({r[\"device\"] for r in json.load(sys.stdin) if r[\"device\"]})))'"
for batch in 8192 65536; do
    for precision in fp32 bf16; do
        run "throughput_${batch}_${precision}" $PY benchmarks/throughput.py --device cuda --rows 4000000 --batch $batch \
            --precision $precision --repeats 2 --threads 4
    done
done
for updates in dense sparse; do       # the embedding tables' updates: every row, or the rows a batch looked up
    run "throughput_65536_bf16_${updates}" $PY benchmarks/throughput.py --device cuda --rows 4000000 --batch 65536 \
        --precision bf16 --updates $updates --repeats 2 --threads 4
done
run throughput_65536_streamed env CROSSBOARD_DEVICE_MEMORY_MB=100 $PY benchmarks/throughput.py --device cuda \
    --rows 4000000 --batch 65536 --precision fp32 --repeats 2 --threads 4
run zoo $PY -m benchmarks.zoo_throughput --device cuda --rows 2000000 --history-rows 500000 --repeats 2 --threads 4 \
    --out "$WORK/zoo.json"

$PY - "$WORK" "$OUT" <<'PYEOF'
import json, pathlib, sys
work, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
def tail(name):
    log = work / f"{name}.log"
    return log.read_text()[-4000:] if log.exists() else ""
def last_json(name):
    for line in reversed(tail(name).splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    return None
steps = sorted(p.stem for p in work.glob("*.rc"))
result = {"gpus": (work / "gpus.txt").read_text().strip().splitlines(),
          "steps": {s: {"exit": int((work / f"{s}.rc").read_text()), "seconds": int((work / f"{s}.seconds").read_text()),
                        "tail": tail(s)[-1500:]} for s in steps},
          "throughput": {s: last_json(s) for s in steps if s.startswith("throughput")},
          "streaming": {placement: {k: (last_json(step) or {}).get(k) for k in
                                    ("streamed", "data_gb", "train_samples_per_s", "infer_samples_per_s")}
                        for placement, step in (("resident", "throughput_65536_fp32"),
                                                ("streamed", "throughput_65536_streamed"))},
          "zoo": json.loads((work / "zoo.json").read_text()) if (work / "zoo.json").exists() else None}
out.parent.mkdir(parents=True, exist_ok=True)
out.write_text(json.dumps(result, indent=2))
print(json.dumps({s: v["exit"] for s, v in result["steps"].items()}))
PYEOF
