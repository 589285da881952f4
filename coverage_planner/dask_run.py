"""Coverage runs on Dask: ``coverage-planner run SCENARIO --dask local[:N]`` or ``--dask tcp://HOST:PORT``.

``local[:N]`` starts a ``distributed.LocalCluster`` of N worker processes on this machine (default:
one per CPU core); ``tcp://HOST:PORT`` (or ``tls://``) connects to a running scheduler, e.g. one
started by dask-jobqueue on a batch cluster or by the Dask Kubernetes operator. The region is split
into groups of counties with halos (:mod:`coverage_planner.partition`); each group is routed on a
worker and the results are merged, identical cell by cell to the single-machine run. A task whose
worker dies is run again on another worker (``retries``); a partition that still fails stops the
run with an error, never a partial result.
"""

from __future__ import annotations

import os
import re
import uuid
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import pandas as pd

from .errors import InputError
from .partition import Partitioner, halo_distance, route_job, unit_groups

FIELD = "--dask (command line)"
INSTALL = 'pip install "coverage-planner[scale]" (or: pip install "dask[distributed]")'
_LOCAL = re.compile(r"^local(?::(\d+))?$")
_REMOTE = re.compile(r"^(tcp|tls|ucx|inproc)://[^\s/:]+(:\d+)?/?$")


def parse_spec(spec: str) -> tuple[str, int | str]:
    """``("local", n_workers)`` or ``("remote", address)`` from a ``--dask`` value.

    Raises
    ------
    InputError
        Anything else, with the accepted forms.
    """
    text = str(spec).strip()
    local = _LOCAL.match(text)
    if local:
        n = int(local.group(1)) if local.group(1) else (os.cpu_count() or 1)
        if n < 1:
            raise InputError(f"--dask {text}: a local cluster needs at least one worker.", field=FIELD,
                             fix="write --dask local (one worker per CPU core) or --dask local:2.")
        return "local", n
    if _REMOTE.match(text):
        return "remote", text
    raise InputError(f"--dask {text!r} is neither a local cluster nor a scheduler address.", field=FIELD,
                     fix="write --dask local, --dask local:4 (four worker processes on this machine) or "
                         "--dask tcp://HOST:8786 (a running Dask scheduler).")


def _distributed():
    """The ``distributed`` module, or an InputError that says how to install it."""
    try:
        import distributed
    except ModuleNotFoundError as exc:
        raise InputError("--dask needs the Dask distributed scheduler, which is not installed.", field=FIELD,
                         fix=f"install the scale extra: {INSTALL}; or run without --dask.") from exc
    return distributed


@contextmanager
def dask_client(spec: str, timeout_s: float = 30.0) -> Iterator[object]:
    """A ``distributed.Client`` for ``spec``; a local cluster is closed afterwards.

    Parameters
    ----------
    spec : str
        ``local``, ``local:N`` or a scheduler address such as ``tcp://10.0.0.5:8786``.
    timeout_s : float
        How long to wait for a remote scheduler.
    """
    kind, value = parse_spec(spec)
    distributed = _distributed()
    if kind == "local":
        # loopback only: no dashboard; the scheduler's health endpoint (HTTP) listens on 127.0.0.1 too
        cluster = distributed.LocalCluster(n_workers=int(value), threads_per_worker=1, processes=True,
                                           host="127.0.0.1", dashboard_address=None)
        client = distributed.Client(cluster)
        try:
            yield client
        finally:
            client.close()
            cluster.close()
        return
    try:
        client = distributed.Client(str(value), timeout=timeout_s)
    except (OSError, TimeoutError) as exc:
        raise InputError(f"no Dask scheduler answered at {value} within {timeout_s:.0f} s ({exc}).", field=FIELD,
                         fix="start the scheduler (dask scheduler, dask-jobqueue or the Dask Kubernetes operator) "
                             "and give its address, e.g. --dask tcp://HOST:8786; or use --dask local.") from exc
    try:
        yield client
    finally:
        client.close()


def dask_runner(client, retries: int = 3, route=route_job, in_flight: int | None = None):
    """A runner for :class:`partition.Partitioner` (and per-county covering jobs) on the client's workers.

    Jobs are taken from the iterable as tasks finish, so at most ``in_flight`` of them (their
    subnetworks) are held by this process and the scheduler at once; results come back in the
    jobs' order. Each task carries its job, so the scheduler can run it again on another worker
    when its worker dies.

    Parameters
    ----------
    client : distributed.Client
    retries : int
        Times a failed job (its worker killed, a lost connection) is run again.
    route : callable
        The routing function (:func:`partition.route_job`; tests pass a wrapper).
    in_flight : int, optional
        Jobs submitted and not yet gathered; default two per worker (at least two).
    """
    def run(jobs: Iterable) -> list:
        distributed = _distributed()
        limit = in_flight or max(2, 2 * n_workers(client))
        token = uuid.uuid4().hex[:8]      # keys unique across calls (profiles, halo rounds)
        todo = iter(enumerate(jobs))
        where, results = {}, {}
        pending = distributed.as_completed()

        def submit() -> bool:
            try:
                i, job = next(todo)
            except StopIteration:
                return False
            with warnings.catch_warnings():   # the task carries its job on purpose (retries): not a mistake
                warnings.filterwarnings("ignore", message="Sending large graph", category=UserWarning)
                future = client.submit(route, job, retries=retries, pure=False, key=f"route-{job.group}-{i}-{token}")
            where[future.key] = i
            pending.add(future)
            return True

        for _ in range(limit):
            if not submit():
                break
        for future in pending:
            results[where.pop(future.key)] = future.result()
            future.release()
            submit()
        return [results[i] for i in range(len(results))]
    return run


def n_workers(client) -> int:
    """Workers the scheduler knows now."""
    return len(client.scheduler_info().get("workers", {}))


def partitioner_for(region, scn, runner, n_groups: int) -> Partitioner:
    """A :class:`partition.Partitioner` for the region: groups of counties, halo from the profile's rules.

    The halo is the largest distance threshold, or the largest time threshold × the top speed of the
    travel profiles the rules use (cells whose result is not provably exact are routed again with
    a wider halo, so any halo gives identical results; a good one saves rounds).
    """
    from .network import travel_profile

    rules = [r for r in scn.profile.rules if r.spatial]
    top = max([_profile_top_kmh(travel_profile(r.travel_profile, scn.travel_overrides.get(r.travel_profile)))
               for r in rules] or [0.0])
    cells = region.cells
    unit = pd.Index(region.units["unit_id"]).get_indexer(cells["unit_id"])   # the unit each cell was assigned
    return Partitioner(unit_groups(region.units, unit, n_groups), halo_distance(rules, top), runner)


def _profile_top_kmh(profile: dict) -> float:
    """The fastest speed a travel profile allows, km/h."""
    speeds = [float(v) for v in (profile.get("speeds_kmh") or {}).values()]
    for key in ("max_kmh", "ferry_kmh"):
        if profile.get(key) is not None:
            speeds.append(float(profile[key]))
    return max(speeds or [0.0])


def evaluate_on_dask(scn, region, steps, spec: str, partitions_per_worker: int = 4, evaluate=None):
    """``pipeline.evaluate`` with the routing partitioned over a Dask cluster (identical results).

    Parameters
    ----------
    scn : Scenario
    region : Region
    steps : pipeline.Steps
        Progress display.
    spec : str
        The ``--dask`` value.
    partitions_per_worker : int
        Groups of counties per worker (more groups: smaller tasks, better balance, more halo).
    evaluate : callable
        ``pipeline.evaluate`` (passed in by the pipeline, so this module does not import it back).
    """
    if evaluate is None:
        raise TypeError("evaluate_on_dask needs pipeline.evaluate as evaluate=")
    with dask_client(spec) as client:
        workers = max(n_workers(client), 1)
        with steps.step(f"Dask: {workers} worker(s) at {client.scheduler.address}"):
            part = partitioner_for(region, scn, dask_runner(client), workers * partitions_per_worker)
        return evaluate(scn, region, steps, nearest=part)
