"""``@cached``: compute-once caching for async functions and FastAPI endpoints.

    from aicache.decorators import cached

    @app.get("/summary/{doc_id}")
    @cached(ttl=600)
    async def summary(doc_id: str, db: Session = Depends(get_db)) -> dict: ...

* The key is the function's module and qualified name plus its arguments
  (defaults applied; ``Request``/``Response``/``BackgroundTasks`` parameters,
  ``Depends(...)`` parameters such as DB sessions, and names in ``exclude`` are left
  out), hashed with SHA-256; ``key_builder(func, arguments)`` replaces it.
* Misses go through :func:`aicache.stampede.get_or_set`: concurrent identical calls
  run the function once (across processes with a Redis cache), with the same
  ``stale_ttl`` / ``early_refresh`` / ``negative_ttl`` / lock options.
  ``condition(result)`` false: the result is returned but not cached. A Starlette
  ``Response`` returned by the function is never cached.
* The cache: ``cache=`` a cache object, or a FastAPI dependency returning one
  (default :func:`aicache.dependencies.get_cache_service`, so
  ``app.dependency_overrides`` and the app's configuration choose it). Called
  outside FastAPI, the dependency is called directly.
* HTTP (FastAPI endpoints, ``http=True``): responses carry ``Cache-Control``
  (``cache_control``, default ``max-age=<ttl>``) and a strong ``ETag`` (SHA-256 of
  the JSON the endpoint returns); a request whose ``If-None-Match`` matches gets
  ``304 Not Modified`` with no body. With ``honor_no_cache=True`` a request with
  ``Cache-Control: no-cache`` skips the cached value and recomputes (and stores) it.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import inspect
import json
import typing
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

from aicache import stampede
from aicache.exceptions import ConfigurationError

__all__ = ["cached", "default_key_builder", "etag_for"]

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])

_REQUEST_PARAM = "aicache_request_"
_RESPONSE_PARAM = "aicache_response_"
_CACHE_PARAM = "aicache_cache_"
_INJECTED = (_REQUEST_PARAM, _RESPONSE_PARAM, _CACHE_PARAM)

try:
    from starlette.background import BackgroundTasks
    from starlette.requests import HTTPConnection, Request
    from starlette.responses import Response

    _STARLETTE = True
    _FRAMEWORK_TYPES: tuple[type, ...] = (HTTPConnection, Response, BackgroundTasks)
except ImportError:  # pragma: no cover - FastAPI is an optional extra
    _STARLETTE = False
    _FRAMEWORK_TYPES = ()


def _depends_types() -> tuple[type, ...]:
    from aicache.dependencies import _DEPENDS_TYPES

    return _DEPENDS_TYPES


def _canonical(value: Any) -> Any:
    """A JSON-able form of an argument that is stable across processes."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, bytes):
        return {"__bytes__": value.hex()}
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in sorted(value.items(), key=str)}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted((_canonical(v) for v in value), key=repr)
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return _canonical(dump(mode="json"))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _canonical(dataclasses.asdict(value))
    if hasattr(value, "value") and hasattr(type(value), "__members__"):  # Enum
        return _canonical(value.value)
    return repr(value)


def default_key_builder(func: Callable[..., Any], arguments: dict[str, Any]) -> str:
    """``aicache:cached:<module>.<qualname>:<sha256 of the arguments' JSON>``."""
    payload = json.dumps(
        _canonical(arguments), sort_keys=True, separators=(",", ":"), ensure_ascii=True
    )
    digest = hashlib.sha256(payload.encode()).hexdigest()
    return f"aicache:cached:{func.__module__}.{func.__qualname__}:{digest}"


def etag_for(value: Any) -> str:
    """The strong ETag of a value as FastAPI would serialise it."""
    try:
        from fastapi.encoders import jsonable_encoder

        encoded = jsonable_encoder(value)
    except ImportError:  # pragma: no cover - FastAPI is an optional extra
        encoded = _canonical(value)
    payload = json.dumps(encoded, sort_keys=True, separators=(",", ":"), default=repr)
    return '"' + hashlib.sha256(payload.encode()).hexdigest()[:32] + '"'


def _etag_matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    for candidate in header.split(","):
        tag = candidate.strip()
        if tag == "*":
            return True
        if tag.startswith("W/"):
            tag = tag[2:]  # If-None-Match uses the weak comparison
        if tag == etag:
            return True
    return False


def _wants_fresh(request: Any) -> bool:
    header = request.headers.get("cache-control", "") if request is not None else ""
    return any(
        part.strip().lower() in ("no-cache", "no-store") for part in header.split(",")
    )


def _excluded_parameters(
    func: Callable[..., Any], exclude: Iterable[str]
) -> tuple[frozenset[str], dict[str, Any]]:
    """Names left out of the key, and the resolved type hints of func."""
    try:
        hints = typing.get_type_hints(func, include_extras=True)
    except Exception:  # unresolvable forward references: fall back to the raw ones
        hints = dict(getattr(func, "__annotations__", {}))
    depends = _depends_types()
    names = set(exclude)
    for name, param in inspect.signature(func).parameters.items():
        if isinstance(param.default, depends):
            names.add(name)
            continue
        hint = hints.get(name)
        if typing.get_origin(hint) is typing.Annotated:
            if any(isinstance(m, depends) for m in typing.get_args(hint)[1:]):
                names.add(name)
                continue
            hint = typing.get_args(hint)[0]
        if (
            isinstance(hint, type)
            and _FRAMEWORK_TYPES
            and issubclass(hint, _FRAMEWORK_TYPES)
        ):
            names.add(name)
    return frozenset(names), hints


def cached(
    ttl: float | None = None,
    *,
    cache: Any = None,
    key_builder: Callable[[Callable[..., Any], dict[str, Any]], str] | None = None,
    exclude: Iterable[str] = (),
    condition: Callable[[Any], bool] | None = None,
    http: bool = True,
    cache_control: str | None = None,
    honor_no_cache: bool = False,
    **compute_options: Any,
) -> Callable[[F], F]:
    """Cache an async function's results (see the module documentation).

    Args:
        ttl: seconds a result stays fresh (None: the cache's default).
        cache: a cache object, or a dependency returning one (default
            ``get_cache_service``).
        key_builder: ``key_builder(func, arguments) -> str``; ``arguments`` maps
            parameter names to values, without the excluded ones.
        exclude: more parameter names to leave out of the key.
        condition: cache a result only when ``condition(result)`` is true.
        http: ETag / Cache-Control / 304 handling for FastAPI endpoints.
        cache_control: the ``Cache-Control`` value (default ``max-age=<ttl>``).
        honor_no_cache: a request's ``Cache-Control: no-cache`` skips the read.
        compute_options: ``stale_ttl``, ``early_refresh``, ``negative_ttl``,
            ``is_negative``, ``lock``, ``lock_lease``, ``lock_wait`` as for
            :func:`aicache.stampede.get_or_set`.
    """
    stampede.make_options(ttl=ttl, **compute_options)  # reject bad options now
    if condition is not None and not callable(condition):
        raise ConfigurationError("condition must be callable", {"condition": condition})
    if key_builder is not None and not callable(key_builder):
        raise ConfigurationError(
            "key_builder must be callable", {"key_builder": key_builder}
        )
    if cache is None:
        from aicache.dependencies import get_cache_service

        cache = get_cache_service
    cache_object = cache if hasattr(cache, "get") and hasattr(cache, "set") else None
    if cache_object is None and not callable(cache):
        raise ConfigurationError(
            "cache must be a cache object or a dependency returning one",
            {"cache": repr(cache)},
        )
    if cache_control is None:
        cache_control = (
            f"max-age={max(0, int(ttl))}" if ttl is not None and ttl > 0 else "no-cache"
        )
    build_key = key_builder or default_key_builder

    def _cache_result(result: Any) -> bool:
        if _STARLETTE and isinstance(result, Response):
            return False
        return condition is None or bool(condition(result))

    def decorate(func: F) -> F:
        if not inspect.iscoroutinefunction(func):
            raise ConfigurationError(
                "@cached decorates async functions",
                {"function": getattr(func, "__qualname__", repr(func))},
            )
        signature = inspect.signature(func)
        excluded, hints = _excluded_parameters(func, exclude)
        # FastAPI fills one Request and one Response parameter per endpoint: reuse
        # the function's own when it declares them.
        request_name = _parameter_of_type(signature, hints, "Request")
        response_name = _parameter_of_type(signature, hints, "Response")

        def key_of(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            arguments = {
                name: value
                for name, value in bound.arguments.items()
                if name not in excluded
                and not (_FRAMEWORK_TYPES and isinstance(value, _FRAMEWORK_TYPES))
                and not isinstance(value, _depends_types())
            }
            return build_key(func, arguments)

        async def resolve_cache(injected: Any) -> Any:
            if cache_object is not None:
                return cache_object
            if injected is not None:
                return injected
            result = cache()
            return await result if inspect.isawaitable(result) else result

        @functools.wraps(func)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            request = kwargs.pop(_REQUEST_PARAM, None)
            if request_name is not None:
                request = kwargs.get(request_name)
            response = kwargs.pop(_RESPONSE_PARAM, None)
            if response_name is not None:
                response = kwargs.get(response_name)
            target = await resolve_cache(kwargs.pop(_CACHE_PARAM, None))
            key = key_of(args, kwargs)
            force = honor_no_cache and _wants_fresh(request)
            value = await stampede.get_or_set(
                target,
                key,
                lambda: func(*args, **kwargs),
                ttl,
                cache_if=_cache_result,
                force_refresh=force,
                **compute_options,
            )
            if not http or request is None or response is None:
                return value
            if isinstance(value, Response):
                return value
            etag = etag_for(value)
            headers = {"ETag": etag, "Cache-Control": cache_control}
            if _etag_matches(request.headers.get("if-none-match"), etag):
                return Response(status_code=304, headers=headers)
            response.headers.update(headers)
            return value

        wrapper.cache_key = lambda *a, **kw: key_of(a, kw)  # type: ignore[attr-defined]

        async def invalidate(*a: Any, **kw: Any) -> None:
            """Delete the cached result for these arguments."""
            target = await resolve_cache(None)
            await target.delete(key_of(a, kw))

        wrapper.invalidate = invalidate  # type: ignore[attr-defined]
        if _STARLETTE:
            wrapper.__signature__ = _endpoint_signature(  # type: ignore[attr-defined]
                signature,
                hints,
                inject_request=request_name is None,
                inject_response=response_name is None,
                inject_cache=cache_object is None,
                dependency=cache,
            )
        return typing.cast(F, wrapper)

    return decorate


def _parameter_of_type(
    signature: inspect.Signature, hints: dict[str, Any], kind: str
) -> str | None:
    """The name of func's parameter annotated with a Request (or Response) type."""
    if not _STARLETTE:
        return None
    base = Request if kind == "Request" else Response
    for name in signature.parameters:
        hint = hints.get(name)
        if typing.get_origin(hint) is typing.Annotated:
            hint = typing.get_args(hint)[0]
        if isinstance(hint, type) and issubclass(hint, base):
            return name
    return None


def _endpoint_signature(
    signature: inspect.Signature,
    hints: dict[str, Any],
    *,
    inject_request: bool,
    inject_response: bool,
    inject_cache: bool,
    dependency: Any,
) -> inspect.Signature:
    """func's signature (annotations resolved, since FastAPI evaluates string
    annotations in the wrapper's module) plus the parameters FastAPI fills in for
    the wrapper: the request, the response, and the cache dependency."""
    from aicache.dependencies import Depends

    params = [
        p.replace(annotation=hints.get(name, p.annotation))
        for name, p in signature.parameters.items()
    ]
    extra = []
    if inject_request:
        extra.append(
            inspect.Parameter(
                _REQUEST_PARAM, inspect.Parameter.KEYWORD_ONLY, annotation=Request
            )
        )
    if inject_response:
        extra.append(
            inspect.Parameter(
                _RESPONSE_PARAM, inspect.Parameter.KEYWORD_ONLY, annotation=Response
            )
        )
    if inject_cache:
        extra.append(
            inspect.Parameter(
                _CACHE_PARAM,
                inspect.Parameter.KEYWORD_ONLY,
                default=Depends(dependency),
                annotation=Any,
            )
        )
    var_kw = [p for p in params if p.kind is inspect.Parameter.VAR_KEYWORD]
    rest = [p for p in params if p.kind is not inspect.Parameter.VAR_KEYWORD]
    return signature.replace(
        parameters=[*rest, *extra, *var_kw],
        return_annotation=hints.get("return", signature.return_annotation),
    )
