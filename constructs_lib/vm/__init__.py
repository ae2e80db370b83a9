"""The VM-fleet runtime: a model on regional managed instance groups (``VmModel``), one
``ModelServerFleet`` (template, auto-healing, MIG over the zones that offer its accelerator) and
``FleetAutoscaler`` (the model's serving signal) per region; ``runner`` starts the server with
cloud-init and systemd."""
