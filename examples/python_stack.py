"""The prod-like deployment of environments/prod.toml, authored in Python instead of TOML.

Run it with ``.venv/bin/python examples/python_stack.py`` (writes cdktf.out/stacks/my-serving).
The same specs an environment file validates into are plain keyword arguments here.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cdktf import App, TerraformStack  # noqa: E402

from constructs_lib import (  # noqa: E402
    AutoscalingSpec,
    BackendServiceSpec,
    CacheSpec,
    CdnPolicySpec,
    CloudArmorPolicy,
    CloudArmorSpec,
    ContainerSpec,
    FleetSpec,
    GlobalLoadBalancer,
    GpuSpec,
    InferenceCache,
    LoadBalancerSpec,
    ModelStore,
    Naming,
    RateLimitSpec,
    ServingNetwork,
)
from constructs_lib._google import provider  # noqa: E402
from constructs_lib.model_service import ModelService, ModelServiceSpec  # noqa: E402


def build(stack: TerraformStack) -> GlobalLoadBalancer:
    """Network, model bucket, cache, Cloud Armor, load balancer and two models with a canary."""
    provider.GoogleProvider(stack, "google", project="my-ml-project-prod", region="us-central1")
    naming = Naming(app="ml", env="prod", labels={"team": "ml-platform"})

    network = ServingNetwork(stack, "network", naming=naming, regions=["us-central1", "europe-west4"])
    models = ModelStore(stack, "models", naming=naming)
    cache = InferenceCache(stack, "cache", network=network, naming=naming,
                           spec=CacheSpec(memory_size_gb=16, read_replica_count=1))
    armor = CloudArmorPolicy(stack, "cloud-armor", naming=naming,
                             spec=CloudArmorSpec(rate_limit=RateLimitSpec(count=1200, interval_sec=60)))
    lb = GlobalLoadBalancer(stack, "lb", naming=naming, network=network,
                            spec=LoadBalancerSpec(domains=("inference.example.com",)))

    embeddings = ModelService(
        stack, "model-embeddings", network=network, load_balancer=lb, model_store=models, cache=cache,
        security_policy=armor,
        spec=ModelServiceSpec(
            name="embeddings",
            fleet=FleetSpec(machine_type="n2-standard-8",
                            container=ContainerSpec(image="us-docker.pkg.dev/my-ml-project-prod/serving/embeddings-server:4.2.0")),
            autoscaling=AutoscalingSpec(min_replicas=2, max_replicas=20),
            backend=BackendServiceSpec(enable_cdn=True, cdn_policy=CdnPolicySpec(cache_mode="USE_ORIGIN_HEADERS")),
        ),
    )
    embeddings.route()

    def llm(name: str, image: str, regions: tuple[str, ...] = ()) -> ModelService:
        return ModelService(
            stack, f"model-{name}", network=network, load_balancer=lb, model_store=models, cache=cache,
            security_policy=armor,
            spec=ModelServiceSpec(
                name=name, model_path=f"llm/{name}", regions=regions,
                fleet=FleetSpec(machine_type="g2-standard-8", gpu=GpuSpec(type="nvidia-l4"),
                                container=ContainerSpec(image=image), initial_delay_sec=900),
                autoscaling=AutoscalingSpec(min_replicas=1, max_replicas=8),
                backend=BackendServiceSpec(timeout_sec=300),
            ),
        )

    stable = llm("llm", "us-docker.pkg.dev/my-ml-project-prod/serving/llm-server:2.0.1")
    canary = llm("llm-next", "us-docker.pkg.dev/my-ml-project-prod/serving/llm-server:3.0.0-rc1", ("us-central1",))
    lb.add_canary_route(["/v1/models/llm", "/v1/models/llm/*"], {stable.backend: 90, canary.backend: 10})
    lb.add_outputs()
    return lb


if __name__ == "__main__":
    app = App()
    build(TerraformStack(app, "my-serving"))
    app.synth()
