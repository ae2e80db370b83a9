"""Python API: run the real Terraform CLI offline against the provider double.

Typical use from a test (stack dict = ``json.loads(cdktf.Testing.synth(stack))``)::

    from tools.tfdouble import harness
    if not harness.terraform_available(): pytest.skip(harness.UNAVAILABLE_REASON)
    checked = harness.check_stack(stack_json, tmp_path)     # init + validate + plan
    checked.plan["resource_changes"]                         # `terraform show -json` of the plan

or, step by step, :class:`OfflineTerraform` (``init``/``validate``/``plan``/``apply``/
``import_resource``/``state``/``show``/``run``). Every failing terraform command raises
:class:`TerraformError` whose message is Terraform's own error output.

Defaults and why:

* The configuration is written as ``main.tf.json`` into the working dir with any ``backend`` /
  ``cloud`` block removed: offline, state stays local (``terraform.tfstate`` in the workdir).
  Referenced ``terraform_remote_state`` outputs (cdktf cross-stack references) are served from
  ``defaults`` with placeholder strings, since the remote states cannot be read offline.
* ``init`` runs once per working dir (again only if the set of required providers changes) with
  the harness CLI config (filesystem mirror under ``.tfharness``; never the network).
* Commands run with ``-input=false -no-color -lock=false``; plans are saved to ``plan.bin``
  and converted with ``terraform show -json``.
* Terraform runs with ``GOGC=400`` unless the environment sets ``GOGC``: a plan is a short batch
  job, and collecting garbage a quarter as often cuts its CPU time by about a fifth for about
  twice the peak memory (~0.4 GB for 800 resources).
* ``niceness`` > 0 runs Terraform (and, through the launcher, the plugin processes) under
  ``nice -n <niceness>``: the test suite's loop checks stacks while tests still run and takes
  only the CPU they leave idle.
* Terraform talks to the plugins without TLS (``TF_DISABLE_PLUGIN_TLS=1``, Terraform's own
  switch): they are local test doubles on a unix socket in a private (0700) directory, and the
  per-launch certificates plus the encrypted relay cost about a third of the CPU of a plan with
  many provider configurations (measured by ``bench/bench_plugins.py``). ``plugin_tls=True`` or ``TFDOUBLE_PLUGIN_TLS=1`` turn go-plugin's
  AutoMTLS back on (the double serves it; the tests keep that path working).
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from . import mirror as mirror_mod
from . import zygote

TERRAFORM = os.environ.get("TFDOUBLE_TERRAFORM", "terraform")
UNAVAILABLE_REASON = "terraform CLI not found on PATH: offline Terraform checks skipped"
CONFIG_NAME = "main.tf.json"
#: Go's GC target for Terraform when the environment does not set GOGC (module docstring).
TERRAFORM_GOGC = "400"
#: ``1`` turns Terraform's AutoMTLS to the plugins back on (module docstring).
PLUGIN_TLS_ENV = "TFDOUBLE_PLUGIN_TLS"


def terraform_available() -> bool:
    """True if a `terraform` binary is on PATH (or at $TFDOUBLE_TERRAFORM)."""
    return shutil.which(TERRAFORM) is not None


@dataclass
class Result:
    """Outcome of one terraform command."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def output(self) -> str:
        return (self.stdout + ("\n" if self.stdout and self.stderr else "") + self.stderr).strip()


class TerraformError(RuntimeError):
    """A terraform command failed; str() is the command plus Terraform's own error text."""

    def __init__(self, result: Result):
        self.result = result
        text = result.stderr.strip() or result.stdout.strip()
        super().__init__(f"`terraform {' '.join(result.args)}` failed (exit {result.returncode}):\n{text}")

    @property
    def stderr(self) -> str:
        return self.result.stderr

    @property
    def stdout(self) -> str:
        return self.result.stdout


# ---------------------------------------------------------------------------------------------
# configuration rewriting

_REMOTE_REF = re.compile(r"data\.terraform_remote_state\.([A-Za-z0-9_-]+)\.outputs\.([A-Za-z0-9_-]+)")


def offline_config(stack_json: dict) -> dict:
    """Copy of a synthesized stack made plannable offline (see module doc). Input is not modified."""
    config = copy.deepcopy(stack_json)
    terraform = config.get("terraform")
    if isinstance(terraform, dict):
        terraform.pop("backend", None)
        terraform.pop("cloud", None)
    remote = config.get("data", {}).get("terraform_remote_state")
    if isinstance(remote, dict) and remote:
        referenced: dict[str, set[str]] = {}
        for name, output in _REMOTE_REF.findall(json.dumps(config)):
            referenced.setdefault(name, set()).add(output)
        for name, block in remote.items():
            defaults = dict(block.get("defaults") or {})
            for output in sorted(referenced.get(name, ())):
                defaults.setdefault(output, f"offline-{name}-{output}")
            remote[name] = {k: v for k, v in block.items() if k not in ("backend", "config", "workspace")}
            remote[name].update(backend="local", config={"path": f"offline-remote-state/{name}.tfstate"},
                                defaults=defaults)
    return config


def required_providers(config: dict) -> dict:
    terraform = config.get("terraform")
    return dict(terraform.get("required_providers") or {}) if isinstance(terraform, dict) else {}


def summarize(plan_json: dict) -> dict[str, int]:
    """Counts like Terraform's "Plan:" line (a replace counts as add + destroy), plus replace/import."""
    counts = {"add": 0, "change": 0, "destroy": 0, "replace": 0, "import": 0}
    for rc in plan_json.get("resource_changes", []):
        actions = rc.get("change", {}).get("actions", [])
        if rc.get("change", {}).get("importing"):
            counts["import"] += 1
        if "create" in actions:
            counts["add"] += 1
        if "delete" in actions:
            counts["destroy"] += 1
        if "create" in actions and "delete" in actions:
            counts["replace"] += 1
        if actions == ["update"]:
            counts["change"] += 1
    return counts


# ---------------------------------------------------------------------------------------------
# the runner


@dataclass
class OfflineTerraform:
    """A Terraform working directory wired to the provider double.

    `workdir` is created if needed. `mirror` defaults to :func:`mirror.install` (idempotent).
    `env` adds environment variables for terraform (e.g. ``TF_LOG``, ``TFDOUBLE_LOG``); of the
    calling process' ``TF_*`` variables only ``TF_LOG``, ``TF_LOG_PATH`` and ``TF_VAR_*`` pass,
    so user settings (CLI config, plugin cache, workspace...) cannot leak in.
    `timings` collects seconds per command name (init/validate/plan/...), summed.
    """

    workdir: Path
    mirror: mirror_mod.Mirror | None = None
    env: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    #: Serve only the schemas of types used by the config and state (much faster, see schema_types).
    filter_schema: bool = True
    #: > 0: run Terraform under ``nice -n niceness`` (lower CPU priority; ignored without `nice`).
    niceness: int = 0
    #: Terraform's AutoMTLS to the plugin processes; None: on only if ``TFDOUBLE_PLUGIN_TLS=1``.
    plugin_tls: bool | None = None
    #: Result of the last `plan` command (its human-readable output is in .stdout).
    last_plan: Result | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.workdir = Path(self.workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.mirror is None:
            self.mirror = mirror_mod.install()
        zygote.ensure(self.mirror.home)

    # -- plumbing -----------------------------------------------------------------------------

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("TF_") or k in ("TF_LOG", "TF_LOG_PATH") or k.startswith("TF_VAR_")}
        env.update(self.mirror.env())
        env.setdefault("GOGC", TERRAFORM_GOGC)
        tls = self.plugin_tls if self.plugin_tls is not None else os.environ.get(PLUGIN_TLS_ENV) == "1"
        if not tls:
            env["TF_DISABLE_PLUGIN_TLS"] = "1"
        types = self.schema_types() if self.filter_schema else None
        if types is not None:
            env["TFDOUBLE_SCHEMA_TYPES"] = ",".join(sorted(types))
        env.update(self.env)
        return env

    def schema_types(self) -> set[str] | None:
        """Types the double should serve schemas for: everything the config declares, moves or
        removes, plus everything in local state (``data.``/``ephemeral.`` prefixed for those
        kinds). None (serve all) when the config calls modules, whose contents we don't parse."""
        try:
            config = json.loads(self.config_path.read_text())
        except (OSError, ValueError):
            return None
        if config.get("module"):
            return None
        types = set(config.get("resource") or {})
        types |= {f"data.{t}" for t in config.get("data") or {}}
        types |= {f"ephemeral.{t}" for t in config.get("ephemeral") or {}}
        for kind in ("moved", "removed", "import"):
            blocks = config.get(kind) or []
            for block in blocks if isinstance(blocks, list) else [blocks]:
                for key in ("from", "to"):
                    address = str(block.get(key, "")).replace("${", "").strip("}")
                    parts = [p for p in address.split(".") if not p.startswith("module")]
                    if parts and parts[0] == "data" and len(parts) > 1:
                        types.add(f"data.{parts[1]}")
                    elif parts:
                        types.add(parts[0].split("[")[0])
        try:
            state = json.loads((self.workdir / "terraform.tfstate").read_text())
        except (OSError, ValueError):
            state = {}
        for resource in state.get("resources", []):
            prefix = {"data": "data.", "ephemeral": "ephemeral."}.get(resource.get("mode"), "")
            types.add(prefix + resource.get("type", ""))
        return types

    def run(self, *args: str, check: bool = True, timeout: float = 600) -> Result:
        """Run `terraform <args>` in the workdir; raise TerraformError on failure if `check`."""
        argv = [TERRAFORM, *args]
        nice = shutil.which("nice") if self.niceness > 0 else None
        if nice:
            argv = [nice, "-n", str(self.niceness), *argv]
        start = time.monotonic()
        proc = subprocess.run(argv, cwd=self.workdir, env=self._env(), capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)
        result = Result(list(args), proc.returncode, proc.stdout, proc.stderr, time.monotonic() - start)
        name = args[0] if args else ""
        self.timings[name] = self.timings.get(name, 0.0) + result.seconds
        if check and proc.returncode != 0:
            raise TerraformError(result)
        return result

    @property
    def config_path(self) -> Path:
        return self.workdir / CONFIG_NAME

    # -- configuration ------------------------------------------------------------------------

    def write_config(self, stack_json: dict) -> Path:
        """Write the offline form of `stack_json` as main.tf.json (re-init happens lazily)."""
        config = offline_config(stack_json)
        self.config_path.write_text(json.dumps(config, indent=2, sort_keys=True))
        return self.config_path

    def _init_marker(self) -> Path:
        return self.workdir / ".terraform" / "tfdouble-init.json"

    def _init_fingerprint(self) -> str:
        config = json.loads(self.config_path.read_text()) if self.config_path.exists() else {}
        modules = sorted((config.get("module") or {}).items()) if isinstance(config.get("module"), dict) else []
        return json.dumps({"providers": required_providers(config), "modules": modules,
                           "mirror": self.mirror.fingerprint()}, sort_keys=True, default=str)

    def init(self, force: bool = False) -> Result | None:
        """`terraform init` unless this workdir was already initialized for the same providers."""
        marker, fingerprint = self._init_marker(), self._init_fingerprint()
        if not force and marker.exists() and marker.read_text() == fingerprint:
            return None
        (self.workdir / ".terraform.lock.hcl").unlink(missing_ok=True)  # pins our mirror's hash only
        result = self.run("init", "-input=false", "-no-color", "-backend=true")
        marker.write_text(fingerprint)
        return result

    # -- commands -----------------------------------------------------------------------------

    def validate(self) -> dict:
        """`terraform validate -json`; returns its JSON, raises TerraformError when invalid."""
        self.init()
        result = self.run("validate", "-json", "-no-color", check=False)
        try:
            report = json.loads(result.stdout)
        except json.JSONDecodeError:
            raise TerraformError(result) from None
        if not report.get("valid", False):
            raise TerraformError(Result(result.args, result.returncode or 1, result.stdout,
                                        _format_diagnostics(report) or result.stderr, result.seconds))
        return report

    def plan(self, *, out: str = "plan.bin", replace: Iterable[str] = (), destroy: bool = False,
             refresh: bool = True, extra: Iterable[str] = ()) -> dict:
        """`terraform plan -out` then `show -json`; returns the plan JSON (also saved as plan.json)."""
        self.init()
        args = ["plan", "-input=false", "-no-color", "-lock=false", f"-out={out}"]
        args += [f"-replace={address}" for address in replace]
        if destroy:
            args.append("-destroy")
        if not refresh:
            args.append("-refresh=false")
        self.last_plan = self.run(*args, *extra)
        shown = self.run("show", "-json", "-no-color", out)
        (self.workdir / "plan.json").write_text(shown.stdout)
        return json.loads(shown.stdout)

    def apply(self, plan_file: str | None = None, *, extra: Iterable[str] = ()) -> Result:
        """`terraform apply` of a saved plan, or of the current config with -auto-approve."""
        self.init()
        args = ["apply", "-input=false", "-no-color", "-lock=false"]
        args += [plan_file] if plan_file else ["-auto-approve", *extra]
        return self.run(*args)

    def import_resource(self, address: str, resource_id: str) -> Result:
        """`terraform import ADDRESS ID` (the double imports a state holding only `id`)."""
        self.init()
        return self.run("import", "-input=false", "-no-color", "-lock=false", address, resource_id)

    def state(self) -> dict:
        """`terraform show -json` of the current state."""
        return json.loads(self.run("show", "-json", "-no-color").stdout or "{}")


def _format_diagnostics(report: dict) -> str:
    """Terraform's validate -json diagnostics rendered like its human output."""
    lines = []
    for d in report.get("diagnostics", []):
        where = d.get("range") or {}
        loc = f" (in {where.get('filename')} line {where.get('start', {}).get('line')})" if where else ""
        lines.append(f"{d.get('severity', 'error').capitalize()}: {d.get('summary', '')}{loc}")
        if d.get("detail"):
            lines.append(f"  {d['detail']}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# one-call helpers


@dataclass
class StackCheck:
    """Outcome of :func:`check_stack`: validate report, plan JSON, counts, seconds per step."""

    validate: dict
    plan: dict
    counts: dict[str, int]
    timings: dict[str, float]
    workdir: Path


def validate(stack_json: dict, workdir: Path | str) -> dict:
    """Init + `terraform validate` of a stack dict in `workdir`; raises TerraformError if invalid."""
    tf = OfflineTerraform(Path(workdir))
    tf.write_config(stack_json)
    return tf.validate()


def plan(stack_json: dict, workdir: Path | str, **kwargs: Any) -> dict:
    """Init + plan a stack dict in `workdir`; returns the plan JSON (see OfflineTerraform.plan)."""
    tf = OfflineTerraform(Path(workdir))
    tf.write_config(stack_json)
    return tf.plan(**kwargs)


def apply(stack_json: dict, workdir: Path | str) -> Result:
    """Init + `apply -auto-approve` a stack dict in `workdir` (state: workdir/terraform.tfstate)."""
    tf = OfflineTerraform(Path(workdir))
    tf.write_config(stack_json)
    return tf.apply()


def check_stack(stack_json: dict, workdir: Path | str) -> StackCheck:
    """Validate then plan a synthesized stack dict (pytest-friendly; one init per workdir).

    Accepts what ``json.loads(cdktf.Testing.synth(stack))`` returns or a ``cdk.tf.json`` with a
    backend. Raises :class:`TerraformError` carrying Terraform's message on the first failure.
    Checking many stacks one after another in the *same* workdir is cheapest: plans write no
    state, and ``init`` is skipped while the required providers stay the same.
    """
    tf = OfflineTerraform(Path(workdir))
    tf.write_config(stack_json)
    tf.init()
    report = tf.validate()
    plan_json = tf.plan()
    return StackCheck(report, plan_json, summarize(plan_json), dict(tf.timings), tf.workdir)
