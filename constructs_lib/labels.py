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

from typing import Any, Mapping

import jsii
from cdktf import Aspects, Fn, IAspect, TerraformResource, TerraformStack, Token
from constructs import Construct, IConstruct

from constructs_lib.errors import ConfigurationError
from constructs_lib.naming import MANAGED_BY, Naming, check_labels
from constructs_lib.values import is_token

LABEL_ATTRIBUTES = ("labels", "resource_labels", "user_labels")
"""Top-level label maps of google resources (most take ``labels``; GKE clusters ``resource_labels``,
Cloud Monitoring objects ``user_labels``). Kubernetes objects have none: their labels are their own."""

NOT_LABELS: dict[str, tuple[str, ...]] = {
    "google_monitoring_notification_channel": ("labels",),
}
"""Resource type -> attributes named like a label map that are something else: a notification
channel's ``labels`` configure the channel (``email_address``, ``channel_name``...); its resource
labels are ``user_labels``."""

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
        self._applied: dict[str, tuple[Any, Any]] = {}
        """``<path>#<attribute>`` -> (the resource's own labels, what the aspect set): a second synth
        merges the own labels again instead of merging the merge (``merge(merge(...))``)."""

    def visit(self, node: IConstruct) -> None:
        if not isinstance(node, TerraformResource):
            return
        resource_type, attributes = _labelled(type(node), node)
        for attribute in attributes:
            self._apply(node, attribute)
        nested = NESTED_LABELS.get(resource_type)
        if nested is not None:
            self._nested(node, *nested)

    def _apply(self, node: Any, attribute: str) -> None:
        key = f"{node.node.path}#{attribute}"
        current = getattr(node, f"{attribute}_input")
        own, applied = self._applied.get(key, (current, None))
        if applied is None or applied != current:
            own = current
        merged = self.merge(own)
        setattr(node, attribute, merged if isinstance(merged, dict) else Token.as_string_map(merged))
        self._applied[key] = (own, getattr(node, f"{attribute}_input"))

    def merge(self, own: Any) -> Any:
        """The environment's labels, then ``own``, then the reserved keys. Label values that are
        Terraform references are kept (and not checked); a whole label map that is a reference
        (``Token.as_string_map(variable.value)``) is merged by Terraform: the result is then the
        ``Fn.merge`` token instead of a dict."""
        reserved = {"app": self.naming.app, "env": self.naming.env, "managed-by": MANAGED_BY}
        if own is not None and (not isinstance(own, Mapping) or any(is_token(key) for key in own)):
            return Fn.merge([dict(self.naming.labels), own, reserved])
        merged = {**self.naming.labels, **(own or {}), **reserved}
        check_labels({key: value for key, value in merged.items() if not is_token(value)})
        return merged

    def _nested(self, node: Any, block: str, attribute: str, is_list: bool) -> None:
        # The resource's configuration in one call: reading ``<block>_input`` instead costs a
        # Node round trip per field of every block (~6 ms a template).
        config = next(iter(next(iter(node.to_terraform()["resource"].values())).values()))
        value = config.get(block)
        items = value if isinstance(value, list) else ([value] if value is not None else [])
        for index, item in enumerate(items):
            path = f"{block}.{index}.{attribute}" if is_list else f"{block}.{attribute}"
            key = f"{node.node.path}#{path}"
            current = item.get(attribute) if isinstance(item, Mapping) else None
            own, written = self._applied.get(key, (current, None))
            if written is None or written != current:  # not what this aspect wrote last synth
                own = current
            merged = self.merge(own)
            # An override is deep-merged into the block: a dict adds keys to the block's literal
            # labels; a reference replaces its map token as a whole (maps of tokens cannot be merged).
            written = merged if isinstance(merged, dict) else Token.as_string(merged)
            node.add_override(path, written)
            self._applied[key] = (own, written)


_LABELLED: dict[type, tuple[str, tuple[str, ...]]] = {}


def _labelled(cls: type, node: Any) -> tuple[str, tuple[str, ...]]:
    """(Terraform type, label attributes) of a resource class, looked up once per class: every
    attribute read on a resource is a call into jsii's Node process, and the aspect visits every
    resource of the stack (a 600-resource stack spent ~2 s here). Non-google resources get none."""
    found = _LABELLED.get(cls)
    if found is None or cls is TerraformResource:  # a bare TerraformResource can be of any type
        resource_type = node.terraform_resource_type
        skipped = NOT_LABELS.get(resource_type, ())
        attributes = tuple(
            attribute for attribute in LABEL_ATTRIBUTES
            if resource_type.startswith("google_") and attribute not in skipped and hasattr(cls, f"{attribute}_input")
        )
        found = _LABELLED[cls] = (resource_type if resource_type.startswith("google_") else "", attributes)
    return found


def apply_common_labels(scope: Construct, naming: Naming) -> CommonLabels:
    """The ``CommonLabels`` aspect of ``scope``'s stack, added on first use. Fails when the stack
    already labels with another naming (two environments in one stack)."""
    stack = TerraformStack.of(scope)
    for aspect in Aspects.of(stack).all:
        if isinstance(aspect, CommonLabels):
            if aspect.naming.prefix != naming.prefix:
                raise ConfigurationError(
                    "naming", naming.prefix, f"stack {stack.node.id} already labels its resources as {aspect.naming.prefix}; one stack is one environment",
                )
            if aspect.naming != naming:
                raise ConfigurationError(
                    "naming.labels", dict(naming.labels),
                    f"stack {stack.node.id} already labels its resources as {aspect.naming.prefix} with labels "
                    f"{dict(aspect.naming.labels)}; one stack is one environment: pass the same Naming to every construct",
                )
            return aspect
    aspect = CommonLabels(naming)
    Aspects.of(stack).add(aspect)
    return aspect
