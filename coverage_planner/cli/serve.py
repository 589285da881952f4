"""``coverage-planner serve SCENARIO``: load the scenario once and serve the what-if page locally."""

from __future__ import annotations

import argparse
import ipaddress
import socket
import warnings

from ..errors import InputError

LOOPBACK = ("127.0.0.1", "::1", "localhost")


def check_host(host: str, token: str | None) -> None:
    """A host other than loopback needs a token (anyone on the network could edit otherwise)."""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback and not token:
        raise InputError(f"--host {host} makes the app reachable from other machines, so it needs a token.",
                         field="--host (command line)",
                         fix="add --token SOMETHING-SECRET (every request must then carry it; the printed URL "
                             "does), or leave --host out to serve on 127.0.0.1 only.")
    if token is not None and len(token) < 8:
        raise InputError("the token is shorter than 8 characters.", field="--token (command line)",
                         fix="use a longer secret, e.g. the output of: python -c \"import secrets; "
                             "print(secrets.token_urlsafe())\".")


def check_port(host: str, port: int) -> None:
    """Refuse a port outside 0–65535 or one already in use, before loading anything."""
    if not 0 <= port <= 65535:
        raise InputError(f"port {port} is outside 0–65535.", field="--port (command line)", fix="e.g. --port 8765.")
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        try:
            s.bind((host, port))
        except OSError as exc:
            raise InputError(f"cannot listen on {host}:{port} ({exc.strerror or exc}).", field="--port (command line)",
                             fix="choose another port with --port, or stop the program using it.") from None


def _imports():
    try:
        import fastapi  # noqa: F401
        import uvicorn
    except ModuleNotFoundError as exc:
        raise InputError(f"the web app needs the package '{exc.name}', which is not installed.", field="serve",
                         fix="install it with: pip install 'coverage-planner[serve]' "
                             "(or pip install fastapi uvicorn).") from None
    return uvicorn


def _cmd_serve(args: argparse.Namespace) -> int:
    from ..pipeline import check_scenario_out_dir
    from ..progress import Steps
    from ..region import load_region
    from ..scenario import load_scenario

    check_host(args.host, args.token)
    check_port(args.host, args.port)
    uvicorn = _imports()
    from ..serve.app import create_app
    from ..serve.state import Engine

    scn = load_scenario(args.scenario, args.out)
    check_scenario_out_dir(scn, args.out)
    steps = Steps(args.quiet)
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        region = load_region(scn, steps)
        with steps.step("Travel times of every station 各站行程时间"):
            engine = Engine(scn, region, steps=Steps(True))
            app = create_app(engine, scn.out_dir, token=args.token)
    host = f"[{args.host}]" if ":" in args.host else args.host
    url = f"http://{host}:{args.port}/" + (f"?token={args.token}" if args.token else "")
    print(f"coverage-planner serve: {url}  (saves go to {scn.out_dir / 'serve'}; Ctrl+C stops)", flush=True)
    if not args.no_browser:
        import webbrowser

        webbrowser.open(url)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


def register_cli(sub: argparse._SubParsersAction) -> None:
    """Add the ``serve`` sub-command."""
    p = sub.add_parser("serve", help="interactive what-if map: add, move, close stations (交互式站点测试)",
                       description="Load the scenario once and open a local web page where you click to add, "
                                   "drag to move and click to close stations, move threshold and speed sliders, "
                                   "and see the rules table update at once. Saves write a scenario TOML that "
                                   "coverage-planner run reproduces.")
    p.add_argument("scenario", help="scenario TOML file, e.g. scenarios/demo.toml")
    p.add_argument("--port", type=int, default=8765, help="port (default 8765)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1, this machine only)")
    p.add_argument("--token", help="secret every request must carry (required with a --host other than loopback)")
    p.add_argument("--out", help="output folder (default: the scenario's outputs.dir or maps/<name>)")
    p.add_argument("--no-browser", action="store_true", help="do not open a browser")
    p.add_argument("--quiet", action="store_true", help="no progress display")
    p.set_defaults(func=_cmd_serve)
