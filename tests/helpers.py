"""Small helpers shared by several test files."""
import contextlib
import functools
import os
import socket
from pathlib import Path

import pytest

from minireg import kernels
from minireg.datasets import cache_folder
from minireg.datasets.download import ENVIRONMENT_VARIABLE, find_file, load_verified_bytes
from minireg.datasets.files import check_digest, read_decompressed
from minireg.datasets.mnist import MNIST_MIRRORS, MNIST_SHA256

CHECKOUT = Path(__file__).resolve().parents[1]


def mnist_candidates() -> list:
    """``[(where, folder)]``: where the tests look for MNIST, in order."""
    candidates = []
    environment_folder = os.environ.get(ENVIRONMENT_VARIABLE)
    if environment_folder:
        for folder in (Path(environment_folder).expanduser() / "mnist", Path(environment_folder).expanduser()):
            candidates.append((f"${ENVIRONMENT_VARIABLE}", folder))
    candidates.append(("the minireg cache", cache_folder() / "mnist"))
    for above in CHECKOUT.parents:  # shared/data/mnist beside the checkout (as in CI), or higher up
        candidates.append(("beside the checkout", above / "shared" / "data" / "mnist"))
    return candidates


def holds_mnist(folder) -> bool:
    """Whether ``folder`` has the four MNIST files (gzip or raw)."""
    return all(find_file(name, [folder]) is not None for name in MNIST_SHA256)


@functools.lru_cache(maxsize=None)
def shared_mnist() -> Path:
    """The folder with the real MNIST files, for the tests that need them.

    Looked for in ``$MINIREG_DATA`` (its ``mnist/`` subfolder or itself), the minireg
    cache, ``shared/data/mnist`` beside the checkout; else downloaded into the cache (or
    ``$MINIREG_DATA``) as the loaders do. If all of this fails, the test fails with one
    message saying how to provide the files.
    """
    candidates = mnist_candidates()
    for _, folder in candidates:
        if holds_mnist(folder):
            return folder
    try:
        for name, digest in MNIST_SHA256.items():
            load_verified_bytes(name, "mnist", lambda data, source, digest=digest: check_digest(data, digest, source),
                                MNIST_MIRRORS, download=True)
    except OSError as error:
        looked_in = "\n  ".join(f"{folder} ({where})" for where, folder in candidates)
        pytest.fail(
            f"These tests need MNIST (the four IDX files, gzip or raw). They are in none of:\n"
            f"  {looked_in}\nand downloading them failed: {error}\n"
            f"Provide them in one of these ways: set {ENVIRONMENT_VARIABLE} to a folder that holds "
            f"them (or holds a mnist/ folder with them); or run, on a machine with internet,\n"
            f"  python -c \"from minireg.datasets import load_mnist; load_mnist('train'); load_mnist('test')\"\n"
            f"which downloads them into {cache_folder() / 'mnist'} (or $MINIREG_DATA/mnist when it "
            f"is set); or copy them there.",
            pytrace=False,
        )
    return next(folder for _, folder in mnist_candidates() if holds_mnist(folder))


def mnist_bytes(name) -> bytes:
    """The decompressed content of the real MNIST file ``name`` (e.g. "t10k-labels-idx1-ubyte")."""
    return read_decompressed(find_file(name, [shared_mnist()]))


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
