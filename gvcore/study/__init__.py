"""`gv study`: race the families until the verdict is settled (no Ray here; gvcore/tune/study_driver.py
runs the rounds).

    settings.py   the `study:` section of a sweep file and the `gv study` flags
    plan.py       the study's sweep spec and each round's trials (trial i of a family: draw i, seed i)
    race.py       rounds, exits, stops, the verdict and the compute saved, as plain state
    document.py   study.json, written after every change, read back by --resume and `gv report`
    simulate.py   races on known distributions through the same code (the validity checks)

The statistics of elimination are gvcore/compare/racing.py's.
"""

# A study directory's own file, beside its leaderboard.json (gvcore/study/document.py writes it).
STUDY_JSON = "study.json"
