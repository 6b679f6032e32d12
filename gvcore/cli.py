"""gv's command line: one Typer sub-app per command group, composed here.

gv families | config | train | resume | sample      (gvcore/commands/train.py)
gv sweep | sweeps | results                         (gvcore/commands/sweep.py)
gv study                                            (gvcore/commands/study.py)
gv compare                                          (gvcore/commands/compare.py)
gv interpolate                                      (gvcore/commands/report.py)
gv eval | evaluator train                           (gvcore/commands/evaluate.py)
"""

from .commands import compare as compare_commands
from .commands import evaluate as evaluate_commands
from .commands import report as report_commands
from .commands import study as study_commands
from .commands import sweep as sweep_commands
from .commands import train as train_commands
from .commands.common import new_app

app = new_app("gv: train, sweep, evaluate and compare GAN, LSGAN, DCGAN, CGAN, VAE and CVAE on your data.")
app.add_typer(train_commands.app)
app.add_typer(sweep_commands.app)
app.add_typer(study_commands.app)
app.add_typer(compare_commands.app)
app.add_typer(report_commands.app)
app.add_typer(evaluate_commands.app)

if __name__ == "__main__":
    app()
