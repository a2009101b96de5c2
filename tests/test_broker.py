"""Broker choice: Redis when it answers, otherwise the embedded filesystem broker."""
from __future__ import annotations

import pytest

from services import broker
from services.settings import Settings

LIVE_REDIS = "redis://127.0.0.1:6379/15"
DEAD_REDIS = "redis://127.0.0.1:1/0"


def settings_with(**changes) -> Settings:
    base = Settings(database_url="postgresql://x@127.0.0.1/x", app_database_url="postgresql://y@127.0.0.1/x",
                    secret_key="k" * 40)
    return base.with_(**changes)


def test_reachable_redis_is_used():
    assert broker.broker_url(settings_with(redis_url=LIVE_REDIS, broker_url=LIVE_REDIS)) == LIVE_REDIS


def test_unreachable_redis_falls_back_to_the_embedded_broker():
    url = broker.broker_url(settings_with(redis_url=DEAD_REDIS, broker_url=DEAD_REDIS))
    assert broker.is_filesystem(url)


def test_no_broker_configured_means_the_embedded_broker():
    assert broker.is_filesystem(broker.broker_url(settings_with()))


def test_a_process_uses_the_configured_broker_even_when_it_is_down():
    # Falling back per process could split web, worker and beat across two brokers.
    assert broker.configured_url(settings_with(broker_url=DEAD_REDIS)) == DEAD_REDIS


def test_embedded_broker_options_share_one_queue_folder(tmp_path):
    options = broker.celery_options(broker.filesystem_url(tmp_path / "b"))
    transport = options["broker_transport_options"]
    assert options["broker_url"] == "filesystem://"
    assert transport["data_folder_in"] == transport["data_folder_out"] == str(tmp_path / "b" / "queue")
    assert (tmp_path / "b" / "queue").is_dir() and (tmp_path / "b" / "control").is_dir()


def test_redis_tasks_are_redelivered_only_after_the_visibility_timeout():
    options = broker.celery_options(LIVE_REDIS)
    assert options["broker_transport_options"] == {"visibility_timeout": broker.VISIBILITY_TIMEOUT}


def test_description_never_shows_a_password():
    text = broker.describe("redis://:s3cret@redis.internal:6379/0")
    assert "s3cret" not in text and "redis.internal:6379" in text
    assert "s3cret" not in broker.describe("redis://user:s3cret@redis.internal/1")


def test_ping_reports_a_dead_redis_without_its_password():
    with pytest.raises(broker.BrokerUnavailable) as caught:
        broker.ping(settings_with(broker_url="redis://:s3cret@127.0.0.1:1/0"), timeout=0.5)
    assert "s3cret" not in str(caught.value)


def test_ping_accepts_a_live_redis_and_an_existing_embedded_folder(tmp_path):
    assert "Redis" in broker.ping(settings_with(broker_url=LIVE_REDIS))
    url = broker.filesystem_url(tmp_path / "b")
    with pytest.raises(broker.BrokerUnavailable):
        broker.ping(settings_with(broker_url=url))
    broker.celery_options(url)
    assert "embedded" in broker.ping(settings_with(broker_url=url))


def test_make_run_uses_redis_only_when_it_answers(tmp_path):
    from services.devstack import choose_broker

    assert choose_broker({"REDIS_URL": LIVE_REDIS}, tmp_path) == (LIVE_REDIS, LIVE_REDIS)
    url, redis_url = choose_broker({"REDIS_URL": DEAD_REDIS}, tmp_path)
    assert url == broker.filesystem_url(tmp_path / "broker") and redis_url is None
    assert choose_broker({}, tmp_path) == (broker.filesystem_url(tmp_path / "broker"), None)
