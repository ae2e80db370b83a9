"""Offline Terraform harness: a Python provider double for hashicorp/google 6.50.0 and
hashicorp/kubernetes 2.38.0 that the real Terraform CLI can init, validate, plan and apply
against, with no network and no credentials.

Modules, one concern each:

* :mod:`.catalog`   — which providers/versions are impersonated, vendored schema files;
* :mod:`.schema`    — schema JSON dump -> tfplugin6 protos + compact form, cached on disk;
* :mod:`.proto`     — tfplugin6 message classes (the `tf` stubs, extended to protocol 6.8);
* :mod:`.cty`       — cty msgpack values <-> Python;
* :mod:`.behaviour` — plan/apply/read/import/data-source semantics with fake values;
* :mod:`.provider`  — the gRPC `Provider` service; :mod:`.server` — handshake + serving;
  :mod:`.tls` — the mutual-TLS front door;
* :mod:`.mirror`    — filesystem mirror + CLI config so `terraform init` installs the double;
* :mod:`.harness`   — Python API for tests and tools (validate/plan/apply a stack dict).

Nothing here imports cdktf; the plugin process imports only grpc, protobuf, msgpack and
cryptography. See README.md for what an offline plan proves and what it cannot.
"""
