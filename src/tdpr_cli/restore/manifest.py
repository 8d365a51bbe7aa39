"""Run manifests and shards: archive runs that survive a kill and split across machines.

A run manifest is a JSON-lines file, one record per finished file: the input
(path, size, mtime), the output and its sha256, the models and their sha256,
the options that shape the output, the status and reason, and the seconds
spent. Each record is written with flush and fsync, so a run killed at any
point leaves a valid manifest up to the last finished file (a torn last line
is ignored on reading).

``done`` answers the resume question for one pair: the latest record of that
input says ok or passthrough, with the same options and models, the input
has not changed, and the output still has the recorded hash.

``in_shard`` splits a file list by a stable hash of each relative path, so
every machine computes the same split and no two shards share an output.
Shards are numbered 1..N (as Slurm's array task ids are).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tdpr_cli.digest import sha256_file
from tdpr_cli.errors import OutputError, UsageError

VERSION = 1
DONE = ("ok", "passthrough")


def parse_shard(text: str) -> tuple[int, int]:
    """``K/N`` (1 <= K <= N) -> (K, N); UsageError otherwise."""
    try:
        k, n = (int(part) for part in text.split("/"))
    except ValueError:
        raise UsageError(f"--shard must be K/N (1-based, e.g. 3/8), got {text!r}") from None
    if not 1 <= k <= n:
        raise UsageError(f"--shard {text}: need 1 <= K <= N")
    return k, n


def in_shard(rel_path: str, shard: tuple[int, int]) -> bool:
    """Whether the file at ``rel_path`` (relative to the input root, POSIX) belongs to shard K of N."""
    k, n = shard
    digest = hashlib.sha256(os.fsencode(rel_path)).digest()  # UTF-8, and any other name's own bytes
    return int.from_bytes(digest[:8], "big") % n == k - 1


def input_stamp(path: str) -> dict[str, Any]:
    """Size, mtime and real (absolute, links resolved) path of an input file (None for stdin);
    the real path lets ``manifest merge --expect`` match records made from any working folder."""
    if path == "-":
        return {"input_size": None, "input_mtime_ns": None, "input_realpath": None}
    st = os.stat(path)
    return {"input_size": st.st_size, "input_mtime_ns": st.st_mtime_ns, "input_realpath": os.path.realpath(path)}


def unrecorded(records: dict[str, dict[str, Any]], expect: Path) -> list[str]:
    """Audio files under folder ``expect`` that no record names, compared by real path (records
    from before ``input_realpath``: their input resolved from this working folder)."""
    from tdpr_cli.restore.file import audio_files

    if not expect.is_dir():
        raise UsageError(f"--expect {expect}: not a folder; give the run's input folder")
    seen = {rec.get("input_realpath") or os.path.realpath(rec.get("input", inp)) for inp, rec in records.items()}
    return sorted(str(p) for p in audio_files(expect) if os.path.realpath(p) not in seen)


def read_records(path: Path) -> dict[str, dict[str, Any]]:
    """Latest record per input path; missing file: empty. A torn or foreign line is skipped,
    but a file with text and no record at all (an audio file, notes) is not a manifest: a
    ``UsageError``, before anything is appended to it."""
    return _read(path)[0]


def _read(path: Path) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """``read_records``, and beside it the latest *done* record per input path (the last output
    written: a later failure leaves it in place), from one read of the file."""
    latest: dict[str, dict[str, Any]] = {}
    done: dict[str, dict[str, Any]] = {}
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return latest, done
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not a tdpr manifest (not UTF-8 text)") from None
    except OSError as exc:
        raise OutputError(f"{path}: cannot read the manifest ({exc})") from None
    lines = text.splitlines()
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:  # a line cut by a kill mid-write
            continue
        if isinstance(record, dict) and isinstance(record.get("input"), str):
            latest[record["input"]] = record
            if record.get("status") in DONE:
                done[record["input"]] = record
    # Text but no record: not a manifest. (A first append torn by a full disk leaves one
    # unterminated line, which is still the file of this run.)
    torn_first = len(lines) == 1 and lines[0].startswith("{") and not text.endswith("\n")
    if not latest and not torn_first and any(line.strip() for line in lines):
        raise UsageError(f"{path}: not a tdpr manifest (no record in its {len(lines)} lines)")
    return latest, done


def check_destination(path: Path) -> None:
    """Before a run: ``path`` can take its records. An existing file must be a manifest
    (``read_records``) and open for appending; a new one needs a writable folder. Else a
    ``UsageError`` or ``OutputError``, before any file is restored."""
    from tdpr_cli.audio.atomic import output_path_state, writable_folder

    if output_path_state(path, str(path), "a manifest")[0]:
        raise UsageError(f"{path}: is a folder; --manifest takes a file")
    if not path.exists():  # a dangling link counts as missing here: its folder is probed
        writable_folder(path.absolute().parent, str(path), create=False, role="manifest folder")
        return
    read_records(path)
    try:
        with open(path, "a", encoding="utf-8"):
            pass
    except OSError as exc:
        raise OutputError(f"{path}: cannot append to the manifest ({exc.strerror or exc})") from None


def append(path: Path, record: Mapping[str, Any]) -> None:
    """Append one record and make it durable (flush + fsync) before returning."""
    line = json.dumps({"version": VERSION, **record}, sort_keys=True) + "\n"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())
    except OSError as exc:
        raise OutputError(f"{path}: cannot append to the manifest ({exc})") from None


class RunRecords:
    """A manifest's latest record per input, and its latest *done* record per input (what it
    last wrote: a later failure leaves that output in place), each found by the path as given
    or by its real path: a run resumed from another working folder (or with absolute paths)
    finds its records."""

    def __init__(self, records: dict[str, dict[str, Any]], done: dict[str, dict[str, Any]] | None = None) -> None:
        self.latest, self.done = _Index(records), _Index(done if done is not None else records)

    def get(self, inp: str) -> dict[str, Any] | None:
        return self.latest.get(inp)

    def wrote(self, inp: str, out: str) -> bool:
        """Whether this manifest records writing ``out`` for ``inp``: the outputs a ``--resume``
        may replace without ``--overwrite``."""
        record = self.done.get(inp)
        return record is not None and record.get("status") in DONE and same_output(record, out)

    @classmethod
    def read(cls, path: Path) -> RunRecords:
        return cls(*_read(path))


class _Index:
    def __init__(self, records: dict[str, dict[str, Any]]) -> None:
        self.by_input = records
        self.by_real = {r["input_realpath"]: r for r in records.values() if r.get("input_realpath")}

    def get(self, inp: str) -> dict[str, Any] | None:
        if inp in self.by_input or inp == "-":
            return self.by_input.get(inp)
        return self.by_real.get(os.path.realpath(inp))


def same_output(record: dict[str, Any], out: str) -> bool:
    """Whether ``record`` names ``out`` as its output: spelled the same (a project folder moved
    as a whole, relative paths), or the same real path (another working folder)."""
    if record.get("output") == out:
        return True
    if out == "-" or record.get("output") in (None, "-"):
        return False
    return (record.get("output_realpath") or os.path.realpath(record["output"])) == os.path.realpath(out)


def why_redo(record: dict[str, Any] | None, inp: str, out: str, options: Mapping[str, Any],
             models: Mapping[str, str]) -> str | None:
    """None when ``record`` shows this pair done with these options and models; else the reason to redo it."""
    if record is None:
        return "not in the manifest"
    if record.get("status") not in DONE:
        return f"last run ended with {record.get('status')}"
    if not same_output(record, out):
        return "another output path"
    if record.get("options") != dict(options):
        return "options changed"
    if record.get("models") != dict(models):
        return "models changed"
    stamp, same = input_stamp(inp), ("input_size", "input_mtime_ns")  # where it lies may differ: a moved archive
    if {k: record.get(k) for k in same} != {k: stamp[k] for k in same}:
        return "input changed"
    if not Path(out).is_file() or sha256_file(Path(out)) != record.get("output_sha256"):
        return "output missing or changed"
    return None


def merge(paths: list[Path]) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Latest record per input file over shard manifests (keyed by real path where recorded),
    and the inputs that appear in more than one."""
    merged: dict[str, dict[str, Any]] = {}
    owner: dict[str, Path] = {}
    duplicates: set[str] = set()
    for path in paths:
        try:
            is_file, is_dir = path.is_file(), path.is_dir()
        except OSError as exc:  # a name over NAME_MAX
            raise UsageError(f"{path}: cannot be a manifest ({exc.strerror or exc})") from None
        if not is_file:
            raise UsageError(f"{path}: {'is a folder, not a manifest' if is_dir else 'no such manifest'}")
        for inp, record in read_records(path).items():
            key = record.get("input_realpath") or inp  # one file, however a shard spelled its path
            if key in owner and owner[key] != path:
                duplicates.add(inp)
            owner[key] = path
            merged[key] = record
    return merged, sorted(duplicates)


def write_all(path: Path, records: list[dict[str, Any]]) -> None:
    """A merged manifest, written atomically (one JSON line per record)."""
    from tdpr_cli.audio.atomic import atomic_write_text

    text = "".join(json.dumps(r, sort_keys=True) + "\n" for r in records)
    try:
        atomic_write_text(path, text)
    except OSError as exc:
        raise OutputError(f"{path}: cannot write the merged manifest ({exc})") from None
