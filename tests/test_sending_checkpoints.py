"""``send_with_checkpoints``: one stream in primary key order whose progress is recorded while
the posts go on (issue 24 item 4). A checkpoint covers only rows that are all answered, however
out of order the answers come; no post starts more than ``resend_bound`` rows past the last
recorded checkpoint (what a sender that dies sends again), checkpoints being asked every
``resend_bound - min(SEND_CONCURRENCY, resend_bound // 2)`` rows so that posts go on while one
is recorded; the rows
held in memory are bounded by that window and two pages, not by the stream.

The shard runner's use of it (kill, takeover, lease loss): tests/test_background_checkpoint.py.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.background_support import make_sessions
from tests.scripted_transport import ScriptedPosts
from ws_routes import sending
from ws_routes.models import WebSocketSession
from ws_routes.sending import Checkpoint, checkpoint_spacing, reset_sender
from ws_routes.sending import checkpointed as checkpointed_module
from ws_routes.sending.checkpointed import deliver_with_checkpoints
from ws_routes.sending.job import SendJob
from ws_routes.sending.ordered import AnsweredPrefix
from ws_routes.sending.recipients import queryset_rows

pytestmark = pytest.mark.django_db

CONCURRENCY = 8


@pytest.fixture(autouse=True)
def aws_environment(monkeypatch, tmp_path, settings):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    settings.WS_ROUTES = {
        **settings.WS_ROUTES,
        # Never contacted: the scripted transport answers in process.
        "MANAGEMENT_ENDPOINT": "http://127.0.0.1:9/{api_id}/{stage}",
        "SEND_CONCURRENCY": CONCURRENCY,
        "SEND_BACKOFF_BASE_SECONDS": 0.001,
        "SEND_BACKOFF_MAX_SECONDS": 0.002,
    }
    reset_sender()
    yield
    reset_sender()


def mixed_sessions() -> list[tuple[int, str]]:
    """300 sessions in primary key order: delivered, gone (410), failed (400) and one whose
    connection id cannot be posted to (failed before any post)."""
    make_sessions(40, prefix="a")
    make_sessions(10, prefix="gone-")
    make_sessions(5, prefix="bad-")
    make_sessions(1, prefix="unprintable\x07")
    make_sessions(244, prefix="b")
    return list(WebSocketSession.objects.order_by("pk").values_list("pk", "connection_id"))


def kind_of(connection_id: str) -> str:
    if connection_id.startswith("gone-"):
        return "gone"
    if connection_id.startswith(("bad-", "unprintable")):
        return "failed"
    return "delivered"


def status_of(connection_id: str) -> int:
    return {"gone": 410, "failed": 400}.get(kind_of(connection_id), 200)


def varying_latency(connection_id: str) -> float:
    """0 to 12 ms, differing from one post to the next: later posts often answer first."""
    return (sum(map(ord, connection_id)) * 7919 % 13) / 1000


class Recorder:
    """A ``record`` callback: keeps each checkpoint with what the transport had seen then."""

    def __init__(self, posts: ScriptedPosts, held: bool = True, pause: float = 0.0) -> None:
        self.posts = posts
        self.held = held
        self.pause = pause
        self.calls: list[tuple[Checkpoint, int, int, set[str]]] = []
        self.threads: set[int] = set()

    def __call__(self, checkpoint: Checkpoint) -> bool:
        self.threads.add(threading.get_ident())
        self.calls.append((checkpoint, *self.posts.snapshot()))
        if self.pause:
            time.sleep(self.pause)  # a slow UPDATE: the loop thread keeps posting meanwhile
        return self.held


def send(posts: ScriptedPosts, record, bound: int = 25) -> sending.SendResult | None:
    return sending.send_with_checkpoints(
        WebSocketSession.objects.all(), {"n": 1}, resend_bound=bound, record=record, transport=posts
    )


def test_a_checkpoint_covers_only_rows_all_answered_when_answers_come_out_of_order():
    rows = mixed_sessions()
    posts = ScriptedPosts(latency=varying_latency, status=status_of)
    recorder = Recorder(posts)
    result = send(posts, recorder, bound=25)
    assert (result.delivered, result.gone, result.failed) == (284, 10, 6)
    # Every 17 rows (25 - 8), none skipped (the window, 25, cannot hold two intervals).
    assert [c.rows for c, *_ in recorder.calls] == list(range(17, 301, 17))
    for checkpoint, _, _, answered in recorder.calls:
        covered = rows[: checkpoint.rows]
        assert checkpoint.last_pk == covered[-1][0]
        posted = [cid for _, cid in covered if not cid.startswith("unprintable")]
        assert set(posted) <= answered  # all of them answered before it was recorded
        kinds = [kind_of(cid) for _, cid in covered]
        assert (checkpoint.delivered, checkpoint.gone, checkpoint.failed) == (
            kinds.count("delivered"),
            kinds.count("gone"),
            kinds.count("failed"),
        )
    # Answers did come out of order: some checkpoint found later posts answered already.
    assert any(len(answered) > c.rows for c, _, _, answered in recorder.calls)
    # The pipeline did not drain to record: later posts had started by then.
    assert all(started > c.rows for c, started, *_ in recorder.calls[:-1])
    assert recorder.threads == {threading.get_ident()}  # recorded in the caller's thread
    assert posts.started == [cid for _, cid in rows if not cid.startswith("unprintable")]


def test_no_post_starts_beyond_the_window_while_a_checkpoint_is_being_recorded():
    make_sessions(200)
    posts = ScriptedPosts()
    seen = []

    def slow_update(checkpoint: Checkpoint) -> bool:
        before = posts.snapshot()[0]
        time.sleep(0.1)  # a slow UPDATE: the loop thread keeps posting meanwhile
        seen.append((checkpoint.rows, before, posts.snapshot()[0]))
        return True

    result = send(posts, slow_update, bound=20)
    assert result.delivered == 200
    every, window = checkpoint_spacing(20, CONCURRENCY)
    assert (every, window) == (12, 20)  # the window is the bound asked for, not 20 + 8
    recorded = 0
    for rows, before, after in seen[:-1]:
        assert before <= recorded + window
        # During the pause the posts went on to the window's edge, and not one further.
        assert after == recorded + window
        recorded = rows
    assert [rows for rows, _, _ in seen] == list(range(12, 201, 12))


class Deadlocked(Exception):
    pass


@contextlib.contextmanager
def deadline(seconds: float):
    """Fail, rather than hang, a send that waits for itself: the alarm is raised in this
    thread, where the send stops its posts and raises it once they are answered."""

    def expired(*_):
        raise Deadlocked(f"the send was not done after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize("bound", [1, 2])
def test_a_bound_of_one_or_two_finishes_the_stream_checkpointing_every_row(bound):
    """Bound 1: the window is the interval, each post waits for the last checkpoint (no
    deadlock); bound 2: one post goes on while a checkpoint is recorded. Either way one is
    asked for every row, and no post starts more than ``bound`` past the last recorded one."""
    make_sessions(120)
    posts = ScriptedPosts(latency=varying_latency)
    recorder = Recorder(posts, pause=0.001)
    with deadline(20):
        result = send(posts, recorder, bound=bound)
    assert result.delivered == 120
    rows = [c.rows for c, *_ in recorder.calls]
    if bound == 1:
        assert rows == list(range(1, 121))  # one UPDATE per post: the price of bound 1
    else:  # two rows answered together are one checkpoint; the last may be the final count's
        assert rows == sorted(set(rows)) and rows[-1] >= 119 and len(rows) >= 60
        assert all(b - a <= bound for a, b in zip([0, *rows], rows, strict=False))
    recorded = 0
    for checkpoint, started, *_ in recorder.calls:
        assert started <= recorded + bound  # started while the previous one was the last
        recorded = checkpoint.rows
    assert all(c.delivered == c.rows for c, *_ in recorder.calls)


def test_the_spacing_keeps_the_window_at_the_bound_and_up_to_two_checkpoints_in_it():
    assert checkpoint_spacing(100, 200) == (50, 100)  # the defaults: two UPDATEs per 100
    assert checkpoint_spacing(100, 8) == (92, 100)
    assert checkpoint_spacing(40, 5) == (35, 40)
    assert checkpoint_spacing(10, 16) == (5, 10)
    assert checkpoint_spacing(3, 8) == (2, 3)
    assert checkpoint_spacing(2, 8) == (1, 2)
    assert checkpoint_spacing(1, 8) == (1, 1)
    for bound in range(1, 300):
        for concurrency in (1, 2, 7, 8, 50, 200):
            every, window = checkpoint_spacing(bound, concurrency)
            assert window == bound and every <= window < 2 * every + 1


def rows_of(order: AnsweredPrefix, count: int) -> list[list]:
    pks = list(range(101, 101 + count))
    order.add(pks, [(pk, "c", None) for pk in pks])
    return [order.start() for _ in range(count) if order.may_start()]


def test_a_window_equal_to_the_interval_waits_for_each_checkpoint_then_moves():
    asked: list[Checkpoint] = []
    order = AnsweredPrefix(3, 3, asked.append)
    started = rows_of(order, 3)
    order.add([104, 105, 106, 107], [(pk, "c", None) for pk in (104, 105, 106, 107)])
    for recorded in (0, 3):
        assert len(started) == 3 and not order.may_start()  # the window is full
        for row in started:
            order.answer(row, "delivered")
        assert asked[-1].rows == recorded + 3 and not order.may_start()  # it waits
        order.record_done(recorded + 3)  # recorded: the window moves
        started = [order.start() for _ in range(3) if order._unstarted and order.may_start()]
    assert [row[1] for row in started] == [107]
    order.answer(started[0], "gone")
    assert [(c.rows, c.last_pk, c.gone) for c in asked] == [(3, 103, 0), (6, 106, 0)]


def test_one_checkpoint_is_asked_at_a_time_the_latest_when_the_last_is_recorded():
    asked: list[Checkpoint] = []
    order = AnsweredPrefix(2, 10, asked.append)  # a window of five intervals
    for row in rows_of(order, 10):
        order.answer(row, "delivered")
    assert [c.rows for c in asked] == [2]  # 4, 6 and 8 were due while it was recorded
    order.record_done(2)
    assert [c.rows for c in asked] == [2, 10]  # only the latest is asked


@pytest.mark.parametrize(("every", "window"), [(5, 4), (2, 1), (100, 99)])
def test_a_window_below_the_interval_is_refused(every, window):
    with pytest.raises(ValueError, match=f"needs a window of at least {every} rows, not"):
        AnsweredPrefix(every, window, lambda _: None)
    with pytest.raises(ValueError, match="every 1 row or more"):
        AnsweredPrefix(0, window, lambda _: None)
    assert AnsweredPrefix(every, every, lambda _: None).window == every


def test_record_returning_false_stops_the_posts():
    make_sessions(300)
    posts = ScriptedPosts(latency=lambda _: 0.002)
    calls = []

    def lost_at_the_second(checkpoint: Checkpoint) -> bool:
        calls.append(checkpoint.rows)
        return len(calls) < 2  # the lease was lost before the second checkpoint

    assert send(posts, lost_at_the_second, bound=25) is None
    assert calls == [17, 34]  # nothing recorded after the refusal
    # Started: at most the window (25) past the last recorded checkpoint (17), none after.
    assert 34 <= len(posts.started) <= 17 + 25
    assert not posts.in_flight


def test_an_exception_in_record_stops_the_posts_and_is_raised():
    make_sessions(300)
    posts = ScriptedPosts(latency=lambda _: 0.002)

    def broken(checkpoint: Checkpoint) -> bool:
        raise RuntimeError("database on fire")

    with pytest.raises(RuntimeError, match="database on fire"):
        send(posts, broken, bound=25)
    assert 17 <= len(posts.started) <= 25  # the window: nothing was recorded
    assert not posts.in_flight  # the posts in flight were answered before it was raised
    # The sender's loop is still healthy: the next send goes through.
    WebSocketSession.objects.update(connected=True)
    assert send(ScriptedPosts(), lambda _: True).delivered == 300


class Died(BaseException):
    """A worker dying in the loop (not an ``Exception``: no ``except`` counts it as failed)."""


def test_a_post_dying_in_the_loop_stops_the_others_and_reaches_the_caller():
    make_sessions(300)

    def die_at_the_100th(posts: ScriptedPosts, connection_id: str) -> None:
        if len(posts.started) == 100:
            raise Died

    posts = ScriptedPosts(latency=lambda _: 0.002, on_start=die_at_the_100th)
    recorder = Recorder(posts)
    with pytest.raises(Died):
        send(posts, recorder, bound=25)
    assert len(posts.started) <= 100 + CONCURRENCY  # the others started nothing more after
    assert not posts.in_flight
    assert [c.rows for c, *_ in recorder.calls][-1] <= 100


def test_a_page_that_cannot_be_read_stops_the_posts_and_is_raised(settings):
    settings.WS_ROUTES = {**settings.WS_ROUTES, "SEND_CHUNK_SIZE": 50}
    make_sessions(300)
    posts = ScriptedPosts(latency=lambda _: 0.002)
    job = SendJob("POST", b'{"n":1}', posts)
    pages = queryset_rows(WebSocketSession.objects.all(), job.chunk_size)

    def third_page_fails():
        for number, page in enumerate(pages):
            if number == 2:
                raise ConnectionError("database gone")
            yield page

    with pytest.raises(ConnectionError):
        deliver_with_checkpoints(job, third_page_fails(), 10, lambda _: True)
    assert 0 < len(posts.started) <= 100 and not posts.in_flight


def test_rows_held_are_bounded_by_the_window_and_two_pages(settings, monkeypatch):
    settings.WS_ROUTES = {**settings.WS_ROUTES, "SEND_CHUNK_SIZE": 50}
    make_sessions(1000)
    orders = []
    real = checkpointed_module.AnsweredPrefix

    def keep(*args, **kwargs):
        orders.append(real(*args, **kwargs))
        return orders[-1]

    monkeypatch.setattr(checkpointed_module, "AnsweredPrefix", keep)
    posts = ScriptedPosts(latency=varying_latency)
    selects_at_first_checkpoint = []
    with CaptureQueriesContext(connection) as queries:

        def record(checkpoint: Checkpoint) -> bool:
            if not selects_at_first_checkpoint:
                selects_at_first_checkpoint.append(
                    sum(q["sql"].startswith("SELECT") for q in queries.captured_queries)
                )
            return True

        assert send(posts, record, bound=10).delivered == 1000
    [order] = orders
    assert (order.every, order.window) == (5, 10)
    assert order.peak_rows <= order.window + 2 * 50
    # Pages are read as the posts need them: two by the first checkpoint, not twenty.
    assert selects_at_first_checkpoint == [2]
    pages = [q for q in queries.captured_queries if q["sql"].startswith("SELECT")]
    assert len(pages) == 1000 // 50 + 1  # the last, empty, page ends the stream


@pytest.mark.parametrize("bound", [0, -1, True, "10", 2.5, None])
def test_a_bad_bound_is_refused_before_anything_is_sent(bound):
    make_sessions(3)
    posts = ScriptedPosts()
    with pytest.raises(ValueError, match="resend_bound must be"):
        send(posts, lambda _: True, bound=bound)
    assert not posts.started


def test_a_queryset_that_cannot_be_paged_by_primary_key_is_refused():
    make_sessions(3)
    posts = ScriptedPosts()
    sessions = WebSocketSession.objects.all()
    for queryset in (sessions.order_by("pk")[:2], sessions.union(sessions)):
        with pytest.raises(ValueError, match="can page by primary key"):
            sending.send_with_checkpoints(
                queryset, {"n": 1}, resend_bound=1, record=lambda _: True, transport=posts
            )
    with pytest.raises(TypeError, match="needs a QuerySet"):
        sending.send_with_checkpoints(
            list(sessions), {"n": 1}, resend_bound=1, record=lambda _: True, transport=posts
        )
    assert not posts.started


def test_nothing_to_send_records_nothing():
    posts = ScriptedPosts()
    result = send(posts, lambda _: pytest.fail("nothing to record"))
    assert result.total == 0 and not posts.started
