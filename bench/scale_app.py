"""A synthetic deployment of ``models`` x ``regions`` for the scale series of ``bench_synth``.

``ServingNetwork`` over the first ``regions`` regions (subnet, router, NAT per region), one
health-check firewall rule per model (``allow_health_checks`` on port 8000+m), and per model
and region an instance template and a regional managed instance group (raw bindings, as the
fleet construct will build them). Prints one JSON line with the phase times and the resource
count. Run: ``python -m bench.scale_app --models 4 --regions 2 --outdir /tmp/x``.
"""

from __future__ import annotations

import argparse
import json
import time

T0 = time.perf_counter()

import constructs_lib  # noqa: E402,F401 - jsii environment first, as main.py does

from cdktf import App, TerraformStack  # noqa: E402

from constructs_lib._google import (  # noqa: E402
    LOAD_REPORT,
    compute_instance_template,
    compute_region_instance_group_manager,
    provider,
)
from constructs_lib.naming import Naming  # noqa: E402
from constructs_lib.network import NetworkSpec, ServingNetwork  # noqa: E402
from constructs_lib.regions import REGIONS  # noqa: E402

PREFERRED_REGIONS = (
    "us-central1", "europe-west1", "asia-east1", "us-east1", "europe-west4", "asia-northeast1",
    "us-west1", "europe-north1", "asia-southeast1", "us-east4", "europe-west2", "australia-southeast1",
    "southamerica-east1", "northamerica-northeast1", "asia-south1", "europe-west3",
)


def build(app: App, models: int, regions: int) -> TerraformStack:
    chosen = [r for r in PREFERRED_REGIONS if r in REGIONS][:regions]
    if len(chosen) < regions:
        chosen += [r for r in REGIONS if r not in chosen][: regions - len(chosen)]
    naming = Naming(app="bench", env="scale")
    stack = TerraformStack(app, f"scale-{models}x{regions}")
    provider.GoogleProvider(stack, "google", project="bench-project", region=chosen[0],
                            add_terraform_attribution_label=False)
    network = ServingNetwork(stack, "network", naming=naming, regions=chosen,
                             spec=NetworkSpec(subnet_cidr_base="10.0.0.0/8", subnet_prefix_length=20))
    for m in range(models):
        model = f"model{m}"
        network.allow_health_checks(port=8000 + m, target_tags=(model,), id_=f"allow-health-checks-{model}")
        for region in chosen:
            template = compute_instance_template.ComputeInstanceTemplate(
                stack, f"template-{model}-{region}",
                name_prefix=naming.name(model, region)[:37] + "-",
                machine_type="n1-standard-8",
                region=region,
                tags=[model, network.fleet_tag],
                labels=naming.common_labels(),
                disk=[compute_instance_template.ComputeInstanceTemplateDisk(
                    source_image="cos-cloud/cos-stable", boot=True, auto_delete=True, disk_size_gb=100)],
                network_interface=[compute_instance_template.ComputeInstanceTemplateNetworkInterface(
                    subnetwork=network.subnets[region].id)],
                shielded_instance_config=compute_instance_template.ComputeInstanceTemplateShieldedInstanceConfig(
                    enable_secure_boot=True, enable_vtpm=True, enable_integrity_monitoring=True),
                metadata={"enable-oslogin": "TRUE"},
            )
            compute_region_instance_group_manager.ComputeRegionInstanceGroupManager(
                stack, f"mig-{model}-{region}",
                name=naming.name(model, region),
                base_instance_name=naming.name(model)[:50],
                region=region,
                version=[compute_region_instance_group_manager.ComputeRegionInstanceGroupManagerVersion(
                    instance_template=template.self_link_unique)],
                named_port=[compute_region_instance_group_manager.ComputeRegionInstanceGroupManagerNamedPort(
                    name="http", port=8000 + m)],
                target_size=1,
            )
    return stack


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", type=int, required=True)
    parser.add_argument("--regions", type=int, required=True)
    parser.add_argument("--outdir", required=True)
    args = parser.parse_args()
    t_import = time.perf_counter()
    app = App(outdir=args.outdir)
    stack = build(app, args.models, args.regions)
    t_build = time.perf_counter()
    app.synth()
    t_synth = time.perf_counter()
    with open(f"{args.outdir}/stacks/{stack.node.id}/cdk.tf.json") as stream:
        synthesized = json.load(stream)
    resources = sum(len(of_type) for of_type in synthesized.get("resource", {}).values())
    print(json.dumps({
        "models": args.models, "regions": args.regions, "resources": resources,
        "import_s": round(t_import - T0, 3), "build_s": round(t_build - t_import, 3),
        "synth_s": round(t_synth - t_build, 3), "mode": LOAD_REPORT.mode, "node": LOAD_REPORT.node,
    }))


if __name__ == "__main__":
    main()
