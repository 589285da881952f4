"""``coverage-planner serve``: a local web app to test station placement interactively.

:mod:`.state` holds the incremental what-if engine (per-station bounded travel costs and each cell's
best two stations), :mod:`.app` the HTTP API and page, :mod:`.cli` the command.
"""
