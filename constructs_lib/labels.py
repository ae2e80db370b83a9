"""Common labels on every resource that takes labels, applied by one cdktf Aspect.

Constructs set only the labels that are theirs (``model = "llm"`` on a fleet's template,
``node-pool`` on a node pool's nodes); ``CommonLabels`` adds the environment's labels and the
reserved ``app``, ``env`` and ``managed-by`` when the stack is synthesized, to the top-level
``labels`` / ``resource_labels`` / ``user_labels`` of every resource that has one and to the
nested label maps in ``NESTED_LABELS``. Reserved keys always win; a construct's own labels win
over the environment's.

Every construct that creates labelled resources calls ``apply_common_labels(self, naming)``: the
first call adds the aspect to the stack, later calls check that the stack keeps one naming.
"""

from __future__ import annotations

from typing import Any

import jsii
from cdktf import Aspects, IAspect, TerraformResource, TerraformStack
from constructs import Construct, IConstruct

from constructs_lib.errors import ConfigurationError
from constructs_lib.naming import Naming

LABEL_ATTRIBUTES = ("labels", "resource_labels", "user_labels")
"""Top-level label maps of google resources (most take ``labels``; GKE clusters ``resource_labels``,
Cloud Monitoring objects ``user_labels``). Kubernetes objects have none: their labels are their own."""

NESTED_LABELS: dict[str, tuple[str, str, bool]] = {
    "google_compute_instance_template": ("disk", "labels", True),
    "google_container_node_pool": ("node_config", "resource_labels", False),
}
"""Resource type -> (block, label attribute, block is a list): label maps inside nested blocks
(a template's disks, a node pool's nodes)."""


@jsii.implements(IAspect)
class CommonLabels:
    """Adds ``naming.common_labels()`` to every labelled resource under the stack it is added to."""

    def __init__(self, naming: Naming) -> None:
        self.naming = naming

    def visit(self, node: IConstruct) -> None:
        if not isinstance(node, TerraformResource):
            return
        resource_type = node.terraform_resource_type
        if not resource_type.startswith("google_"):
            return
        for attribute in LABEL_ATTRIBUTES:
            if hasattr(node, f"{attribute}_input"):
                setattr(node, attribute, self.merge(getattr(node, f"{attribute}_input")))
        nested = NESTED_LABELS.get(resource_type)
        if nested is not None:
            self._nested(node, *nested)

    def merge(self, own: Any) -> dict[str, str]:
        """The environment's labels, then ``own``, then the reserved keys."""
        return self.naming.common_labels(**(own or {}))

    def _nested(self, node: Any, block: str, attribute: str, is_list: bool) -> None:
        value = getattr(node, f"{block}_input", None)
        items = (value or []) if is_list else ([value] if value is not None else [])
        for index, item in enumerate(items):
            path = f"{block}.{index}.{attribute}" if is_list else f"{block}.{attribute}"
            node.add_override(path, self.merge(getattr(item, attribute, None)))


def apply_common_labels(scope: Construct, naming: Naming) -> CommonLabels:
    """The ``CommonLabels`` aspect of ``scope``'s stack, added on first use. Fails when the stack
    already labels with another naming (two environments in one stack)."""
    stack = TerraformStack.of(scope)
    for aspect in Aspects.of(stack).all:
        if isinstance(aspect, CommonLabels):
            if aspect.naming != naming:
                raise ConfigurationError(
                    "naming", naming.prefix, f"stack {stack.node.id} already labels its resources as {aspect.naming.prefix}; one stack is one environment",
                )
            return aspect
    aspect = CommonLabels(naming)
    Aspects.of(stack).add(aspect)
    return aspect
