"""The prod-like deployment of environments/prod.toml, authored in Python instead of TOML.

Run it with ``.venv/bin/python examples/python_stack.py`` (writes cdktf.out/stacks/my-serving).
The specs an environment file validates into are plain keyword arguments here, and one
``ModelServing`` stands every model up behind the load balancer (network, bucket, cache, Cloud
Armor and the load balancer are created once for the stack).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from constructs_lib import (  # noqa: E402
    AcceleratorSpec,
    BackendServiceSpec,
    CacheSpec,
    CdnPolicySpec,
    CloudArmorSpec,
    LoadBalancerSpec,
    ModelObjectivesSpec,
    ModelServing,
    ModelSpec,
    Naming,
    NotificationRouteSpec,
    NotificationsSpec,
    ObservabilitySpec,
    RateLimitSpec,
    ScalingSpec,
)
from constructs_lib.app import App, TerraformStack  # noqa: E402
from constructs_lib.providers import google_provider  # noqa: E402

REGISTRY = "us-docker.pkg.dev/my-ml-project-prod/serving"


def llm(name: str, version: str, **options: object) -> ModelSpec:
    """An LLM on one L4 GPU per VM (g2-standard-8), 15 minutes to load."""
    return ModelSpec(
        name=name, image=f"{REGISTRY}/llm-server:{version}", model_path=f"llm/{name}",
        accelerator=AcceleratorSpec(type="nvidia-l4"), startup_timeout_sec=900,
        scaling=ScalingSpec(min_replicas=1, max_replicas=8), backend=BackendServiceSpec(timeout_sec=300), **options,
    )


def build(stack: TerraformStack) -> ModelServing:
    """Two regions, an embeddings model on CDN, an LLM with a 10 % canary, cache, Cloud Armor and
    monitoring that pages the on-call (SLOs, alerts, uptime checks, dashboard)."""
    google_provider(stack, project_id="my-ml-project-prod", region="us-central1")
    return ModelServing(
        stack, "Default",
        naming=Naming(app="ml", env="prod", labels={"team": "ml-platform"}),
        project_id="my-ml-project-prod",
        regions=["us-central1", "europe-west4"],
        cache=CacheSpec(memory_size_gb=16, read_replica_count=1),
        cloud_armor=CloudArmorSpec(rate_limit=RateLimitSpec(count=1200, interval_sec=60)),
        load_balancer=LoadBalancerSpec(domains=("inference.example.com",)),
        models=[
            ModelSpec(
                name="embeddings", image=f"{REGISTRY}/embeddings-server:4.2.0", request_method="GET",
                scaling=ScalingSpec(min_replicas=2, max_replicas=20),
                backend=BackendServiceSpec(enable_cdn=True, cdn_policy=CdnPolicySpec(cache_mode="USE_ORIGIN_HEADERS")),
            ),
            llm("llm", "2.0.1"),
            llm("llm-next", "3.0.0-rc1", canary_of="llm", canary_weight=10),
        ],
        observability=ObservabilitySpec(
            latency_threshold_ms=500,
            notifications=NotificationsSpec(page=NotificationRouteSpec(emails=("ml-oncall@example.com",))),
            models={name: ModelObjectivesSpec(latency_threshold_ms=20000) for name in ("llm", "llm-next")},
        ),
    )


if __name__ == "__main__":
    app = App()
    build(TerraformStack(app, "my-serving"))
    app.synth()
