"""`edgewise serve` as a real process: it answers, and refuses to listen off loopback without a token."""

import subprocess
import sys

from edgewise.tiers.client import TierClient

_RUN = "import typer, sys; from edgewise.commands.serve import register; app = typer.Typer(); register(app); " \
       "app.command('noop')(lambda: None); app(sys.argv[1:])"


def _serve(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", _RUN, "serve", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def test_serve_answers_ping():
    proc = _serve("--tier", "edge", "--listen", "127.0.0.1:0", "--threads", "1")
    try:
        line = proc.stdout.readline()
        address = line.split(" on ")[1].split()[0]
        with TierClient({"edge": address}) as client:
            assert client.ping("edge")["tier"] == "edge"
    finally:
        proc.terminate()
        proc.wait(10)


def test_serve_off_loopback_without_token_is_refused():
    proc = _serve("--tier", "edge", "--listen", "0.0.0.0:0")
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode != 0 and "needs a token" in out
