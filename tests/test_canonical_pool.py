"""Data Integrity hashing in worker processes (app/credentials/canonical_pool.py): the same bytes as in process,
the same refusals, and a pool that survives a killed worker."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from datetime import datetime

import pytest

from app.credentials import canonical_pool
from app.credentials import data_integrity as di
from tests.test_data_integrity import CREATED, EXTRA, METHOD, load, our_credential, resolver, text, vector_keys
from tests.vectors import ed25519_key


@pytest.fixture
def pool() -> Iterator[None]:
    canonical_pool.start(2)
    try:
        yield
    finally:
        canonical_pool.stop(2)


def worker_pids() -> set[int]:
    executor = canonical_pool._executor
    assert executor is not None
    return {process.pid for process in (executor._processes or {}).values() if process.pid is not None}


def test_the_w3c_vector_signs_the_same_in_a_worker(pool: None) -> None:
    private_key, _ = vector_keys()
    unsigned, config = load("unsigned.json"), load("proofConfigDataInt.json")
    created = datetime.fromisoformat(config["created"])
    secured = di.add_proof(unsigned, private_key, config["verificationMethod"], created, extra_contexts=EXTRA,
                           hasher=canonical_pool.hash_data)
    assert secured["proof"]["proofValue"] == text("sigBTC58DataInt.txt")
    assert worker_pids() and os.getpid() not in worker_pids()  # it did run in a worker


def test_our_credential_is_the_same_proof_in_a_worker_and_verifies(pool: None) -> None:
    in_worker = di.add_proof(our_credential(), ed25519_key(), METHOD, CREATED, hasher=canonical_pool.hash_data)
    assert in_worker == di.add_proof(our_credential(), ed25519_key(), METHOD, CREATED)
    assert di.verify_proof(in_worker, resolver()).document == our_credential()


def test_an_undefined_term_is_refused_from_a_worker_as_in_process(pool: None) -> None:
    document = our_credential()
    document["credentialSubject"]["score"] = 99  # no context defines it: safe mode refuses
    with pytest.raises(di.InvalidDocument) as in_worker:
        di.add_proof(document, ed25519_key(), METHOD, CREATED, hasher=canonical_pool.hash_data)
    with pytest.raises(di.InvalidDocument) as in_process:
        di.add_proof(document, ed25519_key(), METHOD, CREATED)
    assert str(in_worker.value) == str(in_process.value) and "'score' is not defined" in str(in_worker.value)


def test_a_killed_worker_costs_no_proof_and_the_pool_comes_back(pool: None) -> None:
    expected = di.add_proof(our_credential(), ed25519_key(), METHOD, CREATED)
    assert di.add_proof(our_credential(), ed25519_key(), METHOD, CREATED, hasher=canonical_pool.hash_data) == expected
    killed = worker_pids()
    for pid in killed:
        os.kill(pid, signal.SIGKILL)
    # The call that finds the pool broken is hashed in this process; the next ones go to new workers.
    for _ in range(3):
        assert di.add_proof(our_credential(), ed25519_key(), METHOD, CREATED,
                            hasher=canonical_pool.hash_data) == expected
    assert worker_pids() and not worker_pids() & killed


def test_without_a_started_pool_the_hash_is_made_in_the_calling_process() -> None:
    assert canonical_pool._executor is None
    config = load("proofConfigDataInt.json")
    assert canonical_pool.hash_data(load("unsigned.json"), config, EXTRA).hex() == text("combinedHashDataInt.txt")


def test_a_proof_is_verified_with_a_worker_hash_and_a_changed_one_is_refused(pool: None) -> None:
    secured = di.add_proof(our_credential(), ed25519_key(), METHOD, CREATED)
    assert di.verify_proof(secured, resolver(), hasher=canonical_pool.hash_data).document == our_credential()
    secured["credentialSubject"]["achievement"]["name"] = "Something else"
    with pytest.raises(di.InvalidProofSignature):
        di.verify_proof(secured, resolver(), hasher=canonical_pool.hash_data)
