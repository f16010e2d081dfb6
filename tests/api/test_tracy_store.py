"""Tracy's sessions in the API database: every read and write is the owning tenant's only, history for the
model is the earlier questions and answers as alternating text turns, deletion removes the messages too."""

from __future__ import annotations

from datetime import timedelta

from clawtrace_api.accounts import Accounts
from clawtrace_api.tracy.store import TracyStore

KEY = "00000000-0000-4000-8000-00000000000k"


def _two_tenants(accounts: Accounts) -> tuple[str, str]:
    return accounts.create_tenant("a")["tenant_id"], accounts.create_tenant("b")["tenant_id"]


def test_another_tenants_session_is_invisible_to_every_method(accounts: Accounts):
    store = TracyStore(accounts.engine)
    a, b = _two_tenants(accounts)
    sid = store.create(a, KEY, None, None, "why so   expensive?\n")
    store.append(a, sid, [{"role": "user", "content": "q"}, {"role": "assistant", "content": "r"}], {"cost_usd": "1"})

    assert store.get(a, sid) is not None and store.get(a, sid).title == "why so expensive?"
    assert store.get(b, sid) is None
    assert store.messages(b, sid) is None
    assert store.history(b, sid) == []
    assert [s.session_id for s in store.recent(b, 10)] == []
    assert store.delete(b, sid) is False
    try:
        store.append(b, sid, [{"role": "user", "content": "x"}], None)
    except LookupError:
        pass
    else:
        raise AssertionError("a foreign tenant appended to a session")
    assert [m.content for m in store.messages(a, sid) or []] == [
        [{"type": "text", "text": "q"}],
        [{"type": "text", "text": "r"}],
    ]


def test_history_keeps_answered_questions_as_text_and_drops_tool_traffic(accounts: Accounts):
    store = TracyStore(accounts.engine)
    a, _ = _two_tenants(accounts)
    sid = store.create(a, KEY, None, None, "first")
    tool_use = {"type": "tool_use", "id": "t1", "name": "run_cypher", "input": {"query": "MATCH (n) RETURN n"}}
    store.append(
        a,
        sid,
        [
            {"role": "user", "content": "first question"},
            {"role": "assistant", "content": [{"type": "text", "text": "Let me look."}, tool_use]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "[]"}]},
            {"role": "assistant", "content": [{"type": "text", "text": "The answer is 42."}]},
        ],
        {"usage": {"input": 10}},
    )
    store.append(a, sid, [{"role": "user", "content": "second"}, {"role": "assistant", "content": "no"}], {"e": 1})

    assert store.history(a, sid) == [
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": "The answer is 42."},
        {"role": "user", "content": "second"},
        {"role": "assistant", "content": "no"},
    ]
    assert [m.seq for m in store.messages(a, sid) or []] == [0, 1, 2, 3, 4, 5]
    assert store.get(a, sid).messages == 6


def test_sessions_list_newest_first_and_pages_by_update_time(accounts: Accounts):
    store = TracyStore(accounts.engine)
    a, _ = _two_tenants(accounts)
    first = store.create(a, KEY, None, None, "one")
    second = store.create(a, KEY, None, None, "two")
    # Answering in the older session makes it the most recently active.
    store.append(a, first, [{"role": "user", "content": "q"}, {"role": "assistant", "content": "r"}], {})

    listed = store.recent(a, 10)
    assert [s.session_id for s in listed] == [first, second]
    older = store.recent(a, 10, before=listed[0].updated_at)
    assert [s.session_id for s in older] == [second]
    assert store.recent(a, 10, before=listed[1].updated_at - timedelta(seconds=1)) == []


def test_delete_removes_the_session_and_its_messages(accounts: Accounts):
    store = TracyStore(accounts.engine)
    a, _ = _two_tenants(accounts)
    sid = store.create(a, KEY, "5da5a307-d5a8-4279-ab5d-277757183bba", None, "t")
    store.append(a, sid, [{"role": "user", "content": "q"}], None)
    assert store.delete(a, sid) is True
    assert store.get(a, sid) is None and store.messages(a, sid) is None
    with accounts.engine.connect() as conn:
        left = conn.exec_driver_sql("SELECT count(*) FROM tracy_messages").scalar()
    assert left == 0
