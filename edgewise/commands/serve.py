"""edgewise serve: run one tier server on a real host (the remote testbed's building block)."""

from __future__ import annotations

import signal

import typer

from edgewise.environment import usable_cores
from edgewise.errors import ConfigError
from edgewise.tiers.spec import TierSpec


def serve(
    tier: str = typer.Option(..., "--tier", help="mobile, edge or cloud"),
    listen: str = typer.Option("127.0.0.1:7400", "--listen", help="HOST:PORT; off loopback a token is required"),
    token: str | None = typer.Option(None, "--token", envvar="EDGEWISE_TOKEN", help="shared secret of every request"),
    cpus: float | None = typer.Option(None, "--cpus", help="CPU share; sets the thread count when --threads is not given"),
    memory_mb: int | None = typer.Option(None, "--memory-mb", help="memory cap, enforced by a cgroup when run as root "
                                         "on a host with the memory controller; otherwise reported as not enforced"),
    threads: int | None = typer.Option(None, "--threads", help="ONNX Runtime intra-op threads"),
    speed: float = typer.Option(1.0, "--speed", help="per-request speed relative to this host's nominal speed, <= 1 (modelled: "
                                "each compute step is held until its nominal CPU time / speed)"),
    peers: str | None = typer.Option(None, "--peers", help="other tiers: edge=host:port,cloud=host:port"),
    max_frame_mb: float = typer.Option(64.0, "--max-frame-mb", help="largest request accepted"),
    runtimes: str | None = typer.Option(None, "--runtimes", help="the runtimes this host serves, comma-separated "
                                        "(default: every one installed); a LOAD naming another is refused"),
) -> None:
    """Serve a tier: load artifacts, answer inference requests, forward partitions to --peers.

    Example: edgewise serve --tier edge --listen 0.0.0.0:7400 --token $T --peers cloud=10.0.0.3:7400
    The server speaks plain TCP: put TLS in front of it across untrusted networks (docs/serving.md).
    """
    # lazy: keeps `edgewise --help` light
    from edgewise.tiers.memcap import apply_memory_cap
    from edgewise.tiers.server import ServerConfig, TierServer, default_providers, parse_peers

    if cpus is not None and cpus <= 0:
        raise ConfigError(f"--cpus {cpus} must be positive", "e.g. --cpus 0.5")
    if memory_mb is not None and memory_mb <= 0:
        raise ConfigError(f"--memory-mb {memory_mb} must be positive", "e.g. --memory-mb 2048")
    spec = TierSpec(tier, cpus or float(usable_cores()), memory_mb or 0, threads, speed)
    cap = apply_memory_cap(tier, memory_mb)
    try:
        config = ServerConfig(tier=tier, listen=listen, token=token, threads=spec.intra_op_threads,
                              speed=spec.speed, peers=parse_peers(peers), max_frame=int(max_frame_mb * 2**20),
                              providers=default_providers(), memory_cap=cap.describe(),
                              runtimes=[r.strip() for r in runtimes.split(",") if r.strip()] if runtimes else None)
        server = TierServer(config)
        typer.echo(f"tier {tier} serving on {server.address} ({', '.join(config.providers or [])}, "
                   f"{config.threads} thread(s)" + (f", speed {config.speed:g} modelled" if config.speed < 1 else "")
                   + f", memory cap: {cap.how})")
        # SIGTERM (systemd, kill) stops the server like Ctrl-C, so the memory cgroup goes with it.
        signal.signal(signal.SIGTERM, lambda *_: server.stop())
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.stop()
    finally:
        cap.release()


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
