"""The bulk copy: blobs first, each verified by its sha256 before it is published, then links.

A blob is streamed from the source into a temporary file beside its final name, hashed on the
way, flushed to disk (fsync) and renamed to ``data`` only when the hash equals the digest its
path names. So the target never holds a partial or wrong blob under a real name, whatever
stops the copy; a re-run skips what is already there and verified (:mod:`.journal`) and copies
the rest. A source blob whose content does not match its digest is *corrupt*: it is reported
(with the tags that use it) and never published; those tags are not linked in the target.

Links come after the blobs, tag by tag, the tag's ``current/link`` last: a tag appears in the
target only once its manifest, config and layers are all there.

The source is a :class:`~.source.Source`: a local tree, where each worker takes one blob at a
time, or the old host over SSH, where each worker gets one stream carrying all its blobs (a
stream costs a round trip to open). Verification, journal and reports are the same for both.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from . import layout
from .inventory import Inventory, Tag
from .journal import Journal
from .source import Reader, Source, as_source

CHUNK = 1 << 20
# Published blobs are flushed and journaled in batches of this many bytes, by a settler thread
# while the workers copy on (so the disk writes as the copy goes: BENCHMARKS.md section 5);
# an interruption re-hashes at most about this much.
SETTLE_BYTES = 8 << 20
TMP_PREFIX = ".harborbook-tmp-"
FLUSHERS = 8  # fsyncs at a time when a batch of files is flushed
LINKERS = 4  # link files written at a time (more only contended in the kernel: BENCHMARKS.md section 5)
Owner = tuple[int, int] | None
Progress = Callable[[int], None]

# What happened to one blob.
COPIED = "copied"        # copied and verified
PRESENT = "present"      # already in the target and verified (now or by an earlier run)
REPLACED = "replaced"    # the target held wrong bytes under this digest: replaced by verified ones
CORRUPT = "corrupt"      # the source's bytes do not match the digest: not copied
MISSING = "missing"      # the source no longer has it (deleted since the inventory)
STOPPED = "stopped"      # the copy was interrupted before this blob finished
GOOD = (COPIED, PRESENT, REPLACED)


@dataclass(frozen=True)
class BlobOutcome:
    digest: str
    size: int
    action: str
    detail: str = ""
    settle: bool = False  # verified and published, not yet flushed to disk nor in the journal


@dataclass
class CopyReport:
    outcomes: list[BlobOutcome] = field(default_factory=list)
    seconds: float = 0.0
    interrupted: bool = False

    def counts(self) -> dict[str, int]:
        return dict(Counter(o.action for o in self.outcomes))

    def good(self) -> set[str]:
        return {o.digest for o in self.outcomes if o.action in GOOD}

    def bad(self) -> list[BlobOutcome]:
        return [o for o in self.outcomes if o.action in (CORRUPT, MISSING)]

    @property
    def bytes_copied(self) -> int:
        return sum(o.size for o in self.outcomes if o.action in (COPIED, REPLACED))

    @property
    def changed(self) -> bool:
        return self.bytes_copied > 0 or any(o.action in (COPIED, REPLACED) for o in self.outcomes)


class Stopped(Exception):
    """Raised inside a worker when the copy was asked to stop."""


def _sha256_file(path: Path, stop: threading.Event, progress: Progress | None) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as src:
        while block := src.read(CHUNK):
            if stop.is_set():
                raise Stopped()
            digest.update(block)
            if progress:
                progress(len(block))
    return "sha256:" + digest.hexdigest()


def makedirs(path: Path, owner: Owner) -> bool:
    """``mkdir -p`` giving each directory it creates to ``owner`` (the registry's uid); True when
    ``path`` itself was there already."""
    missing = []
    p = path
    while not p.exists():
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        try:
            d.mkdir()
        except FileExistsError:
            continue  # another worker made it
        if owner:
            os.chown(d, *owner)
    return not missing


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _clean_tmp(folder: Path) -> None:
    """Temporary files an interrupted run left (they never carry a real name)."""
    try:
        with os.scandir(folder) as it:
            for entry in it:
                if entry.name.startswith(TMP_PREFIX):
                    os.unlink(entry.path)
    except FileNotFoundError:
        pass


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def settle(target: Path, outcomes: Iterable[BlobOutcome], journal: Journal) -> None:
    """Flush published blobs (and their directories) to disk, then record them as verified.

    Only what is on disk may enter the journal: a blob the journal names is never hashed again.
    Flushing after a batch rather than blob by blob lets the kernel write back in the meantime;
    the flushes of a batch run side by side (a journalling filesystem commits them together,
    CephFS overlaps their round trips).
    """
    outcomes = list(outcomes)
    paths = [layout.blob_data(target, o.digest) for o in outcomes]
    folders = sorted({p.parent for p in paths})
    _each(_fsync, paths)
    _each(_fsync_dir, folders)
    journal.record_many([(o.digest, os.stat(path)) for o, path in zip(outcomes, paths)])


def _each(fn: Callable[[Path], None], paths: list[Path]) -> None:
    """``fn`` on every path, FLUSHERS at a time (each waits on the disk, not on the CPU)."""
    if len(paths) <= 1:
        for path in paths:
            fn(path)
        return
    with ThreadPoolExecutor(min(FLUSHERS, len(paths)), thread_name_prefix="migrate-flush") as pool:
        for _ in pool.map(fn, paths):
            pass


def _present(target: Path, digest: str, size: int, journal: Journal, stop: threading.Event,
             progress: Progress | None, durable: bool) -> BlobOutcome | bool:
    """The outcome when ``digest`` is already in the target with the right bytes; else whether
    the target holds other bytes under its name (they get replaced)."""
    dst = layout.blob_data(target, digest)
    try:
        st = os.stat(dst)
    except FileNotFoundError:
        return False
    if journal.verified(digest, st):
        if progress:
            progress(size)
        return BlobOutcome(digest, size, PRESENT, "verified by an earlier run")
    if _sha256_file(dst, stop, None) == digest:
        if progress:
            progress(size)
        found = BlobOutcome(digest, size, PRESENT, "verified now", settle=True)
        if durable:
            settle(target, [found], journal)
            return BlobOutcome(digest, size, PRESENT, "verified now")
        return found
    return True


def _pump(reader: Reader, fd: int, hasher: "hashlib._Hash", stop: threading.Event,
          progress: Progress | None) -> int:
    """``reader`` into ``fd``, hashed on the way; the bytes copied."""
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    copied = 0
    while n := reader.readinto(buf):
        if stop.is_set():
            raise Stopped()
        hasher.update(view[:n])
        _write_all(fd, view[:n])
        copied += n
        if progress:
            progress(n)
    return copied


def _publish(reader: Reader, target: Path, digest: str, size: int, replacing: bool, *, journal: Journal,
             owner: Owner, stop: threading.Event, progress: Progress | None, durable: bool) -> BlobOutcome:
    """Stream ``reader`` into a temporary file beside the blob's name, hashing; rename once verified."""
    dst = layout.blob_data(target, digest)
    folder = dst.parent
    if makedirs(folder, owner):
        _clean_tmp(folder)  # only a folder that was there can hold what an interrupted run left
    tmp = folder / f"{TMP_PREFIX}{uuid.uuid4().hex}"
    hasher = hashlib.sha256()
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            copied = _pump(reader, fd, hasher, stop, progress)
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        got = "sha256:" + hasher.hexdigest()
        if got != digest:
            if progress and copied < size:
                progress(size - copied)
            return BlobOutcome(digest, copied, CORRUPT,
                               f"the source's {copied} bytes hash to {got}, not to the digest their path names")
        if owner:
            os.chown(tmp, *owner)
        os.replace(tmp, dst)
        done = BlobOutcome(digest, copied, REPLACED if replacing else COPIED,
                           "the target held other bytes" if replacing else "", settle=not durable)
        if durable:
            _fsync_dir(folder)
            journal.record(digest, os.stat(dst))
        return done
    finally:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass


def _write_all(fd: int, block: memoryview) -> None:
    while block:
        block = block[os.write(fd, block):]


def _copy_job(src: Source, target: Path, job: list[tuple[str, int]], *, journal: Journal, owner: Owner,
              stop: threading.Event, progress: Progress | None, durable: bool,
              emit: Callable[[BlobOutcome], None]) -> None:
    """Blobs of one job: each skipped when present and verified, the others streamed from the source.

    Every outcome is emitted as soon as it is known, so an interruption or an error in the middle
    of a job loses none of the blobs it already published.
    """
    needed: list[tuple[str, int]] = []
    replacing: set[str] = set()
    for digest, size in job:
        if stop.is_set():
            raise Stopped()
        found = _present(target, digest, size, journal, stop, progress, durable)
        if isinstance(found, BlobOutcome):
            emit(found)
            continue
        if found:
            replacing.add(digest)
        needed.append((digest, size))
    if not needed:
        return
    sizes = dict(needed)
    with src.blobs(needed) as stream:
        for digest, reader, detail in stream:
            if stop.is_set():
                raise Stopped()
            size = sizes[digest]
            if reader is None:
                if progress:
                    progress(size)
                emit(BlobOutcome(digest, size, MISSING, detail))
                continue
            emit(_publish(reader, target, digest, size, digest in replacing, journal=journal, owner=owner, stop=stop,
                          progress=progress, durable=durable))


def copy_blob(source: "Source | Path", target: Path, digest: str, size: int, *, journal: Journal,
              owner: Owner = None, stop: threading.Event | None = None, progress: Progress | None = None,
              durable: bool = True) -> BlobOutcome:
    """One blob: skip it when present and verified, else stream, hash, rename once verified.

    ``durable``: flushed to disk and recorded in the journal now; else the outcome says
    ``settle`` and the caller passes it to :func:`settle` (the copy does, in batches).
    """
    found: list[BlobOutcome] = []
    _copy_job(as_source(source, check=False), target, [(digest, size)], journal=journal, owner=owner,
              stop=stop or threading.Event(), progress=progress, durable=durable, emit=found.append)
    return found[0]


def jobs(src: Source, blobs: dict[str, int], parallel: int) -> list[list[tuple[str, int]]]:
    """The blobs in jobs for the workers, each job largest first (so the tail is short).

    A local source: one job per blob. A source that streams (SSH), where each job costs a round
    trip to the old host: one job per worker, the blobs dealt so that each gets about the same
    bytes (the largest to the least loaded).
    """
    order = sorted(blobs.items(), key=lambda item: (-item[1], item[0]))
    if not src.streams:
        return [[item] for item in order]
    out: list[list[tuple[str, int]]] = [[] for _ in range(max(1, min(parallel, src.max_streams, len(order))))]
    loads = [0] * len(out)
    for item in order:
        lightest = loads.index(min(loads))
        out[lightest].append(item)
        loads[lightest] += item[1]
    return [job for job in out if job]


def copy_blobs(source: "Source | Path", target: Path, blobs: dict[str, int], *, parallel: int, journal: Journal,
               owner: Owner = None, progress: Progress | None = None, stop: threading.Event | None = None,
               published: Callable[[str], None] | None = None) -> CopyReport:
    """Every blob of ``blobs`` (digest -> size) with ``parallel`` workers; largest first.

    Interrupted (``stop`` set, Ctrl-C, an error), the workers finish or abandon their current
    blob without publishing it and the report says ``interrupted``; nothing half-written remains.
    ``published(digest)`` is called from a worker as soon as a blob is verified under its name.
    """
    src = as_source(source, check=False)
    stop = stop or threading.Event()
    report = CopyReport()
    lock = threading.Lock()
    arrived: list[BlobOutcome] = []  # outcomes the workers emitted, not yet taken by this thread
    batch: list[BlobOutcome] = []  # published, not yet handed to the settler
    batched = 0  # their bytes
    # One settler, so the journal takes its batches in order; it flushes while the workers copy on.
    settler = ThreadPoolExecutor(1, thread_name_prefix="migrate-settle")
    settling: list[Future[None]] = []

    def tick(n: int) -> None:
        if progress:
            with lock:
                progress(n)

    def emit(outcome: BlobOutcome) -> None:
        nonlocal batched
        with lock:
            arrived.append(outcome)
            if outcome.settle:
                batch.append(outcome)
                batched += outcome.size
                if batched >= SETTLE_BYTES:
                    settling.append(settler.submit(settle, target, batch[:], journal))
                    batch.clear()
                    batched = 0
        if published is not None and outcome.action in GOOD:
            published(outcome.digest)

    def take() -> None:
        with lock:
            got = arrived[:]
            arrived.clear()
        report.outcomes.extend(got)

    def settled() -> None:
        """Wait for the batches handed to the settler, then flush the rest here."""
        nonlocal batched
        with lock:
            rest = batch[:]
            batch.clear()
            batched = 0
        settler.shutdown(wait=True)
        for future in settling:
            future.result()
        settle(target, rest, journal)

    def work(job: list[tuple[str, int]]) -> None:
        try:
            _copy_job(src, target, job, journal=journal, owner=owner, stop=stop, progress=tick, durable=False,
                      emit=emit)
        except Stopped:
            raise
        except BaseException:
            # The first error stops the copy here, in the worker: no blob starts after it (a full
            # target would otherwise take more small blobs while this thread wakes up to the error).
            stop.set()
            raise

    started = time.monotonic()
    pool = ThreadPoolExecutor(max(1, parallel), thread_name_prefix="migrate-copy")
    futures: list[Future[None]] = []
    try:
        futures = [pool.submit(work, job) for job in jobs(src, blobs, parallel)]
        pending = set(futures)
        while pending:
            done, pending = wait(pending, timeout=0.5, return_when=FIRST_EXCEPTION)
            take()
            if (failed := _failure(done)) is not None:
                raise failed
            for f in settling:
                if f.done() and f.exception() is not None:
                    raise f.exception()  # type: ignore[misc]
            if stop.is_set():
                break
    except BaseException:
        stop.set()
        raise
    finally:
        stop_requested = stop.is_set()
        pool.shutdown(wait=True, cancel_futures=True)
        take()
        if stop_requested:
            finished = {o.digest for o in report.outcomes}
            report.outcomes.extend(BlobOutcome(d, s, STOPPED) for d, s in blobs.items() if d not in finished)
        report.interrupted = stop_requested
        # Whatever was published, interrupted or not, is flushed and journaled: a re-run skips it.
        settled()
        report.seconds = time.monotonic() - started
    if (failed := _failure(futures)) is not None:
        raise failed  # a worker failed and set stop before this thread saw the failure
    return report


def _failure(futures: Iterable[Future[None]]) -> BaseException | None:
    """The first error a finished job raised (a job that stopped on request did not fail)."""
    for f in futures:
        if f.done() and not f.cancelled() and not isinstance(f.exception(), (Stopped, type(None))):
            return f.exception()
    return None


# ---------------------------------------------------------------- links
def write_link(path: Path, digest: str, owner: Owner) -> bool:
    """Write a link file atomically and durably; False when it already held ``digest``."""
    try:
        if path.read_text(encoding="ascii").strip() == digest:
            return False
    except (FileNotFoundError, UnicodeDecodeError):
        pass
    makedirs(path.parent, owner)
    tmp = path.parent / f"{TMP_PREFIX}{uuid.uuid4().hex}"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            _write_all(fd, memoryview(digest.encode("ascii")))
            os.fsync(fd)
        finally:
            os.close(fd)
        if owner:
            os.chown(tmp, *owner)
        os.replace(tmp, path)
    finally:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
    return True


@dataclass
class LinkReport:
    written: int = 0
    unchanged: int = 0
    tags_linked: list[str] = field(default_factory=list)
    tags_skipped: dict[str, list[str]] = field(default_factory=dict)  # repo:tag -> blobs it lacks

    @property
    def changed(self) -> bool:
        return self.written > 0


def link_differs(path: Path, digest: str) -> bool:
    try:
        return path.read_text(encoding="ascii").strip() != digest
    except (FileNotFoundError, UnicodeDecodeError):
        return True


def _blob_links(inv: Inventory, target: Path) -> dict[str, dict[Path, str]]:
    """Each blob's layer and revision links: a link that needs only that blob to be there."""
    out: dict[str, dict[Path, str]] = {}
    for repo in sorted(inv.repositories.values(), key=lambda r: r.name):
        for digest in sorted(repo.layers):
            out.setdefault(digest, {})[layout.layer_link(target, repo.name, digest)] = digest
        for digest in sorted(repo.revisions):
            out.setdefault(digest, {})[layout.revision_link(target, repo.name, digest)] = digest
    return out


def _plan_links(inv: Inventory, target: Path, good: set[str], report: LinkReport,
                by_blob: dict[str, dict[Path, str]] | None = None) -> tuple[dict[Path, str], dict[Path, str]]:
    """The two waves of link files for the blobs in ``good``: every layer, revision and tag index
    link, then the tags' ``current/link`` (tags lacking a blob are left out, named in ``report``)."""
    first: dict[Path, str] = {}
    tags: dict[Path, str] = {}
    for digest, links in (by_blob if by_blob is not None else _blob_links(inv, target)).items():
        if digest in good:
            first.update(links)
    for repo in sorted(inv.repositories.values(), key=lambda r: r.name):
        for tag, digest in sorted(repo.tags.items()):
            lacking = sorted(inv.closure(digest) - good)
            ref = Tag(repo.name, tag, digest).ref
            if lacking:
                report.tags_skipped[ref] = lacking
                continue
            for held in sorted(repo.index.get(tag, set()) & good | {digest}):
                first[layout.tag_index_link(target, repo.name, tag, held)] = held
            first[layout.revision_link(target, repo.name, digest)] = digest
            tags[layout.tag_current_link(target, repo.name, tag)] = digest
            report.tags_linked.append(ref)
    return first, tags


def _write_links(wave: dict[Path, str], owner: Owner, report: LinkReport) -> None:
    """Write a wave side by side (every link file is flushed before its rename: the flushes and
    the directories' creation are what takes the time)."""
    items = list(wave.items())
    if len(items) <= 1:
        written = [write_link(path, digest, owner) for path, digest in items]
    else:
        with ThreadPoolExecutor(LINKERS, thread_name_prefix="migrate-link") as pool:
            written = list(pool.map(lambda item: write_link(item[0], item[1], owner), items))
    report.written += sum(written)
    report.unchanged += len(written) - sum(written)


def link_repositories(inv: Inventory, target: Path, good: Iterable[str], *, owner: Owner = None,
                      dry_run: bool = False, done: Iterable[Path] = (),
                      by_blob: dict[str, dict[Path, str]] | None = None) -> LinkReport:
    """Every repository's layer and revision links, then each tag whose blobs are all in ``good``.

    In two waves: first the layer, revision and tag index links, then -- once all of those are
    written -- the tags' ``current/link``, so a tag never points at nothing. ``done``: link files
    already written (and counted) by the caller; ``by_blob``: :func:`_blob_links`, when the caller
    has it already (it is most of the planning's time). ``dry_run`` counts what would be written
    and writes nothing.
    """
    report = LinkReport()
    first, tags = _plan_links(inv, target, set(good), report, by_blob)
    for path in done:
        first.pop(path, None)
    for wave in (first, tags):
        if dry_run:
            differs = [link_differs(path, digest) for path, digest in wave.items()]
            report.written += sum(differs)
            report.unchanged += len(differs) - sum(differs)
        else:
            _write_links(wave, owner, report)
    return report


def copy_tree(source: "Source | Path", target: Path, inv: Inventory, *, parallel: int, journal: Journal,
              owner: Owner = None, progress: Progress | None = None,
              stop: threading.Event | None = None) -> tuple[CopyReport, LinkReport]:
    """The inventory's blobs (:func:`copy_blobs`) and links (:func:`link_repositories`), overlapped.

    A blob's layer and revision links are written as soon as the blob is verified under its name,
    while the workers copy the next ones (creating directories and files is the kernel's work,
    copying bytes mostly the disk's, so the two share the cores well); the tag index links and
    the tags' ``current/link`` follow once every blob is copied, flushed and journaled, as
    :func:`link_repositories` orders them. (A crash between a blob's link and its flush leaves a
    blob the journal does not name: the next run hashes it again, and replaces it if it is wrong.)
    """
    by_blob = _blob_links(inv, target)
    early = LinkReport()
    written: list[Path] = []
    futures = []
    pool = ThreadPoolExecutor(LINKERS, thread_name_prefix="migrate-link")

    def published(digest: str) -> None:
        for path, held in by_blob.get(digest, {}).items():
            futures.append(pool.submit(write_link, path, held, owner))
            written.append(path)

    try:
        report = copy_blobs(source, target, inv.blobs, parallel=parallel, journal=journal, owner=owner,
                            progress=progress, stop=stop, published=published)
    finally:
        pool.shutdown(wait=True)  # links of published blobs are right whatever happened next
    for future in futures:
        changed = future.result()
        early.written += changed
        early.unchanged += not changed
    links = link_repositories(inv, target, report.good(), owner=owner, done=written, by_blob=by_blob)
    links.written += early.written
    links.unchanged += early.unchanged
    return report, links
