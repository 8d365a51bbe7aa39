import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_man_page_documents_every_command_and_option():
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_man.py"), "--check"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_man_page_lists_exit_codes():
    text = (ROOT / "man" / "tdpr.1").read_text()
    for code in ("0", "1", "2", "3", "4", "70", "130"):
        assert f".B {code}\n" in text
