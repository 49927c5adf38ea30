"""On-disk embedding cache: a rerun, a resumed run or a baseline never re-encodes a text.

Layout: `<cache_dir>/<model key>/shard-<unique>.npz`, each shard holding `keys` (sha256 of prompt and
text), `vectors` (float32) and `meta` (JSON: the model key, the dimension, the count and a sha256
of keys and vectors). Shards are written under a temporary name (opened with O_EXCL | O_NOFOLLOW)
and renamed, and every writer makes new shards only, so two processes can share a cache and a kill
mid-write leaves at most a stray temporary file, which the next cache opened on that folder removes.

A shard is used only when it fits: its meta names this model key, its vectors are finite, as many
as its keys, of the recorded dimension (and of the model's, when the encoder says it) and match the
checksum. Any other shard (truncated, foreign, an older layout without meta, NaN, planted vectors)
is moved to `corrupt/` with a warning, never deleted, and its texts are encoded again.

What this does not stop: anyone who can write the cache folder can write a well-formed shard of
wrong vectors with a matching checksum (the checksum detects damage and careless planting, it is no
signature). Share a cache only between writers you trust.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import uuid
from collections import OrderedDict
from pathlib import Path

import numpy as np

from evalkit import _parse
from evalkit._io import open_exclusive, remove_stale_temps, temp_path

logger = logging.getLogger(__name__)

# Shards' vectors kept in memory after a read or a write, least recently used dropped first: a whole
# suite's cache (C-MTEB's corpora: a few GB) no longer stays in every process that touched it.
LOADED_BYTES = 1 << 30


def text_key(prompt: str, text: str) -> bytes:
    """The cache key of one (prompt, text) pair."""
    return hashlib.sha256(prompt.encode("utf-8") + b"\x00" + text.encode("utf-8", "surrogatepass")).hexdigest()[:32].encode()


class EmbeddingCache:
    """Embeddings of one model under one set of vector-changing settings."""

    def __init__(self, root: Path, model_key: str) -> None:
        """Open (and create) the cache folder for `model_key` under `root`."""
        self.dir = root / model_key
        self.model_key = model_key
        self.dir.mkdir(parents=True, exist_ok=True)
        self.dim: int | None = None  # set by the first shard that fits, or by `get(dim=...)`
        remove_stale_temps(self.dir, recursive=False, older_than=6 * 3600)
        self._index: dict[bytes, tuple[Path, int]] = {}
        self._loaded: OrderedDict[Path, np.ndarray] = OrderedDict()  # least recently used first
        self._seen: set[Path] = set()
        self.moved_aside: list[Path] = []

    def _scan(self) -> None:
        for shard in sorted(self.dir.glob("shard-*.npz")):
            if shard in self._seen:
                continue
            self._seen.add(shard)
            try:
                keys = self._read(shard, vectors=False)[0]
            except Exception as exc:  # a truncated, foreign or planted file: keep it for inspection
                self._move_aside(shard, exc)
                continue
            for row, key in enumerate(keys):
                self._index[bytes(key)] = (shard, row)

    def _read(self, shard: Path, *, vectors: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
        """The keys (and vectors) of a shard that fits this cache; raises `ShardMismatch` or a read error.

        Without `vectors`, only the keys and the meta are read and checked (cheap: a scan of a big
        cache reads no vectors); the vectors are checked when first used.
        """
        if shard.is_symlink():
            raise ShardMismatch("a symbolic link")
        with np.load(shard, allow_pickle=False) as data:
            keys = data["keys"]
            meta = _parse.loads_json(str(data["meta"]), f"shard {shard}") if "meta" in data.files else None
            if not isinstance(meta, dict):
                raise ShardMismatch("no meta (model key, dimension, checksum)")
            if meta.get("model") != self.model_key:
                raise ShardMismatch(f"written for model key {str(meta.get('model'))[:40]!r}")
            if keys.ndim != 1 or keys.dtype != np.dtype("S32") or meta.get("count") != len(keys):
                raise ShardMismatch(f"{len(keys)} keys of type {keys.dtype}, meta says {meta.get('count')}")
            if self.dim is not None and meta.get("dim") != self.dim:
                raise ShardMismatch(f"dimension {meta.get('dim')}, not {self.dim}")
            if not vectors:
                return keys, None
            vecs = data["vectors"]
        if vecs.dtype != np.float32 or vecs.ndim != 2:
            raise ShardMismatch(f"vectors of shape {vecs.shape} and type {vecs.dtype}")
        if len(vecs) != len(keys):
            raise ShardMismatch(f"{len(vecs)} vectors for {len(keys)} keys")
        if vecs.shape[1] != meta.get("dim") or (self.dim is not None and vecs.shape[1] != self.dim):
            raise ShardMismatch(f"dimension {vecs.shape[1]}, not {self.dim or meta.get('dim')}")
        if meta.get("sha256") != _checksum(keys, vecs):
            raise ShardMismatch("checksum mismatch")
        if not np.isfinite(vecs).all():
            raise ShardMismatch("NaN or infinite values")
        self.dim = self.dim or int(vecs.shape[1])
        return keys, vecs

    def _move_aside(self, shard: Path, exc: Exception) -> None:
        target = self.dir / "corrupt" / shard.name
        target.parent.mkdir(exist_ok=True)
        with_suffix = target
        if with_suffix.exists():
            with_suffix = target.with_name(f"{target.stem}-{uuid.uuid4().hex[:6]}{target.suffix}")
        try:
            os.replace(shard, with_suffix)
        except FileNotFoundError:
            return  # another process moved it first
        self.moved_aside.append(with_suffix)
        why = str(exc) if isinstance(exc, ShardMismatch) else type(exc).__name__
        logger.warning(
            "embedding cache shard %s does not fit (%s); moved to %s and its texts will be encoded again", shard, why, with_suffix
        )

    def get(self, prompt: str, texts: list[str], *, dim: int | None = None) -> dict[str, np.ndarray]:
        """Return the cached vectors of those `texts` the cache holds (of dimension `dim`, when given)."""
        if dim and self.dim is not None and dim != self.dim:
            self._drop_other_dims(dim)
        if dim:
            self.dim = dim
        self._scan()
        by_shard: dict[Path, list[tuple[str, int]]] = {}
        for text in texts:
            hit = self._index.get(text_key(prompt, text))
            if hit is not None:
                by_shard.setdefault(hit[0], []).append((text, hit[1]))
        found: dict[str, np.ndarray] = {}
        for shard, hits in by_shard.items():  # each shard read at most once a call, whatever the memory bound
            vectors = self._vectors(shard)
            if vectors is not None:
                rows = vectors[[row for _, row in hits]]  # a copy: the shard may be dropped from memory later
                found.update((text, rows[i]) for i, (text, _) in enumerate(hits))
        return found

    def missing(self, prompt: str, texts: list[str]) -> list[str]:
        """Those of `texts` the cache holds no entry for (keys only: no vectors are read)."""
        self._scan()
        return [t for t in texts if text_key(prompt, t) not in self._index]

    def _drop_other_dims(self, dim: int) -> None:
        for shard, vectors in list(self._loaded.items()):
            if vectors.shape[1] != dim:
                self._move_aside(shard, ShardMismatch(f"dimension {vectors.shape[1]}, not the model's {dim}"))
                self._forget(shard)

    def _forget(self, shard: Path) -> None:
        self._loaded.pop(shard, None)
        self._index = {k: v for k, v in self._index.items() if v[0] != shard}

    def _vectors(self, shard: Path) -> np.ndarray | None:
        if shard not in self._loaded:
            try:
                self._keep(shard, self._read(shard)[1])  # type: ignore[arg-type]
            except Exception as exc:  # checked on first use: damaged, planted or of another dimension
                self._move_aside(shard, exc)
                self._forget(shard)
                return None
        self._loaded.move_to_end(shard)
        return self._loaded[shard]

    def _keep(self, shard: Path, vectors: np.ndarray) -> None:
        """Hold a shard's vectors in memory, dropping the least recently used beyond `LOADED_BYTES` (never this one)."""
        self._loaded[shard] = vectors
        held = sum(v.nbytes for v in self._loaded.values())
        while held > LOADED_BYTES and len(self._loaded) > 1:
            _, dropped = self._loaded.popitem(last=False)
            held -= dropped.nbytes

    def put(self, prompt: str, texts: list[str], vectors: np.ndarray) -> None:
        """Store `vectors` for `texts` in a new shard, atomically."""
        if not texts:
            return
        keys = np.array([text_key(prompt, t) for t in texts], dtype="S32")
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        meta = {"model": self.model_key, "dim": int(vectors.shape[1]), "count": len(keys), "sha256": _checksum(keys, vectors)}
        final = self.dir / f"shard-{uuid.uuid4().hex}.npz"
        tmp = temp_path(final)
        try:
            with open_exclusive(tmp) as f:
                np.savez(f, keys=keys, vectors=vectors, meta=np.array(json.dumps(meta)))
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, final)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            logger.warning(
                "embedding cache %s: cannot store %d vectors (%s); going on without caching them", self.dir, len(keys), exc.strerror or exc
            )
            return
        self.dim = self.dim or int(vectors.shape[1])
        self._seen.add(final)
        self._keep(final, vectors)
        for row, key in enumerate(keys):
            self._index[bytes(key)] = (final, row)


class ShardMismatch(Exception):
    """A cache shard that does not fit this cache; the message says how."""


def _checksum(keys: np.ndarray, vectors: np.ndarray) -> str:
    digest = hashlib.sha256(np.ascontiguousarray(keys).tobytes())
    digest.update(np.ascontiguousarray(vectors, dtype=np.float32).tobytes())
    return digest.hexdigest()
