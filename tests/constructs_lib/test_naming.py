import pytest
from hypothesis import given, strategies as st

from constructs_lib.errors import ConfigurationError
from constructs_lib.naming import NAME_PATTERN, Naming, check_labels, check_name


def test_name_is_app_env_role():
    assert Naming(app="ml", env="dev").name("vpc") == "ml-dev-vpc"
    assert Naming(app="ml", env="prod").name("serving", "us-central1") == "ml-prod-serving-us-central1"


def test_common_labels_always_carry_app_env_and_managed_by():
    naming = Naming(app="ml", env="dev", labels={"team": "platform"})
    assert naming.common_labels(model="resnet") == {
        "team": "platform", "model": "resnet", "app": "ml", "env": "dev", "managed-by": "cdktf",
    }


@pytest.mark.parametrize("key", ["app", "env", "managed-by"])
def test_fails_when_extra_labels_use_a_reserved_key(key):
    with pytest.raises(ConfigurationError, match=rf"labels.{key} = 'other': app, env, managed-by are reserved"):
        Naming(app="ml", env="dev", labels={key: "other"})


@pytest.mark.parametrize("name", ["a", "ml-dev-vpc", "a" * 63, "x1-2-y"])
def test_valid_names_pass(name):
    assert check_name(name) == name


@pytest.mark.parametrize("name", ["", "1abc", "Abc", "abc-", "a_b", "a" * 64, "ab.c", "ñame"])
def test_fails_when_name_breaks_gcp_rules(name):
    with pytest.raises(ConfigurationError, match=r"must match \^\[a-z\]"):
        check_name(name)


def test_fails_when_name_exceeds_resource_specific_length():
    with pytest.raises(ConfigurationError, match="at most 30 characters"):
        check_name("a" * 31, "account_id", max_length=30)


def test_fails_when_composed_name_is_too_long():
    naming = Naming(app="ml", env="dev")
    with pytest.raises(ConfigurationError, match=r"name = 'ml-dev-x+': must match"):
        naming.name("x" * 60)


@pytest.mark.parametrize("field,value", [("app", "ML"), ("env", "dev_1"), ("env", "-dev"), ("app", ""), ("env", "dev-")])
def test_fails_when_app_or_env_is_not_a_name_part(field, value):
    kwargs = {"app": "ml", "env": "dev", field: value}
    with pytest.raises(ConfigurationError, match=field):
        Naming(**kwargs)


def test_fails_when_name_part_is_invalid():
    with pytest.raises(ConfigurationError, match=r"name part 1 = 'Bad': must match"):
        Naming(env="dev").name("Bad")


@pytest.mark.parametrize(
    "labels,match",
    [
        ({"Team": "x"}, r"labels.Team = 'Team': label keys must match"),
        ({"team": "Platform"}, r"labels.team = 'Platform': label values must match"),
        ({"k" * 64: "x"}, "label keys must match"),
        ({"team": "x" * 64}, "label values must match"),
        ({"1team": "x"}, "label keys must match"),
        ({f"k{i}": "v" for i in range(65)}, "at most 64 labels"),
    ],
)
def test_fails_when_labels_break_gcp_rules(labels, match):
    with pytest.raises(ConfigurationError, match=match):
        check_labels(labels)


def test_empty_label_value_is_allowed():
    assert check_labels({"team": ""}) == {"team": ""}


_part = st.from_regex(r"[a-z]([a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True)


@given(app=_part, env=_part, role=_part)
def test_every_generated_name_obeys_gcp_rules_or_fails_clearly(app, env, role):
    naming = Naming(app=app, env=env)
    try:
        name = naming.name(role)
    except ConfigurationError as error:
        assert "must match" in str(error)  # e.g. a double hyphen is fine, length is not
    else:
        assert NAME_PATTERN.fullmatch(name)
        assert name == f"{app}-{env}-{role}"


@given(st.text(max_size=70))
def test_check_name_accepts_exactly_the_gcp_pattern(text):
    if NAME_PATTERN.fullmatch(text):
        assert check_name(text) == text
    else:
        with pytest.raises(ConfigurationError):
            check_name(text)
