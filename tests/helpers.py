"""Small helpers shared by several test files."""
import contextlib
import socket
from pathlib import Path

from minireg import kernels


def shared_mnist() -> Path:
    """../../shared/data/mnist beside the checkout (as in CI), else /work/shared/data/mnist."""
    beside = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
    return beside if beside.is_dir() else Path("/work/shared/data/mnist")


@contextlib.contextmanager
def kernel_path(path, kernel):
    """Run the body with the compiled ``kernel`` (which must be built) when ``path`` is
    "compiled", or with the NumPy twins otherwise."""
    previous = kernels.use_compiled(path == "compiled")
    try:
        if path == "compiled":
            assert kernels.compiled_status()[kernel] == "compiled", f"minireg._ext.{kernel} is not built"
        yield
    finally:
        kernels.use_compiled(previous)


def forbid_network(monkeypatch):
    """Make any attempt to reach the network fail, as on a machine without one."""
    def no_network(*args, **kwargs):
        raise OSError("network access is disabled in the tests")

    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)
