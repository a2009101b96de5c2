"""A relay that dies between publishing and marking: ``python -m tests.clocks.relay_crash N``.

It publishes a batch of due outbox rows and kills itself with SIGKILL after the Nth publish,
before the transaction that marks them published can commit. Run by test_faults.py with the
environment of a worker (DATABASE_URL, BROKER_URL, SECRET_KEY).
"""
from __future__ import annotations

import os
import signal
import sys

from services.app import create_app
from workflows import outbox as relay
from workflows.celery_app import celery_app


def main() -> None:
    kill_after = int(sys.argv[1])
    app = create_app()
    sent = 0

    def send(task_name: str, outbox_id: int) -> None:
        nonlocal sent
        relay.publish(task_name, outbox_id)
        sent += 1
        if sent == kill_after:
            celery_app.pool.force_close_all()  # the messages are in Redis; now die mid-batch
            os.kill(os.getpid(), signal.SIGKILL)

    with app.app_context():
        relay.relay_once(app.extensions["qorgau_db"], send=send)
    sys.exit(3)  # not reached unless fewer rows were due than kill_after


if __name__ == "__main__":
    main()
