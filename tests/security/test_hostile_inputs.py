"""Hostile and broken input: every bad environment file or spec ends with ONE clear line.

Environment files go through ``main.main()`` in-process - the code path ``python main.py``
runs (``environment_files`` + ``load_environment`` + ``stacks.synth.synthesize`` with its
error handling) - with ``ML_SERVING_ENVIRONMENTS_DIR`` / ``CDKTF_OUTDIR`` pointing at a temp
folder that already holds a previous synthesis. Each case must: return exit code 2, print
exactly one line ``error: <file>: <key> = <value>: <what is allowed>`` on stderr (no
traceback, no jsii stack), and leave the previous output and no staging folder behind. A few
cases run ``python main.py`` as a subprocess to prove the same from the outside.

Construct specs and constructs (the Python API) must fail with a ``ConfigurationError`` (one
line naming the field; spec models raise ``SpecError``, one) - never pydantic's multi-line
``ValidationError``, a jsii error, ``TypeError`` or ``KeyError``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import pytest

import main as app_main
from constructs_lib.errors import ConfigurationError
from tests.security.conftest import ROOT

HEAD = 'project_id = "my-project-1"\nregions = ["us-east1"]\n'
IMAGE = 'image = "us-docker.pkg.dev/p/r/server:1"'
MODEL = f'\n[[models]]\nname = "resnet"\n{IMAGE}\n'
GPU_MODEL = f'\n[[models]]\nname = "llm"\n{IMAGE}\naccelerator = {{ type = "nvidia-l4" }}\n[models.vm]\nmachine_type = "g2-standard-8"\n'
SENTINEL = '{"previous": true}'


def env(*sections: str, head: str = HEAD, model: str = MODEL) -> str:
    """An environment file: ``head`` (project and regions), extra ``sections``, one model."""
    return head + "".join(f"\n{s}\n" for s in sections) + model


def model(name: str = "resnet", *lines: str, image: str = IMAGE, vm: str = "", extra: str = "") -> str:
    """A [[models]] table: ``image``, extra top-level ``lines``, a [models.vm] table with ``vm``, then ``extra`` tables."""
    text = f'\n[[models]]\nname = "{name}"\n' + (f"{image}\n" if image else "") + "".join(f"{line}\n" for line in lines)
    return text + (f"[models.vm]\n{vm}\n" if vm else "") + extra


# (id, file text, substrings the one-line message must contain: key, value, what is allowed)
CASES: list[tuple[str, str | bytes, tuple[str, ...]]] = [
    # --- TOML and file level
    ("toml-syntax", "project_id = [\n", ("TOML syntax error", "at end of document")),
    ("toml-duplicate-key", HEAD + 'project_id = "other-project"\n' + MODEL, ("TOML syntax error",)),
    ("toml-bad-escape", 'project_id = "my\\qproject"\n', ("TOML syntax error",)),
    ("not-utf8", b'project_id = "my-project-\xff"\n', ("cannot read environment file", "utf-8")),
    ("empty-file", "", ("project_id: required key is missing",)),
    ("bom", "\ufeff" + env(), ("TOML syntax error",)),
    # --- top-level keys
    ("unknown-key", env("flavour = 1"), ("flavour = 1: unknown key; allowed keys:", "project_id")),
    ("name-mismatch", 'name = "other"\n' + env(), ("name = 'other'", "must match the file name ('qa')")),
    ("missing-project", 'regions = ["us-east1"]\n' + MODEL, ("project_id: required key is missing",)),
    ("project-int", 'project_id = 42\nregions = ["us-east1"]\n' + MODEL, ("project_id = 42", "string")),
    ("project-empty", env(head='project_id = ""\nregions = ["us-east1"]\n'), ("project_id = ''", "6-30 characters")),
    ("project-upper", env(head='project_id = "My-Project"\nregions = ["us-east1"]\n'), ("project_id = 'My-Project'", "lowercase")),
    ("project-too-long", env(head=f'project_id = "{"p" * 31}"\nregions = ["us-east1"]\n'), ("project_id = 'ppp", "6-30 characters")),
    ("project-date", env(head='project_id = 1979-05-27\nregions = ["us-east1"]\n'), ("project_id = 1979-05-27", "TOML date/time is not allowed here")),
    ("project-huge", env(head=f'project_id = "{"a" * 10000}"\nregions = ["us-east1"]\n'), ("project_id = 'aaaa", "...", "6-30 characters")),
    ("app-upper", env('app = "ML"'), ("app = 'ML'", "lowercase")),
    ("app-unicode", env('app = "mł"'), ("app = 'mł'", "lowercase")),
    ("regions-empty", env(head='project_id = "my-project-1"\nregions = []\n'), ("regions = []", "at least 1")),
    ("regions-string", env(head='project_id = "my-project-1"\nregions = "us-east1"\n'), ("regions = 'us-east1'", "valid array")),
    ("region-unknown", env(head='project_id = "my-project-1"\nregions = ["moon-1"]\n'), ("regions[0] = 'moon-1'", "unknown Google Cloud region")),
    ("region-zone-given", env(head='project_id = "my-project-1"\nregions = ["us-east1-b"]\n'), ("regions[0] = 'us-east1-b'", "region")),
    ("region-repeated", env(head='project_id = "my-project-1"\nregions = ["us-east1", "us-east1"]\n'), ("regions", "repeated: us-east1")),
    ("labels-key-upper", env("[labels]\nTeam = 'ml'"), ("labels.Team", "label keys must match")),
    ("labels-value-space", env("[labels]\nteam = 'ML Platform'"), ("labels.team", "'ML Platform'", "label values must match")),
    ("labels-value-long", env(f"[labels]\nteam = '{'x' * 64}'"), ("labels.team", "at most 63 characters")),
    ("labels-key-unicode", env('[labels]\n"команда" = "ml"'), ("labels.команда", "label keys must match")),
    ("labels-too-many", env("[labels]\n" + "\n".join(f"k{i} = 'v'" for i in range(65))), ("labels", "at most 64 labels")),
    ("labels-reserved", env("[labels]\nenv = 'other'"), ("labels.env", "'other'", "reserved")),
    # --- backend
    ("backend-type", env("[backend]\ntype = 's3'"), ("backend.type = 's3'", "'local'", "'gcs'")),
    ("backend-gcs-no-bucket", env("[backend]\ntype = 'gcs'"), ("backend.bucket: required key is missing",)),
    ("backend-gcs-bad-bucket", env("[backend]\ntype = 'gcs'\nbucket = 'Bad_Bucket'"), ("backend.bucket = 'Bad_Bucket'", "bucket names are 3-63 characters")),
    ("backend-local-abs", env("[backend]\ntype = 'local'\npath = '/etc/passwd'"), ("backend.path = '/etc/passwd'", "this key moved", "state/<stack>.tfstate")),
    ("backend-local-dotdot", env("[backend]\ntype = 'local'\npath = '../../state.tfstate'"), ("backend.path = '../../state.tfstate'", "this key moved")),
    # --- network
    ("port-zero", env("[network]\nserving_port = 0"), ("network.serving_port = 0", "greater than or equal to 1")),
    ("port-high", env("[network]\nserving_port = 70000"), ("network.serving_port = 70000", "less than or equal to 65535")),
    ("port-string", env("[network]\nserving_port = 'x'"), ("network.serving_port = 'x'", "integer")),
    ("port-float", env("[network]\nserving_port = 8080.5"), ("network.serving_port = 8080.5", "integer")),
    ("port-bool", env("[network]\nserving_port = true"), ("network.serving_port = True", "integer")),
    ("port-string-number", env("[network]\nserving_port = '8080'"), ("network.serving_port = '8080'", "integer")),
    ("cidr-bad", env("[network]\nsubnet_cidr_base = '10.0.0.0/33'"), ("network.subnet_cidr_base = '10.0.0.0/33'",)),
    ("cidr-unserved-region", env("[network.subnet_cidrs]\nus-west1 = '10.0.0.0/20'"), ("network.subnet_cidrs = ['us-west1']", "names regions that are not served")),
    ("prefix-length", env("[network]\nsubnet_prefix_length = 7"), ("network.subnet_prefix_length = 7", "greater than or equal to 8")),
    ("flow-sampling", env("[network.flow_logs]\nflow_sampling = 1.5"), ("network.flow_logs.flow_sampling = 1.5", "less than or equal to 1")),
    ("flow-sampling-nan", env("[network.flow_logs]\nflow_sampling = nan"), ("network.flow_logs.flow_sampling = nan",)),
    ("fleet-tag", env("[network]\nfleet_tag = 'Model_Server'"), ("network.fleet_tag = 'Model_Server'",)),
    ("route-bad-range", env("[network]\nroutes = [{ name = 'egress', dest_range = '300.0.0.0/0', next_hop_gateway = 'default-internet-gateway' }]"),
     ("network.routes[0].dest_range = '300.0.0.0/0'",)),
    ("subnets-overlap", env("[network.subnet_cidrs]\nus-east1 = '10.0.0.0/16'\nus-west1 = '10.0.128.0/20'",
                            head='project_id = "my-project-1"\nregions = ["us-east1", "us-west1"]\n'), ("network.subnet_cidrs", "overlap")),
    # --- model store
    ("bucket-goog", env("[model_store]\nbucket_name = 'goog-models'"), ("model_store.bucket_name = 'goog-models'", "must not start with 'goog'")),
    ("bucket-ip", env("[model_store]\nbucket_name = '192.168.1.1'"), ("model_store.bucket_name = '192.168.1.1'", "IP address")),
    ("bucket-short", env("[model_store]\nbucket_name = 'ab'"), ("model_store.bucket_name = 'ab'", "3-")),
    ("store-location", env("[model_store]\nlocation = 'MOON'"), ("model_store.location = 'MOON'",)),
    ("store-class", env("[model_store]\nstorage_class = 'HOT'"), ("model_store.storage_class = 'HOT'", "'STANDARD'")),
    ("store-kms", env("[model_store]\nkms_key_name = 'my-key'"), ("model_store.kms_key_name = 'my-key'", "projects/")),
    ("store-versions", env("[model_store]\nnoncurrent_versions_to_keep = -1"), ("model_store.noncurrent_versions_to_keep = -1",)),
    # --- cache
    ("cache-tier", env("[cache]\ntier = 'PREMIUM'"), ("cache.tier = 'PREMIUM'", "'BASIC'", "'STANDARD_HA'")),
    ("cache-memory-zero", env("[cache]\nmemory_size_gb = 0"), ("memory_size_gb = 0", "1-300 GB")),
    ("cache-memory-huge", env("[cache]\nmemory_size_gb = 9223372036854775807"), ("memory_size_gb = 9223372036854775807", "1-300 GB")),
    ("cache-replicas-basic", env("[cache]\ntier = 'BASIC'\nread_replica_count = 1"), ("read_replica_count = 1", "STANDARD_HA")),
    ("cache-version", env("[cache]\nredis_version = 'REDIS_9'"), ("cache.redis_version = 'REDIS_9'", "REDIS_7_2")),
    ("cache-cluster-conflict", env("[cache]\nmode = 'cluster'\ntier = 'BASIC'"), ("cache", "tier only apply to mode = 'instance'")),
    ("cache-window-hour", env("[cache]\nmaintenance_window = { day = 'SUNDAY', hour = 24 }"), ("cache.maintenance_window.hour = 24", "less than or equal to 23")),
    ("cache-window-day", env("[cache]\nmaintenance_window = { day = 'FUNDAY', hour = 2 }"), ("cache.maintenance_window.day = 'FUNDAY'", "'MONDAY'")),
    ("cache-eviction", env("[cache]\neviction_policy = 'lru'"), ("cache.eviction_policy = 'lru'", "allkeys-lru")),
    ("cache-config-conflict", env("[cache]\nredis_configs = { maxmemory-policy = 'noeviction' }"), ("cache.redis_configs", "eviction_policy")),
    ("cache-cluster-zones", env("[cache]\nmode = 'cluster'\ncluster = { zones = { us-east1 = 'us-east1-b' } }"), ("cache.cluster", "SINGLE_ZONE")),
    ("cache-cluster-bad-zone", env("[cache]\nmode = 'cluster'\ncluster = { zone_distribution = 'SINGLE_ZONE', zones = { us-east1 = 'us-east1-z' } }"),
     ("cluster.zones.us-east1", "'us-east1-z'")),
    ("cache-cluster-shards", env("[cache]\nmode = 'cluster'\ncluster = { shard_count = 0 }"), ("cache.cluster.shard_count = 0", "greater than or equal to 1")),
    ("cache-enabled-string", env("[cache]\nenabled = 'yes'"), ("cache.enabled = 'yes'", "boolean")),
    # --- load balancer, Cloud Armor, static content
    ("lb-wildcard", env("[load_balancer]\ndomains = ['*.example.com']"), ("load_balancer.domains", "'*.example.com'", "wildcard")),
    ("lb-empty-domain", env("[load_balancer]\ndomains = ['']"), ("load_balancer.domains", "''")),
    ("lb-redirect-without-https", env("[load_balancer]\nhttp_redirect = true"), ("http_redirect", "HTTPS")),
    ("lb-https-without-cert", env("[load_balancer]\nhttps = true"), ("https", "certificate")),
    ("lb-tls", env("[load_balancer]\ndomains = ['a.example.com']\nssl_policy = { min_tls_version = 'TLS_0_9' }"),
     ("load_balancer.ssl_policy", "'TLS_0_9'", "'TLS_1_2'")),
    ("lb-name-long", env(f"[load_balancer]\nname = '{'l' * 60}'"), ("load_balancer.name = 'llll", "characters")),
    ("lb-keepalive", env("[load_balancer]\nhttp_keep_alive_timeout_sec = 1"), ("load_balancer.http_keep_alive_timeout_sec = 1", "greater than or equal to 5")),
    ("armor-rate-negative", env("[cloud_armor]\nenabled = true\nrate_limit = { action = 'throttle', count = -1, interval_sec = 60 }"),
     ("cloud_armor.rate_limit.count = -1",)),
    ("armor-waf-unknown", env("[cloud_armor]\nenabled = true\nwaf_rules = [{ name = 'log4j-please' }]"),
     ("cloud_armor.waf_rules[0].name = 'log4j-please'", "cve-canary")),
    ("static-bucket", env("[static_content]\nbucket_name = 'Bad Bucket'"), ("static_content.bucket_name = 'Bad Bucket'", "bucket name")),
    ("static-path-clash", env("[static_content]\nbucket_name = 'my-static-files'\npaths = ['/v1/models/resnet']"),
     ("static_content.paths[0] = '/v1/models/resnet'", "already routed to")),
    # --- models
    ("models-missing", HEAD, ("models", "[[models]]")),
    ("models-empty", HEAD + "models = []\n", ("models", "[[models]]")),
    ("models-table", HEAD + '[models]\nname = "resnet"\n', ("models", "valid array")),
    ("model-name-empty", env(model=model("")), ("models[0].name = ''", "lowercase")),
    ("model-name-upper", env(model=model("ResNet")), ("models[0].name = 'ResNet'", "lowercase")),
    ("model-name-long", env(model=model("r" * 21)), ("models[0].name = 'rrrrrrrrrrrrrrrrrrrrr'", "at most 20 characters")),
    ("model-name-unicode", env(model=model("résnet")), ("models[0].name = 'résnet'", "lowercase")),
    ("model-name-newline", env(model=model("res\\nnet")), ("models[0].name = 'res\\nnet'", "lowercase")),
    ("model-duplicate", env(model=model("resnet") + model("resnet")), ("models[1].name = 'resnet'", "model names must be unique")),
    ("route-duplicate", env(model=model("a", 'routes = ["/x"]') + model("b", 'routes = ["/x"]')), ("models[b].routes = '/x'", "already routed to model 'a'")),
    ("route-no-slash", env(model=model("a", 'routes = ["v1/x"]')), ("models[0].routes[0] = 'v1/x'", "must start with /")),
    ("route-empty", env(model=model("a", 'routes = [""]')), ("models[0].routes[0] = ''", "must start with /")),
    ("model-region-outside", env(model=model("a", 'regions = ["us-west1"]')), ("models[0].regions = ['us-west1']", "must be among the deployment's regions (us-east1)")),
    ("model-path-escape", env(model=model("a", 'model_path = "../other-team/model"')), ("models[0].model_path = '../other-team/model'", "no ..")),
    ("canary-unknown", env(model=model("a") + model("b", 'canary_of = "nope"')), ("models[1].canary_of = 'nope'", "allowed: a")),
    ("canary-self", env(model=model("a", 'canary_of = "a"')), ("models[0]", "cannot be a canary of itself")),
    ("canary-routes", env(model=model("a") + model("b", 'canary_of = "a"', 'routes = ["/b"]')), ("models[1]", "leave routes empty")),
    ("canary-weights", env(model=model("a") + model("b", 'canary_of = "a"', "canary_weight = 60") + model("c", 'canary_of = "a"', "canary_weight = 50")),
     ("models[a] canaries = 110", "less than 100")),
    ("canary-weight-zero", env(model=model("a") + model("b", 'canary_of = "a"', "canary_weight = 0")), ("models[1].canary_weight = 0", "greater than or equal to 1")),
    # --- models on VM fleets
    ("vm-no-runtime", env(model=model("a", image="", vm='machine_type = "n2-standard-4"')), ("models[0]", "image", "vm.startup_script")),
    ("vm-two-runtimes", env(model=model("a", vm='startup_script = "#!/bin/sh"')), ("models[0]", "image", "vm.startup_script")),
    ("vm-string", env(model=model("a", 'vm = "big"')), ("models[0].vm = 'big'",)),
    ("fleet-moved", env(model=model("a", 'fleet = "big"')), ("models[0].fleet", "this key moved", "models.image")),
    ("autoscaling-moved", env(model=model("a", extra="[models.autoscaling]\nmin_replicas = 1\n")), ("models[0].autoscaling", "this key moved", "[models.scaling]")),
    ("runtime-unknown", env(model=model("a", 'runtime = "lambda"')), ("models[0].runtime = 'lambda'", "'vm'", "'gke'")),
    ("machine-unknown", env(model=model("a", vm='machine_type = "n2-standard-3"')), ("models[0].vm.machine_type = 'n2-standard-3'",)),
    ("machine-garbage", env(model=model("a", vm='machine_type = "huge"')), ("models[0].vm.machine_type = 'huge'",)),
    ("gpu-unknown", env(model=model("a", 'accelerator = { type = "nvidia-gtx-1080" }', vm='machine_type = "n1-standard-8"')),
     ("accelerator", "'nvidia-gtx-1080'", "nvidia-l4")),
    ("gpu-not-in-region", env(model=GPU_MODEL, head='project_id = "my-project-1"\nregions = ["us-west2"]\n'),
     ("region = 'us-west2'", "nvidia-l4 is not offered there", "regions with it: ")),
    ("gpu-wrong-machine", env(model=model("a", 'accelerator = { type = "nvidia-l4" }', vm='machine_type = "n2-standard-4"')), ("n2-standard-4", "nvidia-l4")),
    ("gpu-count", env(model=model("a", 'accelerator = { type = "nvidia-l4", count = 3 }', vm='machine_type = "g2-standard-8"')), ("count", "3")),
    ("zone-other-region", env(model=model("a", vm='zones = ["us-west1-a"]')), ("models[0].vm.zones[0] = 'us-west1-a'", "us-east1-b")),
    ("zone-unknown", env(model=model("a", vm='zones = ["us-east1-z"]')), ("models[0].vm.zones[0] = 'us-east1-z'", "us-east1-b")),
    ("env-secret-literal", env(model=model("a", 'env = { DB_PASSWORD = "hunter2" }')), ("models[0].env.DB_PASSWORD", "Secret Manager")),
    ("project-restricted-word", env(head='project_id = "google-ml-1"\nregions = ["us-east1"]\n'), ("project_id = 'google-ml-1'", "google")),
    ("backend-no-type", env("[backend]\npath = 'x.tfstate'"), ("backend.type", "'local'", "'gcs'")),
    ("env-reserved", env(model=model("a", 'env = { PORT = "1" }')), ("models[0].env.PORT", "reserved")),
    ("env-bad-name", env(model=model("a", 'env = { 1BAD = "1" }')), ("models[0].env.1BAD", "environment variable name")),
    ("metadata-hardening", env(model=model("a", vm='metadata = { enable-oslogin = "FALSE" }')), ("metadata", "enable-oslogin")),
    ("metadata-ssh-keys", env(model=model("a", vm='metadata = { ssh-keys = "me:ssh-rsa AAAA" }')), ("metadata", "ssh-keys")),
    ("role-owner", env(model=model("a", vm='roles = ["roles/owner"]')), ("roles", "'roles/owner'", "primitive roles")),
    ("role-editor", env(model=model("a", vm='roles = ["roles/logging.logWriter", "roles/editor"]')), ("roles", "'roles/editor'", "primitive roles")),
    ("role-garbage", env(model=model("a", vm='roles = ["admin"]')), ("roles", "'admin'", "roles/<name>")),
    ("account-id-short", env(model=model("a", vm='account_id = "ab"')), ("account_id = 'ab'", "6-30 characters")),
    ("image-bad", env(model=model("a", image='image = "UPPER/Image:1"')), ("image", "'UPPER/Image:1'", "container image")),
    ("disk-small", env(model=model("a", vm="boot_disk_size_gb = 5")), ("models[0].vm.boot_disk_size_gb = 5", "greater than or equal to 10")),
    ("startup-negative", env(model=model("a", "startup_timeout_sec = -1")), ("models[0].startup_timeout_sec = -1",)),
    ("target-size-negative", env(model=model("a", vm="target_size = -3")), ("models[0].vm.target_size = -3",)),
    # --- models on GKE
    ("gke-no-image", env(model=model("a", 'runtime = "gke"', image="", vm='startup_script = "#!/bin/sh"')), ("models[0].image = None", "a GKE model runs an image")),
    ("gke-low-port", env(model=model("a", 'runtime = "gke"', "port = 80")), ("models[0].port = 80", ">= 1024")),
    ("gke-cpu-quantity", env(model=model("a", 'runtime = "gke"', extra='[models.gke]\ncpu = "lots"\n')), ("models[0].gke.cpu = 'lots'", "CPU quantity")),
    ("gke-workloads-moved", env("[[gke.workloads]]\nname = 'a'"), ("gke.workloads", "this key moved", "[[models]]")),
    # --- scaling and backends
    ("scale-min-over-max", env(model=model("a", extra="[models.scaling]\nmin_replicas = 5\nmax_replicas = 2\n")), ("max_replicas", "2", "min_replicas")),
    ("scale-cpu-target", env(model=model("a", extra="[models.scaling]\ncpu_target = 1.5\n")), ("cpu_target = 1.5",)),
    ("scale-cpu-inf", env(model=model("a", extra="[models.scaling]\ncpu_target = inf\n")), ("cpu_target = inf",)),
    ("scale-cron", env(model=model("a", extra="[[models.scaling.schedules]]\nname = 'day'\nschedule = 'every day'\nduration_sec = 3600\nmin_required_replicas = 2\n")),
     ("schedule", "'every day'", "cron")),
    ("scale-time-zone", env(model=model("a", extra="[[models.scaling.schedules]]\nname = 'day'\nschedule = '0 8 * * *'\nduration_sec = 3600\nmin_required_replicas = 2\ntime_zone = 'Mars/Base'\n")),
     ("time_zone", "'Mars/Base'")),
    ("scale-gke-schedules", env(model=model("a", 'runtime = "gke"', extra="[[models.scaling.schedules]]\nname = 'day'\nschedule = '0 8 * * *'\nduration_sec = 3600\nmin_required_replicas = 2\n")),
     ("models[0].scaling.schedules", "VM-fleet autoscaler setting")),
    ("backend-timeout", env(model=model("a", extra="[models.backend]\ntimeout_sec = 0\n")), ("models[0].backend.timeout_sec = 0",)),
    ("backend-cdn-policy-without-cdn", env(model=model("a", extra="[models.backend]\ncdn_policy = { cache_mode = 'FORCE_CACHE_ALL' }\n")), ("cdn_policy", "enable_cdn")),
    ("backend-unknown-key", env(model=model("a", extra="[models.backend]\ntimeout = 30\n")), ("models[0].backend.timeout = 30", "unknown key", "timeout_sec")),
]


BUGS: dict[str, str] = {}
KNOWN_BUGS: dict[str, str] = {}
"""Cases that fail because of a known bug in constructs_lib/stacks, marked as strict xfails:
when the bug is fixed the case passes and the mark must go. Every bug found so far is fixed."""

PYDANTIC_INTERNALS = ("function-after[", "function-wrap[", "function-plain[", "Unable to extract tag", "lax-or-strict", "json-or-python")


def _params() -> list:
    marks = {case_id: pytest.mark.xfail(strict=True, reason=BUGS[bug]) for case_id, bug in KNOWN_BUGS.items()}
    return [pytest.param(text, expected, id=case_id, marks=marks.get(case_id, ())) for case_id, text, expected in CASES]


def test_at_least_fifty_hostile_environment_files():
    assert len(CASES) >= 50
    assert len({case_id for case_id, _, _ in CASES}) == len(CASES), "case ids are unique"
    assert set(KNOWN_BUGS) <= {case_id for case_id, _, _ in CASES}


def _previous_output(root: Path) -> Path:
    previous = root / "cdktf.out" / "stacks" / "ml-serving-previous" / "cdk.tf.json"
    previous.parent.mkdir(parents=True)
    previous.write_text(SENTINEL)
    return previous


def _write_env(root: Path, text: str | bytes, file_name: str = "qa.toml") -> Path:
    directory = root / "environments"
    directory.mkdir()
    path = directory / file_name
    path.write_bytes(text) if isinstance(text, bytes) else path.write_text(text, encoding="utf-8")
    return directory


def assert_one_line_error(stderr: str, file_name: str, expected: tuple[str, ...]) -> str:
    """stderr is exactly ``error: <...file_name...>: <message>`` on one line, naming ``expected``."""
    assert "Traceback" not in stderr and "    at " not in stderr, stderr
    assert stderr.endswith("\n") and stderr.count("\n") == 1, f"not one line: {stderr!r}"
    line = stderr.rstrip("\n")
    assert line.startswith("error: ") and f"{file_name}: " in line, line
    assert len(line) < 1500, f"message is {len(line)} characters long"
    internals = [tag for tag in PYDANTIC_INTERNALS if tag in line]
    assert not internals, f"pydantic internals in the message: {internals}: {line}"
    assert "after validation, not 0" not in line or "= []" in line, f"claims a non-empty list is empty: {line}"
    missing = [part for part in expected if part not in line]
    assert not missing, f"message lacks {missing}: {line}"
    return line


def _assert_untouched(root: Path, previous: Path) -> None:
    assert previous.read_text() == SENTINEL, "the previous output was changed"
    assert [p.name for p in (root / "cdktf.out" / "stacks").iterdir()] == ["ml-serving-previous"]
    leftovers = sorted(p.name for p in root.iterdir() if p.name not in {"cdktf.out", "environments"})
    assert not leftovers, f"staging folders left behind: {leftovers}"


@pytest.fixture
def run_main(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    """Run ``main.main()`` in-process on one environment file; return (exit code, stderr, previous output file)."""
    def run(text: str | bytes, file_name: str = "qa.toml") -> tuple[int, str, Path]:
        previous = _previous_output(tmp_path)
        monkeypatch.setenv("ML_SERVING_ENVIRONMENTS_DIR", str(_write_env(tmp_path, text, file_name)))
        monkeypatch.setenv("CDKTF_OUTDIR", str(tmp_path / "cdktf.out"))
        monkeypatch.delenv("ML_SERVING_ENV", raising=False)
        capsys.readouterr()
        try:
            code = app_main.main()
        except BaseException as error:  # noqa: BLE001 - any escaping exception is a traceback for the user
            pytest.fail(f"main() raised {type(error).__name__} (a traceback for the user): {' '.join(str(error).split())[:500]}")
        captured = capsys.readouterr()
        assert captured.out == "" or (code == 0 and captured.out.startswith("synthesized ")), captured.out
        return code, captured.err, previous

    return run


@pytest.mark.parametrize("text,expected", _params())
def test_hostile_environment_file_fails_with_one_line(run_main, tmp_path: Path, text: str | bytes, expected: tuple[str, ...]):  # noqa: ANN001
    code, stderr, previous = run_main(text)
    assert code != 0, "accepted: synthesis succeeded"
    assert_one_line_error(stderr, "qa.toml", expected)
    assert code == 2
    _assert_untouched(tmp_path, previous)


@pytest.mark.parametrize("file_name,expected", [
    ("Prod.toml", ("name = 'Prod'", "lowercase")),
    ("my env.toml", ("name = 'my env'", "lowercase")),
    ("prød.toml", ("name = 'prød'", "lowercase")),
    ("-dev.toml", ("name = '-dev'", "start with a letter")),
])
def test_bad_environment_file_name_fails_with_one_line(run_main, tmp_path: Path, file_name: str, expected: tuple[str, ...]):  # noqa: ANN001
    code, stderr, previous = run_main(env(), file_name)
    assert_one_line_error(stderr, file_name, expected)
    assert code == 2
    _assert_untouched(tmp_path, previous)


def test_cluster_cache_environment_synthesizes(run_main, tmp_path: Path):
    code, stderr, _ = run_main(env("[cache]\nmode = 'cluster'"))
    assert (code, stderr) == (0, "")


def test_valid_file_in_the_same_harness_synthesizes(run_main, tmp_path: Path):
    """The harness itself: a good file passes and replaces the previous output."""
    code, stderr, _ = run_main(env())
    assert (code, stderr) == (0, "")
    assert [p.name for p in (tmp_path / "cdktf.out" / "stacks").iterdir()] == ["ml-serving-qa"]


# ------------------------------------------------------------------- end to end, as users run it


def _main_subprocess(root: Path, **environ: str) -> subprocess.CompletedProcess[str]:
    variables = {**os.environ, "CDKTF_OUTDIR": str(root / "cdktf.out"), **environ}
    variables.pop("ML_SERVING_ENV", None)
    return subprocess.run([sys.executable, "main.py"], cwd=ROOT, env=variables, capture_output=True, text=True, timeout=300)


E2E = ["toml-syntax", "not-utf8", "gpu-not-in-region", "role-owner"]


@pytest.mark.slow
@pytest.mark.parametrize("case_id", E2E)
def test_main_subprocess_exits_2_with_one_line_and_keeps_previous_output(tmp_path: Path, case_id: str):
    _, text, expected = next(case for case in CASES if case[0] == case_id)
    previous = _previous_output(tmp_path)
    result = _main_subprocess(tmp_path, ML_SERVING_ENVIRONMENTS_DIR=str(_write_env(tmp_path, text)))
    assert result.returncode == 2 and result.stdout == ""
    assert_one_line_error(result.stderr, "qa.toml", expected)
    _assert_untouched(tmp_path, previous)


@pytest.mark.slow
def test_main_subprocess_output_folder_without_parent_is_one_line(tmp_path: Path):
    """CDKTF_OUTDIR=<missing>/cdktf.out: synthesize or say so in one line, never a traceback."""
    directory = _write_env(tmp_path, env())
    result = _main_subprocess(tmp_path, ML_SERVING_ENVIRONMENTS_DIR=str(directory),
                              CDKTF_OUTDIR=str(tmp_path / "missing" / "cdktf.out"))
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    if result.returncode != 0:
        assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr


# ------------------------------------------------------------ construct specs (the Python API)


def _stack():
    from tests.conftest import new_stack

    return new_stack()


def _network(stack, regions=("europe-west1",)):  # noqa: ANN001, ANN202
    from constructs_lib.naming import Naming
    from constructs_lib.network import ServingNetwork

    return ServingNetwork(stack, "network", naming=Naming(env="test"), regions=list(regions))


def _model_spec(**overrides: Any):  # noqa: ANN202
    from constructs_lib import ModelSpec

    overrides.setdefault("image", "us-docker.pkg.dev/p/r/server:1")
    return ModelSpec(name=overrides.pop("name", "m"), **overrides)


def _spec_cases() -> list[tuple[str, Callable[[], Any], str]]:
    from constructs_lib import (
        AcceleratorSpec, CacheSpec, LoadBalancerSpec, ModelStoreSpec, Naming, NetworkSpec, ScalingSpec, ServiceIdentity,
    )
    from constructs_lib.model_store import ModelStore
    from constructs_lib.vm.fleet import ModelServerFleet

    def fleet_gpu_elsewhere() -> Any:
        stack = _stack()
        network = _network(stack, regions=("us-west2",))
        model = _model_spec(name="llm", accelerator=AcceleratorSpec(type="nvidia-l4"))
        return ModelServerFleet(stack, "fleet", network=network, naming=network.naming, region="us-west2", model=model)

    def fleet_region_outside() -> Any:
        stack = _stack()
        network = _network(stack)
        return ModelServerFleet(stack, "fleet", network=network, naming=network.naming, region="us-east1", model=_model_spec())

    def identity(**options: Any) -> Any:
        options.setdefault("account_id", "ml-dev-model")
        return ServiceIdentity(_stack(), "id", display_name="m", description="m", **options)

    def store() -> Any:
        return ModelStore(_stack(), "models", naming=Naming(env="dev"), project_id="my-project-1")

    return [
        ("naming-env-upper", lambda: Naming(env="Prod"), "env"),
        ("naming-part", lambda: Naming(env="dev").name("Bad_Part"), "name part 1"),
        ("naming-too-long", lambda: Naming(env="dev").name("x" * 70), "name"),
        ("model-machine", lambda: _model_spec(vm={"machine_type": "huge-machine"}), "vm.machine_type"),
        ("model-both-runtimes", lambda: _model_spec(vm={"startup_script": "#!/bin/sh"}), "startup_script"),
        ("model-role-owner", lambda: _model_spec(vm={"roles": ("roles/owner",)}), "vm.roles"),
        ("scaling-min-max", lambda: ScalingSpec(min_replicas=5, max_replicas=2), "max_replicas"),
        ("cache-memory", lambda: CacheSpec(memory_size_gb=0), "memory_size_gb"),
        ("cache-cluster-conflict", lambda: CacheSpec(mode="cluster", tier="BASIC"), "tier"),
        ("lb-wildcard", lambda: LoadBalancerSpec(domains=("*.example.com",)), "domains"),
        ("model-name-long", lambda: _model_spec(name="m" * 21), "name"),
        ("network-port", lambda: NetworkSpec(serving_port=0), "serving_port"),
        ("store-bucket", lambda: ModelStoreSpec(bucket_name="goog-x"), "bucket_name"),
        ("network-no-regions", lambda: _network(_stack(), regions=()), "regions"),
        ("network-unknown-region", lambda: _network(_stack(), regions=("moon-1",)), "regions"),
        ("identity-primitive-role", lambda: identity(roles=("roles/editor",)), "roles"),
        ("identity-account-id", lambda: identity(account_id="x"), "account_id"),
        ("store-grant-bad-member", lambda: store().grant_read("everyone"), "grantee"),
        ("store-grant-public", lambda: store().grant_read("allUsers"), "grantee"),
        ("store-without-project", lambda: ModelStore(_stack(), "models", naming=Naming(env="dev")), "project_id"),
        ("fleet-gpu-not-in-region", fleet_gpu_elsewhere, "us-west2"),
        ("fleet-region-not-in-network", fleet_region_outside, "region"),
    ]


SPEC_CASE_IDS = [
    "naming-env-upper", "naming-part", "naming-too-long", "model-machine", "model-both-runtimes", "model-role-owner",
    "scaling-min-max", "cache-memory", "cache-cluster-conflict", "lb-wildcard", "model-name-long", "network-port",
    "store-bucket", "network-no-regions", "network-unknown-region", "identity-primitive-role", "identity-account-id",
    "store-grant-bad-member", "store-grant-public", "store-without-project", "fleet-gpu-not-in-region",
    "fleet-region-not-in-network",
]


@pytest.mark.parametrize("case_id", SPEC_CASE_IDS)
def test_bad_spec_or_construct_argument_names_the_field(case_id: str):
    _, build, field = next(case for case in _spec_cases() if case[0] == case_id)
    try:
        build()
    except ConfigurationError as error:
        message = str(error)
        assert "\n" not in message and field in error.field + message, message
        assert f"{error.field} = " in message or f"{error.field}: " in message
    except Exception as error:  # noqa: BLE001
        pytest.fail(f"{case_id}: {type(error).__name__} instead of a one-line ConfigurationError: {' '.join(str(error).split())[:400]}")
    else:
        pytest.fail(f"{case_id}: accepted")


def test_spec_case_table_is_complete():
    assert [case[0] for case in _spec_cases()] == SPEC_CASE_IDS
    assert len(CASES) + len(SPEC_CASE_IDS) + 4 >= 50
