"""The VM-fleet runtime: a model on regional managed instance groups (``VmModel``), one
``ModelServerFleet`` (template, auto-healing, MIG) and ``FleetAutoscaler`` per region."""
