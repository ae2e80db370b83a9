"""The shared value rules of ``constructs_lib.values``: tokens, unique items, request and object
paths, HTTP headers, CIDR blocks, IPv4 addresses, environment variable names and images."""

import ipaddress

import pytest
from cdktf import TerraformVariable, Token

from constructs_lib._google import compute_network
from constructs_lib.errors import ConfigurationError, Spec
from constructs_lib.values import (
    MAX_REQUEST_PATH,
    AnyCidr,
    Cidr,
    HeaderLine,
    HeaderName,
    Image,
    Ipv4Address,
    ObjectPath,
    PrivateCidr,
    RequestPath,
    check_any_cidr,
    check_cidr,
    check_disjoint,
    check_env_name,
    check_header_line,
    check_header_name,
    check_image,
    check_ipv4_address,
    check_object_path,
    check_private_cidr,
    check_request_path,
    check_unique,
    is_token,
    parse_cidr,
    repeated,
)

DIGEST = "sha256:" + "0123456789abcdef" * 4


# -- tokens -------------------------------------------------------------------------------------

def test_is_token_on_cdktf_tokens(stack):
    network = compute_network.ComputeNetwork(stack, "vpc", name="ml-test-vpc")
    names = TerraformVariable(stack, "names", type="list(string)")
    labels = TerraformVariable(stack, "labels", type="map(string)")
    size = TerraformVariable(stack, "size", type="number")
    assert is_token(network.id)
    assert is_token(f"serviceAccount:{network.name}@p.iam.gserviceaccount.com")  # a token inside a string
    assert is_token(names.list_value) and is_token(Token.as_list(names.value))
    assert is_token(["literal", network.name]) and is_token(("literal", network.name))
    assert is_token(Token.as_string_map(labels.value))
    assert is_token({"model": network.name})
    assert is_token(size.number_value) and is_token(Token.as_number(size.value))
    assert is_token(Token.as_number_list(names.value)[0])


@pytest.mark.parametrize(
    "value",
    ["", "plain", "${var.x}", "#{not a token}", 8080, 0.5, -1e300, True, None, [], ["a", "b"], {"a": "b"}, (), object()],
)
def test_is_token_is_false_for_literals(value):
    assert not is_token(value)


# -- unique items -------------------------------------------------------------------------------

def test_repeated_lists_each_repeated_item_once_sorted():
    assert repeated(["b", "a", "b", "c", "a", "b"]) == ["a", "b"]
    assert repeated([]) == [] and repeated(["a", "b"]) == []
    assert repeated(iter([3, 1, 3])) == [3]


def test_check_unique_returns_the_items():
    items = ["europe-west1", "us-central1"]
    assert check_unique(items, "regions", "region") is items


def test_fails_when_an_item_is_listed_twice():
    with pytest.raises(ConfigurationError) as failed:
        check_unique(["us-east1", "europe-west1", "us-east1", "europe-west1"], "regions", "region")
    assert str(failed.value) == (
        "regions = ['us-east1', 'europe-west1', 'us-east1', 'europe-west1']: each region may be listed once; "
        "repeated: europe-west1, us-east1"
    )
    assert failed.value.field == "regions"


def test_fails_when_an_item_is_listed_twice_with_the_default_noun():
    with pytest.raises(ConfigurationError, match=r"^tags = \['a', 'a'\]: each item may be listed once; repeated: a$"):
        check_unique(("a", "a"), "tags")


# -- paths --------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/", "/healthz", "/v2/health/ready", "/v1/models/resnet:predict", "/" + "a" * (MAX_REQUEST_PATH - 1)])
def test_request_paths_are_accepted(path):
    assert check_request_path(path) == path


@pytest.mark.parametrize(
    "path", ["", "healthz", "/health z", "/health?x=1", "/health#top", "/a\tb", "/a\nb", "/" + "a" * MAX_REQUEST_PATH, None, 42],
)
def test_fails_when_a_request_path_is_not_absolute_or_has_spaces_query_or_fragment(path):
    with pytest.raises(ConfigurationError) as failed:
        check_request_path(path, "health_path")
    assert str(failed.value).startswith("health_path = ")
    assert failed.value.allowed == "must be an absolute request path such as /healthz (no spaces, ? or #, at most 1024 characters)"


@pytest.mark.parametrize("path", ["resnet", "resnet/v3", "llm/v2/", "a/..b", "models/2024-05-01/weights.bin"])
def test_object_paths_are_accepted(path):
    assert check_object_path(path) == path


@pytest.mark.parametrize("path", ["", "/", "//", "/resnet", "a//b", "a/../b", "..", "../a", "a/..", "a\nb", "a\rb", None])
def test_fails_when_an_object_path_is_not_a_relative_prefix(path):
    with pytest.raises(ConfigurationError) as failed:
        check_object_path(path)
    assert str(failed.value) == (
        f"model_path = {path!r}: must be a relative object prefix such as resnet/v3 (no leading /, no .., no //)"
    )


# -- HTTP headers -------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["x-model-version", "X-Cache-Status", "x_session", "Authorization"])
def test_header_names_are_accepted(name):
    assert check_header_name(name) == name


@pytest.mark.parametrize("name", ["", "x model", "x:y", "x-modèle", "x\nmodel", None])
def test_fails_when_a_header_name_has_other_characters(name):
    with pytest.raises(ConfigurationError) as failed:
        check_header_name(name, "headers.x")
    assert str(failed.value) == f"headers.x = {name!r}: must be an HTTP header name (letters, digits and -)"


@pytest.mark.parametrize("line", ["X-Client-Region: {client_region}", "X-Cache-Status:{cdn_cache_status}", "X-Empty:"])
def test_header_lines_are_accepted(line):
    assert check_header_line(line) == line


@pytest.mark.parametrize("line", ["no colon", ": value", "X Header: value", "X-A: b\nX-Injected: c", "X-A: b\n", "", None])
def test_fails_when_a_header_line_is_not_name_colon_value(line):
    with pytest.raises(ConfigurationError) as failed:
        check_header_line(line, "custom_request_headers[0]")
    assert str(failed.value).startswith("custom_request_headers[0] = ")
    assert failed.value.allowed == "must look like 'Header-Name: value'"


# -- CIDR blocks and addresses ------------------------------------------------------------------

def test_parse_cidr_returns_the_network():
    assert parse_cidr("10.20.0.0/20") == ipaddress.IPv4Network("10.20.0.0/20")
    assert parse_cidr("2001:db8::/32", ipv6=True) == ipaddress.IPv6Network("2001:db8::/32")


@pytest.mark.parametrize(("value", "allowed"), [
    ("10.20.0.1/20", "must be a CIDR block such as 10.20.0.0/20"),  # host bits set
    ("10.20.0.0/33", "must be a CIDR block such as 10.20.0.0/20"),
    ("not-a-cidr", "must be a CIDR block such as 10.20.0.0/20"),
    (None, "must be a CIDR block such as 10.20.0.0/20"),
    ("2001:db8::/32", "must be an IPv4 CIDR block such as 10.20.0.0/20"),
])
def test_fails_when_an_ipv4_cidr_is_invalid(value, allowed):
    with pytest.raises(ConfigurationError) as failed:
        check_cidr(value, "dest_range")
    assert str(failed.value) == f"dest_range = {value!r}: {allowed}"
    with pytest.raises(ConfigurationError, match=r"^dest_range = "):
        parse_cidr(value, "dest_range")


@pytest.mark.parametrize("value", ["10.20.0.0/20", "0.0.0.0/0", "203.0.113.7/32"])
def test_ipv4_cidrs_are_accepted(value):
    assert check_cidr(value) == value


@pytest.mark.parametrize("value", ["198.51.100.0/24", "2001:db8::/32", "::/0", "203.0.113.7"])
def test_any_cidr_accepts_ipv4_and_ipv6(value):
    assert check_any_cidr(value) == value  # a single address is a /32 (/128) block


@pytest.mark.parametrize("value", ["10.0.0.1/8", "2001:db8::1/32", "any"])
def test_fails_when_a_source_range_is_not_a_cidr_block(value):
    with pytest.raises(ConfigurationError) as failed:
        check_any_cidr(value, "deny_source_ranges[0]")
    assert str(failed.value) == f"deny_source_ranges[0] = {value!r}: must be a CIDR block such as 203.0.113.0/24"


@pytest.mark.parametrize("value", ["10.10.0.0/16", "10.0.0.0/8", "172.16.0.0/12", "172.31.255.0/24", "192.168.1.0/24", "100.64.0.0/10"])
def test_private_cidrs_are_accepted(value):
    assert check_private_cidr(value) == value


@pytest.mark.parametrize("value", ["8.8.8.0/24", "10.0.0.0/7", "172.32.0.0/16", "192.169.0.0/16", "100.128.0.0/10", "0.0.0.0/0"])
def test_fails_when_a_cidr_is_not_private(value):
    with pytest.raises(ConfigurationError) as failed:
        check_private_cidr(value, "subnet_cidr_base")
    assert str(failed.value) == (
        f"subnet_cidr_base = {value!r}: must be a private range inside 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 or 100.64.0.0/10"
    )


def test_fails_when_a_private_cidr_is_not_an_ipv4_cidr():
    with pytest.raises(ConfigurationError, match=r"^cidr = 'fd00::/8': must be an IPv4 CIDR block"):
        check_private_cidr("fd00::/8")


@pytest.mark.parametrize("value", ["10.30.0.0", "0.0.0.0", "255.255.255.255"])
def test_ipv4_addresses_are_accepted(value):
    assert check_ipv4_address(value) == value


@pytest.mark.parametrize("value", ["10.0.0", "10.0.0.300", "010.0.0.1", "::1", "10.0.0.0/8", "", None])
def test_fails_when_an_ipv4_address_is_invalid(value):
    with pytest.raises(ConfigurationError) as failed:
        check_ipv4_address(value, "next_hop_ip")
    assert str(failed.value) == f"next_hop_ip = {value!r}: must be an IPv4 address such as 10.30.0.0"


def test_disjoint_ranges_pass():
    assert check_disjoint({"nodes": "10.0.0.0/20", "pods": "10.4.0.0/14", "services": "10.8.0.0/20", "v6": "2001:db8::/32"}) is None


def test_fails_when_ranges_overlap_naming_the_later_one():
    with pytest.raises(ConfigurationError) as failed:
        check_disjoint({"node_cidr": "10.0.0.0/16", "pods_cidr": "10.1.0.0/16", "services_cidr": "10.0.128.0/20"}, "gke.")
    assert str(failed.value) == "gke.services_cidr = '10.0.128.0/20': overlaps node_cidr (10.0.0.0/16); the ranges must be disjoint"


def test_fails_when_a_range_to_compare_is_not_a_cidr():
    with pytest.raises(ConfigurationError, match=r"^gke.pods_cidr = '10.1.0.1/16': must be a CIDR block"):
        check_disjoint({"node_cidr": "10.0.0.0/16", "pods_cidr": "10.1.0.1/16"}, "gke.")


# -- environment variable names and images ------------------------------------------------------

@pytest.mark.parametrize("name", ["MODEL_DIR", "_PRIVATE", "a1", "HF_HOME"])
def test_env_names_are_accepted(name):
    assert check_env_name(name) == name


@pytest.mark.parametrize("name", ["", "1ST", "MODEL-DIR", "MODEL DIR", "MODÈLE", None])
def test_fails_when_an_env_name_is_invalid(name):
    with pytest.raises(ConfigurationError) as failed:
        check_env_name(name, "env")
    assert str(failed.value) == f"env = {name!r}: must be an environment variable name matching ^[A-Za-z_][A-Za-z0-9_]*$"


@pytest.mark.parametrize("image", [
    "nginx",
    "us-docker.pkg.dev/project/repo/server:1.2",
    "nvcr.io/nvidia/tritonserver:24.05-py3",
    "localhost:5000/models/server:latest",
    "gcr.io/project/server@" + DIGEST,
    "gcr.io/project/server:1.0@" + DIGEST,
    "europe-docker.pkg.dev/p/r/a__b/c-d.e:V1_x",
])
def test_images_are_accepted(image):
    assert check_image(image) == image


@pytest.mark.parametrize("image", [
    "",
    "Nginx",
    "us-docker.pkg.dev/Project/repo/server",
    "https://gcr.io/project/server",
    "server:",
    "server:-1",
    "server:" + "t" * 129,
    "server:1 2",
    "server@sha256:abc",
    "gcr.io/project/server/",
    None,
])
def test_fails_when_an_image_is_not_an_image_reference(image):
    with pytest.raises(ConfigurationError) as failed:
        check_image(image)
    assert (failed.value.field, failed.value.value) == ("image", image)
    assert failed.value.allowed == "must be a container image reference such as us-docker.pkg.dev/project/repo/server:1.2"


# -- spec field types ---------------------------------------------------------------------------

class _Values(Spec):
    """Every field type of ``values`` on one spec."""

    path: RequestPath = "/healthz"
    prefix: ObjectPath = "resnet"
    header: HeaderName = "x-model"
    line: HeaderLine = "X-A: b"
    cidr: Cidr = "10.0.0.0/8"
    source: AnyCidr = "2001:db8::/32"
    private: PrivateCidr = "10.10.0.0/16"
    address: Ipv4Address = "10.30.0.0"
    image: Image = "nginx"


def test_spec_field_types_accept_valid_values():
    assert _Values().path == "/healthz"


@pytest.mark.parametrize(("field", "value", "allowed"), [
    ("path", "healthz", "must be an absolute request path such as /healthz"),
    ("prefix", "/resnet", "must be a relative object prefix such as resnet/v3"),
    ("header", "x model", "must be an HTTP header name"),
    ("line", "no colon", "must look like 'Header-Name: value'"),
    ("cidr", "2001:db8::/32", "must be an IPv4 CIDR block such as 10.20.0.0/20"),
    ("source", "10.0.0.1/8", "must be a CIDR block such as 203.0.113.0/24"),
    ("private", "8.8.8.0/24", "must be a private range inside 10.0.0.0/8"),
    ("address", "10.0.0", "must be an IPv4 address such as 10.30.0.0"),
    ("image", "Nginx", "must be a container image reference"),
])
def test_fails_when_a_spec_field_breaks_its_rule(field, value, allowed):
    with pytest.raises(ConfigurationError) as failed:
        _Values(**{field: value})
    message = str(failed.value)
    assert message.startswith(f"_Values: {field} = {value!r}: {allowed}")
    assert "\n" not in message
