"""In-memory sessions (with a fake clock) and the stand-in's settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from harborbook.tokenkeys import generate_key, key_to_pem
from harborlab.ui.sessions import MemorySessions, RedisSessions, open_store
from harborlab.ui.settings import UiConfigError, load_settings

ENV = {"MYSQL_HOST": "db", "MYSQL_PORT": "3306", "MYSQL_USR": "harbork8s", "MYSQL_PWD": "pw",
       "MYSQL_DATABASE": "registry_k8s"}


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_memory_sessions_expire():
    clock = Clock()
    store = MemorySessions(lifetime=60, clock=clock)
    store.save("sid", {"userId": 1})
    clock.now += 59
    assert store.load("sid") == {"userId": 1}
    clock.now += 1
    assert store.load("sid") is None
    assert store.load("never") is None


def test_memory_sessions_are_copies():
    store = MemorySessions()
    data = {"userId": 1}
    store.save("sid", data)
    data["userId"] = 2
    assert store.load("sid") == {"userId": 1}


@pytest.fixture(scope="module")
def config_dir(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("ui")
    (path / "private_key.pem").write_bytes(key_to_pem(generate_key(2048)))
    return path


def test_settings_from_env(config_dir):
    settings = load_settings(config_dir, {**ENV, "_REDIS_URL": "r:6379,,pw,3", "HARBOR_ADMIN_PASSWORD": "Adm1n-Secret"})
    assert settings.database.database == "registry_k8s" and settings.database.port == 3306
    assert settings.redis.db == 3 and settings.admin_password == "Adm1n-Secret"
    assert "pw" not in repr(settings.database) and "Adm1n-Secret" not in repr(settings)
    assert isinstance(open_store(settings.redis), RedisSessions)


def test_settings_without_redis_use_memory(config_dir):
    settings = load_settings(config_dir, ENV)
    assert settings.redis is None and isinstance(open_store(settings.redis), MemorySessions)


@pytest.mark.parametrize(
    ("env", "needle"),
    [({k: v for k, v in ENV.items() if k != "MYSQL_HOST"}, "MYSQL_HOST"),
     ({**ENV, "MYSQL_PORT": "db"}, "MYSQL_PORT")],
    ids=["no-host", "bad-port"],
)
def test_settings_errors(config_dir, env, needle):
    with pytest.raises(UiConfigError, match=needle):
        load_settings(config_dir, env)


def test_missing_key_is_named(tmp_path):
    with pytest.raises(UiConfigError, match="private_key.pem"):
        load_settings(tmp_path, ENV)
