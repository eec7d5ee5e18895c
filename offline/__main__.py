"""``python -m offline``: see :mod:`offline.cli`. A short-lived command, run as lean as it can be."""

import gc
import os
import sys

from offline.emulation.process import account_process

# Every command runs the program in the emulated account (but the benchmarks' --echo-mocks baseline):
# its process starts now, so that its own start overlaps the imports of the commands.
account = None if "--echo-mocks" in sys.argv else account_process()
# A command runs a program or three and ends: collecting cycles as they allocate cost a tenth of its time,
# and the process frees everything when it exits.
gc.disable()

from offline.cli import app  # noqa: E402

try:
    app(prog_name="python -m offline")
except SystemExit as done:
    code = done.code
else:
    code = 0
# Tearing down the interpreter's objects one by one would take most of a second more; the output is all
# written once flushed, and the account's process is all that is left to end.
if isinstance(code, str):
    print(code, file=sys.stderr)
sys.stdout.flush()
sys.stderr.flush()
if account is not None:
    account.close()
os._exit(code if isinstance(code, int) else (0 if code is None else 1))
