"""edgewise testbed check|calibrate|nominal|cleanup: verify what a study's testbed emulates, derive a tier's
settings from a real device, show the host's nominal speed, or remove a crashed run's leftovers."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from edgewise.commands import plain
from edgewise.config import TestbedConfig, load_study
from edgewise.errors import TestbedError
from edgewise.tiers.spec import Placement

testbed_app = typer.Typer(help="Check, calibrate or clean up the testbed; show this host's nominal speed.",
                          no_args_is_help=True)


@testbed_app.command("check")
def check(
    study: Path | None = typer.Argument(None, help="study file (default: the paper-scaled linux testbed)"),
    as_json: bool = typer.Option(False, "--json", help="print every figure with requested and achieved values"),
    quick: bool = typer.Option(False, "--quick", help="smaller transfers and workloads"),
) -> None:
    """Start the testbed, measure bandwidth, RTT, per-request speed, CPU share and memory cap, stop it.

    Example: edgewise testbed check examples/paper.yaml --json
    """
    from edgewise.testbeds import make_testbed  # lazy: keeps `edgewise --help` light

    config = load_study(study).testbed if study else TestbedConfig()
    tiers, links = config.tier_specs(), config.link_specs()
    testbed = make_testbed(config)
    if testbed.real_hosts:  # measure the links between the tiers that have an endpoint
        from edgewise.testbeds.measured import route_links, route_tiers, topology  # lazy: keeps `edgewise --help` light

        pairs = route_links([Placement((t,)) for t in config.endpoints], set())
        tiers, links = {t: tiers[t] for t in route_tiers(pairs)}, topology(pairs)
    with testbed:
        testbed.start(tiers, links)
        report = testbed.verify(quick=quick)
    failures = report.failures(config.tolerance)
    if testbed.real_hosts:
        from edgewise.testbeds.measured import NETWORK_HINT, expectation_failures  # lazy: keeps `edgewise --help` light

        failures = expectation_failures(report, config.expect)
    if as_json:
        typer.echo(json.dumps({**report.to_dict(), "failures": failures}, indent=1))
    else:
        table = Table(title=f"{report.kind} testbed" + (" (modelled)" if report.modelled else ""))
        for col in ("figure", "requested", "achieved", "unit", "note"):
            table.add_column(col)
        for f in report.figures:
            plain.add_row(table, f.name, _fmt(f.requested), _fmt(f.achieved), f.unit, f.note)
        Console().print(table)
        for note in report.notes:
            typer.echo(f"note: {note}")
        for tier, host in report.hosts.items():
            cap = host.get("memory_cap") or {}
            typer.echo(f"host {tier}: {host.get('cpu')}, {host.get('cores')} cores, {host.get('memory_mb')} MiB, "
                       f"{host.get('os')}, ONNX Runtime {host.get('onnxruntime')} "
                       f"({', '.join(host.get('providers') or [])}), edgewise {host.get('edgewise')}, "
                       f"memory cap: {cap.get('how', '-')}")
    if failures and testbed.real_hosts:
        raise TestbedError("the real hosts' network is not what testbed.expect states: " + "; ".join(failures),
                           NETWORK_HINT)
    if failures:
        raise TestbedError("the testbed does not emulate what was asked: " + "; ".join(failures),
                           "fix the host (kernel modules, cgroups, load) or raise testbed.tolerance")


@testbed_app.command("calibrate")
def calibrate(
    address: str = typer.Argument(..., help="HOST:PORT of an `edgewise serve` on the device"),
    token: str | None = typer.Option(None, "--token", envvar="EDGEWISE_TOKEN", help="the device server's token"),
    as_json: bool = typer.Option(False, "--json", help="print the measurements and settings as JSON"),
    quick: bool = typer.Option(False, "--quick", help="fewer requests per workload"),
) -> None:
    """Run the fixed workloads on the device and here; print the tier settings that emulate the device.

    Example: edgewise testbed calibrate 10.0.0.7:7400 --token $T
    """
    from edgewise.testbeds.calibrate import calibrate as measure  # lazy: keeps `edgewise --help` light

    result = measure(address, token, quick=quick)
    if as_json:
        typer.echo(json.dumps({**result.to_dict(), "yaml": result.yaml()}, indent=1))
        return
    table = Table(title=f"{result.tier} at {address} ({result.device_threads} thread(s)) against this host "
                        f"({result.threads} thread(s))")
    for col in ("workload", "device (ms)", "nominal host (ms)", "this host now (ms)", "speed (of nominal)"):
        table.add_column(col)
    for name, speed in result.speeds().items():
        plain.add_row(table, name, _fmt(result.device_ms[name]), _fmt(result.nominal_ms[name]),
                      _fmt(result.host_ms[name]), _fmt(speed))
    Console().print(table)
    if result.capped:
        typer.echo("note: the device is faster than this host; speed held at 1.0 (a faster tier cannot be "
                   "emulated by slowing down: use testbed.kind: remote for it)")
    typer.echo(f"speed {result.speed:.3g}, threads {result.threads}; in the study file:\n{result.yaml()}")


@testbed_app.command("nominal")
def nominal(
    measure: bool = typer.Option(False, "--measure", help="measure it again (do it when the host is quiet)"),
    as_json: bool = typer.Option(False, "--json", help="print the record as JSON"),
) -> None:
    """This host's nominal speed, which every emulated tier's speed is relative to (measured once, kept).

    Example: edgewise testbed nominal --measure
    """
    from edgewise.testbeds.nominal import machine_nominal, nominal_file  # lazy: keeps `edgewise --help` light

    record = machine_nominal(remeasure=measure, log=typer.echo)
    if as_json:
        typer.echo(json.dumps(record.to_dict(), indent=1))
        return
    typer.echo(record.describe())
    typer.echo(f"kept in {nominal_file()}; a study keeps the one it started with")
    if record.busy:
        typer.echo(f"note: the host was busy while it was measured (load {record.load} per core): measure it again "
                   "when it is quiet, with --measure")


@testbed_app.command("cleanup")
def cleanup() -> None:
    """Remove namespaces, cgroups and tier servers left by a crashed run (runs whose owner is gone)."""
    from edgewise.testbeds import cleanup_stale  # lazy: keeps `edgewise --help` light

    removed = cleanup_stale()
    typer.echo("\n".join(removed) if removed else "nothing to clean up")


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def register(app: typer.Typer) -> None:
    app.add_typer(testbed_app, name="testbed")
