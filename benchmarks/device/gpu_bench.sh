#!/usr/bin/env bash
# The GPU run of bench_cmteb_shape and bench_vs_mteb on a lent device machine (no network there).
# Prepare here first (see benchmarks/README.md, "GPU"): .whl/ holds wheels of what the image lacks,
# .dev/ holds the mirror, benchmarks/device/polars_stub (polars' wheel is over the 64 MiB transfer
# limit; the timed path never calls it) and an fp16 copy of all-MiniLM-L6-v2 (the fp32 file is 91 MB),
# which mkmodel.py turns back into an fp32 folder there. Run from the repo root with carry .dev and .whl.
set -o pipefail
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 HF_HOME=/tmp/hf TOKENIZERS_PARALLELISM=false
R=$PWD
python3 -m pip install -q --no-index --no-deps --no-compile --upgrade --target /tmp/site .whl/*.whl || exit 1
# evalkit itself installed, not imported from the tree: evalkit.configs is mapped by pyproject.toml.
python3 -m pip install -q --no-index --no-deps --no-build-isolation --no-compile --target /tmp/site . || exit 1
export PYTHONPATH=/tmp/site:$R/benchmarks/device/polars_stub
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; nproc
  python3 -c "import sys, torch, transformers, sentence_transformers as st, mteb, datasets
print(sys.version.split()[0], torch.__version__, torch.cuda.get_device_name(0), transformers.__version__, st.__version__, mteb.__version__, datasets.__version__)"
} 2>&1 | tee $OUT/env.txt
python3 benchmarks/device/mkmodel.py unpack .dev/minilm16 /tmp/minilm32 || exit 1
cd /tmp  # so that `python -m evalkit.cli` finds the installed evalkit, not the tree's
timeout 200 python3 $R/benchmarks/bench_cmteb_shape.py --device cuda --sample 20000 2>&1 | tee $OUT/shape.txt
timeout 330 python3 $R/benchmarks/bench_vs_mteb.py --device cuda --model /tmp/minilm32 --mirror $R/.dev/mirror 2>&1 | tee $OUT/vs_mteb.txt
