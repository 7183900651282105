"""How the tool server's code reaches an environment: compiled here, sent as its first frame.

The sandbox sees only a bare interpreter, not Corral's installation, so the server compiles the
`inside` modules once, marshals them, and a few lines run with `python -I -S -c` install them as
modules and start the loop. No host path is bound in, and no cached bytecode is needed there.
"""

from __future__ import annotations

import functools
import marshal
from importlib import resources

from corral.sandbox.inside import protocol

__all__ = ["BOOTSTRAP", "INSIDE_MODULES", "bundle"]

INSIDE_MODULES = (
    "errors",
    "protocol",
    "reactor",
    "groups",
    "spares",
    "processes",
    "jobs",
    "files",
    "search",
    "transfer",
    "server",
)
"""The tool server's modules, each after those it imports."""

BOOTSTRAP = """\
import marshal, os, sys
channel = int(sys.argv[1])
def take(size):
    data = b""
    while len(data) < size:
        chunk = os.read(channel, size - len(data))
        if not chunk:
            raise SystemExit(3)
        data += chunk
    return data
header = take(8)
modules = marshal.loads(take(int.from_bytes(header[:4], "big")))
take(int.from_bytes(header[4:], "big"))
Module = type(sys)
for name in ("corral", "corral.sandbox", "corral.sandbox.inside"):
    package = sys.modules[name] = Module(name)
    package.__path__ = []
for name, code in modules:
    module = sys.modules[name] = Module(name)
    module.__file__ = code.co_filename
    exec(code, module.__dict__)
    parent, _, leaf = name.rpartition(".")
    setattr(sys.modules[parent], leaf, module)
del modules
sys.modules["corral.sandbox.inside.server"].main(channel, int(sys.argv[2]))
"""
"""Run by the sandbox's interpreter as `-c BOOTSTRAP CHANNEL_FD FDS_FD`: reads the module
bundle from the channel, then serves."""


@functools.cache
def bundle() -> bytes:
    """The first frame of every environment's channel: the tool server's compiled modules."""
    package = resources.files("corral.sandbox.inside")
    modules = []
    for name in INSIDE_MODULES:
        source = (package / f"{name}.py").read_text(encoding="utf-8")
        code = compile(source, f"corral-inside/{name}.py", "exec", dont_inherit=True)
        modules.append((f"corral.sandbox.inside.{name}", code))
    return protocol.frame(marshal.dumps(modules))
