"""How long a `flask` command takes to start, beside a bare Flask app's.

    python bench/cli_startup.py [--repeat 5] [--root DIR] [--postgres URL]

Times, as fresh processes (wall clock and CPU time, medians of --repeat runs):

- `flask --help` with Karn (FLASK_APP=karn.app);
- `flask surveys dispatch` with nothing to do, on a fresh, migrated SQLite
  database (with --postgres, a new database on that PostgreSQL server, dropped
  afterwards) (the pass cron runs every minute); no SMTP server, so nothing is
  sent;
- baseline: `flask --help` for a one-route Flask app, Flask's own start-up.

--root times another checkout of Karn (e.g. an older version unpacked with
`git archive`), with this virtualenv.

--compare DIR times this checkout and DIR in turns, run by run, and prints
the least and the median CPU time of each: on a busy machine both see the
same load, and the least is the run the load disturbed least.
"""

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bench.customer_list import database, drop_database  # noqa: E402

FLASK = os.path.join(os.path.dirname(sys.executable), "flask")
BARE_APP = "from flask import Flask\napp = Flask(__name__)\n"


def timed(args: list[str], env: dict, cwd: str, repeat: int) -> tuple[float, float]:
    """Median wall-clock and CPU seconds (user + system) of running the
    command, after a first run that writes the compiled bytecode, as an
    installed Karn has it. The CPU time varies less on a busy machine."""
    subprocess.run(args, env=env, cwd=cwd, check=True, capture_output=True)
    walls, cpus = [], []
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run(args, env=env, cwd=cwd, check=True, capture_output=True)
        walls.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(walls), statistics.median(cpus)


def environment(root: str, folder: str, name: str) -> dict:
    """A checkout's environment, on a fresh, migrated SQLite database."""
    env = {
        key: value for key, value in os.environ.items() if not key.startswith("KARN_")
    }
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(
        PYTHONPYCACHEPREFIX=os.path.join(folder, f"pycache-{name}"),
        FLASK_APP="karn.app",
        PYTHONPATH=root,
        KARN_ENV="development",
        KARN_DATABASE_URL=f"sqlite:///{folder}/{name}.db",
        KARN_INSTANCE_PATH=os.path.join(folder, f"instance-{name}"),
    )
    subprocess.run(
        [FLASK, "db", "upgrade"], env=env, cwd=root, check=True, capture_output=True
    )
    return env


def compare(other: str, repeat: int) -> None:
    """This checkout and another, run in turns; least and median CPU seconds."""
    roots = {"this checkout": ROOT, "--compare": os.path.abspath(other)}
    commands = {"flask --help": ["--help"], "dispatch (empty)": ["surveys", "dispatch"]}
    cpu = {(r, c): [] for r in roots for c in commands}
    with tempfile.TemporaryDirectory() as folder:
        envs = {
            r: environment(root, folder, str(i))
            for i, (r, root) in enumerate(roots.items())
        }
        for r, root in roots.items():  # compiled bytecode first, as installed
            for args in commands.values():
                subprocess.run(
                    [FLASK, *args], env=envs[r], cwd=root, capture_output=True
                )
        for _ in range(repeat):
            for r, root in roots.items():
                for c, args in commands.items():
                    before = resource.getrusage(resource.RUSAGE_CHILDREN)
                    subprocess.run(
                        [FLASK, *args], env=envs[r], cwd=root, capture_output=True
                    )
                    after = resource.getrusage(resource.RUSAGE_CHILDREN)
                    cpu[(r, c)].append(
                        after.ru_utime
                        - before.ru_utime
                        + after.ru_stime
                        - before.ru_stime
                    )
    print("CPU seconds                         least   median")
    for (r, c), values in cpu.items():
        print(f"{r:14} {c:18} {min(values):6.2f} {statistics.median(values):8.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--root", default=ROOT, help="the checkout to time")
    parser.add_argument("--compare", metavar="DIR", help="time against DIR in turns")
    parser.add_argument("--postgres", help="a PostgreSQL server URL to use instead")
    args = parser.parse_args()
    if args.compare:
        compare(args.compare, args.repeat)
        return
    root = os.path.abspath(args.root)
    kind = "postgresql" if args.postgres else "sqlite"
    with tempfile.TemporaryDirectory() as folder:
        url = database(kind, folder, args.postgres)
        try:
            _time(root, folder, url, args.repeat)
        finally:
            if args.postgres:
                drop_database(url, args.postgres)


def _time(root: str, folder: str, url: str, repeat: int) -> None:
    env = {
        key: value for key, value in os.environ.items() if not key.startswith("KARN_")
    }
    # Compiled bytecode in a folder of its own (this checkout stays clean),
    # written even where the environment turns that off.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(
        PYTHONPYCACHEPREFIX=os.path.join(folder, "pycache"),
        FLASK_APP="karn.app",
        PYTHONPATH=root,
        KARN_ENV="development",
        KARN_DATABASE_URL=url,
        KARN_INSTANCE_PATH=os.path.join(folder, "instance"),
    )
    subprocess.run(
        [FLASK, "db", "upgrade"], env=env, cwd=root, check=True, capture_output=True
    )
    help_s = timed([FLASK, "--help"], env, root, repeat)
    dispatch_s = timed([FLASK, "surveys", "dispatch"], env, root, repeat)
    with open(os.path.join(folder, "bare.py"), "w") as out:
        out.write(BARE_APP)
    bare_env = {**env, "FLASK_APP": "bare", "PYTHONPATH": folder}
    bare_s = timed([FLASK, "--help"], bare_env, folder, repeat)
    print("                                  wall     CPU")
    for name, (wall, cpu) in (
        ("flask --help", help_s),
        ("flask surveys dispatch (empty)", dispatch_s),
        ("baseline: bare Flask --help", bare_s),
    ):
        print(f"{name:31} {wall:6.2f} s {cpu:6.2f} s")


if __name__ == "__main__":
    main()
