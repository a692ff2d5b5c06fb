import copy
import http.server
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(ROOT / "workflow" / "scripts"))

import fixtures  # noqa: E402
from workflow_helpers import make_fixture_overlay  # noqa: E402


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


@pytest.fixture(scope="module")
def trained():
    """A small classifier that learned the fixture classes, and 64 test images it sees."""
    from shared_helpers import train_small_classifier

    return train_small_classifier()


@pytest.fixture
def base_config() -> dict:
    with open(ROOT / "config.yaml") as handle:
        return copy.deepcopy(yaml.safe_load(handle))


@pytest.fixture
def fixture_overlay(repo_root, tmp_path):
    """(workdir, config overlay): a scratch directory and a config on a tiny fixture mirror."""
    return make_fixture_overlay(repo_root, tmp_path)


@pytest.fixture
def idx_mirror(tmp_path) -> tuple[Path, dict]:
    """A directory mirror with tiny MNIST and Fashion-MNIST and an MD5SUMS manifest."""
    mirror = tmp_path / "mirror"
    arrays = {
        "mnist": fixtures.write_idx_dataset(mirror, "mnist", seed=1),
        "fashion-mnist": fixtures.write_idx_dataset(mirror, "fashion-mnist", seed=2),
    }
    fixtures.write_manifest(mirror)
    return mirror, arrays


@pytest.fixture
def btsc_mirror(tmp_path) -> tuple[Path, dict]:
    """A directory mirror with a tiny BTSC zip pair and a SHA256SUMS manifest."""
    mirror = tmp_path / "btsc-mirror"
    counts = fixtures.write_btsc(mirror)
    fixtures.write_manifest(mirror, "sha256")
    return mirror, counts


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves a directory; the server's `faults` script answers the first requests with
    errors: 'status:503' (an HTTP error) or 'truncate' (half the announced body)."""

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.server.requests.append(self.path)
        fault = self.server.faults.pop(0) if self.server.faults else None
        if fault and fault.startswith("status:"):
            self.send_error(int(fault.split(":")[1]))
            return
        slow = fault == "slow" or (self.server.slow_prefix and self.path.startswith(self.server.slow_prefix))
        if slow and Path(self.translate_path(self.path)).is_file():
            # the whole length announced, then a byte a second
            body = Path(self.translate_path(self.path)).read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            for i in range(len(body)):
                try:
                    self.wfile.write(body[i : i + 1])
                    self.wfile.flush()
                except OSError:
                    return
                time.sleep(1)
            return
        if fault == "truncate":
            path = Path(self.translate_path(self.path))
            body = path.read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.close_connection = True
            return
        super().do_GET()


@pytest.fixture
def http_mirror():
    """Start a loopback HTTP server over a directory: serve(dir, faults) -> (url, server)."""
    servers = []

    def serve(directory: Path, faults=()):
        handler = lambda *a, **k: _Handler(*a, directory=str(directory), **k)  # noqa: E731
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.faults = list(faults)
        server.slow_prefix = None  # every request for a path starting so is answered a byte a second
        server.requests = []
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}", server

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()
