"""The ``gpulens`` settings section, as sent by ``workspace/configuration`` or
``initializationOptions``, parsed defensively (a wrong type falls back to the default)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

SECTION = "gpulens"

LANGUAGES = ("auto", "en", "zh-cn")


@dataclass(frozen=True)
class Settings:
    """The settings this server understands; names match the VS Code client's contributions."""

    per_epoch_hints: bool = True
    total_hints: bool = True
    #: Per-layer parameters and output shapes, and each model's total (``inlayHints.layers``).
    layer_hints: bool = True
    #: The training-memory estimate at the training loop (``inlayHints.memory``).
    memory_hints: bool = True
    script_args: tuple[str, ...] = ()
    overrides: tuple[tuple[str, Any], ...] = ()
    world_size: int | None = None
    language: str = "auto"
    #: The GPU the OOM check targets (``gpulens.gpu``): "" = the local GPU through NVML, else a
    #: card name or a size ("RTX 4090", "24GiB"); resolved in :mod:`gpulens.lsp.gpu`.
    gpu: str = ""
    #: OOM diagnostics: warning from this share of usable memory (``gpulens.oom.warningRatio``)
    oom_warning_ratio: float = 0.9
    #: and error above this one (``gpulens.oom.errorRatio``).
    oom_error_ratio: float = 1.0
    #: Settings that were present but unusable, in words (shown in the log).
    problems: tuple[str, ...] = field(default=(), compare=False)

    @property
    def overrides_dict(self) -> dict[str, Any]:
        return dict(self.overrides)


def _get(raw: dict[str, Any], dotted: str) -> Any:
    """``raw["inlayHints"]["perEpoch"]`` or ``raw["inlayHints.perEpoch"]`` (both shapes occur)."""
    if dotted in raw:
        return raw[dotted]
    node: Any = raw
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _strip_section(raw: dict[str, Any]) -> dict[str, Any]:
    """Accept ``{"gpulens": {...}}`` as well as the section itself, and flat ``gpulens.x`` keys."""
    if isinstance(raw.get(SECTION), dict):
        raw = raw[SECTION]
    prefix = SECTION + "."
    return {(k[len(prefix) :] if k.startswith(prefix) else k): v for k, v in raw.items()}


def parse_settings(raw: object) -> Settings:
    """Build :class:`Settings` from whatever the client sent (None, a dict, junk)."""
    if not isinstance(raw, dict):
        return Settings()
    raw = _strip_section(raw)
    problems: list[str] = []
    defaults = Settings()

    def boolean(key: str, default: bool) -> bool:
        value = _get(raw, key)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        problems.append(f"gpulens.{key} should be true or false, got {value!r}")
        return default

    per_epoch = boolean("inlayHints.perEpoch", defaults.per_epoch_hints)
    total = boolean("inlayHints.total", defaults.total_hints)
    layers = boolean("inlayHints.layers", defaults.layer_hints)
    memory = boolean("inlayHints.memory", defaults.memory_hints)

    script_args: tuple[str, ...] = ()
    args_value = _get(raw, "scriptArgs")
    if isinstance(args_value, list):
        script_args = tuple(str(a) for a in args_value if isinstance(a, (str, int, float)))
    elif isinstance(args_value, str) and args_value.strip():
        import shlex

        try:
            script_args = tuple(shlex.split(args_value))
        except ValueError:
            problems.append(f"gpulens.scriptArgs could not be split: {args_value!r}")
    elif args_value is not None:
        problems.append("gpulens.scriptArgs should be a list of strings")

    overrides: tuple[tuple[str, Any], ...] = ()
    over_value = _get(raw, "overrides")
    if isinstance(over_value, dict):
        overrides = tuple(
            sorted((str(k), v) for k, v in over_value.items() if isinstance(k, str) and k)
        )
    elif over_value is not None:
        problems.append("gpulens.overrides should be an object (fact name -> value)")

    world_size: int | None = None
    ws_value = _get(raw, "worldSize")
    if isinstance(ws_value, bool):
        problems.append("gpulens.worldSize should be a number")
    elif isinstance(ws_value, (int, float)):
        if isinstance(ws_value, float) and not math.isfinite(ws_value):
            problems.append("gpulens.worldSize should be a finite number")
        elif int(ws_value) >= 1:
            world_size = int(ws_value)
        else:
            problems.append("gpulens.worldSize should be 1 or more")
    elif isinstance(ws_value, str) and ws_value.strip().isdigit() and int(ws_value) >= 1:
        world_size = int(ws_value)
    elif ws_value is not None:
        problems.append(f"gpulens.worldSize should be a number, got {ws_value!r}")

    language = "auto"
    lang_value = _get(raw, "language")
    if isinstance(lang_value, str) and lang_value.strip():
        norm = normalize_locale(lang_value) if lang_value.lower() != "auto" else "auto"
        language = norm
    elif lang_value is not None:
        problems.append('gpulens.language should be "auto", "en" or "zh-cn"')

    gpu = ""
    gpu_value = _get(raw, "gpu")
    if isinstance(gpu_value, str):
        gpu = gpu_value.strip()
    elif gpu_value is not None:
        problems.append(
            f'gpulens.gpu should be a card name or a size like "24GiB", got {gpu_value!r}'
        )

    def ratio(key: str, default: float) -> float:
        value = _get(raw, key)
        if value is None:
            return default
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if number and math.isfinite(value) and 0 < value <= 10:
            return float(value)
        problems.append(f"gpulens.{key} should be a positive number (a share of usable memory)")
        return default

    warning_ratio = ratio("oom.warningRatio", defaults.oom_warning_ratio)
    error_ratio = ratio("oom.errorRatio", defaults.oom_error_ratio)
    if warning_ratio > error_ratio:
        problems.append(
            f"gpulens.oom.warningRatio ({warning_ratio:g}) is above gpulens.oom.errorRatio "
            f"({error_ratio:g}): warnings start at the error ratio"
        )
        warning_ratio = error_ratio

    return Settings(
        per_epoch_hints=per_epoch,
        total_hints=total,
        layer_hints=layers,
        memory_hints=memory,
        script_args=script_args,
        overrides=overrides,
        world_size=world_size,
        language=language,
        gpu=gpu,
        oom_warning_ratio=warning_ratio,
        oom_error_ratio=error_ratio,
        problems=tuple(problems),
    )


def normalize_locale(locale: str | None) -> str:
    """``zh-CN``, ``zh_cn``, ``zh``, ``zh-Hans`` → ``zh-cn``; anything else → ``en``."""
    if not locale:
        return "en"
    value = locale.strip().lower().replace("_", "-")
    if value == "zh" or value.startswith(("zh-cn", "zh-hans", "zh-sg")):
        return "zh-cn"
    return "en"


def effective_language(settings: Settings, client_locale: str | None) -> str:
    """The language to write hovers and tooltips in: the setting, else the client's locale."""
    if settings.language != "auto":
        return settings.language
    return normalize_locale(client_locale)
