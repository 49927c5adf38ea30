"""The plan of a run, before the run: settings and where each came from, every prompt, each task's fate.

`evalkit run ... --dry-run` prints it and loads no weights; it works offline for models in mteb's
registry, for local folders and for models already in the Hub cache. The run itself records the
same prompt rows in its manifest.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from evalkit.model.prompts import PromptRow, prompt_rows, prompt_table_for
from evalkit.runner.settings import RunConfig


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
    tasks: list[dict[str, str]]  # task, status ("done" or "will run"), reason
    folder: str
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The plan as `--dry-run --json` prints it."""
        return {
            "model": self.model,
            "revision": self.revision,
            "kind": self.kind,
            "preset": self.preset,
            "settings": self.settings,
            "sources": self.sources,
            "prompts": [asdict(r) for r in self.prompts],
            "tasks": self.tasks,
            "folder": self.folder,
            "notes": self.notes,
        }

    def markdown(self) -> str:
        """The plan as `--dry-run` prints it."""
        lines = [
            f"plan: {self.model} @ {self.revision} ({self.kind}"
            + (f", mteb registry: {self.preset}" if self.preset else ", not in mteb's registry")
            + f")  ->  {self.folder}",
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
        lines += ["", "| task | status | why |", "|---|---|---|"]
        lines += [f"| {t['task']} | {t['status']} | {t['reason']} |" for t in self.tasks]
        if self.notes:
            lines += ["", *[f"note: {n}" for n in self.notes]]
        return "\n".join(lines)


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
    tasks = []
    for b in built:
        if resolved.kind == "sentence-transformers" and not resolved.path.parts:
            tasks.append({"task": b.name, "status": "will run", "reason": "model not downloaded yet: its revision is not known"})
            continue
        plan = plan_task(b, folder, model, overwrite=config.overwrite)
        tasks.append({"task": b.name, "status": "done" if plan.reuse else "will run", "reason": plan.reason})
    if resolved.kind == "mteb":
        notes.append(
            "loader mteb: mteb's wrapper applies its prompts and loads the model; evalkit's dtype, pooling, batching and weight check do not apply, its cache and de-duplication do"
        )
    if config.cache_dir is not None:
        notes.append(f"embedding cache: {config.cache_dir}")
    return Plan(
        model=resolved.name,
        revision=resolved.revision,
        kind=resolved.kind,
        preset=preset.kind if preset is not None else None,
        settings=config.model.record(),
        sources=dict(config.sources),
        prompts=prompt_rows(built, table, own_prompts=resolved.kind == "python"),
        tasks=tasks,
        folder=str(folder.path),
        notes=notes,
    )
