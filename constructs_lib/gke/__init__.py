"""The GKE runtime: a model as a Deployment on a private GKE cluster, behind the same load balancer.

Serving through the global load balancer
----------------------------------------
A model is exposed with *standalone zonal NEGs* (container-native load balancing): the model's
Service carries ``cloud.google.com/neg: {"exposed_ports": {"8080": {"name": "<app>-<env>-neg-<model>"}}}``
and GKE's NEG controller creates one NEG per cluster zone with that stable name. The model's
backend service points at ``projects/<p>/zones/<zone>/networkEndpointGroups/<name>`` for each
cluster zone (RATE balancing, ``max_rate_per_endpoint``).

Two stacks
----------
NEGs only exist after the Service exists, and the NEG controller creates them asynchronously.
An environment with GKE models is therefore two cdktf stacks, deployed in order by one
``cdktf deploy``; the second one is an internal detail of this runtime (``GkeClusterStack``,
created by ``ModelServing`` when the first GKE model appears):

1. ``<stack>-cluster``: network, cluster subnet + NAT, node service account, cluster, node
   pools, the health-check firewall rule for the pods' port (probes reach pod IPs on the nodes).
2. ``<stack>``: ``stack.add_dependency(cluster stack)``. The Kubernetes provider is configured
   from a ``google_container_cluster`` data source (endpoint, CA) and a ``google_client_config``
   access token; then Namespace, service accounts, Service, Deployment, HPA, PDB, the model
   bucket grant (Workload Identity), and the load balancer. VM-fleet models of the same
   environment run here too and reach the network by its deterministic ids (``NetworkReference``).

Why two stacks: HashiCorp's Kubernetes provider must not be configured from a cluster created
in the same apply (the provider config is unknown at plan time; changes that replace the
cluster leave it unusable), and the Workload Identity binding needs the cluster's identity pool
to exist. Why no cross-stack references: the second stack reads the cluster through a data
source by its deterministic name, so it always sees the live endpoint/CA (CA rotation) and no
sensitive outputs are written to the first stack's state; ``add_dependency`` orders the deploy.

Why no NEG data sources: the NEG ids are deterministic (project, zone, name), so the backend
service references them as strings and ``depends_on`` the Service and the Deployment. The
Deployment is created after the Service and Terraform waits for its rollout
(``wait_for_rollout``; pods must pass readiness, which takes GPU node scale-up and model load,
minutes), so by the time the backend service is created the NEG controller (seconds after the
Service) has created the NEGs. A data source with ``depends_on`` would do the same, but it
would be re-read at apply time on every rollout and make every image update show the backend
service as "known after apply" in reviewed plans. NEGs exist in every zone that has nodes: the
system pool spans all cluster zones with at least one node per zone, which guarantees it.

Autoscaling on serving signals
------------------------------
A GPU model's HorizontalPodAutoscaler follows GPU duty cycle, the server's requests in flight or
the load balancer's request rate (``ModelSpec.scaling_signals``), read from Cloud Monitoring by
the Custom Metrics - Stackdriver Adapter (``metrics_adapter.MetricsAdapter``). The serving stack
deploys it once, at ``metrics-adapter``, through the same Kubernetes provider as the models, as
soon as one model needs it.

Weights
-------
By default a model's files are mounted read-only at ``/models`` from the model bucket by the
Cloud Storage FUSE CSI driver (a cluster add-on); model pools stream images, and a pool's
secondary boot disk can cache a large image that carries the weights.
"""
