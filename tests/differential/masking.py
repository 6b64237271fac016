"""Leave the product's process-wide secret masking as it was.

Credentials() and render() register every secret they reveal for masking in this process; the
values hypothesis draws ("true", "0000") must not leak into other tests' masking.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from harborbook import secrets as product_secrets


@contextlib.contextmanager
def product_masking_untouched() -> Iterator[None]:
    saved = set(product_secrets._revealed)
    try:
        yield
    finally:
        product_secrets._revealed.clear()
        product_secrets._revealed.update(saved)
