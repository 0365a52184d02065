"""`flask analysis train | models | activate | retag | evaluate`: the reason
tagger's versions, and measuring the taggers."""

import getpass
import json

import click
from flask.cli import with_appcontext

from karn.analysis.cli import analysis_cli
from karn.extensions import db
from karn.learning import retag, training
from karn.learning.evaluate import TIERS, evaluate, read_labelled_csv
from karn.text import model_store
from karn.text.reasons import shipped_examples


def _who() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _counts_line(counts: dict[str, int]) -> str:
    return ", ".join(f"{label} {n}" for label, n in counts.items()) or "none"


def _print_examples(run: training.TrainingRun) -> None:
    ex = run.examples
    click.echo(
        f"Labelled examples on this platform: {run.platform_examples}"
        f" ({run.corrections} from corrected reason tags)"
    )
    for lang in training.LANGS:
        train = ex["train"].get(lang, {})
        held = ex["held_out"].get(lang, {})
        click.echo(
            f"  {lang}: {sum(train.values())} to train on ({_counts_line(train)}),"
            f" {sum(held.values())} held out"
        )
    seed = ex["seed"]
    click.echo(
        "Shipped seed examples: "
        + ", ".join(f"{lang} {sum(seed.get(lang, {}).values())}" for lang in seed)
    )


def _print_metrics(run: training.TrainingRun, new_version: int) -> None:
    click.echo(
        f"\nHeld-out evaluation ({run.metrics['held_out_percent']}% of the people,"
        " never trained on), F1 per language:"
    )
    for lang, entry in run.metrics["held_out"].items():
        if not entry["n"]:
            click.echo(f"  {lang}: no held-out examples yet")
            continue
        current, new = entry["current"], entry["new"]
        head = f"{lang}, {entry['n']} texts"
        click.echo(
            f"  {head:<20}{'in use (v' + str(current['version']) + ')':>14}"
            f"{'new (v' + str(new_version) + ')':>12}"
        )
        rows = [("macro-F1", current["macro_f1"], new["macro_f1"])] + [
            (label, current["per_class"].get(label, 0.0), score)
            for label, score in new["per_class"].items()
        ]
        for name, old, score in rows:
            click.echo(f"    {name:<18}{old:>14.3f}{score:>12.3f}")


@click.command("train")
@with_appcontext
@click.option(
    "--activate", "activate_now", is_flag=True, help="Use the new model at once."
)
@click.option("--yes", is_flag=True, help="Answer yes to the question (scripts).")
@click.option("--by", help="Who trains, kept with the model (default: you).")
@click.option(
    "--min-people",
    type=click.IntRange(1),
    default=training.MIN_PEOPLE,
    show_default=True,
    help="A word enters the model only when this many people used it.",
)
def train_command(activate_now, yes, by, min_people):
    """Train the reason tagger on this platform's labelled answers and corrections.

    Prints the held-out evaluation of the model in use and of the new one, per
    language, stores the new one as the next version, and uses it only with
    --activate/--yes or when you confirm.
    """
    run = training.train_from_platform(min_people=min_people)
    _print_examples(run)
    if not run.platform_examples:
        click.echo(
            "No labelled examples yet (a submitted response with a main reason "
            "and a comment, or a corrected reason tag): nothing to train; "
            f"version {run.current_version} stays in use."
        )
        return
    version = model_store.next_version()
    _print_metrics(run, version)
    row = training.store(run, by or _who())
    db.session.commit()
    click.echo(f"\nStored as version {row.version} (not in use yet).")
    if not run.better_or_equal():
        click.echo(
            "Note: the new model scores lower than the one in use on the held-out "
            "data of at least one language."
        )
    use = activate_now or yes
    if not use:
        try:
            use = click.confirm(
                f"Use version {row.version} for tagging from now on?", default=False
            )
        except click.Abort:
            use = False
    if use:
        model_store.activate(row.version, by=by or _who())
        db.session.commit()
        click.echo(
            f"Version {row.version} is in use. Run `flask analysis retag` to tag "
            "the stored answers and notes with it."
        )
    else:
        click.echo(
            f"Version {run.current_version} stays in use; "
            f"`flask analysis activate {row.version}` switches later."
        )


@click.command("models")
@with_appcontext
def models_command():
    """List the reason model versions and which one is in use."""
    active = model_store.active_version()
    click.echo(
        f"{'':2}{'version':>7}  {'created':<16}  {'by':<14}"
        f"{'examples':>9}  held-out macro-F1 (nl / en)"
    )
    seed = len(shipped_examples())
    mark = "* " if active == 0 else "  "
    click.echo(
        f"{mark}{0:>7}  {'shipped':<16}  {'Karn':<14}{seed:>9}  (shipped examples only)"
    )
    for row in model_store.versions():
        n = sum(
            sum(labels.values())
            for labels in (row.examples or {}).get("train", {}).values()
        )
        scores = []
        for lang in training.LANGS:
            entry = (row.metrics or {}).get("held_out", {}).get(lang, {})
            new = entry.get("new")
            scores.append(f"{new['macro_f1']:.3f}" if new else "—")
        mark = "* " if row.version == active else "  "
        click.echo(
            f"{mark}{row.version:>7}  {row.created_at:%Y-%m-%d %H:%M}  "
            f"{(row.created_by or '—')[:14]:<14}{n:>9}  {' / '.join(scores)}"
        )
    click.echo("* in use")


@click.command("activate")
@with_appcontext
@click.argument("version", type=click.IntRange(0))
@click.option("--by", help="Who switches (kept in the audit log; default: you).")
def activate_command(version, by):
    """Use reason model VERSION for tagging (0: the model shipped with Karn)."""
    try:
        model_store.activate(version, by=by or _who())
    except LookupError:
        raise click.ClickException(
            f"there is no version {version}; `flask analysis models` lists them"
        ) from None
    except ValueError as exc:
        raise click.ClickException(f"version {version} cannot be used: {exc}") from None
    db.session.commit()
    click.echo(
        f"Version {version} is in use. Run `flask analysis retag` to tag the "
        "stored answers and notes with it."
    )


@click.command("retag")
@with_appcontext
@click.option(
    "--batch-size",
    type=click.IntRange(1),
    default=1000,
    show_default=True,
    help="Rows per batch; each batch is one transaction.",
)
@click.option(
    "--limit",
    type=click.IntRange(1),
    help="Stop after this many texts (run again to continue).",
)
def retag_command(batch_size, limit):
    """Tag again the answers and call notes another model version tagged.

    Corrected tags stay as they are. Safe to stop: running it again continues
    where it stopped.
    """
    model_store.invalidate()
    version = model_store.active_version()
    todo = retag.remaining(version)
    click.echo(
        f"Re-tagging with version {version}: {todo['answers']:,} answers and "
        f"{todo['notes']:,} call notes to do."
        + (f" And {todo['comments']:,} CRM comments." if todo["comments"] else "")
    )

    def progress(kind, batch_rows, total, rate):
        click.echo(f"  {kind}: {total:,} re-tagged ({rate:,.0f} texts/s)")

    report = retag.retag(batch_size=batch_size, limit=limit, progress=progress)
    click.echo(
        f"{report.total:,} texts re-tagged in {report.batches} "
        f"batch{'es' if report.batches != 1 else ''}, "
        f"{report.seconds:.1f} s ({report.per_second:,.0f} texts/s)."
    )
    left = retag.remaining(version) if report.stopped_early else {}
    if any(left.values()):
        click.echo(
            f"Stopped at --limit: {left['answers']:,} answers and {left['notes']:,} "
            "call notes left; run again to continue."
        )


@click.command("evaluate")
@with_appcontext
@click.option("--task", type=click.Choice(["sentiment", "reason"]), required=True)
@click.option("--lang", type=click.Choice(["nl", "en"]), required=True)
@click.option("--baseline", is_flag=True, help="Measure the plain lexicons instead.")
@click.option(
    "--tier",
    type=click.Choice(TIERS),
    default="fast",
    show_default=True,
    help="Which tagger: fast tags at submit time; best is the encoder tier "
    "the worker re-tags with.",
)
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
def evaluate_command(task, lang, baseline, tier, file):
    """Measure a tagger on a CSV with columns text,label; prints one JSON line.

    The line holds macro-F1, per-class F1, the confusion and texts/s.
    """
    rows = read_labelled_csv(file)
    result = evaluate(task, lang, rows, baseline=baseline, tier=tier)
    click.echo(json.dumps(result, ensure_ascii=False))


COMMANDS = (
    train_command,
    models_command,
    activate_command,
    retag_command,
    evaluate_command,
)


def register(app) -> None:
    """Add the taggers' commands to `flask analysis`."""
    for command in COMMANDS:
        analysis_cli.add_command(command)
