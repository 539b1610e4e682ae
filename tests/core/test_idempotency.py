"""core.idempotency.run_once: a keyed request runs once; a retry gets the first result (LED-4)."""

import threading
import time

import pytest
from django.db import connection, transaction

from campuscard.core.actors import Actor
from campuscard.core.audit import audit_record
from campuscard.core.errors import DomainError
from campuscard.core.idempotency import params_hash, run_once
from campuscard.core.models import AuditLog, IdempotencyKey


class Work:
    """A real piece of work: each run writes an audit row and returns a JSON result."""

    def __init__(self, result=None, *, fail: Exception | None = None, delay: float = 0.0) -> None:
        self.calls = 0
        self.result = {"receipt": 1} if result is None else result
        self.fail = fail
        self.delay = delay
        self._lock = threading.Lock()

    def __call__(self):
        with self._lock:
            self.calls += 1
        audit_record(actor=Actor.system("test"), action="idempotent_work", object_type="test", object_id="1")
        if self.delay:
            time.sleep(self.delay)
        if self.fail is not None:
            raise self.fail
        return self.result


def done() -> int:
    return AuditLog.objects.filter(action="idempotent_work").count()


pytestmark = pytest.mark.django_db


def test_first_call_runs_and_stores_the_result():
    work = Work({"receipt": "R-1", "fen": 2000})
    assert run_once(scope="recharge", key="k-1", params={"fen": 2000}, fn=work) == {"receipt": "R-1", "fen": 2000}
    assert work.calls == 1 and done() == 1
    row = IdempotencyKey.objects.get(scope="recharge", key="k-1")
    assert row.response == {"receipt": "R-1", "fen": 2000}
    assert row.request_hash == params_hash({"fen": 2000})


def test_retry_returns_the_stored_result_without_running_again():
    """LED-4: a retry returns the first result and does the work once."""
    first = Work({"receipt": "R-1"})
    run_once(scope="recharge", key="k-1", params={"fen": 2000}, fn=first)
    retry = Work({"receipt": "R-2"})
    for _ in range(3):
        assert run_once(scope="recharge", key="k-1", params={"fen": 2000}, fn=retry) == {"receipt": "R-1"}
    assert retry.calls == 0
    assert done() == 1
    assert IdempotencyKey.objects.count() == 1


def test_params_compare_by_value_not_by_key_order():
    run_once(scope="s", key="k", params={"a": 1, "b": [1, 2]}, fn=Work())
    again = Work()
    run_once(scope="s", key="k", params={"b": [1, 2], "a": 1}, fn=again)
    assert again.calls == 0


def test_same_key_with_different_params_is_refused():
    """LED-4: the same key with different parameters is refused, and nothing runs."""
    run_once(scope="recharge", key="k-1", params={"fen": 2000}, fn=Work())
    other = Work()
    with pytest.raises(DomainError) as caught:
        run_once(scope="recharge", key="k-1", params={"fen": 3000}, fn=other)
    assert caught.value.code == "idempotency_key_reused"
    assert caught.value.status == 409
    assert other.calls == 0 and done() == 1
    assert IdempotencyKey.objects.get().response == {"receipt": 1}


@pytest.mark.parametrize("key", ["", None])
def test_a_key_is_required(key):
    work = Work()
    with pytest.raises(DomainError) as caught:
        run_once(scope="recharge", key=key, params={}, fn=work)
    assert caught.value.code == "idempotency_key_required"
    assert caught.value.status == 400
    assert work.calls == 0 and IdempotencyKey.objects.count() == 0


def test_keys_are_per_scope():
    a, b = Work({"r": "a"}), Work({"r": "b"})
    assert run_once(scope="recharge", key="same", params={}, fn=a) == {"r": "a"}
    assert run_once(scope="refund", key="same", params={"x": 1}, fn=b) == {"r": "b"}
    assert a.calls == b.calls == 1 and IdempotencyKey.objects.count() == 2


def test_a_failed_request_stores_nothing_and_may_be_retried():
    """The key is written in the work's transaction: a refusal leaves neither the key nor the work."""
    failing = Work(fail=DomainError("forbidden"))
    with pytest.raises(DomainError):
        run_once(scope="s", key="k", params={}, fn=failing)
    assert IdempotencyKey.objects.count() == 0 and done() == 0
    retry = Work({"ok": True})
    assert run_once(scope="s", key="k", params={}, fn=retry) == {"ok": True}
    assert retry.calls == 1 and done() == 1


def test_a_none_result_is_replayed_too():
    first = Work()
    first.result = None
    assert run_once(scope="s", key="k", params={}, fn=first) is None
    retry = Work()
    assert run_once(scope="s", key="k", params={}, fn=retry) is None
    assert (first.calls, retry.calls, done()) == (1, 0, 1)


@pytest.mark.parametrize("result", [0, "", [], {}, False, [1, {"a": None}], "¥12.30"])
def test_falsy_and_nested_results_are_replayed(result):
    run_once(scope="s", key="k", params={}, fn=Work(result))
    retry = Work({"other": True})
    assert run_once(scope="s", key="k", params={}, fn=retry) == result
    assert retry.calls == 0


def test_works_inside_an_outer_transaction():
    with transaction.atomic():
        run_once(scope="s", key="k", params={}, fn=Work())
        retry = Work()
        run_once(scope="s", key="k", params={}, fn=retry)
    assert retry.calls == 0 and done() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicates_do_the_work_once():
    """LED-4 under load: eight simultaneous requests with one key — one does the work, all get its result."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL's concurrent writers (SQLite serialises whole transactions)")
    threads = 8
    work = Work({"receipt": "R-1"}, delay=0.3)  # keeps the first transaction open while the others arrive
    barrier = threading.Barrier(threads)
    results, failures = [], []

    def request() -> None:
        try:
            barrier.wait(timeout=10)
            results.append(run_once(scope="recharge", key="k-concurrent", params={"fen": 2000}, fn=work))
        except Exception as exc:  # reported below
            failures.append(exc)
        finally:
            connection.close()

    pool = [threading.Thread(target=request) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(timeout=30)
    assert not failures, failures
    assert results == [{"receipt": "R-1"}] * threads
    assert work.calls == 1, "fn must not even start for a duplicate"
    assert done() == 1
    assert IdempotencyKey.objects.filter(scope="recharge", key="k-concurrent").count() == 1
