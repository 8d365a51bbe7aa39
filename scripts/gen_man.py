"""Generate man/tdpr.1 from the live command tree plus hand-written sections.

    python scripts/gen_man.py            # rewrite man/tdpr.1
    python scripts/gen_man.py --check    # exit 1 if man/tdpr.1 is stale (used by the tests)

Generating the COMMANDS section from the Typer app means every command and
option that exists is documented, and nothing that no longer exists is.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

ROOT = Path(__file__).resolve().parents[1]
MAN = ROOT / "man" / "tdpr.1"

HEAD = r""".TH TDPR 1 "2026" "tdpr 0.1.0" "User Commands"
.SH NAME
tdpr \- restore band-limited music to 16 kHz with TD-CNN bandwidth extension and phase repair
.SH SYNOPSIS
.B tdpr restore
.I IN OUT
[\fIOPTIONS\fR]
.br
.B tdpr restore
.I DIR
.B \-\-out
.I OUTDIR
[\fIOPTIONS\fR]
.br
.B tdpr restore \- \-
< in.wav > out.wav
.br
.B tdpr
.I COMMAND
[\fIARGS\fR]...
.SH DESCRIPTION
Old and amateur recordings often carry nothing above 2.5\(en4 kHz.
.B tdpr
resamples the input to 16 kHz, estimates its bandwidth, extends it to 8 kHz with a time-domain CNN
(SEANet), and repairs the phase of the generated band with a neural vocoder (TD-PR): the CNN's STFT
magnitude is kept and the vocoder's phase replaces the CNN's above the cutoff (1024-point Hann STFT,
hop 256). Long files are processed in chunks with real context on both sides and joined by Hann
overlap-add, so memory stays bounded for any file length.
.PP
Standard output carries only data (audio with \fB\-\fR, or JSON with \fB\-\-json\fR); progress and
logs go to standard error.
.PP
Shell completion: \fBtdpr \-\-install\-completion\fR installs it for the current shell;
\fBtdpr \-\-show\-completion\fR [\fIbash\fR|\fIzsh\fR|\fIfish\fR|\fIpowershell\fR] prints the script.
"""

TAIL = r""".SH EXIT STATUS
.TP
.B 0
Success.
.TP
.B 1
Some files of a folder run failed; every other file was written.
.TP
.B 2
Usage error: bad option values or paths.
.TP
.B 3
Weights error: a model file or weights.lock is missing, malformed or fails sha256 verification.
.TP
.B 4
Input/output error: unreadable, corrupt or unwritable audio.
.TP
.B 70
Internal error: a bug in tdpr, reported in one line (set TDPR_DEBUG=1 for the traceback).
.TP
.B 130
Interrupted by SIGINT, SIGTERM or SIGHUP; partial outputs were removed.
.SH ENVIRONMENT
.TP
.B TDPR_DEBUG=1
Show Python tracebacks instead of one-line errors.
.TP
.B TDPR_CONFIG_DIR
Folder of the user lock file (default \fB$XDG_CONFIG_HOME/tdpr\fR, else \fB~/.config/tdpr\fR).
.TP
.B TDPR_CACHE_DIR
Folder of the sha256 verification cache (default \fB$XDG_CACHE_HOME/tdpr\fR).
.TP
.B HF_HOME, HF_ENDPOINT, HF_HUB_OFFLINE
Hugging Face Hub cache, endpoint, and offline mode (as \fB\-\-offline\fR).
.SH FILES
.TP
.I weights.lock
Packaged lock: every model file with its sha256, size and source; the defaults.
.TP
.I ~/.config/tdpr/weights.lock
User lock written by \fBtdpr weights add\fR; merged on top of the packaged one.
.SH EXAMPLES
.nf
tdpr restore old-78.wav restored.wav
tdpr restore archive/ \-\-out restored/ \-\-skip\-existing \-\-json > log.jsonl
ffmpeg \-i take.flac \-f wav \- | tdpr restore \- \- > take\-16k.wav
tdpr degrade clean.wav lowres.wav \-\-cutoff 3000 \-\-filter ellip \-\-order 8
tdpr eval restored.wav clean.wav \-\-cutoff 3000 \-\-json
.fi
.SH SEE ALSO
README.md, docs/models.md, docs/benchmarks.md
"""


def _esc(text: str) -> str:
    return text.replace("\\", "\\\\").replace("-", "\\-").replace("\n", " ").strip()


def _params(cmd, ctx) -> list[str]:
    out = []
    for p in cmd.params:
        if getattr(p, "hidden", False):
            continue
        if p.param_type_name == "argument":
            help_text = getattr(p, "help", "") or "Argument."
            name = p.metavar or p.name.upper()  # the name --help shows
            out += [".TP", f".I {_esc(name)}", _esc(help_text)]
            continue
        record = p.get_help_record(ctx)
        if record is None:
            continue
        names, help_text = record
        out += [".TP", f"\\fB{_esc(names)}\\fR", _esc(help_text)]
    return out


def _walk(cmd, path: list[str], parent=None) -> list[str]:
    ctx = cmd.make_context(" ".join(["tdpr", *path]), [], parent=parent, resilient_parsing=True)
    lines = []
    if path:
        lines += [".SS " + _esc(" ".join(["tdpr", *path])), _esc(cmd.help or cmd.short_help or "")]
        lines += _params(cmd, ctx)
    sub = getattr(cmd, "commands", None) or {}
    for name in sorted(sub):
        lines += _walk(sub[name], [*path, name], ctx)
    return lines


def render() -> str:
    from tdpr_cli import cli

    cli._register()
    root = typer.main.get_command(cli.app)
    body = [".SH COMMANDS", *_walk(root, [])]
    return HEAD + "\n".join(body) + "\n" + TAIL


def main() -> int:
    text = render()
    if "--check" in sys.argv:
        if not MAN.is_file() or MAN.read_text() != text:
            print("man/tdpr.1 is stale: run python scripts/gen_man.py", file=sys.stderr)
            return 1
        return 0
    MAN.parent.mkdir(exist_ok=True)
    MAN.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
