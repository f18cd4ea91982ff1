"""Model work for the UI, off the event loop: one service that owns it all.

``InferenceService`` owns the model thread, its job queue, the predictor pair and the
generation of the live model. Widgets ask it for suggestions, a continuation or a word's
details; it answers by posting a message to the widget that asked, and the widget asks it
whether the answer is still for the live model (``current``). No widget or app attribute is
written off the UI thread: results travel only as messages.

Typing fast queues many suggestion requests; only the latest input matters, so a new one
replaces any that has not started. Continuations (Enter) are answered in order, never
dropped.

While training runs, the session's version moves with every optimizer step (10 times a
second or more), and the core's ``Predictor`` copies the weights (waiting for the step in
progress) and recomputes its context whenever it moved: on every keystroke, far longer
than a keystroke may wait. So the service keeps two predictors (``PredictorPair``), each reading
the session through a ``LiveView`` whose version moves only when told: keystrokes use the
active one, while a low-priority thread brings the other up to date and warms it on the
text being typed, then swaps them. No keystroke waits for a copy.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from enum import Enum
from typing import TYPE_CHECKING

from lstm_tui.core.errors import UserError
from lstm_tui.core.runtime import PREDICT_THREADS
from lstm_tui.ui.background import REFRESH_NICE, lower_priority
from lstm_tui.ui.messages import (
    ContinuationReady,
    InferenceFailed,
    Learnt,
    PhraseReady,
    PredictorRefreshed,
    SuggestionsReady,
    WordDetailsReady,
)

if TYPE_CHECKING:
    from textual.message import Message
    from textual.message_pump import MessagePump

    from lstm_tui.core.model.adaptation import Adaptation
    from lstm_tui.core.model.lstm import LanguageModel
    from lstm_tui.core.model.mixture import MixWeights
    from lstm_tui.core.model.ngram import KneserNey
    from lstm_tui.core.model.session import Session
    from lstm_tui.core.serving.predict import Predictor
    from lstm_tui.core.text.tokenize import Tokenizer
    from lstm_tui.core.text.vocab import Vocabulary

Job = Callable[[], None]
TOP_K = 5
DETAIL_WORDS = 8
TYPING_PAUSE = 0.3  # seconds without a keystroke: a good moment to copy fresh weights
FIT_JOIN_SECONDS = 2.0  # at quit, the most to wait for the phrase fit to stop (one position)
MAX_STALE = 1.0  # seconds: while typing non-stop, refresh the predictions at least this often


def _learning_thread() -> None:
    """The learning thread's set-up: below the keystrokes' priority, their thread count."""
    import torch

    lower_priority(REFRESH_NICE)
    torch.set_num_threads(PREDICT_THREADS)


class JobKind(Enum):
    WARM_UP = "warm-up"  # the newest wins, and goes first
    SUGGEST = "suggest"  # the newest wins
    PHRASE = "phrase"  # the newest wins, after the row it extends (the row never waits)
    CONTINUE = "continue"  # every one, in order
    DETAILS = "details"  # the newest wins, and goes last


class InferenceQueue:
    def __init__(self) -> None:
        self._ready = threading.Condition(threading.Lock())
        self._latest: dict[JobKind, Job] = {}
        self._ordered: deque[Job] = deque()  # continuations
        self._closed = False
        self._running = 0  # jobs taken and not yet done

    def submit(self, kind: JobKind, job: Job) -> None:
        with self._ready:
            if self._closed:
                return
            if kind is JobKind.CONTINUE:
                self._ordered.append(job)
            else:
                self._latest[kind] = job
            self._ready.notify()

    def take(self, timeout: float | None = None) -> Job | None:
        """The next job (suggestions first), waiting up to ``timeout``; None once closed."""
        with self._ready:
            if self._running:
                self._running -= 1  # the previous job of this (single) taker is done
            deadline = None if timeout is None else time.monotonic() + timeout
            while not self._closed:
                job = self._pop()
                if job is not None:
                    self._running += 1
                    return job
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return None
                self._ready.wait(left)
            return None

    def _pop(self) -> Job | None:
        for kind in (JobKind.WARM_UP, JobKind.SUGGEST, JobKind.PHRASE):
            if kind in self._latest:
                return self._latest.pop(kind)
        if self._ordered:
            return self._ordered.popleft()
        return self._latest.pop(JobKind.DETAILS, None)

    def waiting(self, kind: JobKind) -> bool:
        """Whether a job of this kind is queued (a newer keystroke's, for a phrase search)."""
        return kind in self._latest  # one dict lookup: a stale answer costs one more step

    def clear(self) -> None:
        with self._ready:
            self._latest.clear()
            self._ordered.clear()

    def close(self) -> None:
        """Refuse new work, drop what is queued and wake the taker (at quit)."""
        with self._ready:
            self._closed = True
            self._latest.clear()
            self._ordered.clear()
            self._ready.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed


class LiveView:
    """A ``Session`` as the predictor should see it: its version moves on ``catch_up()``."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._version = session.version

    @property
    def version(self) -> int:
        return self._version

    @property
    def behind(self) -> bool:
        return self._version != self.session.version

    def catch_up(self) -> None:
        self._version = self.session.version

    @property
    def lock(self) -> threading.RLock:
        return self.session.lock

    @property
    def model(self) -> LanguageModel:
        return self.session.model

    @property
    def vocab(self) -> Vocabulary:
        return self.session.vocab

    @property
    def lowercase(self) -> bool:
        return self.session.lowercase

    @property
    def tokenizer(self) -> Tokenizer:
        return self.session.tokenizer

    @property
    def ngram(self) -> KneserNey | None:
        return self.session.ngram

    @property
    def mix(self) -> MixWeights:
        return self.session.mix

    @property
    def adaptation(self) -> Adaptation | None:
        return self.session.adaptation


class PredictorPair:
    """Two predictors over one session: one answers keystrokes, the other catches up."""

    def __init__(self, session: Session, first: Predictor, view: LiveView) -> None:
        self.session = session
        self._pairs: list[tuple[LiveView, Predictor] | None] = [(view, first), None]
        self._active = 0
        self.refreshed_at = time.monotonic()

    @property
    def active(self) -> Predictor:
        pair = self._pairs[self._active]
        assert pair is not None
        return pair[1]

    @property
    def behind(self) -> bool:
        pair = self._pairs[self._active]
        assert pair is not None
        return pair[0].behind

    def refresh(self, text: str) -> None:
        """In the refresh thread: bring the standby predictor up to date on ``text``, swap."""
        from lstm_tui.core.serving.predict import Predictor

        standby = 1 - self._active
        pair = self._pairs[standby]
        if pair is None:
            view = LiveView(self.session)
            pair = (view, Predictor(view))  # type: ignore[arg-type]  # reads it as a Session
            self._pairs[standby] = pair
        view, predictor = pair
        view.catch_up()
        predictor.suggest(text)  # copies the weights and computes the context's states
        self._active = standby
        self.refreshed_at = time.monotonic()


class InferenceService:
    """The model thread, its queue, the predictor pair and the live model's generation.

    Every public method is called on the UI thread; the threads it starts touch only the
    service's own queue and predictors, and post messages.
    """

    def __init__(self) -> None:
        self.queue = InferenceQueue()
        self.generation = 0  # bumped with every new model: older answers are stale
        self._pair: PredictorPair | None = None
        self._thread: threading.Thread | None = None
        self._refreshing = threading.Event()  # a refresh thread is running
        self._fitting = threading.Event()  # a thread is fitting the phrase threshold
        self._fit_thread: threading.Thread | None = None
        self._last_keystroke = 0.0
        self._failures: MessagePump | None = None  # where errors of warm-up jobs go
        self._learning: ThreadPoolExecutor | None = None  # one thread: lines learnt in order
        self.phrases = True  # offer phrases after each row (set on the UI thread)

    # -- the model ----------------------------------------------------------------------------

    def use(
        self, session: Session, predictor: Predictor, view: LiveView, report_to: MessagePump
    ) -> None:
        """Answer from now on with ``predictor`` (warmed up on ``session``); drop older work."""
        self.generation += 1
        self.queue.clear()
        self._pair = PredictorPair(session, predictor, view)
        self._failures = report_to
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._serve, name="lstm-tui-inference", daemon=True
            )
            self._thread.start()

        def warm_up() -> None:  # a model's first call in a new thread costs up to a second
            predictor.suggest("the ", k=TOP_K)

        self.queue.submit(JobKind.WARM_UP, warm_up)

    @property
    def predictor(self) -> Predictor | None:
        """The predictor answering keystrokes now."""
        return self._pair.active if self._pair is not None else None

    def current(self, generation: int) -> bool:
        """Whether an answer computed at ``generation`` is for the live model."""
        return generation == self.generation and self._pair is not None

    def close(self) -> None:
        self.queue.close()
        if self._learning is not None:
            self._learning.shutdown(wait=False, cancel_futures=True)
        fitting = self._fit_thread
        if fitting is not None:  # it stops between two positions: torch must not be cut off
            fitting.join(timeout=FIT_JOIN_SECONDS)  # mid-call at exit (an abort)

    # -- requests, each answered to the widget that asked ----------------------------------------

    def suggest(self, text: str, reply_to: MessagePump, keystroke: bool = True) -> None:
        pair, generation = self._pair, self.generation
        if pair is None:
            return
        if keystroke:
            self._last_keystroke = time.monotonic()

        def job() -> None:
            predictor = pair.active
            suggestions = predictor.suggest(text, k=TOP_K)
            self._answer(reply_to, generation, SuggestionsReady(generation, text, suggestions))
            if self.phrases:  # queued behind any newer keystroke, which then replaces it

                def phrase() -> None:
                    if predictor.fitted_phrases() is None:  # fitted aside; asked again after
                        self._fit_phrases(pair, generation, reply_to)
                        return
                    newer = self.queue.waiting
                    found = predictor.phrase(text, stop=lambda: newer(JobKind.SUGGEST))
                    if not newer(JobKind.SUGGEST):  # else it was cut short, and is stale
                        self._answer(reply_to, generation, PhraseReady(generation, text, found))

                self.queue.submit(JobKind.PHRASE, phrase)

        self.queue.submit(JobKind.SUGGEST, job)

    def continue_text(
        self, text: str, request: int, words: int, temperature: float, reply_to: MessagePump
    ) -> None:
        pair, generation = self._pair, self.generation
        if pair is None:
            reply_to.post_message(ContinuationReady(generation, request, None, "no model yet"))
            return

        def job() -> None:
            # A word the user sent is offered from the next keystroke on (issue 17); the
            # vocabulary is the session's, so both predictors of the pair see it.
            pair.active.learn(text)
            try:
                answer = pair.active.continue_text(text, words, temperature=temperature)
            except Exception as e:  # the line still gets its answer: the error
                reply_to.post_message(ContinuationReady(generation, request, None, str(e)))
                raise
            surprise = pair.active.surprisal(text)
            reply_to.post_message(ContinuationReady(generation, request, answer, None, surprise))

        self.queue.submit(JobKind.CONTINUE, job)

    def learn(self, line: str, reply_to: MessagePump) -> None:
        """Learn from a sent line (if learning is on), in the service's learning thread.

        Lines are learnt one at a time, in the order sent, at a lower priority, so that no
        keystroke waits behind a gradient step. The new weights and counts reach keystrokes as
        training's do: the session's version moves, and the standby predictor catches up
        (``refresh_if_due``)."""
        pair, generation = self._pair, self.generation
        if pair is None or self.queue.closed:
            return

        def job() -> None:
            from lstm_tui.core.serving.adapt import learn
            from lstm_tui.core.text.tokenize import tokenize

            session = pair.session
            tokens = tokenize(line, session.lowercase, session.tokenizer)
            try:
                learnt = learn(session, [session.vocab.id(t) for t in tokens])
            except Exception as e:  # a bug; the app goes on, without this line learnt
                self._report(f"could not learn from the line: {type(e).__name__}: {e}")
                return
            if learnt:
                adaptation = session.adaptation
                words = adaptation.words if adaptation is not None else 0
                self._answer(reply_to, generation, Learnt(generation, words))

        if self._learning is None:
            self._learning = ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="lstm-tui-learn", initializer=_learning_thread
            )
        self._learning.submit(job)

    def word_details(self, word: str, reply_to: MessagePump) -> None:
        pair, generation = self._pair, self.generation
        if pair is None:
            return

        def job() -> None:
            after = pair.active.next_words(word, k=DETAIL_WORDS)
            like = pair.active.neighbours(word, k=DETAIL_WORDS)
            self._answer(reply_to, generation, WordDetailsReady(generation, word, after, like))

        self.queue.submit(JobKind.DETAILS, job)

    def _answer(self, reply_to: MessagePump, generation: int, message: Message) -> None:
        if generation == self.generation:  # a newer model makes this answer pointless
            reply_to.post_message(message)

    def _fit_phrases(self, pair: PredictorPair, generation: int, reply_to: MessagePump) -> None:
        """Fit the phrase threshold in a low-priority thread with a predictor of its own (it
        reads held-out text for a second or more: keystrokes must not wait for it); then tell
        ``reply_to`` to ask again (``PredictorRefreshed``)."""
        if self._fitting.is_set():
            return
        self._fitting.set()
        closed = self.queue  # read in the thread: it stops once the app is quitting

        def fit() -> None:
            import torch

            from lstm_tui.core.serving.predict import Predictor

            lower_priority(REFRESH_NICE)
            torch.set_num_threads(PREDICT_THREADS)
            try:
                fitted = Predictor(pair.session).phrase_fit(stop=lambda: closed.closed)
            except Exception as e:
                self._report(f"could not fit the phrase threshold: {type(e).__name__}: {e}")
            else:
                if fitted is not None and generation == self.generation:
                    reply_to.post_message(PredictorRefreshed(generation))
            finally:
                self._fitting.clear()

        thread = threading.Thread(target=fit, name="lstm-tui-phrases", daemon=True)
        thread.start()  # before close() can see it: it runs on the UI thread, this one not
        self._fit_thread = thread

    # -- fresher weights while training -----------------------------------------------------------

    def refresh_if_due(self, text: str, listeners: list[MessagePump], force: bool = False) -> bool:
        """Start bringing the standby predictor up to date, if the weights moved and it is a
        good moment: a pause in typing, or ``MAX_STALE`` seconds of non-stop typing. The
        listeners get ``PredictorRefreshed`` once the fresh predictor answers keystrokes."""
        pair, generation = self._pair, self.generation
        if pair is None or self._refreshing.is_set() or not pair.behind:
            return False
        now = time.monotonic()
        typing = now - self._last_keystroke < TYPING_PAUSE
        if not (force or not typing or now - pair.refreshed_at >= MAX_STALE):
            return False
        self._refreshing.set()

        def refresh() -> None:  # its own thread: a thread can lower its priority, never raise it
            import torch

            lower_priority(REFRESH_NICE)
            torch.set_num_threads(PREDICT_THREADS)
            try:
                pair.refresh(text)
            except Exception as e:
                self._report(f"could not refresh the predictor: {type(e).__name__}: {e}")
            else:
                if generation == self.generation:
                    for listener in listeners:
                        listener.post_message(PredictorRefreshed(generation))
            finally:
                self._refreshing.clear()

        threading.Thread(target=refresh, name="lstm-tui-refresh", daemon=True).start()
        return True

    # -- the model thread -------------------------------------------------------------------------

    def _serve(self) -> None:
        """Runs for the app's lifetime: takes model jobs off the queue, one at a time."""
        import torch

        torch.set_num_threads(PREDICT_THREADS)
        while True:
            job = self.queue.take(timeout=0.5)
            if job is None:
                if self.queue.closed:
                    return
                continue
            try:
                job()
            except UserError as e:
                self._report(str(e))
            except Exception as e:  # a bug; the app goes on
                self._report(f"prediction failed: {type(e).__name__}: {e}")

    def _report(self, error: str) -> None:
        if self._failures is not None:
            self._failures.post_message(InferenceFailed(error))
