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
    _list_botocore_services_once()
    _no_key_pairs_for_symmetric_keys()
    _list_each_response_class_once()
    _partitions_once_for_eks_roles()


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


def _list_botocore_services_once() -> None:
    """Each botocore session's loader lists the services its data holds by walking the data directories
    (some four hundred services, each a directory of API versions), and moto makes a session for every
    client and region list: eighteen walks of the same installed tree before the account's first answer,
    a fifth of its start. The listing is the installed package's, so this process walks each once."""
    from botocore.loaders import Loader

    walk = Loader.list_available_services
    listed: dict[tuple[tuple[str, ...], str], list[str]] = {}

    def list_available_services(loader: Loader, type_name: str) -> list[str]:
        key = (tuple(loader.search_paths), type_name)
        if key not in listed:
            listed[key] = walk(loader, type_name)
        return list(listed[key])

    Loader.list_available_services = list_available_services


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


def _partitions_once_for_eks_roles() -> None:
    """moto's EKS checks each role ARN's partition against a list it gets from a new boto3 session, made
    afresh for every cluster, node group and Pod Identity association: 25 ms each, for botocore's fixed
    list of partitions. The check stays; the list is read once, at the first check (a session made here,
    before any, would fail on a developer's AWS_PROFILE that names no profile)."""
    from moto.eks import utils

    session = utils.Session
    partitions: list[str] = []

    class _Partitions:
        """What the check asks of a session."""

        def get_available_partitions(self) -> list[str]:
            if not partitions:
                partitions.extend(session().get_available_partitions())
            return list(partitions)

    utils.Session = _Partitions
