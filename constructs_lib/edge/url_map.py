"""The load balancer's routing table: model routes, canary splits, header matches, static paths.

``RoutingTable`` collects routes from ``GlobalLoadBalancer``'s intent methods and renders the
``host_rule`` / ``path_matcher`` blocks of ``google_compute_url_map``.

For the EXTERNAL_MANAGED (Envoy) load balancer every path matcher is written with
``route_rules`` only: ``path_rules`` and ``route_rules`` cannot be mixed in one matcher, and
weighted splits, header matches, per-route timeouts and retries need route rules. Route rules
are first-match by ``priority`` whereas path rules are longest-match, so priorities are derived
from specificity (longer path first, exact before prefix, header-matched before plain,
host-specific before every-host) to keep the longest-match behaviour users expect from paths.
For the classic EXTERNAL scheme plain ``path_rules`` are written and the advanced features are
rejected.

Routes without ``hosts`` apply to every host: they go to an ``all-hosts`` matcher (host ``*``)
and are copied into every host-specific matcher, after that host's own routes. The path,
host, header and weight rules are in ``constructs_lib.specs.load_balancer``.

Unmatched requests: with ``abort_unmatched`` (EXTERNAL_MANAGED without a named default backend)
every path matcher gets a default route action whose fault-injection abort answers 100 % of
them with HTTP 404; the API still requires a default service next to it (it never receives a
request). Health routes (``Route.rewrite``) forward one exact path to a backend service with its
path replaced (``url_rewrite.path_prefix_rewrite``), which both schemes support (the classic one
only inside a path rule's route action). Paths under ``HEALTH_ROUTE_PREFIX`` are reserved for them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Sequence

from constructs_lib._google import compute_url_map
from constructs_lib.errors import ConfigurationError
from constructs_lib.specs.load_balancer import RetryPolicy, check_not_health_route, check_route_path

NOT_FOUND = 404
"""What the load balancer answers requests no route matches (EXTERNAL_MANAGED, no default backend)."""


@dataclass(frozen=True)
class Route:
    """One routing intent. ``service`` xor ``weighted`` (service id, weight) is set. ``rewrite``
    replaces the matched path before the request is forwarded; ``health`` marks a per-model health
    route, the only kind allowed under ``HEALTH_ROUTE_PREFIX``."""

    label: str
    paths: tuple[str, ...]
    hosts: tuple[str, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
    service: str | None = None
    weighted: tuple[tuple[str, int], ...] = ()
    timeout_sec: int | None = None
    retry: RetryPolicy | None = None
    rewrite: str | None = None
    health: bool = False

    @property
    def advanced(self) -> list[str]:
        """The features of this route that need route rules (EXTERNAL_MANAGED)."""
        used = []
        if self.headers:
            used.append("header matches")
        if self.weighted:
            used.append("weighted traffic split")
        if self.timeout_sec is not None:
            used.append("per-route timeout")
        if self.retry is not None:
            used.append("retry policy")
        return used


@dataclass(frozen=True)
class _Rule:
    route: Route
    kind: str
    value: str
    seq: int

    def sort_key(self, host_specific: bool) -> tuple[Any, ...]:
        return (-len(self.value), 0 if self.kind == "full" else 1, -len(self.route.headers),
                0 if host_specific else 1, self.seq)

    @property
    def match_key(self) -> tuple[Any, ...]:
        return (self.kind, self.value, self.route.headers)


@dataclass
class RoutingTable:
    """Routes of one URL map; ``advanced`` is True for EXTERNAL_MANAGED (route rules)."""

    advanced: bool = True
    routes: list[Route] = field(default_factory=list)
    _rules: dict[tuple[str, ...], list[_Rule]] = field(default_factory=dict)
    _host_groups: dict[str, tuple[str, ...]] = field(default_factory=dict)
    _count: int = 0

    def add(self, route: Route, field_: str = "route") -> Route:
        """Validate ``route`` against the table (duplicates, host overlaps, scheme) and add it."""
        if not route.paths:
            raise ConfigurationError(f"{field_}.paths", [], "give at least one path such as /v1/models/resnet")
        if not self.advanced and route.advanced:
            raise ConfigurationError(
                field_, route.label,
                f"uses {', '.join(route.advanced)}, which need load_balancing_scheme EXTERNAL_MANAGED (route rules)",
            )
        for host in route.hosts:
            other = self._host_groups.get(host)
            if other is not None and other != route.hosts:
                raise ConfigurationError(
                    f"{field_}.hosts", list(route.hosts),
                    f"host {host} is already used with the host set {list(other)}; a host can be in one host set only, "
                    "so give routes for it the same hosts list",
                )
        rules = self._rules.get(route.hosts, [])
        new: list[_Rule] = []
        for index, path in enumerate(route.paths):
            kind, value = check_route_path(path, f"{field_}.paths[{index}]")
            if not route.health:
                check_not_health_route(path, f"{field_}.paths[{index}]")
            rule = _Rule(route, kind, value, self._count + len(new))
            for existing in (*rules, *new):
                if existing.match_key == rule.match_key:
                    where = f"hosts {list(route.hosts)}" if route.hosts else "every host"
                    headers = f" with headers {dict(route.headers)}" if route.headers else ""
                    raise ConfigurationError(
                        f"{field_}.paths[{index}]", path,
                        f"is already routed to {existing.route.label} for {where}{headers}; each path may be routed once",
                    )
            new.append(rule)
        self._rules[route.hosts] = [*rules, *new]
        self._count += len(new)
        for host in route.hosts:
            self._host_groups[host] = route.hosts
        self.routes.append(route)
        return route

    def render(self, default_service: str | None, *, abort_unmatched: bool = False) -> tuple[list[Any], list[Any]]:
        """``(host_rule, path_matcher)`` blocks for ``google_compute_url_map``. With
        ``abort_unmatched`` each matcher answers requests none of its rules match with 404."""
        u = compute_url_map
        host_rules: list[Any] = []
        matchers: list[Any] = []
        generic = self._rules.get((), [])
        groups: list[tuple[str, tuple[str, ...], list[tuple[_Rule, bool]]]] = []
        if generic:
            groups.append(("all-hosts", ("*",), [(r, False) for r in generic]))
        for hosts, rules in self._rules.items():
            if not hosts:
                continue
            shadowed = {r.match_key for r in rules}
            merged = [(r, True) for r in rules] + [(r, False) for r in generic if r.match_key not in shadowed]
            digest = hashlib.sha256(",".join(hosts).encode()).hexdigest()[:8]
            groups.append((f"hosts-{digest}", hosts, merged))
        for name, hosts, rules in groups:
            host_rules.append(u.ComputeUrlMapHostRule(hosts=list(hosts), path_matcher=name))
            ordered = sorted(rules, key=lambda item: item[0].sort_key(item[1]))
            if self.advanced:
                matchers.append(u.ComputeUrlMapPathMatcher(
                    name=name, default_service=default_service,
                    default_route_action=u.ComputeUrlMapPathMatcherDefaultRouteAction(
                        fault_injection_policy=u.ComputeUrlMapPathMatcherDefaultRouteActionFaultInjectionPolicy(
                            abort=u.ComputeUrlMapPathMatcherDefaultRouteActionFaultInjectionPolicyAbort(
                                http_status=NOT_FOUND, percentage=100,
                            ),
                        ),
                    ) if abort_unmatched else None,
                    route_rules=[_route_rule((index + 1) * 10, rule) for index, (rule, _) in enumerate(ordered)],
                ))
            else:
                matchers.append(u.ComputeUrlMapPathMatcher(
                    name=name, default_service=default_service, path_rule=_path_rules([r for r, _ in ordered]),
                ))
        return host_rules, matchers


def abort_unmatched_policy() -> Any:
    """The fault-injection policy of the URL map's ``default_route_action``: abort 100 % of
    unmatched requests with 404."""
    u = compute_url_map
    return u.ComputeUrlMapDefaultRouteActionFaultInjectionPolicy(
        abort=u.ComputeUrlMapDefaultRouteActionFaultInjectionPolicyAbort(http_status=NOT_FOUND, percentage=100),
    )


def _path_rules(rules: Sequence[_Rule]) -> list[Any]:
    """Classic path rules: one per route (its paths), in first-seen order; a health route's
    rewrite is the one route action the classic scheme supports in a path rule."""
    u = compute_url_map
    by_route: dict[int, tuple[Route, list[str]]] = {}
    for rule in sorted(rules, key=lambda r: r.seq):
        path = rule.value + ("*" if rule.kind == "prefix" else "")
        by_route.setdefault(id(rule.route), (rule.route, []))[1].append(path)
    return [
        u.ComputeUrlMapPathMatcherPathRule(
            paths=paths, service=route.service,
            route_action=u.ComputeUrlMapPathMatcherPathRuleRouteAction(
                url_rewrite=u.ComputeUrlMapPathMatcherPathRuleRouteActionUrlRewrite(path_prefix_rewrite=route.rewrite),
            ) if route.rewrite is not None else None,
        )
        for route, paths in by_route.values()
    ]


def _route_rule(priority: int, rule: _Rule) -> Any:
    u = compute_url_map
    route = rule.route
    match = u.ComputeUrlMapPathMatcherRouteRulesMatchRules(
        full_path_match=rule.value if rule.kind == "full" else None,
        prefix_match=rule.value if rule.kind == "prefix" else None,
        header_matches=[
            u.ComputeUrlMapPathMatcherRouteRulesMatchRulesHeaderMatches(header_name=name, exact_match=value)
            for name, value in route.headers
        ] or None,
    )
    action = None
    if route.weighted or route.timeout_sec is not None or route.retry is not None or route.rewrite is not None:
        retry = route.retry
        action = u.ComputeUrlMapPathMatcherRouteRulesRouteAction(
            url_rewrite=u.ComputeUrlMapPathMatcherRouteRulesRouteActionUrlRewrite(path_prefix_rewrite=route.rewrite)
            if route.rewrite is not None else None,
            weighted_backend_services=[
                u.ComputeUrlMapPathMatcherRouteRulesRouteActionWeightedBackendServices(backend_service=service, weight=weight)
                for service, weight in route.weighted
            ] or None,
            timeout=u.ComputeUrlMapPathMatcherRouteRulesRouteActionTimeout(seconds=str(route.timeout_sec))
            if route.timeout_sec is not None else None,
            retry_policy=u.ComputeUrlMapPathMatcherRouteRulesRouteActionRetryPolicy(
                num_retries=retry.num_retries,
                retry_conditions=list(retry.retry_conditions),
                per_try_timeout=u.ComputeUrlMapPathMatcherRouteRulesRouteActionRetryPolicyPerTryTimeout(
                    seconds=str(retry.per_try_timeout_sec),
                ) if retry.per_try_timeout_sec is not None else None,
            ) if retry is not None else None,
        )
    return u.ComputeUrlMapPathMatcherRouteRules(
        priority=priority,
        match_rules=[match],
        service=None if route.weighted else route.service,
        route_action=action,
    )

