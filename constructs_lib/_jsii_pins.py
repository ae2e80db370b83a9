"""What the fast paths that lean on private jsii details (``_fastimport``, ``_node_runtime``)
check before they run, in a module that imports nothing: the jsii version they were verified
with and the switch back to a plain CDKTF run."""

JSII_VERSION = "1.142.0"
"""The jsii runtime whose private details (type registry, package cache, kernel process) the fast paths were verified against."""

NAIVE_ENV = "ML_SERVING_NAIVE_IMPORT"
"""Set to 1 for a plain CDKTF run: whole provider packages imported, jsii's kernel started as shipped (benchmarks, equivalence tests)."""
