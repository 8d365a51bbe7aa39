"""Options shared by several commands, defined once (``Annotated`` aliases for typer).

The model-loading group (``--model --vocoder --weights --sha256 --trust-local
--offline``) is the same for ``restore``, ``eval table`` and ``report``, and
``--device`` means the same everywhere: ``tdpr_cli.device`` parses it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

Model = Annotated[Optional[str], typer.Option("--model", help="TD-CNN name from weights.lock.")]
VocoderName = Annotated[Optional[str], typer.Option("--vocoder", help="Vocoder name from weights.lock.")]
Weights = Annotated[Optional[Path], typer.Option("--weights", help="Local TD-CNN .safetensors (config: same stem .json).")]
Sha = Annotated[Optional[str], typer.Option("--sha256", help="Expected sha256 of --weights.")]
Trust = Annotated[bool, typer.Option("--trust-local", help="Load --weights without a sha256.")]
Offline = Annotated[bool, typer.Option("--offline", help="Never touch the network (also HF_HUB_OFFLINE=1).")]
Device = Annotated[str, typer.Option("--device", help="auto, cpu, cuda or cuda:N.")]
Threads = Annotated[Optional[int], typer.Option("--threads", min=1, help="CPU threads for torch.")]
