"""A job's questions: asked through the `prompts` table of the state database and answered by the
TUI, `rabtui jobs answer`, or the terminal the job runs at (whichever answers first)."""

from __future__ import annotations

import json
import threading
import time

from rabtui.errors import Cancelled
from rabtui.events import Question
from rabtui.state.store import Store


class DbPrompter:
    """Asks through the `prompts` table and waits for an answer from the TUI or the CLI."""

    def __init__(self, store: Store, job_id: int, poll: float = 0.3):
        self.store = store
        self.job_id = job_id
        self.poll = poll

    def ask(self, question: Question, cancel: threading.Event | None = None) -> str:
        prompt_id = self.post(question)
        try:
            while True:
                reply = self.reply(prompt_id)
                if reply is not None:
                    return reply
                if cancel is not None and cancel.is_set():
                    raise Cancelled("cancelled while waiting for an answer")
                time.sleep(self.poll)
        finally:
            self.closed()

    def post(self, question: Question) -> int:
        """Put the question in the prompts table, the job waiting for its answer; its id."""
        cur = self.store.execute(
            "INSERT INTO prompts(job_id, created, kind, text, choices, data) VALUES (?,?,?,?,?,?)",
            (self.job_id, time.time(), question.kind, question.text, json.dumps(list(question.choices)),
             json.dumps(question.data, default=str)),
        )
        self.store.execute("UPDATE jobs SET status='waiting' WHERE id=?", (self.job_id,))
        return cur.lastrowid

    def reply(self, prompt_id: int) -> str | None:
        """The answer given to the question (None: none yet)."""
        row = self.store.one("SELECT answer FROM prompts WHERE id=?", (prompt_id,))
        return row["answer"] if row else None

    def take(self, prompt_id: int, reply: str) -> str:
        """An answer given where the question was also asked (a terminal): recorded unless another
        came first, which then counts. The answer that counts."""
        taken = self.store.execute("UPDATE prompts SET answer=?, answered=? WHERE id=? AND answer IS NULL",
                                   (reply, time.time(), prompt_id)).rowcount
        return reply if taken else (self.reply(prompt_id) or reply)

    def closed(self) -> None:
        """The question is no longer waited for: the job runs on."""
        self.store.execute("UPDATE jobs SET status='running' WHERE id=? AND status='waiting'", (self.job_id,))
