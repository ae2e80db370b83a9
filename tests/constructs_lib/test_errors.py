from typing import Annotated

import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from constructs_lib.errors import ConfigurationError, Spec, SpecError, format_validation_error, invalid, rule


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
    message = format_validation_error(_error({"name": "x", "inner": {"colour": 2}}), model=_Outer)
    assert message == "inner.colour = 2: unknown key; allowed keys: size"


def test_unknown_key_close_to_an_allowed_one_gets_did_you_mean():
    message = format_validation_error(_error({"name": "x", "inner": {"sise": 2}}), model=_Outer)
    assert message == "inner.sise = 2: unknown key; did you mean 'size'? allowed keys: size"


def test_missing_key_is_named():
    assert format_validation_error(_error({}), model=_Outer) == "name: required key is missing"


def test_multiline_values_stay_on_one_line():
    message = format_validation_error(_error({"name": "x", "inner": {"size": "a\nb"}}), model=_Outer)
    assert "\n" not in message and "'a\\nb'" in message


def test_several_errors_are_joined_with_semicolons():
    message = format_validation_error(_error({"inner": {"size": 0}}), prefix="env.", model=_Outer)
    assert message.count("; ") == 1 and message.startswith("env.name: required key is missing")


class _Limits(Spec):
    low: int = 1
    high: int = 2
    moved_keys = {"maximum": "renamed to high"}

    @model_validator(mode="after")
    def _order(self) -> "_Limits":
        if self.high < self.low:
            raise invalid("high", self.high, f"must be >= low ({self.low})")
        return self


class _Holder(Spec):
    limits: _Limits = _Limits()
    tags: tuple[str, ...] = ()

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for index, tag in enumerate(value):
            if not tag.islower():
                raise invalid(f"tags[{index}]", tag, "must be lowercase")
        return value


def test_spec_from_python_raises_one_line_configuration_error_with_the_full_key_path():
    with pytest.raises(SpecError) as info:
        _Holder(limits={"low": 5, "high": 3})
    assert str(info.value) == "_Holder: limits.high = 3: must be >= low (5)"
    assert isinstance(info.value, ConfigurationError) and info.value.field == "limits.high"


def test_rule_raised_in_a_field_validator_keeps_its_index():
    with pytest.raises(SpecError, match=r"^_Holder: tags\[1\] = 'B': must be lowercase$"):
        _Holder(tags=("a", "B"))


def test_moved_key_says_where_it_went():
    with pytest.raises(SpecError, match=r"^_Holder: limits.maximum = 3: this key moved: renamed to high$"):
        _Holder(limits={"maximum": 3})


def test_nested_specs_validate_in_one_pass_from_environment_files():
    with pytest.raises(ValidationError) as info:
        _Holder.model_validate_json('{"limits": {"low": 5, "high": 3}}')
    assert format_validation_error(info.value, model=_Holder) == "limits.high = 3: must be >= low (5)"


def test_rule_adapter_reports_the_checks_allowed_text():
    from constructs_lib.naming import check_name_part

    class _Named(Spec):
        part: Annotated[str, rule(check_name_part)]

    with pytest.raises(SpecError, match=r"^_Named: part = 'Bad_Part': must match \^\[a-z\]"):
        _Named(part="Bad_Part")
