"""The emulated AWS account's process, as its parent starts and asks it.

The account (moto, behind :class:`~offline.emulation.core.AwsEmulator`) runs in a process of its own,
:mod:`offline.emulation.server`, started as early as a command knows it will need one and kept for
every later run of the same process. This module imports nothing but the standard library, so that a
command starts the account before its own imports (the SDK's alone take a third of a second): the
account's start (moto's imports, its clients, EC2's tables) then overlaps all of them.
"""

from __future__ import annotations

import atexit
import os
import pickle
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, NoReturn

_PROJECT_DIR = Path(__file__).resolve().parent.parent.parent

ACCOUNT_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    # The program looks up no AMIs; loading moto's thousand would be a fifth of every run.
    "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",
    # AWS' managed policies: only those attached are put in (see network._ensure_aws_managed_policy).
    "MOTO_IAM_LOAD_MANAGED_POLICIES": "false",
}
"""The account process's environment: credentials that reach nothing real, and moto's lean settings."""

# The credentials a developer has must never reach the account process, whatever moto would do.
_HIDDEN = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE")


class AccountProcess:
    """The account's process and the one request in flight to it (the mocks call from a thread pool)."""

    def __init__(self) -> None:
        environment = {key: value for key, value in os.environ.items() if key not in _HIDDEN}
        environment.update(ACCOUNT_ENVIRONMENT)
        self._process = subprocess.Popen(
            [sys.executable, "-m", "offline.emulation.server"],
            cwd=_PROJECT_DIR,
            env=environment,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        self._lock = threading.Lock()
        self._unanswered = 0

    def ask(self, *request: Any) -> Any:
        """The account's answer; raises EmulationError when it refuses, as AWS would."""
        with self._lock:
            self._send(request)
            while self._unanswered > 1:
                self._receive()
            return self._receive()

    def tell(self, *request: Any) -> None:
        """Sends a request without waiting for its answer, which is read, and any refusal raised, at the
        next ``ask``: the program goes on while the account is still starting."""
        with self._lock:
            self._send(request)

    def _send(self, request: tuple[Any, ...]) -> None:
        stream = self._process.stdin
        assert stream is not None
        try:
            pickle.dump(request, stream)
            stream.flush()
        except BrokenPipeError:
            self._ended()
        self._unanswered += 1

    def _receive(self) -> Any:
        stream = self._process.stdout
        assert stream is not None
        try:
            outcome, answer = pickle.load(stream)
        except EOFError:
            self._ended()
        self._unanswered -= 1
        if outcome == "refused":
            from offline.emulation.core import EmulationError

            raise EmulationError(answer)
        if outcome == "failed":
            raise RuntimeError(f"the emulated AWS account failed:\n{answer}")
        return answer

    def _ended(self) -> NoReturn:
        raise RuntimeError(
            f"the emulated AWS account's process ended (exit code {self._process.wait()}); its error is above"
        )

    def close(self) -> None:
        """Ends the process: the account keeps nothing worth a clean shutdown, and may still be starting."""
        self._process.kill()
        self._process.wait()


_SHARED: AccountProcess | None = None
_STARTING = threading.Lock()


def account_process() -> AccountProcess:
    """This process's account process, started on first use and ended when this process ends."""
    global _SHARED
    with _STARTING:
        if _SHARED is None:
            _SHARED = AccountProcess()
            atexit.register(_SHARED.close)
        return _SHARED
