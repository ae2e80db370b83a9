"""The load balancer's traffic- and safety-critical values, checked through ``ModelServing`` and
``ServingStack`` (what users deploy), not only through snapshots.

Each test says why a seeded bug fails it: swapped canary weights, a second canary overwriting the
first, an SSL policy that ignores ``min_tls_version``, unmatched paths reaching a model, a drain
shorter than the request timeout, CDN on a POST model.
"""

from __future__ import annotations

import pytest
from cdktf import Testing

from constructs_lib.errors import ConfigurationError
from constructs_lib.serving import ModelServing
from constructs_lib.specs.backends import BackendServiceSpec
from constructs_lib.specs.load_balancer import LoadBalancerSpec, SslPolicySpec, health_route_path
from constructs_lib.specs.model import ModelSpec
from stacks.config import EnvironmentFileError, parse_environment
from stacks.serving_stack import ServingStack
from tests.conftest import TEST_PROJECT, TEST_REGION, new_app, only_resource, resource_by_path, resources, synth

IMAGE = "us-docker.pkg.dev/test-project-123/models/server:1.0"
ABORT_404 = {"fault_injection_policy": {"abort": {"http_status": 404, "percentage": 100}}}
ENVIRONMENT = 'project_id = "my-project-1"\nregions = ["us-central1"]\n'
RESNET = '\n[[models]]\nname = "resnet"\nimage = "us-docker.pkg.dev/p/r/server:1"\n'


def _model(name: str, **fields) -> ModelSpec:
    return ModelSpec(name=name, image=IMAGE, **fields)


def _serving(stack, naming, models, **kwargs) -> ModelServing:
    return ModelServing(stack, "Default", naming=naming, project_id=TEST_PROJECT, regions=[TEST_REGION], models=models, **kwargs)


def _environment(text: str) -> ServingStack:
    return ServingStack(new_app(), parse_environment(text, name="dev", source="test"))


def _service_names(out) -> dict[str, str]:
    """``${google_compute_backend_service.<id>.id}`` -> the backend service's name (``ml-test-lb-bs-<model>``)."""
    return {
        f"${{google_compute_backend_service.{logical_id}.id}}": body["name"]
        for logical_id, body in resources(out, "google_compute_backend_service").items()
    }


def _url_map(out) -> dict:
    return resource_by_path(out, "google_compute_url_map", "lb/url-map")


def _rules(out, matcher: str = "all-hosts") -> list[dict]:
    return next(m for m in _url_map(out)["path_matcher"] if m["name"] == matcher)["route_rules"]


def _split(out, match: dict) -> dict[str, int]:
    """Backend service name -> weight of the route rule matching ``match``; every backend once."""
    rule = next(r for r in _rules(out) if r["match_rules"] == [match])
    names = _service_names(out)
    entries = [(names[w["backend_service"]], w["weight"]) for w in rule["route_action"]["weighted_backend_services"]]
    assert len({name for name, _ in entries}) == len(entries), f"{match}: a backend service is listed twice: {entries}"
    return dict(entries)


# -- canary weights ------------------------------------------------------------------------------

def test_canary_split_gives_the_stable_model_the_rest_and_the_canary_its_weight(stack, naming):
    _serving(stack, naming, [_model("resnet"), _model("resnet-v2", canary_of="resnet", canary_weight=10)])
    out = synth(stack)
    for match in ({"prefix_match": "/v1/models/resnet/"}, {"full_path_match": "/v1/models/resnet"}):
        split = _split(out, match)
        assert split == {"ml-test-lb-bs-resnet": 90, "ml-test-lb-bs-resnet-v2": 10}, (
            f"{match}: the stable model must keep 90 % and the canary get its canary_weight (10 %), got {split}; "
            "swapped weights would send 90 % of the traffic to the untested version"
        )
    canary_id = next(ref for ref, name in _service_names(out).items() if name == "ml-test-lb-bs-resnet-v2")
    own = [r for r in _rules(out) if r.get("service") == canary_id and not r["match_rules"][0].get("full_path_match", "").startswith("/healthz/")]
    assert not own, "a canary has no routes of its own (only its /healthz/<model> health route)"


def test_two_canaries_of_one_model_each_keep_their_own_weight(stack, naming):
    _serving(stack, naming, [
        _model("resnet"),
        _model("resnet-v2", canary_of="resnet", canary_weight=10),
        _model("resnet-v3", canary_of="resnet", canary_weight=20),
    ])
    out = synth(stack)
    for match in ({"prefix_match": "/v1/models/resnet/"}, {"full_path_match": "/v1/models/resnet"}):
        split = _split(out, match)
        assert split == {"ml-test-lb-bs-resnet": 70, "ml-test-lb-bs-resnet-v2": 10, "ml-test-lb-bs-resnet-v3": 20}, (
            f"{match}: each canary must keep its own entry and weight (10 % and 20 %) and the stable model the rest (70 %), "
            f"got {split}; a second canary overwriting the first would drop one of them"
        )
        assert sum(split.values()) == 100


def test_fails_when_canaries_take_all_the_traffic(stack, naming):
    with pytest.raises(ConfigurationError, match=r"^models\[resnet\] canaries = 100: canary weights of one model must add up to less than 100$"):
        _serving(stack, naming, [
            _model("resnet"),
            _model("resnet-v2", canary_of="resnet", canary_weight=50),
            _model("resnet-v3", canary_of="resnet", canary_weight=50),
        ])


# -- TLS -------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("ssl_policy", "minimum"),
    [
        (None, "TLS_1_2"),  # the default
        (SslPolicySpec(min_tls_version="TLS_1_3"), "TLS_1_3"),  # a construct that hard-codes 1.2 fails here
        (SslPolicySpec(min_tls_version="TLS_1_2", profile="RESTRICTED"), "TLS_1_2"),
    ],
)
def test_https_proxy_enforces_the_configured_minimum_tls_version(stack, naming, ssl_policy, minimum):
    spec = LoadBalancerSpec(domains=("api.example.com",), **({"ssl_policy": ssl_policy} if ssl_policy else {}))
    _serving(stack, naming, [_model("resnet")], load_balancer=spec)
    out = synth(stack)
    [(policy_id, policy)] = resources(out, "google_compute_ssl_policy").items()
    assert policy.get("min_tls_version") == minimum, (
        f"the SSL policy must enforce the configured min_tls_version {minimum}, got {policy.get('min_tls_version')!r} "
        "(left out, the API accepts TLS 1.0 clients)"
    )
    proxy = only_resource(out, "google_compute_target_https_proxy")
    assert proxy["ssl_policy"] == f"${{google_compute_ssl_policy.{policy_id}.id}}", "the HTTPS proxy must use that SSL policy"
    # port 80 only redirects to HTTPS: it cannot serve a model without TLS
    redirect = resource_by_path(out, "google_compute_url_map", "lb/redirect-url-map")
    assert redirect["default_url_redirect"]["https_redirect"] is True and "path_matcher" not in redirect
    http_proxy = only_resource(out, "google_compute_target_http_proxy")
    assert "redirect-url-map" in http_proxy["url_map"]


# -- unmatched requests ----------------------------------------------------------------------------

def test_unmatched_paths_get_a_404_not_the_first_model(stack, naming):
    serving = _serving(stack, naming, [_model("resnet"), _model("bert")])
    out = synth(stack)
    url_map = _url_map(out)
    assert url_map.get("default_route_action") == ABORT_404, "'/', scanners and typos must get a 404 from the load balancer"
    for matcher in url_map["path_matcher"]:
        assert matcher.get("default_route_action") == ABORT_404, f"path matcher {matcher['name']} sends unmatched paths to a model"
    assert serving.load_balancer.default_backend is None


def test_default_backend_named_in_the_environment_gets_unmatched_requests():
    stack = _environment(
        ENVIRONMENT + '[load_balancer]\ndefault_backend = "static"\n[static_content]\nbucket_name = "acme-model-cards"\n' + RESNET
    )
    out = synth(stack)
    url_map = _url_map(out)
    bucket_id = next(iter(resources(out, "google_compute_backend_bucket")))
    assert url_map["default_service"] == f"${{google_compute_backend_bucket.{bucket_id}.id}}"
    assert "default_route_action" not in url_map
    assert all("default_route_action" not in m for m in url_map["path_matcher"])


def test_fails_when_default_backend_names_nothing_in_the_environment():
    with pytest.raises(EnvironmentFileError, match=r"^test: load_balancer.default_backend = 'static': must name a model or 'static' \(\[static_content\]\); allowed: resnet$"):
        _environment(ENVIRONMENT + '[load_balancer]\ndefault_backend = "static"\n' + RESNET)


def test_fails_when_default_backend_names_nothing_the_load_balancer_has(stack, naming):
    serving = _serving(stack, naming, [_model("resnet")])
    serving.load_balancer.spec = serving.load_balancer.spec.model_copy(update={"default_backend": "static"})
    with pytest.raises(RuntimeError, match=r"default_backend = 'static': names no backend service or backend bucket of this load balancer; allowed: resnet"):
        Testing.synth(stack, run_validations=True)


def test_fails_when_the_classic_scheme_names_no_default_backend():
    with pytest.raises(
        EnvironmentFileError,
        match=r"^test: load_balancer\.default_backend = None: load_balancing_scheme EXTERNAL cannot answer unmatched requests with 404",
    ):
        parse_environment(ENVIRONMENT + '[load_balancer]\nload_balancing_scheme = "EXTERNAL"\n' + RESNET, name="dev", source="test")


# -- connection draining ---------------------------------------------------------------------------

def test_connection_draining_covers_a_long_request_timeout(stack, naming):
    _serving(stack, naming, [_model("llm", backend=BackendServiceSpec(timeout_sec=300)), _model("resnet")])
    out = synth(stack)
    services = {body["name"]: body for body in resources(out, "google_compute_backend_service").values()}
    llm = services["ml-test-lb-bs-llm"]
    assert (llm["timeout_sec"], llm["connection_draining_timeout_sec"]) == (300, 300), (
        "a 300 s inference admitted just before scale-in or a rollout must be allowed to finish"
    )
    assert services["ml-test-lb-bs-resnet"]["connection_draining_timeout_sec"] == 60


# -- CDN -------------------------------------------------------------------------------------------

def test_fails_when_a_post_model_turns_on_cdn():
    with pytest.raises(
        EnvironmentFileError,
        match=r"^test: models\[0\]\.backend\.enable_cdn = True: Cloud CDN caches GET and HEAD responses only and this model is "
        r"called with POST \(request_method\), so it would cache nothing",
    ):
        parse_environment(ENVIRONMENT + RESNET + "[models.backend]\nenable_cdn = true\n", name="dev", source="test")
    with pytest.raises(ConfigurationError, match=r"^ModelSpec: backend\.enable_cdn = True: Cloud CDN caches GET and HEAD responses only"):
        _model("resnet", backend=BackendServiceSpec(enable_cdn=True))


def test_get_models_and_static_content_keep_cdn():
    stack = _environment(
        ENVIRONMENT + '[static_content]\nbucket_name = "acme-model-cards"\n' + RESNET
        + '\n[[models]]\nname = "embed"\nimage = "us-docker.pkg.dev/p/r/embed:1"\nrequest_method = "GET"\n'
        + "[models.backend]\nenable_cdn = true\n"
    )
    out = synth(stack)
    services = {body["name"]: body for body in resources(out, "google_compute_backend_service").values()}
    assert services["ml-dev-lb-bs-embed"]["enable_cdn"] is True
    assert services["ml-dev-lb-bs-embed"]["cdn_policy"]["cache_mode"] == "CACHE_ALL_STATIC"
    assert services["ml-dev-lb-bs-resnet"]["enable_cdn"] is False, "a POST model caches nothing: CDN stays off"
    bucket = only_resource(out, "google_compute_backend_bucket")
    assert bucket["enable_cdn"] is True and bucket["bucket_name"] == "acme-model-cards"


# -- health routes (uptime checks through the load balancer) ----------------------------------------

def test_health_routes_reach_each_models_health_endpoint(stack, naming):
    serving = _serving(stack, naming, [
        _model("resnet", health_path="/v2/health/ready"),
        _model("resnet-v2", canary_of="resnet", health_path="/v2/health/ready"),
    ])
    out = synth(stack)
    names = _service_names(out)
    health = {
        r["match_rules"][0]["full_path_match"]: (names[r["service"]], r.get("route_action", {}).get("url_rewrite", {}).get("path_prefix_rewrite"))
        for r in _rules(out) if r["match_rules"][0].get("full_path_match", "").startswith("/healthz/")
    }
    assert health == {
        health_route_path("resnet"): ("ml-test-lb-bs-resnet", "/v2/health/ready"),
        health_route_path("resnet-v2"): ("ml-test-lb-bs-resnet-v2", "/v2/health/ready"),
    }, "each model (canaries too) must be reachable at /healthz/<model>, rewritten to its own health path"
    assert serving.load_balancer.health_routes == {"resnet": "/healthz/resnet", "resnet-v2": "/healthz/resnet-v2"}


def test_fails_when_a_model_route_takes_a_health_route_path(stack, naming):
    with pytest.raises(ConfigurationError, match=r"^models\[resnet\]\.routes = '/healthz/\*': paths under /healthz/ are reserved"):
        _serving(stack, naming, [_model("resnet", routes=("/healthz/*",))])


def test_fails_when_a_route_added_later_takes_a_health_route_path(stack, naming):
    serving = _serving(stack, naming, [_model("resnet")])
    with pytest.raises(ConfigurationError, match=r"^routes\[resnet\]\.paths\[0\] = '/healthz/x': paths under /healthz/ are reserved"):
        serving.load_balancer.add_model_route(["/healthz/x"], serving.backends["resnet"])
