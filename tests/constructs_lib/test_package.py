import constructs_lib


def test_every_exported_name_resolves():
    for name in constructs_lib.__all__:
        expected = constructs_lib._ALIASES.get(name, (None, name))[1]
        assert getattr(constructs_lib, name).__name__ == expected


def test_gke_cluster_spec_is_exported_without_clashing_with_the_cache_one():
    from constructs_lib import cache, gke

    assert constructs_lib.GkeClusterSpec is gke.ClusterSpec
    assert constructs_lib.ClusterSpec is cache.ClusterSpec


def test_unknown_name_is_an_attribute_error():
    import pytest

    with pytest.raises(AttributeError, match="has no attribute 'Nope'"):
        constructs_lib.Nope  # noqa: B018
