"""Drop-in fidelity (issue 11, item 11) and module layout (issue 8).

Annotations of the public modules are real objects at run time, as in the
original (no ``from __future__ import annotations``), so ``inspect.signature``
and ``typing.get_type_hints`` give types, not strings. ``config`` and
``cache_presets`` no longer import each other: both use ``config_model``.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pickle
import subprocess
import sys
import typing
from pathlib import Path
from typing import Any

import pytest

from aicache.base import CacheInterface

PACKAGE = Path(__file__).resolve().parent.parent / "python" / "aicache"

# Modules whose annotations are evaluated at definition time.
REAL_ANNOTATION_MODULES = (
    "base",
    "exceptions",
    "encryption",
    "security",
    "config",
    "config_model",
    "cache_presets",
    "cache_validator",
    "parameter_mapping",
    "ai_config",
    "memory",
    "key_generator",
    "manager",
    "dependencies",
    "environment",
    "settings",
    "monitoring",
    "redis_generic",
    "redis_ai",
    "factory",
)
# Forward references that must stay quoted (a class naming itself in a parameter, or
# a helper defined before the class it takes).
QUOTED_FORWARD_REFERENCES = {
    ("config", "ValidationResult.merge"): ["ValidationResult"],
    ("ai_config", "AIResponseCacheConfig.merge"): ["AIResponseCacheConfig"],
    ("security", "_encryption_key_configured"): ["SecurityConfig"],
    ("monitoring", "_RecordsView.__init__"): ["CachePerformanceMonitor"],
    ("redis_generic", "GenericRedisCache.__aenter__"): ["GenericRedisCache"],
    ("redis_generic", "GenericRedisCache.create_secure"): ["GenericRedisCache"],
}


def _callables(module: Any) -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = []
    for name, obj in vars(module).items():
        if getattr(obj, "__module__", None) != module.__name__:
            continue
        if inspect.isfunction(obj):
            found.append((name, obj))
        elif inspect.isclass(obj):
            for attr, member in vars(obj).items():
                if isinstance(member, classmethod | staticmethod):
                    member = member.__func__
                elif isinstance(member, property):
                    member = member.fget
                if inspect.isfunction(member):
                    found.append((f"{name}.{attr}", member))
    return found


def test_base_interface_signature_has_real_types() -> None:
    get = inspect.signature(CacheInterface.get)
    assert get.parameters["key"].annotation is str
    assert get.return_annotation == Any | None
    set_ = inspect.signature(CacheInterface.set)
    assert set_.parameters["value"].annotation is Any
    assert set_.parameters["ttl"].annotation == int | None
    assert set_.return_annotation is None
    assert inspect.signature(CacheInterface.exists).return_annotation is bool


def test_redis_cache_signatures_have_real_types() -> None:
    from aicache.monitoring import CachePerformanceMonitor
    from aicache.redis_ai import AIResponseCache
    from aicache.redis_generic import GenericRedisCache

    get = inspect.signature(GenericRedisCache.get)
    assert get.parameters["key"].annotation is str
    assert get.return_annotation is Any
    init = inspect.signature(AIResponseCache.__init__)
    assert init.parameters["performance_monitor"].annotation == (
        CachePerformanceMonitor | None
    )


@pytest.mark.parametrize("name", REAL_ANNOTATION_MODULES)
def test_public_modules_have_no_string_annotations(name: str) -> None:
    source = (PACKAGE / f"{name}.py").read_text(encoding="utf-8")
    assert "from __future__ import annotations" not in source
    module = importlib.import_module(f"aicache.{name}")
    checked = 0
    for qualname, func in _callables(module):
        signature = inspect.signature(func)
        annotations = [p.annotation for p in signature.parameters.values()]
        annotations.append(signature.return_annotation)
        strings = [a for a in annotations if isinstance(a, str)]
        assert strings == QUOTED_FORWARD_REFERENCES.get((name, qualname), []), qualname
        # every annotation, quoted or not, resolves
        typing.get_type_hints(func)
        checked += 1
    assert checked > 0


def test_config_and_presets_do_not_import_each_other() -> None:
    def imported_modules(name: str) -> set[str]:
        tree = ast.parse((PACKAGE / f"{name}.py").read_text(encoding="utf-8"))
        found: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                found.add(node.module)
                found.update(f"{node.module}.{a.name}" for a in node.names)
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
        return found

    presets = imported_modules("cache_presets")
    assert not any(m == "aicache.config" for m in presets), presets
    model = imported_modules("config_model")
    assert not any(
        m.startswith(("aicache.config.", "aicache.cache_presets")) for m in model
    )
    assert not {"aicache.config", "aicache.cache_presets"} & model
    code = (
        "import sys, aicache.cache_presets as p\n"
        "assert 'aicache.config' not in sys.modules\n"
        "assert p.cache_preset_manager.get_preset('simple').to_cache_config()"
        ".preset_name == 'Simple'\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


def test_shared_classes_still_belong_to_config() -> None:
    from aicache import config, config_model

    for name in ("CacheConfig", "AICacheConfig", "ValidationResult"):
        cls = getattr(config, name)
        assert cls is getattr(config_model, name)
        assert cls.__module__ == "aicache.config"
    original = config.CacheConfig(redis_url="redis://localhost:6379", default_ttl=60)
    assert pickle.loads(pickle.dumps(original)) == original
    assert config.EnvironmentPresets.ai_production().preset_name == "AI Production"
