"""moto, made lean for the emulated account and the tests: what it recomputes that never changes.

Both only skip work whose result nobody reads; what the account answers stays moto's. Applied once per
process, before moto serves its first request (the account process, and the test session, whose
``verify`` tests build accounts of their own).
"""

from __future__ import annotations

import functools
from typing import Any


@functools.cache
def lean_moto() -> None:
    """Applies each saving below, once."""
    _parse_botocore_data_once()
    _no_key_pairs_for_symmetric_keys()
    _list_each_response_class_once()


def _parse_botocore_data_once() -> None:
    """Each botocore session reads its JSON data afresh, and moto makes one whenever it wants a list of
    regions or partitions: as it imports each backend, and as it checks each EKS role ARN. EC2's model
    alone was parsed six times and the endpoint data five before the first request. The files are the
    installed package's and never change, so this process parses each once.

    Callers get the same object: botocore's only edit to a loaded model is merging its ``sdk-extras``
    into it, which gives the same result when done again."""
    from botocore.loaders import JSONFileLoader

    parse = JSONFileLoader.load_file
    parsed: dict[str, Any] = {}

    def load_file(loader: JSONFileLoader, file_path: str) -> Any:
        if file_path not in parsed:
            parsed[file_path] = parse(loader, file_path)
        return parsed[file_path]

    JSONFileLoader.load_file = load_file


def _no_key_pairs_for_symmetric_keys() -> None:
    """moto gives every KMS key an RSA key pair, a tenth of a second each, though a symmetric key has no
    public key in AWS (GetPublicKey refuses it). Only asymmetric keys get one here."""
    from moto.kms import models

    generate = models.generate_private_key

    def generate_private_key(key_spec: str) -> Any:
        return None if key_spec == "SYMMETRIC_DEFAULT" else generate(key_spec)

    models.generate_private_key = generate_private_key


def _list_each_response_class_once() -> None:
    """moto lists the methods of a service's response class, by introspection, on every request to pick
    the one that answers it: a millisecond each time, for a list that is fixed once the class exists."""
    from moto.core import responses

    responses.method_names_from_class = functools.cache(responses.method_names_from_class)
