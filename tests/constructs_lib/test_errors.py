import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from constructs_lib.errors import ConfigurationError, format_validation_error


class _Inner(BaseModel):
    model_config = ConfigDict(extra="forbid")
    size: int = Field(default=1, ge=1, le=10)


class _Outer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    inner: _Inner = _Inner()


def _error(data) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        _Outer.model_validate(data)
    return info.value


def test_configuration_error_names_field_value_and_rule():
    error = ConfigurationError("autoscaling.max_replicas", 2, "must be >= min_replicas (4)")
    assert str(error) == "autoscaling.max_replicas = 2: must be >= min_replicas (4)"
    assert (error.field, error.value) == ("autoscaling.max_replicas", 2)


def test_validation_error_becomes_one_line_with_key_path():
    message = format_validation_error(_error({"name": "x", "inner": {"size": 50}}), model=_Outer)
    assert message == "inner.size = 50: Input should be less than or equal to 10"


def test_unknown_key_lists_the_allowed_keys():
    message = format_validation_error(_error({"name": "x", "inner": {"sise": 2}}), model=_Outer)
    assert message == "inner.sise = 2: unknown key; allowed keys: size"


def test_missing_key_is_named():
    assert format_validation_error(_error({}), model=_Outer) == "name: required key is missing"


def test_multiline_values_stay_on_one_line():
    message = format_validation_error(_error({"name": "x", "inner": {"size": "a\nb"}}), model=_Outer)
    assert "\n" not in message and "'a\\nb'" in message


def test_several_errors_are_joined_with_semicolons():
    message = format_validation_error(_error({"inner": {"size": 0}}), prefix="env.", model=_Outer)
    assert message.count("; ") == 1 and message.startswith("env.name: required key is missing")
