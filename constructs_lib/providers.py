"""The provider bindings, through public modules: ``from constructs_lib.providers import google``.

``google`` is ``cdktf_cdktf_provider_google`` (hashicorp/google 6.50.0) and ``kubernetes``
``cdktf_cdktf_provider_kubernetes`` (hashicorp/kubernetes 2.38.0), both loaded lazily: only the
submodules a program touches are imported (``google.compute_network``), so a synth stays fast.
``google_provider(stack, project_id=..., region=...)`` configures the google provider the way the
library's stacks do.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from constructs import Construct

from constructs_lib import _google as google
from constructs_lib import _kubernetes as kubernetes

__all__ = ["google", "google_provider", "kubernetes"]


def google_provider(scope: Construct, *, project_id: str, region: str, id_: str = "google", **options: Any) -> Any:
    """A ``GoogleProvider`` for ``project_id`` / ``region`` without the provider's own attribution
    label (the common labels carry ``managed-by``)."""
    module: ModuleType = google.provider
    return module.GoogleProvider(
        scope, id_, project=project_id, region=region, add_terraform_attribution_label=False, **options,
    )
