import pytest

from tests.support.labnodes import start, stop


@pytest.fixture(scope="module")
def article_nodes(tmp_path_factory):
    nodes = start(tmp_path_factory.mktemp("lab"), "article")
    try:
        yield nodes
    finally:
        stop(nodes)


@pytest.fixture(scope="module")
def modern_nodes(tmp_path_factory):
    nodes = start(tmp_path_factory.mktemp("lab"), "modern")
    try:
        yield nodes
    finally:
        stop(nodes)
