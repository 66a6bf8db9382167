"""`veil spark package`: Veil and its dependencies as one archive for ``spark-submit --archives``
(the group's other command, `veil spark stream`, lives in :mod:`veil.cli.spark_stream`).

Executors need the same Python packages as the driver. `venv-pack` packs the virtual
environment Veil runs in (relocatable: its scripts and ``pyvenv.cfg`` are rewritten on unpack),
Spark unpacks it in every executor's working folder, and ``PYSPARK_PYTHON`` points at its
interpreter (docs/spark.md). No key, KEK or workspace goes in the archive: executors get the
KEK from their own environment, HSM or KMS.

Registered by the main app with ``register(app)``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from veil.cli.common import JsonOpt, console, print_json
from veil.errors import InputError

spark_app = typer.Typer(
    help="Spark: ship Veil to a cluster's executors; apply a purpose to a stream.\n\n"
    "Example: veil spark package -o veil-env.tar.gz\n\n"
    "Example: veil spark stream landing/tx/ -p sample --purpose personalised_offers "
    "-o offers.stream --checkpoint offers.ckpt",
    no_args_is_help=True, rich_markup_mode="markdown",
)

_ALIAS = "environment"


@spark_app.command("package")
def package_cmd(
    output: Annotated[Path, typer.Option("--output", "-o", help="Archive to write (.tar.gz, "
                                         ".tgz or .zip).")] = Path("veil-env.tar.gz"),
    venv: Annotated[Path | None, typer.Option("--venv", help="Virtual environment to pack "
                                              "(default: the one running this command).")
                    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing OUTPUT.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Pack the virtual environment running Veil (or --venv) into an archive that
    ``spark-submit --archives`` unpacks on every executor; prints the spark-submit settings.

    Example: veil spark package -o veil-env.tar.gz

    Then: PYSPARK_PYTHON=./environment/bin/python spark-submit --archives
    veil-env.tar.gz#environment "$(python -m veil.cli.spark_submit --path)" tx.csv -p sample
    --purpose credit_scoring -o credit.parquet
    """
    try:
        import venv_pack
    except ImportError:
        raise InputError("venv-pack is not installed: pip install 'veil[spark]'") from None
    prefix = (venv or Path(sys.prefix)).resolve()
    if not (prefix / "pyvenv.cfg").is_file():
        raise InputError("not a virtual environment (no pyvenv.cfg): create one with "
                         "python -m venv and install veil[spark] in it", where=str(prefix))
    if output.suffix not in (".gz", ".tgz", ".zip", ".bz2", ".tar"):
        raise InputError("the archive must end in .tar.gz, .tgz or .zip", where=str(output))
    if output.exists() and not force:
        raise InputError("already exists (use --force to replace it)", where=str(output))
    try:
        written = venv_pack.pack(prefix=str(prefix), output=str(output), force=force)
    except venv_pack.VenvPackException as exc:
        raise InputError(f"venv-pack cannot pack it ({exc})", where=str(prefix)) from None
    out = Path(written)
    python = f"./{_ALIAS}/bin/python"
    info = {"archive": str(out), "bytes": out.stat().st_size, "venv": str(prefix),
            "spark_submit": ["--archives", f"{out.name}#{_ALIAS}",
                             "--conf", f"spark.pyspark.python={python}"],
            "env": {"PYSPARK_PYTHON": python}}
    if as_json:
        print_json(info)
        return
    console.print(f"Wrote {out} ({info['bytes'] / 1e6:,.1f} MB) from {prefix}")
    console.print(f"spark-submit --archives {out.name}#{_ALIAS} "
                  f"--conf spark.pyspark.python={python} ...", soft_wrap=True, markup=False)


def register(app: typer.Typer) -> None:
    """Add ``spark`` to the main app (idempotent)."""
    if not any(g.typer_instance is spark_app for g in app.registered_groups):
        app.add_typer(spark_app, name="spark")


from veil.cli.spark_stream import stream_cmd  # noqa: E402 - the group's second command

spark_app.command("stream")(stream_cmd)
