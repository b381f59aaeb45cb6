"""The challenge server: participants upload `.tflite` denoisers, a sandboxed worker scores
them on hidden pairs, a leaderboard ranks them (MAI 2021's validation / test phases).

Modules, one job each: `phases` (the YAML challenge file), `store` (SQLite: teams, submissions,
the leased queue, online backup), `names` (team names that cannot impersonate), `uploads`
(receiving and checking a model), `app` (FastAPI pages + JSON API), `faults` (a broken state
folder as 503/507 answers and the health probe), `headers` (security headers, the pages' CSP),
`leaderboard` (ranking, plot), `worker` (queue loop, child-process sandbox) and `evaluate_job`
(the child: the CLI's own evaluation).
Nothing is imported here, so the worker never pulls in the web stack and the web server never
pulls in LiteRT.
"""
