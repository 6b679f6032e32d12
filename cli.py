"""`python cli.py ...` from a clone: the same app as the installed `gv` command (gvcore/cli.py)."""

from gvcore.cli import app

if __name__ == "__main__":
    app()
