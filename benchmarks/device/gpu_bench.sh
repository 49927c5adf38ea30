#!/usr/bin/env bash
# Issue 21's GPU measurements and issue 22's `--ray local` check on a lent device machine (no network
# there), in three calls on one warm machine, each under 600 s. Prepare here first:
# `bash benchmarks/device/prepare.sh` fills .whl/ (wheels the image lacks, a trimmed pyarrow included:
# 48 MB), .whlray/ (Ray 2.60.0 trimmed to 42 MB, with jsonschema's four wheels) and .dev/ (the mirror,
# all-MiniLM-L6-v2's tokenizer and an fp16 copy of its weights, which mkmodel.py turns back into fp32
# there: 49 MB); no two of the three fit the 64 MiB carry together with the tree.
#   call 1: run(command="bash benchmarks/device/gpu_bench.sh encode", carry=[".whl", ".dev/mirror", ".dev/tokenizer"], timeout_s=590)
#     installs the wheels into /tmp/site (kept while the machine stays warm) and runs bench_encode on a
#     BERT-base shape (random weights, built there): bf16 and fp32, evalkit vs plain ST vs bare forward.
#   call 2, at once (the machine goes back after 30 s idle):
#      run(command="bash benchmarks/device/gpu_bench.sh mirror", carry=[".dev"], timeout_s=590)
#     bf16 vs fp32 on the mirror (per-text cosine, main scores: dtype_check.py) and bench_vs_mteb (fp32).
#   call 3, at once: run(command="bash benchmarks/device/gpu_bench.sh ray", carry=[".whlray", ".dev/mirror"], timeout_s=400)
#     installs Ray into /tmp/site and runs `evalkit run --ray local --device cuda` on Ocnli and STSBenchmark
#     with the fp32 model call 2 unpacked (/tmp/minilm32), Ocnli's corpus forced into shards
#     (EVALKIT_RAY_SPLIT_TEXTS, EVALKIT_RAY_SHARD_TEXTS), then the same tasks locally: both runs' main
#     scores (within 1e-6: ray_compare.py), the shards encoded ahead, wall times, and GPU memory after
#     the Ray run (its resident encoder must have freed the GPU). About 2 minutes; on a CPU:
#     DEVICE=cpu PY=... SITE=... RAYWHL=... MODEL=... (the rehearsal in benchmarks/README.md).
#   call 4, only if 4 minutes of device time are left: run(command="bash benchmarks/device/gpu_bench.sh cpu", carry=[".dev/mirror"], timeout_s=400)
#     issue 21's CPU target (cold run <= 0.6x plain mteb) on the device's own 16 cores: bench_vs_mteb
#     --device cpu with call 2's /tmp/minilm32 (this machine's 2 cores measure 0.76x, their bound ~0.6x).
# Outputs land in $OUT (env.txt, encode_bf16.txt, encode_fp32.txt, dtype.txt, vs_mteb.txt, ray.txt, vs_mteb_cpu.txt).
set -o pipefail
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 HF_HOME=/tmp/hf
R=$PWD
stage=${1:-encode}
if [ "$stage" = ray ]; then
  # Call 3: `evalkit run --ray local` on one GPU (a resident encoder, one corpus sharded), then the same
  # tasks locally; scores must agree within 1e-6. Needs call 1's /tmp/site and call 2's /tmp/minilm32.
  # DEVICE=cpu PY=... SITE=... RAYWHL=... MODEL=... run it on a CPU (the rehearsal in README.md).
  DEVICE=${DEVICE:-cuda} PY=${PY:-python3} SITE=${SITE:-/tmp/site} RAYWHL=${RAYWHL:-.whlray} MODEL=${MODEL:-/tmp/minilm32}
  TASKS=${TASKS:-Ocnli,STSBenchmark}
  if [ "$DEVICE" != cpu ] && [ ! -f "$SITE/.evalkit-ready" ]; then
    echo "no $SITE from call 1 (the machine went cold): run the 'encode' and 'mirror' calls first" >&2; exit 2
  fi
  [ -f "$MODEL/model.safetensors" ] || { echo "no $MODEL from call 2: run the 'mirror' call first" >&2; exit 2; }
  "$PY" -m pip install -q --no-index --no-deps --no-compile --upgrade --target "$SITE" "$RAYWHL"/*.whl || exit 1
  "$PY" -m pip install -q --no-index --no-deps --no-build-isolation --no-compile --upgrade --target "$SITE" . || exit 1
  export PYTHONPATH=$SITE:$R/benchmarks/device/polars_stub
  # Ocnli (3,694 texts by mteb's statistics) is recorded and its distinct texts encoded ahead in shards of
  # 512; STSBenchmark (2,758) runs whole: both paths of the Ray executor on the one resident encoder.
  export EVALKIT_RAY_SPLIT_TEXTS=${SPLIT_TEXTS:-3000} EVALKIT_RAY_SHARD_TEXTS=${SHARD_TEXTS:-512}
  W=$(mktemp -d /tmp/raystage.XXXXXX)
  gpumem() { command -v nvidia-smi >/dev/null && { nvidia-smi --query-gpu=memory.used,memory.total --format=csv
    nvidia-smi --query-compute-apps=pid,process_name,used_memory --format=csv; }
    echo "Ray processes left: $(pgrep -c -f 'raylet|gcs_server|ray::' || true)"; }
  cd /tmp
  {
    echo "== ray stage: device $DEVICE, tasks $TASKS, EVALKIT_RAY_SPLIT_TEXTS=$EVALKIT_RAY_SPLIT_TEXTS EVALKIT_RAY_SHARD_TEXTS=$EVALKIT_RAY_SHARD_TEXTS, model $MODEL"
    git -C "$R" log -1 --format=%h 2>/dev/null
    "$PY" -c "import sys, ray, torch, evalkit; print(sys.version.split()[0], 'ray', ray.__version__, ray.__file__, 'torch', torch.__version__, 'cuda', torch.cuda.is_available())"
    echo "-- GPU memory before"; gpumem
    run=(run mirror --tasks "$TASKS" --model "$MODEL" --data-dir "$R/.dev/mirror" --device "$DEVICE" --dtype fp32 --quiet)
    t0=$(date +%s.%N)
    timeout 300 "$PY" -m evalkit.cli "${run[@]}" --ray local --output $W/ray --cache-dir $W/cache_ray --reports $W/reports_ray; echo "rc $?"
    t1=$(date +%s.%N)
    echo "-- GPU memory after the --ray local run (the resident encoder must have freed it)"; gpumem
    env -u EVALKIT_RAY_SPLIT_TEXTS -u EVALKIT_RAY_SHARD_TEXTS timeout 200 "$PY" -m evalkit.cli "${run[@]}" \
      --output $W/local --cache-dir $W/cache_local --reports $W/reports_local; echo "rc $?"
    t2=$(date +%s.%N)
    "$PY" $R/benchmarks/device/ray_compare.py $W/ray $W/local --ray-seconds "$("$PY" -c "print($t1 - $t0)")" \
      --local-seconds "$("$PY" -c "print($t2 - $t1)")"
    verdict=$?
    echo "-- GPU memory at the end"; gpumem
    exit $verdict
  } 2>&1 | grep --line-buffered -v "Loading weights" | tee "${OUT:-$W}/ray.txt"
  exit "${PIPESTATUS[0]}"
fi
if [ "$stage" = encode ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --upgrade --target /tmp/site .whl/*.whl || exit 1
  # evalkit itself installed, not imported from the tree: evalkit.configs is mapped by pyproject.toml.
  python3 -m pip install -q --no-index --no-deps --no-build-isolation --no-compile --upgrade --target /tmp/site . || exit 1
  touch /tmp/site/.evalkit-ready
elif [ ! -f /tmp/site/.evalkit-ready ]; then
  echo "no /tmp/site from call 1 (the machine went cold): run the 'encode' call first" >&2; exit 2
else
  # Call 2 measures this tree's evalkit: reinstall it (no wheels needed).
  python3 -m pip install -q --no-index --no-deps --no-build-isolation --no-compile --upgrade --target /tmp/site . || exit 1
fi
export PYTHONPATH=/tmp/site:$R/benchmarks/device/polars_stub
{ nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv; nproc; git -C "$R" log -1 --format=%h 2>/dev/null
  python3 -c "import sys, torch, transformers, sentence_transformers as st, mteb, datasets, pyarrow, tokenizers
print(sys.version.split()[0], torch.__version__, torch.cuda.get_device_name(0), 'transformers', transformers.__version__, 'st', st.__version__, 'mteb', mteb.__version__, 'datasets', datasets.__version__, 'pyarrow', pyarrow.__version__, 'tokenizers', tokenizers.__version__)"
} 2>&1 | tee -a $OUT/env.txt
cd /tmp  # so that `python -m evalkit.cli` finds the installed evalkit, not the tree's
if [ "$stage" = encode ]; then
  # ~1.5M real tokens of C-MTEB-shaped mirror text; plain ST is timed once after its warm-up pass.
  timeout 250 python3 $R/benchmarks/bench_encode.py --device cuda --dtype bf16 --sample 8000 --plain-repeats 1 --also-packed \
    --mirror $R/.dev/mirror --tokenizer $R/.dev/tokenizer --json $OUT/encode_bf16.json 2>&1 | grep -v "Loading weights" | tee $OUT/encode_bf16.txt
  timeout 270 python3 $R/benchmarks/bench_encode.py --device cuda --dtype fp32 --sample 8000 --plain-repeats 1 \
    --mirror $R/.dev/mirror --tokenizer $R/.dev/tokenizer --json $OUT/encode_fp32.json 2>&1 | grep -v "Loading weights" | tee $OUT/encode_fp32.txt
elif [ "$stage" = cpu ]; then
  [ -f /tmp/minilm32/model.safetensors ] || { echo "no /tmp/minilm32 from call 2: run the 'mirror' call first" >&2; exit 2; }
  timeout 380 python3 $R/benchmarks/bench_vs_mteb.py --device cpu --model /tmp/minilm32 --mirror $R/.dev/mirror 2>&1 | tee $OUT/vs_mteb_cpu.txt
else
  python3 $R/benchmarks/device/mkmodel.py unpack $R/.dev/minilm16 /tmp/minilm32 || exit 1
  timeout 250 python3 $R/benchmarks/device/dtype_check.py --device cuda --model /tmp/minilm32 --mirror $R/.dev/mirror 2>&1 \
    | grep -v "Loading weights" | tee $OUT/dtype.txt
  timeout 300 python3 $R/benchmarks/bench_vs_mteb.py --device cuda --model /tmp/minilm32 --mirror $R/.dev/mirror 2>&1 | tee $OUT/vs_mteb.txt
fi
