"""``AIResponseCacheConfig``: configuration of ``AIResponseCache`` (spec 13.7).

Loads from dicts, JSON, YAML (when PyYAML is installed) and ``AI_CACHE_*`` environment
variables; validates with the package-level ``ValidationResult`` of
:mod:`aicache.parameter_mapping` (re-exported here); converts to constructor keyword
arguments for ``AIResponseCache`` (legacy names) or ``GenericRedisCache``.

Differences from the original: ``from_env`` raises ``ConfigurationError`` naming the
variable for invalid numbers, booleans and JSON, and for a result that fails
``validate()`` (the original logged and ignored them); ``merge_with`` rejects unknown
keys; ``merge`` keeps the values of ``other`` that differ from the defaults, without the
original's test-specific heuristics; there is no automatic L1 enabling (an explicit
``enable_l1_cache=False`` stays False and ``validate()`` reports a non-zero size);
``performance_monitor`` is excluded from ``==``.
"""

import copy
import dataclasses
import hashlib
import importlib
import importlib.util
import json
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, Self, TypeGuard

from aicache.exceptions import ConfigurationError
from aicache.parameter_mapping import ValidationResult
from aicache.settings import parse_bool, parse_int, parse_json_object

__all__ = ["AIResponseCacheConfig", "ValidationResult"]

logger = logging.getLogger(__name__)

_ONE_YEAR = 86400 * 365
_KNOWN_OPERATIONS = ("summarize", "sentiment", "key_points", "questions", "qa")
_HASHES: dict[str, Callable[..., Any]] = {"sha256": hashlib.sha256, "md5": hashlib.md5}


def _default_tiers() -> dict[str, int]:
    return {"small": 500, "medium": 5000, "large": 50000}


def _default_operation_ttls() -> dict[str, int]:
    return {
        "summarize": 7200,
        "sentiment": 86400,
        "key_points": 7200,
        "questions": 3600,
        "qa": 1800,
    }


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _hash_name(algorithm: Any) -> Any:
    """'sha256' for both "sha256" and hashlib.sha256, so they compare equal."""
    for name, func in _HASHES.items():
        if algorithm is func:
            return name
    return algorithm


def _new_monitor() -> Any:
    """A ``CachePerformanceMonitor`` when :mod:`aicache.monitoring` is installed."""
    if importlib.util.find_spec("aicache.monitoring") is None:
        return None
    return importlib.import_module("aicache.monitoring").CachePerformanceMonitor()


class _Issue(NamedTuple):
    field: str
    value: Any
    allowed: str
    message: str


# field name -> environment variable suffix and parser kind
_ENV_FIELDS: dict[str, tuple[str, str]] = {
    "redis_url": ("REDIS_URL", "str"),
    "default_ttl": ("DEFAULT_TTL", "int"),
    "memory_cache_size": ("MEMORY_CACHE_SIZE", "int"),
    "text_hash_threshold": ("TEXT_HASH_THRESHOLD", "int"),
    "compression_threshold": ("COMPRESSION_THRESHOLD", "int"),
    "compression_level": ("COMPRESSION_LEVEL", "int"),
    "enable_l1_cache": ("ENABLE_L1_CACHE", "bool"),
    "hash_algorithm": ("HASH_ALGORITHM", "str"),
    "text_size_tiers": ("TEXT_SIZE_TIERS", "json"),
    "operation_ttls": ("OPERATION_TTLS", "json"),
}


@dataclass
class AIResponseCacheConfig:
    """Configuration of ``AIResponseCache`` (generic, AI-specific and mapped fields)."""

    redis_url: str = "redis://redis:6379"
    default_ttl: int = 3600
    enable_l1_cache: bool = True
    compression_threshold: int = 1000
    compression_level: int = 6
    performance_monitor: Any = field(default=None, compare=False)
    security_config: Any = None  # deprecated: SecurityConfig or None
    text_hash_threshold: int = 1000
    hash_algorithm: str | Callable[..., Any] = field(
        default_factory=lambda: hashlib.sha256
    )
    text_size_tiers: dict[str, int] | None = None
    operation_ttls: dict[str, int] | None = None
    enable_smart_promotion: bool | None = None
    memory_cache_size: int = 100
    _from_env_load: bool = field(default=False, repr=False)
    _operation_ttls_was_none: bool = field(
        default=False, init=False, repr=False, compare=False
    )
    _monitor_auto_created: bool = field(
        default=False, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        try:
            self._operation_ttls_was_none = self.operation_ttls is None
            if self.text_size_tiers is None:
                self.text_size_tiers = _default_tiers()
            if self.operation_ttls is None:
                self.operation_ttls = _default_operation_ttls()
            if self.performance_monitor is None:
                self.performance_monitor = _new_monitor()
                self._monitor_auto_created = self.performance_monitor is not None
        except Exception as exc:
            raise ConfigurationError(
                f"Failed to setup AIResponseCacheConfig defaults: {exc}",
                context={"config_stage": "post_init", "error_type": type(exc).__name__},
            ) from exc

    # -- helpers ----------------------------------------------------------------------

    def _get_hash_algorithm_func(self) -> Callable[..., Any]:
        if isinstance(self.hash_algorithm, str):
            func = _HASHES.get(self.hash_algorithm)
            if func is None:
                raise ConfigurationError(
                    f"Unsupported hash algorithm: {self.hash_algorithm}",
                    context={
                        "field": "hash_algorithm",
                        "value": self.hash_algorithm,
                        "allowed": list(_HASHES),
                    },
                )
            return func
        return self.hash_algorithm

    def _field_values(self) -> dict[str, Any]:
        """Init fields by name; dicts are copied, objects (the monitor) are shared."""
        values: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            if f.init and not f.name.startswith("_"):
                value = getattr(self, f.name)
                values[f.name] = (
                    copy.deepcopy(value) if isinstance(value, dict) else value
                )
        return values

    # -- validation ---------------------------------------------------------------------

    def _issues(self) -> list[_Issue]:
        issues: list[_Issue] = []

        def int_range(
            name: str, value: Any, low: int, high: int, too_low: str, too_high: str
        ) -> None:
            # The original's messages ("default_ttl must be positive, got 0",
            # "memory_cache_size too large (max 10000), got 20000"), which tests match.
            allowed = f"an integer between {low} and {high}"
            if not _is_int(value):
                message = f"{too_low} ({allowed}), got {value!r}"
            elif value < low:
                message = f"{too_low}, got {value}"
            elif value > high:
                message = f"{too_high}, got {value}"
            else:
                return
            issues.append(_Issue(name, value, allowed, message))

        url = self.redis_url
        if not isinstance(url, str) or not url.startswith(
            ("redis://", "rediss://", "unix://")
        ):
            allowed = "a URL starting with redis://, rediss:// or unix://"
            issues.append(
                _Issue(
                    "redis_url",
                    url,
                    allowed,
                    f"redis_url must start with redis://, rediss://, or unix://, got: {url}",
                )
            )
        int_range(
            "default_ttl",
            self.default_ttl,
            1,
            _ONE_YEAR,
            "default_ttl must be positive",
            "default_ttl too large (max 1 year)",
        )
        int_range(
            "memory_cache_size",
            self.memory_cache_size,
            0,
            10000,
            "memory_cache_size must be non-negative",
            "memory_cache_size too large (max 10000)",
        )
        int_range(
            "compression_threshold",
            self.compression_threshold,
            0,
            1024 * 1024,
            "compression_threshold must be non-negative",
            "compression_threshold too large (max 1MB)",
        )
        int_range(
            "compression_level",
            self.compression_level,
            1,
            9,
            "compression_level must be 1-9",
            "compression_level must be 1-9",
        )
        int_range(
            "text_hash_threshold",
            self.text_hash_threshold,
            1,
            100000,
            "text_hash_threshold must be positive",
            "text_hash_threshold too large (max 100000)",
        )
        if not isinstance(self.enable_l1_cache, bool):
            issues.append(
                _Issue(
                    "enable_l1_cache",
                    self.enable_l1_cache,
                    "a boolean",
                    f"enable_l1_cache must be a boolean, got {self.enable_l1_cache!r}",
                )
            )
        issues.extend(self._tier_issues())
        issues.extend(self._ttl_issues())
        algorithm = self.hash_algorithm
        if isinstance(algorithm, str):
            if algorithm not in _HASHES:
                issues.append(
                    _Issue(
                        "hash_algorithm",
                        algorithm,
                        "a callable or 'sha256'/'md5'",
                        "hash_algorithm must be callable or valid string ('sha256'/'md5'), "
                        f"got '{algorithm}'",
                    )
                )
        elif not callable(algorithm):
            issues.append(
                _Issue(
                    "hash_algorithm",
                    algorithm,
                    "a callable or 'sha256'/'md5'",
                    f"hash_algorithm must be callable or valid string, got {type(algorithm)}",
                )
            )
        monitor = self.performance_monitor
        if monitor is not None and not hasattr(monitor, "record_cache_operation_time"):
            issues.append(
                _Issue(
                    "performance_monitor",
                    type(monitor).__name__,
                    "an object with record_cache_operation_time()",
                    "performance_monitor must have record_cache_operation_time method",
                )
            )
        size = self.memory_cache_size
        if self.enable_l1_cache is False and _is_int(size) and size > 0:
            issues.append(
                _Issue(
                    "enable_l1_cache",
                    False,
                    "True when memory_cache_size > 0",
                    "Inconsistent configuration: enable_l1_cache=False but memory_cache_size "
                    "> 0. Either enable L1 cache or set memory_cache_size to 0.",
                )
            )
        return issues

    def _tier_issues(self) -> list[_Issue]:
        tiers = self.text_size_tiers
        if tiers is None:
            return []
        if not isinstance(tiers, dict):
            return [
                _Issue(
                    "text_size_tiers",
                    tiers,
                    "a dict with small, medium, large",
                    f"text_size_tiers must be a dict, got {tiers!r}",
                )
            ]
        issues: list[_Issue] = []
        required = ("small", "medium", "large")
        missing = [t for t in required if t not in tiers]
        if missing:
            issues.append(
                _Issue(
                    "text_size_tiers",
                    tiers,
                    "a dict with small, medium, large",
                    f"text_size_tiers missing required tiers: {missing}",
                )
            )
        for name, size in tiers.items():
            if not _is_int(size) or size <= 0:
                issues.append(
                    _Issue(
                        f"text_size_tiers['{name}']",
                        size,
                        "a positive integer",
                        f"text_size_tiers['{name}'] must be positive integer, got {size!r}",
                    )
                )
        if not missing and all(_is_int(tiers[t]) for t in required):
            small, medium, large = (tiers[t] for t in required)
            if not small < medium < large:
                issues.append(
                    _Issue(
                        "text_size_tiers",
                        tiers,
                        "small < medium < large",
                        "text_size_tiers must be ordered (small < medium < large), "
                        f"got small={small}, medium={medium}, large={large}",
                    )
                )
        return issues

    def _ttl_issues(self) -> list[_Issue]:
        ttls = self.operation_ttls
        if ttls is None:
            return []
        if not isinstance(ttls, dict):
            return [
                _Issue(
                    "operation_ttls",
                    ttls,
                    "a dict of operation: seconds",
                    f"operation_ttls must be a dict, got {ttls!r}",
                )
            ]
        return [
            _Issue(
                f"operation_ttls['{op}']",
                ttl,
                "a positive integer",
                f"operation_ttls['{op}'] must be positive integer, got {ttl!r}",
            )
            for op, ttl in ttls.items()
            if not _is_int(ttl) or ttl <= 0
        ]

    def validate(self) -> ValidationResult:
        result = ValidationResult()
        result.context = {"config_type": "AIResponseCacheConfig"}
        issues = self._issues()
        for issue in issues:
            result.add_error(issue.message)
        result.context["issues"] = [
            {"field": i.field, "value": i.value, "allowed": i.allowed} for i in issues
        ]
        if isinstance(self.operation_ttls, dict):
            for op, ttl in self.operation_ttls.items():
                if _is_int(ttl) and ttl > _ONE_YEAR:
                    result.add_warning(
                        f"operation_ttls['{op}'] is very large ({ttl} seconds = "
                        f"{ttl // 86400} days). Consider if this is intentional."
                    )
                if op not in _KNOWN_OPERATIONS:
                    result.add_warning(
                        f"Unknown operation '{op}' in operation_ttls. "
                        f"Valid operations: {list(_KNOWN_OPERATIONS)}"
                    )
        self._add_recommendations(result)
        return result

    def _add_recommendations(self, result: ValidationResult) -> None:
        threshold, level = self.compression_threshold, self.compression_level
        if _is_int(threshold) and threshold > 10000:
            result.add_recommendation(
                f"Compression threshold ({threshold}) is quite high. "
                "Consider lowering it to compress more responses and save memory."
            )
        if _is_int(level) and level > 7:
            result.add_recommendation(
                f"Compression level ({level}) is high, which uses more CPU. "
                "Consider level 6 for balanced performance and compression."
            )
        if self.text_hash_threshold != threshold:
            result.add_recommendation(
                f"Text hash threshold ({self.text_hash_threshold}) differs from compression "
                f"threshold ({threshold}). Consider aligning these values for consistency."
            )
        if _is_int(self.memory_cache_size) and self.memory_cache_size > 500:
            result.add_recommendation(
                f"Memory cache size ({self.memory_cache_size}) is quite large. "
                "Monitor memory usage and consider reducing if not needed."
            )
        if _is_int(self.default_ttl) and self.default_ttl > 86400:
            result.add_recommendation(
                f"Default TTL ({self.default_ttl} seconds = {self.default_ttl // 86400} "
                "days) is quite long. Consider shorter TTLs for more dynamic caching."
            )
        if self._operation_ttls_was_none:
            result.add_recommendation(
                "Consider setting operation-specific TTLs for better cache management. "
                "Different operations may benefit from different cache durations."
            )

    # -- conversion ---------------------------------------------------------------------

    def to_ai_cache_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``AIResponseCache`` (legacy ``memory_cache_size``)."""
        kwargs: dict[str, Any] = {
            "redis_url": self.redis_url,
            "default_ttl": self.default_ttl,
            "compression_threshold": self.compression_threshold,
            "compression_level": self.compression_level,
            "performance_monitor": self.performance_monitor,
            "text_hash_threshold": self.text_hash_threshold,
            "hash_algorithm": self._get_hash_algorithm_func(),
            "text_size_tiers": self.text_size_tiers,
            "memory_cache_size": self.memory_cache_size,
            "operation_ttls": self.operation_ttls,
        }
        return {k: v for k, v in kwargs.items() if v is not None}

    def to_generic_cache_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``GenericRedisCache`` (``l1_cache_size``)."""
        kwargs: dict[str, Any] = {
            "redis_url": self.redis_url,
            "default_ttl": self.default_ttl,
            "enable_l1_cache": self.enable_l1_cache,
            "l1_cache_size": self.memory_cache_size,
            "compression_threshold": self.compression_threshold,
            "compression_level": self.compression_level,
            "performance_monitor": self.performance_monitor,
            "security_config": self.security_config,
        }
        return {k: v for k, v in kwargs.items() if v is not None}

    # -- factories ------------------------------------------------------------------

    @classmethod
    def create_default(cls) -> Self:
        return cls()

    @classmethod
    def create_production(cls, redis_url: str) -> Self:
        return cls(
            redis_url=redis_url,
            default_ttl=7200,
            memory_cache_size=200,
            compression_threshold=500,
            compression_level=7,
            text_hash_threshold=500,
        )

    @classmethod
    def create_development(cls) -> Self:
        return cls(
            redis_url="redis://localhost:6379",
            default_ttl=1800,
            memory_cache_size=50,
            compression_threshold=2000,
            compression_level=3,
            text_hash_threshold=2000,
        )

    @classmethod
    def create_testing(cls) -> Self:
        return cls(
            redis_url="redis://localhost:6379",
            default_ttl=300,
            memory_cache_size=10,
            compression_threshold=5000,
            compression_level=1,
            text_hash_threshold=5000,
            operation_ttls={op: 300 for op in _KNOWN_OPERATIONS},
        )

    @classmethod
    def from_dict(
        cls, config_dict: Mapping[str, Any], convert_hash_algorithm: bool = True
    ) -> Self:
        """Build from a dict; unknown keys are dropped with a warning (as the original).

        A string ``hash_algorithm`` must be "sha256" or "md5" and becomes the hashlib
        function unless ``convert_hash_algorithm`` is False; ``performance_monitor=True``
        asks for a new monitor.
        """
        if not isinstance(config_dict, Mapping):
            raise ConfigurationError(
                f"AIResponseCacheConfig needs a mapping, got {type(config_dict).__name__}",
                context={
                    "field": "config_dict",
                    "value": repr(config_dict),
                    "allowed": "dict",
                },
            )
        data = dict(config_dict)
        algorithm = data.get("hash_algorithm")
        if isinstance(algorithm, str):
            if algorithm not in _HASHES:
                raise ConfigurationError(
                    f"Unsupported hash algorithm: {algorithm}",
                    context={
                        "field": "hash_algorithm",
                        "value": algorithm,
                        "allowed": list(_HASHES),
                    },
                )
            if convert_hash_algorithm:
                data["hash_algorithm"] = _HASHES[algorithm]
        if data.get("performance_monitor") is True:
            data["performance_monitor"] = _new_monitor()
        valid = {f.name for f in dataclasses.fields(cls) if f.init}
        unknown = sorted(set(data) - valid)
        if unknown:
            logger.warning(
                "Ignoring unknown AIResponseCacheConfig parameters: %s", unknown
            )
        try:
            return cls(**{k: v for k, v in data.items() if k in valid})
        except ConfigurationError:
            raise
        except (TypeError, ValueError) as exc:
            raise ConfigurationError(
                f"Failed to create AIResponseCacheConfig from dictionary: {exc}",
                context={
                    "config_dict_keys": list(data),
                    "error_type": type(exc).__name__,
                },
            ) from exc

    @classmethod
    def from_env(
        cls, prefix: str = "AI_CACHE_", environ: Mapping[str, str] | None = None
    ) -> Self:
        """Build from ``<prefix>*`` variables (default ``os.environ`` at call time).

        Invalid values raise ``ConfigurationError`` naming the variable; so does a
        configuration that fails :meth:`validate`.
        """
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name, (suffix, kind) in _ENV_FIELDS.items():
            var = f"{prefix}{suffix}"
            raw = env.get(var)
            if raw is None or not raw.strip():
                continue
            if kind == "int":
                values[name] = parse_int(var, raw)
            elif kind == "bool":
                values[name] = parse_bool(var, raw)
            elif kind == "json":
                values[name] = parse_json_object(var, raw)
            else:
                values[name] = raw.strip()
        if values.get("enable_l1_cache") is False and "memory_cache_size" not in values:
            values["memory_cache_size"] = 0
        values["_from_env_load"] = True
        config = cls.from_dict(values, convert_hash_algorithm=False)
        issues = config._issues()
        if issues:
            first = issues[0]
            base = first.field.split("[", 1)[0]
            var = (
                f"{prefix}{_ENV_FIELDS[base][0]}"
                if base in _ENV_FIELDS
                else first.field
            )
            raise ConfigurationError(
                f"Invalid AI cache configuration from environment: {var}: {first.message}",
                context={
                    "field": var,
                    "value": first.value,
                    "allowed": first.allowed,
                    "errors": [i.message for i in issues],
                    "prefix": prefix,
                },
            )
        return config

    @classmethod
    def from_yaml(cls, yaml_path: str | os.PathLike[str]) -> Self:
        """Build from a YAML mapping; needs PyYAML (``pip install aicache[yaml]``)."""
        path = Path(yaml_path)
        if importlib.util.find_spec("yaml") is None:
            raise ConfigurationError(
                "PyYAML is required to load YAML configuration files "
                "(pip install pyyaml, or aicache[yaml])",
                context={"yaml_path": str(path), "missing_dependency": "PyYAML"},
            )
        yaml: Any = importlib.import_module("yaml")
        text = _read_config_file(path, "YAML")
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            context: dict[str, Any] = {"yaml_path": str(path)}
            where = ""
            if mark is not None:
                context.update(line=mark.line + 1, column=mark.column + 1)
                where = f" (line {mark.line + 1}, column {mark.column + 1})"
            raise ConfigurationError(
                f"Invalid YAML in configuration file {path}{where}: {exc}",
                context=context,
            ) from exc
        if not isinstance(data, dict):
            raise ConfigurationError(
                f"YAML file must contain a mapping, got {type(data).__name__}",
                context={"yaml_path": str(path), "allowed": "a mapping"},
            )
        return cls.from_dict(data)

    @classmethod
    def from_json(cls, json_path: str | os.PathLike[str]) -> Self:
        path = Path(json_path)
        text = _read_config_file(path, "JSON")
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigurationError(
                f"Invalid JSON in configuration file {path}: {exc.msg} "
                f"(line {exc.lineno}, column {exc.colno}, char {exc.pos})",
                context={
                    "json_path": str(path),
                    "line": exc.lineno,
                    "column": exc.colno,
                    "position": exc.pos,
                },
            ) from exc
        if not isinstance(data, dict):
            raise ConfigurationError(
                f"JSON file must contain an object, got {type(data).__name__}",
                context={"json_path": str(path), "allowed": "a JSON object"},
            )
        return cls.from_dict(data)

    # -- merging --------------------------------------------------------------------

    def merge_with(self, **overrides: Any) -> Self:
        """A new config with ``overrides`` applied (None values are skipped)."""
        values = self._field_values()
        unknown = sorted(set(overrides) - set(values))
        if unknown:
            raise ConfigurationError(
                f"Unknown AIResponseCacheConfig parameters: {unknown}. "
                f"Valid parameters: {sorted(values)}",
                context={
                    "field": unknown[0],
                    "value": overrides[unknown[0]],
                    "allowed": sorted(values),
                },
            )
        values.update({k: v for k, v in overrides.items() if v is not None})
        return self._rebuild(values)

    def merge(self, other: "AIResponseCacheConfig") -> Self:
        """A new config: this one, overridden by every value of ``other`` that differs
        from the default (a monitor of ``other`` counts only if it was passed in)."""
        defaults = _default_values()
        values = self._field_values()
        for name, value in other._field_values().items():
            if name == "performance_monitor":
                if value is not None and not other._monitor_auto_created:
                    values[name] = value
                continue
            if value is None:
                continue
            if name == "hash_algorithm":
                if _hash_name(value) != _hash_name(defaults[name]):
                    values[name] = value
            elif value != defaults[name]:
                values[name] = value
        return self._rebuild(values)

    def _rebuild(self, values: dict[str, Any]) -> Self:
        return type(self).from_dict(values)

    def __repr__(self) -> str:
        return (
            f"AIResponseCacheConfig(redis_url='{self.redis_url}', "
            f"default_ttl={self.default_ttl}, memory_cache_size={self.memory_cache_size}, "
            f"text_hash_threshold={self.text_hash_threshold})"
        )


def _default_values() -> dict[str, Any]:
    """Field defaults after ``__post_init__`` (without creating a monitor)."""
    values: dict[str, Any] = {}
    for f in dataclasses.fields(AIResponseCacheConfig):
        if not f.init or f.name.startswith("_"):
            continue
        if f.default is not dataclasses.MISSING:
            values[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            values[f.name] = f.default_factory()
    values["text_size_tiers"] = _default_tiers()
    values["operation_ttls"] = _default_operation_ttls()
    return values


def _read_config_file(path: Path, kind: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigurationError(
            f"{kind} configuration file not found: {path}",
            context={"file_path": str(path)},
        ) from None
    except OSError as exc:
        raise ConfigurationError(
            f"Cannot read {kind} configuration file {path}: {exc}",
            context={"file_path": str(path), "error_type": type(exc).__name__},
        ) from exc
