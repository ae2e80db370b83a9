"""Unit tests of the provider double's parts (no terraform binary needed, no cdktf)."""

from __future__ import annotations

import base64
import json
import marshal
import os
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import msgpack
import pytest

from tools.tfdouble import behaviour, catalog, cty, harness, mirror, proto, schema, server, zygote

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def google() -> schema.ProviderSchema:
    return schema.load("google")


# -- cty codec -----------------------------------------------------------------------------------


def test_unknown_encodes_like_cty_and_round_trips():
    assert cty.encode(cty.UNKNOWN) == b"\xd4\x00\x00"
    value = {"a": cty.UNKNOWN, "b": [1, "x", None], "c": {"k": True}}
    assert cty.decode(cty.encode(value)) == value


def test_refined_unknown_and_dynamic_values_round_trip_byte_for_byte():
    refined = msgpack.ExtType(12, msgpack.packb({2: "prefix"}))
    raw = msgpack.packb({"r": refined, "d": [b'"string"', "hello"]}, use_bin_type=True)
    decoded = cty.decode(raw)
    assert isinstance(decoded["r"], cty.Unknown)
    assert cty.encode(decoded) == raw


def test_zero_value_fills_every_type():
    ty = ["object", {"s": "string", "n": "number", "b": "bool", "l": ["list", "string"], "m": ["map", "number"]}]
    value = cty.zero_value(ty, ("x",), lambda path: "/".join(path))
    assert value == {"s": "x/s", "n": 0, "b": False, "l": ["x/l"], "m": {}}


# -- schema translation --------------------------------------------------------------------------


def test_schema_translation_keeps_flags_types_and_nesting(google):
    resp = proto.GetProviderSchemaResponse.FromString(google.response_bytes)
    network = resp.resource_schemas["google_compute_network"].block
    attrs = {a.name: a for a in network.attributes}
    assert attrs["name"].required and json.loads(attrs["name"].type) == "string"
    assert attrs["project"].optional and attrs["project"].computed
    assert json.loads(attrs["mtu"].type) == "number"
    blocks = {b.type_name: b for b in network.block_types}
    assert blocks["params"].nesting == proto.Schema.NestedBlock.NestingMode.Value("LIST")
    assert blocks["params"].max_items == 1
    assert blocks["timeouts"].nesting == proto.Schema.NestedBlock.NestingMode.Value("SINGLE")
    assert "google_client_config" in resp.data_source_schemas
    assert "google_service_account_access_token" in resp.ephemeral_resource_schemas
    assert {a.name for a in resp.provider.block.attributes} >= {"project", "region", "zone", "access_token"}
    assert resp.server_capabilities.plan_destroy and resp.server_capabilities.get_provider_schema_optional


def test_sensitive_and_compact_form(google):
    version, (attrs, blocks) = google.get("data", "google_client_config")
    assert attrs["access_token"][1] & schema.SENSITIVE and attrs["access_token"][1] & schema.COMPUTED
    assert google.get("resource", "google_no_such_thing") is None


def test_schema_cache_is_reused(tmp_path):
    first = schema.load("kubernetes", tmp_path)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert len(files) == 2
    stamp = {p: p.stat().st_mtime_ns for p in tmp_path.iterdir()}
    second = schema.load("kubernetes", tmp_path)
    assert second.response_bytes == first.response_bytes
    assert {p: p.stat().st_mtime_ns for p in tmp_path.iterdir()} == stamp


# -- plan/apply behaviour ------------------------------------------------------------------------


def _subnetwork(google):
    return google.get("resource", "google_compute_subnetwork")[1]


def _proposed(block, **values):
    attrs, blocks = block
    obj = {name: None for name in attrs}
    obj.update({name: ([] if nesting in ("list", "set") else None) for name, (nesting, *_r) in blocks.items()})
    obj.update(values)
    return obj


def test_plan_create_marks_computed_unknown_and_fills_provider_defaults(google):
    block = _subnetwork(google)
    proposed = _proposed(block, name="s", network="n", ip_cidr_range="10.0.0.0/24")
    planned = behaviour.plan(block, None, proposed, {"project": "p", "region": "r", "zone": None})
    assert planned["project"] == "p" and planned["region"] == "r"
    assert planned["id"] is cty.UNKNOWN or isinstance(planned["id"], cty.Unknown)
    assert isinstance(planned["self_link"], cty.Unknown)
    assert planned["description"] is None  # optional, not computed: stays null
    assert planned["ip_cidr_range"] == "10.0.0.0/24"


def test_apply_is_deterministic_and_replan_is_a_no_op(google):
    block = _subnetwork(google)
    proposed = _proposed(block, name="s", network="n", ip_cidr_range="10.0.0.0/24")
    planned = behaviour.plan(block, None, proposed, {"project": "p", "region": "r"})
    state = behaviour.apply("google_compute_subnetwork", block, planned, {"project": "p", "region": "r"})
    assert state == behaviour.apply("google_compute_subnetwork", block, planned, {"project": "p", "region": "r"})
    assert cty.is_known(state)
    assert state["id"] == "projects/p/regions/r/subnetworks/s"
    assert behaviour.plan(block, state, state, {"project": "p", "region": "r"}) == state
    assert behaviour.plan(block, state, None, {}) is None  # destroy


def test_output_only_block_is_planned_with_unknowns(google):
    block = google.get("resource", "google_container_cluster")[1]
    proposed = _proposed(block, name="c", location="europe-west1")
    planned = behaviour.plan(block, None, proposed, {"project": "p"})
    (master_auth,) = planned["master_auth"]
    assert isinstance(master_auth["cluster_ca_certificate"], cty.Unknown)
    assert planned["node_config"] == []  # ordinary optional blocks stay as configured


def test_data_source_fills_computed_values(google):
    block = google.get("data", "google_client_config")[1]
    state = behaviour.read_data("google_client_config", block, _proposed(block), {"project": "p", "region": "r"})
    assert state["project"] == "p" and state["region"] == "r"
    assert state["access_token"].startswith("fake-") and state["default_labels"] == {}


def test_import_state_holds_only_the_id(google):
    block = _subnetwork(google)
    state = behaviour.import_state(block, "projects/p/regions/r/subnetworks/s")
    assert state["id"] == "projects/p/regions/r/subnetworks/s" and state["name"] is None


# -- plugin process: handshake, cookie, mutual TLS -----------------------------------------------


def _launch(env_extra: dict[str, str]) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in ("PLUGIN_CLIENT_CERT", server.MAGIC_COOKIE_KEY)}
    env.update(env_extra)
    return subprocess.Popen([sys.executable, "-m", "tools.tfdouble.server", "google"], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_refuses_to_run_without_magic_cookie():
    proc = _launch({})
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 1 and "plugin" in err


def test_handshake_and_mutual_tls(tmp_path):
    client_key, client_cert, _ = server.make_server_certificate()  # any self-signed cert will do
    (tmp_path / "client.key").write_bytes(client_key)
    (tmp_path / "client.crt").write_bytes(client_cert)
    proc = _launch({server.MAGIC_COOKIE_KEY: server.MAGIC_COOKIE_VALUE, "PLUGIN_CLIENT_CERT": client_cert.decode()})
    address = ""
    try:
        core, app, network, address, protocol, cert_b64 = proc.stdout.readline().strip().split("|")
        assert (core, app, network, protocol) == ("1", "6", "unix", "grpc")
        assert "=" not in cert_b64
        server_der = base64.b64decode(cert_b64 + "=" * (-len(cert_b64) % 4))

        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(cadata=ssl.DER_cert_to_PEM_cert(server_der))
        ctx.set_alpn_protocols(["h2"])
        ctx.load_cert_chain(tmp_path / "client.crt", tmp_path / "client.key")
        with socket.socket(socket.AF_UNIX) as raw, ctx.wrap_socket(raw, server_hostname="localhost") as tls:
            tls.connect(address)
            assert tls.selected_alpn_protocol() == "h2"
            assert tls.getpeercert(binary_form=True) == server_der

        anonymous = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        anonymous.load_verify_locations(cadata=ssl.DER_cert_to_PEM_cert(server_der))
        with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
            with socket.socket(socket.AF_UNIX) as raw, anonymous.wrap_socket(raw, server_hostname="localhost") as tls:
                tls.connect(address)
                tls.sendall(b"PRI * HTTP/2.0\r\n\r\n")
                if not tls.recv(1):  # TLS 1.3 reports the missing client cert on first read
                    raise ConnectionError("closed")
    finally:
        proc.kill()
        proc.wait()
        if address:  # killed plugins cannot clean up their private socket dir
            shutil.rmtree(Path(address).parent, ignore_errors=True)


def test_grpc_schema_and_shutdown_over_plaintext():
    import grpc
    from tf.gen import grpc_controller_pb2

    proc = _launch({server.MAGIC_COOKIE_KEY: server.MAGIC_COOKIE_VALUE})
    try:
        address = proc.stdout.readline().strip().split("|")[3]
        with grpc.insecure_channel(f"unix:{address}", options=[("grpc.max_receive_message_length", 64 << 20)]) as ch:
            get_schema = ch.unary_unary("/tfplugin6.Provider/GetProviderSchema",
                                        request_serializer=lambda m: m.SerializeToString(),
                                        response_deserializer=proto.GetProviderSchemaResponse.FromString)
            resp = get_schema(proto.message("GetProviderSchema.Request")(), timeout=30)
            assert "google_compute_network" in resp.resource_schemas
            shutdown = ch.unary_unary("/plugin.GRPCController/Shutdown",
                                      request_serializer=grpc_controller_pb2.Empty.SerializeToString,
                                      response_deserializer=grpc_controller_pb2.Empty.FromString)
            shutdown(grpc_controller_pb2.Empty(), timeout=30)
        deadline = time.monotonic() + 10
        while proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proc.returncode == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


# -- mirror and harness helpers ------------------------------------------------------------------


def test_mirror_install_layout_and_idempotence(tmp_path):
    installed = mirror.install(tmp_path, warm_cache=False)
    exe = installed.executable(catalog.get("google"))
    assert exe.relative_to(tmp_path).as_posix() == (
        f"mirror/registry.terraform.io/hashicorp/google/6.50.0/{mirror.platform_dir()}"
        "/terraform-provider-google_v6.50.0")
    assert os.access(exe, os.X_OK) and mirror.venv_python() in exe.read_text()
    config = installed.cli_config.read_text()
    assert "filesystem_mirror" in config and 'exclude = ["registry.terraform.io/hashicorp/*"]' in config
    stamp = exe.stat().st_mtime_ns
    mirror.install(tmp_path, warm_cache=False)
    assert exe.stat().st_mtime_ns == stamp
    assert installed.env()["TF_CLI_CONFIG_FILE"] == str(installed.cli_config)


def test_mirror_install_from_threads_at_once_into_a_fresh_home(tmp_path, monkeypatch):
    """The Terraform loop's threads may each install the mirror into a fresh TFDOUBLE_HOME.

    Every rename waits until both threads have written their temporary file, so each writes while
    the other's is still there (a temporary name made of the pid alone was shared by both, and the
    second rename failed with FileNotFoundError).
    """
    both_written = threading.Barrier(2, timeout=10)
    rename = os.replace

    def replace_when_both_wrote(src, dst):
        both_written.wait()
        rename(src, dst)

    monkeypatch.setattr(os, "replace", replace_when_both_wrote)
    errors: list[BaseException] = []

    def install() -> None:
        try:
            mirror.install(tmp_path / "home", warm_cache=False)
        except BaseException as error:  # noqa: BLE001 - reported by the assert below
            errors.append(error)

    threads = [threading.Thread(target=install) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    installed = mirror.Mirror((tmp_path / "home").resolve())
    assert os.access(installed.executable(catalog.get("google")), os.X_OK)
    assert installed.cli_config.read_text() == mirror.cli_config_text(installed.mirror_dir)
    assert [p.name for p in (tmp_path / "home").rglob("*.tmp")] == []


def test_offline_config_drops_backend_and_serves_remote_state_defaults():
    stack = {
        "terraform": {"backend": {"gcs": {"bucket": "b"}}, "required_providers": {}},
        "data": {"terraform_remote_state": {"net": {"backend": "gcs", "config": {"bucket": "b"}}}},
        "output": {"x": {"value": "${data.terraform_remote_state.net.outputs.vpc_id}"}},
    }
    config = harness.offline_config(stack)
    assert "backend" not in config["terraform"] and "backend" in stack["terraform"]
    remote = config["data"]["terraform_remote_state"]["net"]
    assert remote["backend"] == "local" and remote["defaults"] == {"vpc_id": "offline-net-vpc_id"}


def test_summarize_counts_like_terraform():
    plan_json = {"resource_changes": [
        {"change": {"actions": ["create"]}}, {"change": {"actions": ["update"]}},
        {"change": {"actions": ["delete"]}}, {"change": {"actions": ["delete", "create"]}},
        {"change": {"actions": ["no-op"], "importing": {"id": "x"}}}, {"change": {"actions": ["read"]}},
    ]}
    assert harness.summarize(plan_json) == {"add": 2, "change": 1, "destroy": 2, "replace": 1, "import": 1}


def test_schema_can_be_restricted_to_the_types_in_use(google):
    only = {"google_compute_network", "data.google_client_config", "ephemeral.google_service_account_jwt", "nope"}
    resp = proto.GetProviderSchemaResponse.FromString(google.response_for(only))
    assert list(resp.resource_schemas) == ["google_compute_network"]
    assert list(resp.data_source_schemas) == ["google_client_config"]
    assert list(resp.ephemeral_resource_schemas) == ["google_service_account_jwt"]
    assert resp.provider.block.attributes and resp.server_capabilities.plan_destroy
    full = proto.GetProviderSchemaResponse.FromString(google.response_for(None))
    assert resp.resource_schemas["google_compute_network"] == full.resource_schemas["google_compute_network"]


def test_harness_schema_types_cover_config_and_state(tmp_path):
    tf = harness.OfflineTerraform(tmp_path, mirror=mirror.Mirror(tmp_path / "home"))
    tf.write_config({"resource": {"google_compute_network": {"n": {}}},
                     "data": {"google_client_config": {"c": {}}},
                     "moved": [{"from": "google_compute_address.old", "to": "google_compute_network.n"}]})
    (tmp_path / "terraform.tfstate").write_text(json.dumps({"resources": [
        {"mode": "managed", "type": "google_compute_router"}, {"mode": "data", "type": "google_project"}]}))
    assert tf.schema_types() == {"google_compute_network", "data.google_client_config", "google_compute_address",
                                 "google_compute_router", "data.google_project"}
    tf.write_config({"module": {"m": {"source": "./m"}}})
    assert tf.schema_types() is None


# -- zygote (fork server) and launcher -----------------------------------------------------------


def _launcher(installed: mirror.Mirror, env_extra: dict[str, str], prefix: tuple[str, ...] = ()) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in ("PLUGIN_CLIENT_CERT", "TFDOUBLE_ZYGOTE")}
    env.update({server.MAGIC_COOKIE_KEY: server.MAGIC_COOKIE_VALUE, **env_extra})
    return subprocess.Popen([*prefix, str(installed.executable(catalog.get("kubernetes")))], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _niceness(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])


def _shutdown(address: str) -> None:
    import grpc
    from tf.gen import grpc_controller_pb2

    with grpc.insecure_channel(f"unix:{address}") as channel:
        channel.unary_unary("/plugin.GRPCController/Shutdown",
                            request_serializer=grpc_controller_pb2.Empty.SerializeToString,
                            response_deserializer=grpc_controller_pb2.Empty.FromString)(grpc_controller_pb2.Empty(), timeout=30)


@pytest.mark.parametrize("use_zygote", [True, False], ids=["zygote", "direct"])
def test_launcher_serves_and_exits_on_shutdown(tfdouble_home, use_zygote):
    installed = mirror.install(tfdouble_home)
    try:
        if use_zygote:
            assert zygote.ensure(installed.home)
            assert zygote.ping(installed.home)["key"] == zygote.source_key()
        proc = _launcher(installed, {} if use_zygote else {"TFDOUBLE_ZYGOTE": "0"})
        fields = proc.stdout.readline().strip().split("|")
        assert fields[:3] == ["1", "6", "unix"] and fields[4] == "grpc"
        _shutdown(fields[3])
        assert proc.wait(timeout=15) == 0
        assert not Path(fields[3]).exists()
    finally:
        zygote.stop(installed.home)


@pytest.mark.skipif(not Path("/proc/self/stat").exists() or shutil.which("nice") is None, reason="needs /proc and nice")
@pytest.mark.parametrize("use_zygote", [True, False], ids=["zygote", "direct"])
def test_the_plugin_runs_at_the_niceness_of_its_launcher(tfdouble_home, use_zygote):
    """A zygote-forked plugin takes the launcher's niceness, as the plugin started directly does:
    Terraform run under ``nice`` (the suite's loop beside the tests) gets niced plugins."""
    installed = mirror.install(tfdouble_home)
    wanted = min(19, os.getpriority(os.PRIO_PROCESS, 0) + 7)
    try:
        if use_zygote:
            assert zygote.ensure(installed.home)
        proc = _launcher(installed, {} if use_zygote else {"TFDOUBLE_ZYGOTE": "0"}, ("nice", "-n", "7"))
        address = proc.stdout.readline().strip().split("|")[3]
        if use_zygote:
            zygote_pid = zygote.ping(installed.home)["pid"]
            plugins = [int(p.parent.name) for p in Path("/proc").glob("[0-9]*/stat")
                       if p.read_text().rsplit(")", 1)[1].split()[1] == str(zygote_pid)]
        else:
            plugins = [proc.pid]  # the launcher execs the server
        assert len(plugins) == 1 and _niceness(plugins[0]) == wanted
        _shutdown(address)
        assert proc.wait(timeout=15) == 0
    finally:
        zygote.stop(installed.home)


@pytest.mark.parametrize("payload", [b"\xff\x00garbage", b"\x00", marshal.dumps(["not", "a", "dict"])],
                         ids=["unreadable", "truncated", "not-a-dict"])
def test_the_zygote_survives_a_malformed_request(tfdouble_home, payload):
    installed = mirror.install(tfdouble_home)
    try:
        assert zygote.ensure(installed.home)
        pid = zygote.ping(installed.home)["pid"]
        with socket.socket(socket.AF_UNIX) as conn:
            conn.settimeout(5)
            conn.connect(str(zygote.socket_path(installed.home)))
            conn.sendall(len(payload).to_bytes(4, "big") + payload)
            assert conn.recv(16) == b""  # dropped without an answer
        assert zygote.ping(installed.home)["pid"] == pid
        assert "zygote: bad request" in (installed.home / "zygote.log").read_text()
    finally:
        zygote.stop(installed.home)


def test_the_zygote_has_its_own_process_group_in_the_starters_session(tfdouble_home):
    """Not a session of its own: with autogroup scheduling that would be a scheduling group of its
    own, and its niced plugins would take a full share beside the tests (zygote module doc)."""
    installed = mirror.install(tfdouble_home)
    try:
        assert zygote.ensure(installed.home)
        pid = zygote.ping(installed.home)["pid"]
        assert os.getpgid(pid) == pid and os.getsid(pid) == os.getsid(0)
    finally:
        zygote.stop(installed.home)


def test_terraform_runs_with_gogc_400_unless_the_environment_sets_it(tmp_path, tfdouble_home, monkeypatch):
    monkeypatch.setenv("TFDOUBLE_ZYGOTE", "0")
    monkeypatch.delenv("GOGC", raising=False)
    tf = harness.OfflineTerraform(tmp_path / "work", mirror=mirror.install(tfdouble_home))

    assert tf._env()["GOGC"] == harness.TERRAFORM_GOGC == "400"
    monkeypatch.setenv("GOGC", "150")
    assert tf._env()["GOGC"] == "150"


@pytest.mark.skipif(shutil.which("nice") is None, reason="needs nice")
def test_terraform_runs_under_nice_when_asked(tmp_path, tfdouble_home, monkeypatch):
    fake = tmp_path / "terraform"
    fake.write_text("#!/bin/sh\nnice\n")  # `nice` without arguments prints the niceness it runs at
    fake.chmod(0o755)
    monkeypatch.setattr(harness, "TERRAFORM", str(fake))
    monkeypatch.setenv("TFDOUBLE_ZYGOTE", "0")
    base = os.getpriority(os.PRIO_PROCESS, 0)
    installed = mirror.install(tfdouble_home)

    plain = harness.OfflineTerraform(tmp_path / "a", mirror=installed).run("version")
    niced = harness.OfflineTerraform(tmp_path / "b", mirror=installed, niceness=5).run("version")

    assert int(plain.stdout) == base and int(niced.stdout) == min(19, base + 5)


def test_zygote_child_follows_a_killed_launcher(tfdouble_home):
    installed = mirror.install(tfdouble_home)
    try:
        assert zygote.ensure(installed.home)
        proc = _launcher(installed, {})
        address = proc.stdout.readline().strip().split("|")[3]
        proc.kill()
        proc.wait()
        deadline = time.monotonic() + 10
        while Path(address).exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not Path(address).exists()  # the forked plugin exited and cleaned up
    finally:
        zygote.stop(installed.home)


def test_fake_certificates_are_base64_pem_so_base64decode_works():
    faker = behaviour.Faker("google_container_cluster", {"name": "c"}, {})
    value = faker.string(("master_auth", "cluster_ca_certificate"))
    assert base64.b64decode(value).decode().startswith("-----BEGIN CERTIFICATE-----")
    assert faker.string(("master_auth", "cluster_ca_certificate")) == value, "deterministic"


def test_mirror_launcher_names_the_interpreter_the_same_way_every_time():
    assert mirror.venv_python() == str(Path(sys.prefix) / "bin" / "python")
