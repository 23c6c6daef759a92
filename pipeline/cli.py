"""The ``churn`` command: one sub-command per DVC stage.

Each sub-command loads ``params.yaml`` once into the typed :class:`core.config.Config` and hands
it to the stage module, which is the same entry point ``dvc repro`` runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from core.config import Config, ConfigError
from core.logging import configure_logging
from pipeline.errors import fail

app = typer.Typer(
    name="churn",
    help="Churn features, models, explanations and loyalty offers from CRM history.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

ParamsOption = Annotated[
    Path, typer.Option("--params", "-p", help="The params file holding every knob.")
]


@app.callback()
def main(
    log_level: Annotated[
        str, typer.Option("--log-level", help="DEBUG, INFO, WARNING or ERROR.")
    ] = "WARNING",
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Same as --log-level INFO.")
    ] = False,
    json_logs: Annotated[
        bool, typer.Option("--json-logs", help="Log events as JSON lines.")
    ] = False,
) -> None:
    try:
        configure_logging("INFO" if verbose else log_level, json_logs=json_logs)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--log-level") from None


def load_config(params: Path) -> Config:
    """Read params or stop with the config error and exit code 2 (a usage error)."""
    try:
        return Config.load(params)
    except ConfigError as error:
        fail(str(error), code=2)


@app.command()
def generate(params: ParamsOption = Path("params.yaml")) -> None:
    """Generate the synthetic CRM world (raw folder) and its ground truth (truth folder)."""
    config = load_config(params)
    from pipeline import generate as stage

    stage.run(config)


@app.command()
def validate(params: ParamsOption = Path("params.yaml")) -> None:
    """Check the raw CRM tables against the data contract; report, or fail naming every problem."""
    config = load_config(params)
    from pipeline import validate as stage

    stage.run(config)


@app.command()
def features(params: ParamsOption = Path("params.yaml")) -> None:
    """Build point-in-time features and churn labels per cutoff, plus the scoring snapshot."""
    config = load_config(params)
    from pipeline import features as stage

    stage.run(config)


@app.command()
def train(params: ParamsOption = Path("params.yaml")) -> None:
    """Tune, calibrate and track the candidates in MLflow; register the winner; run the gate."""
    config = load_config(params)
    from pipeline import train as stage

    stage.run(config)


@app.command()
def evaluate(params: ParamsOption = Path("params.yaml")) -> None:
    """Score the champion and every candidate on the test cutoff: metrics, plots, backtest."""
    config = load_config(params)
    from pipeline import evaluate as stage

    stage.run(config)


@app.command()
def explain(params: ParamsOption = Path("params.yaml")) -> None:
    """SHAP-explain the champion: analysts' report, SHAP values, snapshot reason codes."""
    config = load_config(params)
    from pipeline import explain as stage

    stage.run(config)


@app.command()
def offers(
    params: ParamsOption = Path("params.yaml"),
    without_reasons: Annotated[
        bool,
        typer.Option(
            "--without-reasons",
            help="Development only: run without the explain stage's reasons (empty reason_texts).",
        ),
    ] = False,
) -> None:
    """Pick each customer's loyalty offer under the budget; write targets, CRM file, policy."""
    config = load_config(params)
    from pipeline import offers as stage

    stage.run(config, require_reasons=not without_reasons)


@app.command("campaign-report")
def campaign_report(
    campaign_id: Annotated[str, typer.Argument(help="Campaign id in the offers log.")],
    params: ParamsOption = Path("params.yaml"),
    out: Annotated[
        Path | None,
        typer.Option(help="Report folder (default: data/campaigns/CAMPAIGN_ID next to offers)."),
    ] = None,
) -> None:
    """Report an executed campaign: retention lift vs control with intervals, cost, net gain."""
    config = load_config(params)
    from pipeline import campaign_report as stage

    stage.run(config, campaign_id, out)


@app.command()
def serve(
    params: ParamsOption = Path("params.yaml"),
    host: Annotated[
        str | None, typer.Option(help="Interface to bind (params: serve.host).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port (params: serve.port).")] = None,
    workers: Annotated[
        int | None, typer.Option(help="Worker processes (params: serve.workers).")
    ] = None,
) -> None:
    """Start the scoring service (FastAPI on uvicorn) for the model at alias serve.alias."""
    config = load_config(params)
    from pipeline import serve as service

    service.run(config, params.resolve().parent, host=host, port=port, workers=workers)


if __name__ == "__main__":
    app()
