"""The exception hierarchy and str() formats of spec section 2."""

from __future__ import annotations

import pickle

import pytest

from aicache.exceptions import (
    ApplicationError,
    ConfigurationError,
    InfrastructureError,
    ValidationError,
)


def test_hierarchy_matches_the_template() -> None:
    assert issubclass(ValidationError, ApplicationError)
    assert issubclass(ConfigurationError, ApplicationError)
    assert not issubclass(InfrastructureError, ApplicationError)
    assert issubclass(InfrastructureError, Exception)


@pytest.mark.parametrize("cls", [ApplicationError, ValidationError, ConfigurationError])
def test_application_errors_show_context(cls: type[ApplicationError]) -> None:
    e = cls("bad ttl", {"default_ttl": 0})
    assert e.message == "bad ttl"
    assert e.context == {"default_ttl": 0}
    assert str(e) == "bad ttl (Context: {'default_ttl': 0})"


@pytest.mark.parametrize("cls", [ApplicationError, ValidationError, ConfigurationError])
def test_empty_context_is_an_empty_dict_and_not_shown(
    cls: type[ApplicationError],
) -> None:
    for e in (cls("plain"), cls("plain", None), cls("plain", {})):
        assert e.context == {}
        assert str(e) == "plain"


def test_infrastructure_error_str_is_the_message_only() -> None:
    e = InfrastructureError("redis down", {"redis_url": "redis://x"})
    assert str(e) == "redis down"
    assert e.message == "redis down"
    assert e.context == {"redis_url": "redis://x"}
    assert InfrastructureError("x").context == {}


def test_context_is_not_shared_between_instances() -> None:
    a, b = ConfigurationError("a"), ConfigurationError("b")
    a.context["k"] = 1
    assert b.context == {}


def test_errors_are_catchable_as_raised() -> None:
    with pytest.raises(ApplicationError):
        raise ValidationError("v")
    with pytest.raises(InfrastructureError) as info:
        raise InfrastructureError("i", {"a": 1})
    assert info.value.context == {"a": 1}


def test_errors_pickle_round_trip_keeps_message() -> None:
    e = pickle.loads(pickle.dumps(ConfigurationError("m")))
    assert isinstance(e, ConfigurationError) and e.message == "m"
