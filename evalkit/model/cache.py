"""On-disk embedding cache: a rerun, a resumed run or a baseline never re-encodes a text.

Layout: `<cache_dir>/<model key>/shard-<unique>.npz`, each shard holding `keys` (sha256 of prompt and
text) and `vectors` (float32). Shards are written under a temporary name and renamed, and every
writer makes new shards only, so two processes can share a cache and a kill mid-write leaves at
most a stray temporary file. A shard that cannot be read is moved to `corrupt/`, never deleted.
"""

from __future__ import annotations

import hashlib
import logging
import os
import uuid
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)


def text_key(prompt: str, text: str) -> bytes:
    """The cache key of one (prompt, text) pair."""
    return hashlib.sha256(prompt.encode("utf-8") + b"\x00" + text.encode("utf-8", "surrogatepass")).hexdigest()[:32].encode()


class EmbeddingCache:
    """Embeddings of one model under one set of vector-changing settings."""

    def __init__(self, root: Path, model_key: str) -> None:
        """Open (and create) the cache folder for `model_key` under `root`."""
        self.dir = root / model_key
        self.dir.mkdir(parents=True, exist_ok=True)
        self._index: dict[bytes, tuple[Path, int]] = {}
        self._loaded: dict[Path, np.ndarray] = {}
        self._seen: set[Path] = set()
        self.moved_aside: list[Path] = []

    def _scan(self) -> None:
        for shard in sorted(self.dir.glob("shard-*.npz")):
            if shard in self._seen:
                continue
            self._seen.add(shard)
            try:
                with np.load(shard) as data:
                    keys = data["keys"]
            except Exception as exc:  # a truncated or foreign file: keep it for inspection
                self._move_aside(shard, exc)
                continue
            for row, key in enumerate(keys):
                self._index[bytes(key)] = (shard, row)

    def _move_aside(self, shard: Path, exc: Exception) -> None:
        target = self.dir / "corrupt" / shard.name
        target.parent.mkdir(exist_ok=True)
        with_suffix = target
        if with_suffix.exists():
            with_suffix = target.with_name(f"{target.stem}-{uuid.uuid4().hex[:6]}{target.suffix}")
        os.replace(shard, with_suffix)
        self.moved_aside.append(with_suffix)
        logger.warning(
            "embedding cache shard %s is unreadable (%s); moved to %s and will be recomputed", shard, type(exc).__name__, with_suffix
        )

    def get(self, prompt: str, texts: list[str]) -> dict[str, np.ndarray]:
        """Return the cached vectors of those `texts` the cache holds."""
        self._scan()
        found: dict[str, np.ndarray] = {}
        for text in texts:
            hit = self._index.get(text_key(prompt, text))
            if hit is None:
                continue
            shard, row = hit
            vectors = self._vectors(shard)
            if vectors is not None:
                found[text] = vectors[row]
        return found

    def _vectors(self, shard: Path) -> np.ndarray | None:
        if shard not in self._loaded:
            try:
                with np.load(shard) as data:
                    self._loaded[shard] = np.asarray(data["vectors"], dtype=np.float32)
            except Exception as exc:
                self._move_aside(shard, exc)
                self._index = {k: v for k, v in self._index.items() if v[0] != shard}
                return None
        return self._loaded[shard]

    def put(self, prompt: str, texts: list[str], vectors: np.ndarray) -> None:
        """Store `vectors` for `texts` in a new shard, atomically."""
        if not texts:
            return
        keys = np.array([text_key(prompt, t) for t in texts], dtype="S32")
        name = f"shard-{uuid.uuid4().hex}.npz"
        tmp = self.dir / f".{name}.tmp"
        with tmp.open("wb") as f:
            np.savez(f, keys=keys, vectors=np.asarray(vectors, dtype=np.float32))
            f.flush()
            os.fsync(f.fileno())
        final = self.dir / name
        os.replace(tmp, final)
        self._seen.add(final)
        self._loaded[final] = np.asarray(vectors, dtype=np.float32)
        for row, key in enumerate(keys):
            self._index[bytes(key)] = (final, row)
