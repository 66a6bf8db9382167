"""Encryption in transit, for real: a throwaway PostgreSQL cluster with TLS on and certificates
made now with trustme; Veil's engine connects with sslmode=verify-full and the right CA, and is
refused with a wrong CA, without a client certificate, or without TLS. Plus the service's TLS
settings model against a real TLS handshake."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from veil.errors import StoreError
from veil.store.db import create_engine
from veil.store.tls import DatabaseTLS, ServerTLS, TLSConfigError, apply_database_tls

trustme = pytest.importorskip("trustme", reason="trustme (test extra) makes the certificates")


def _pg_bin() -> Path | None:
    for cand in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.access(os.path.join(cand, "initdb"), os.X_OK):
            return Path(cand)
    found = shutil.which("initdb")
    return Path(found).resolve().parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Cluster:
    """initdb + pg_ctl in a temporary folder, as the current user (or `postgres` when root:
    PostgreSQL refuses to run as root)."""

    def __init__(self, bindir: Path, ca: Any) -> None:
        self.bindir = bindir
        self.dir = Path(tempfile.mkdtemp(prefix="veil-pgtls-"))
        self.data = self.dir / "data"
        self.port = _free_port()
        self.prefix: list[str] = []
        self.uid = self.gid = None
        if os.geteuid() == 0:
            import pwd

            try:
                pw = pwd.getpwnam("postgres")
            except KeyError:
                pytest.skip("running as root and there is no 'postgres' user to run initdb as")
            runuser = shutil.which("runuser")
            if runuser is None:
                pytest.skip("running as root without runuser to drop privileges for initdb")
            self.prefix = [runuser, "-u", "postgres", "--"]
            self.uid, self.gid = pw.pw_uid, pw.pw_gid
            os.chown(self.dir, self.uid, self.gid)
        os.chmod(self.dir, 0o700)
        server = ca.issue_cert("localhost")  # the name clients must use with verify-full
        server.cert_chain_pems[0].write_to_path(str(self.dir / "server.crt"))
        server.private_key_pem.write_to_path(str(self.dir / "server.key"))
        ca.cert_pem.write_to_path(str(self.dir / "ca.crt"))
        for name in ("server.crt", "server.key", "ca.crt"):
            p = self.dir / name
            os.chmod(p, 0o600)
            if self.uid is not None:
                os.chown(p, self.uid, self.gid)  # type: ignore[arg-type]

    def _run(self, *args: str) -> None:
        r = subprocess.run([*self.prefix, *args], capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {r.stderr[-2000:]}")

    def start(self) -> None:
        self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-U", "postgres",
                  "--auth=trust", "--no-sync", "-E", "UTF8")
        conf = self.data / "postgresql.conf"
        with open(conf, "a") as f:
            f.write(
                f"\nport = {self.port}\nlisten_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.dir}'\nssl = on\n"
                f"ssl_cert_file = '{self.dir / 'server.crt'}'\n"
                f"ssl_key_file = '{self.dir / 'server.key'}'\n"
                f"ssl_ca_file = '{self.dir / 'ca.crt'}'\n"
                "fsync = off\nshared_buffers = 16MB\nmax_connections = 20\n"
            )
        # TLS only, with a client certificate whose CN is the user; plain TCP is rejected.
        (self.data / "pg_hba.conf").write_text(
            "local all all trust\n"
            "hostssl all all 127.0.0.1/32 trust clientcert=verify-full\n"
            "hostnossl all all 127.0.0.1/32 reject\n"
        )
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l",
                  str(self.dir / "log"), "-w", "-t", "60", "start")

    def stop(self) -> None:
        try:
            self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate",
                      "-w", "stop")
        except Exception:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def tls_pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    bindir = _pg_bin()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not installed")
    ca = trustme.CA()
    cluster = _Cluster(bindir, ca)
    try:
        cluster.start()
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
        cluster.stop()
        pytest.skip(f"cannot start a throwaway PostgreSQL cluster: {str(exc)[:300]}")
    client_dir = tmp_path_factory.mktemp("client")
    ca.cert_pem.write_to_path(str(client_dir / "ca.pem"))
    client = ca.issue_cert("postgres", common_name="postgres")
    client.cert_chain_pems[0].write_to_path(str(client_dir / "client.pem"))
    client.private_key_pem.write_to_path(str(client_dir / "client.key"))
    os.chmod(client_dir / "client.key", 0o600)  # libpq refuses a key others can read
    other = trustme.CA()
    other.cert_pem.write_to_path(str(client_dir / "other-ca.pem"))
    try:
        yield {"port": cluster.port, "dir": client_dir}
    finally:
        cluster.stop()


def _connect(url: str) -> tuple[bool, int]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            ssl_on = conn.execute(sa.text(
                "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")).scalar()
            version = conn.execute(sa.text("SHOW server_version_num")).scalar()
            return bool(ssl_on), int(version)
    finally:
        engine.dispose()


def test_postgres_verify_full_with_trustme_certificates(tls_pg: dict[str, Any]) -> None:
    d, port = tls_pg["dir"], tls_pg["port"]
    base = f"postgresql://postgres@localhost:{port}/postgres"
    settings = {"sslmode": "verify-full", "sslrootcert": "ca.pem", "sslcert": "client.pem",
                "sslkey": "client.key"}
    # [database] settings from veil.toml, relative to the workspace, become URL parameters.
    url = apply_database_tls(base, settings, d)
    assert "sslmode=verify-full" in url and f"sslrootcert={d}/ca.pem" in url
    ssl_on, version = _connect(url)
    assert ssl_on and version > 0

    # A server certificate from another CA is refused (verify-full checks the chain) ...
    wrong_ca = apply_database_tls(base, {**settings, "sslrootcert": "other-ca.pem"}, d)
    with pytest.raises(sa.exc.OperationalError, match="certificate verify failed"):
        _connect(wrong_ca)
    # ... and so is a host name the certificate does not name; verify-ca would not notice.
    by_ip = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    with pytest.raises(sa.exc.OperationalError, match="does not match host name"):
        _connect(apply_database_tls(by_ip, settings, d))
    assert _connect(apply_database_tls(by_ip, {**settings, "sslmode": "verify-ca"}, d))[0]
    # The server demands TLS and a client certificate.
    no_client = apply_database_tls(base, {"sslmode": "verify-full", "sslrootcert": "ca.pem"}, d)
    with pytest.raises(sa.exc.OperationalError):
        _connect(no_client)
    with pytest.raises(sa.exc.OperationalError, match="no encryption|rejects connection"):
        _connect(base + "?sslmode=disable")
    # Parameters already in the URL win over veil.toml's.
    explicit = apply_database_tls(base + f"?sslrootcert={d}/other-ca.pem", settings, d)
    with pytest.raises(sa.exc.OperationalError, match="certificate verify failed"):
        _connect(explicit)


def test_postgres_workspace_with_tls_settings(tls_pg: dict[str, Any], tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The store itself over TLS: migrations and the key manager through a verify-full URL."""
    from veil.kek.providers import StaticKEK
    from veil.keys.manager import KeyManager
    from veil.store.db import upgrade
    from veil.store.workspace import Workspace

    d, port = tls_pg["dir"], tls_pg["port"]
    url = apply_database_tls(
        f"postgresql://postgres@localhost:{port}/postgres",
        {"sslmode": "verify-full", "sslrootcert": str(d / "ca.pem"),
         "sslcert": str(d / "client.pem"), "sslkey": str(d / "client.key")},
    )
    (tmp_path / "veil.toml").write_text("[workspace]\n")
    ws = Workspace(tmp_path, url)
    try:
        upgrade(ws.engine)
        km = KeyManager(ws, kek=StaticKEK(os.urandom(32)))
        km.init("tls-test", "aead")
        km.rotate("tls-test")
        assert len(km.keyset("tls-test").entries) == 2
    finally:
        ws.close()


def test_database_tls_settings_model(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("x")
    tls = DatabaseTLS.from_config({"sslmode": "verify-full", "sslrootcert": "ca.pem"}, tmp_path)
    assert tls.sslrootcert == str(tmp_path / "ca.pem")
    assert tls.apply("sqlite:///x.db") == "sqlite:///x.db"  # SQLite takes no TLS settings
    assert DatabaseTLS().apply("postgresql://u@h/db") == "postgresql://u@h/db"
    url = tls.apply("postgresql://u:p%40ss@h:5432/db?application_name=veil")
    assert url.startswith("postgresql://u:p%40ss@h:5432/db?")
    assert sa.make_url(url).query == {"sslmode": "verify-full",
                                      "sslrootcert": str(tmp_path / "ca.pem"),
                                      "application_name": "veil"}
    assert DatabaseTLS.from_config({"sslrootcert": "system"}).sslrootcert == "system"
    for bad, msg in (({"sslmode": "always"}, "sslmode"), ({"sslrootcert": "nope.pem"},
                     "file not found"), ({"sslcert": "ca.pem"}, "go together"),
                     ({"host": "x"}, "unknown setting"), ({"sslmode": 1}, "must be a string")):
        with pytest.raises(StoreError, match=msg):
            DatabaseTLS.from_config(bad, tmp_path)


def _serve_once(ctx: ssl.SSLContext) -> tuple[int, threading.Thread, list[Any]]:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    seen: list[Any] = []

    def run() -> None:
        conn, _ = srv.accept()
        try:
            with ctx.wrap_socket(conn, server_side=True) as tls:
                seen.append(tls.getpeercert())
                tls.sendall(b"hello")
        except (ssl.SSLError, OSError) as exc:
            seen.append(exc)
        finally:
            srv.close()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return port, t, seen


def test_service_tls_settings(tmp_path: Path) -> None:
    ca, client_ca = trustme.CA(), trustme.CA()
    server = ca.issue_cert("localhost")
    server.cert_chain_pems[0].write_to_path(str(tmp_path / "server.pem"))
    server.private_key_pem.write_to_path(str(tmp_path / "server.key"))
    client_ca.cert_pem.write_to_path(str(tmp_path / "clients.pem"))
    tls = ServerTLS.from_config({"certfile": "server.pem", "keyfile": "server.key",
                                 "client_ca": "clients.pem", "client_auth": "required",
                                 "min_version": "TLSv1.3"}, tmp_path)
    assert tls is not None
    opts = tls.uvicorn_options()
    assert opts == {"ssl_certfile": str(tmp_path / "server.pem"),
                    "ssl_keyfile": str(tmp_path / "server.key"),
                    "ssl_ca_certs": str(tmp_path / "clients.pem"),
                    "ssl_cert_reqs": int(ssl.CERT_REQUIRED)}

    def client(with_cert: bool, trust: Any = ca) -> bytes:
        ctx = ssl.create_default_context()
        trust.configure_trust(ctx)
        if with_cert:
            client_ca.issue_cert("svc-client@bank.example").configure_cert(ctx)
        port, t, seen = _serve_once(tls.ssl_context())
        try:
            with socket.create_connection(("127.0.0.1", port)) as raw, \
                    ctx.wrap_socket(raw, server_hostname="localhost") as s:
                assert s.version() == "TLSv1.3"
                return s.recv(5)
        finally:
            t.join(5)

    assert client(with_cert=True) == b"hello"
    with pytest.raises((ssl.SSLError, ConnectionError)):
        client(with_cert=False)  # mutual TLS: no client certificate, no service
    with pytest.raises(ssl.SSLCertVerificationError):
        client(with_cert=True, trust=trustme.CA())  # the client does not trust this server
    assert ServerTLS.from_config(None) is None
    for bad, msg in (({"certfile": "a"}, "needs keyfile"),
                     ({"certfile": "a", "keyfile": "b", "client_auth": "required"},
                      "needs client_ca"),
                     ({"certfile": "a", "keyfile": "b", "port": 1}, "unknown setting")):
        with pytest.raises(TLSConfigError, match=msg):
            ServerTLS.from_config(bad, tmp_path)
    with pytest.raises(TLSConfigError, match="file not found"):
        ServerTLS("missing.pem", "missing.key").ssl_context()
