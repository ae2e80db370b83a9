import constructs_lib


def test_every_exported_name_resolves():
    for name in constructs_lib.__all__:
        assert getattr(constructs_lib, name).__name__ == name


def test_unknown_name_is_an_attribute_error():
    import pytest

    with pytest.raises(AttributeError, match="has no attribute 'Nope'"):
        constructs_lib.Nope  # noqa: B018
